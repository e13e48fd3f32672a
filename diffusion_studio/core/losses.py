"""The denoising loss: min-SNR-γ weights and the loss per t-bucket (targets: :mod:`.prediction`)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["min_snr_weights", "BucketLosses"]


def min_snr_weights(snr: torch.Tensor, gamma: float | None, prediction: str) -> torch.Tensor | None:
    """Per-sample loss weights of Min-SNR-γ (Hang et al. 2023, eq. 8 and Table 1), None for uniform.

    The x0 loss is weighted min(SNR, γ); ε- and v-losses equal SNR·‖x0 error‖² and
    (SNR+1)·‖x0 error‖², so they are divided by those factors. SNR = 0 (zero terminal SNR)
    gets weight 1 for ε, as diffusers does.
    """
    if not gamma:
        return None
    clipped = torch.clamp(snr, max=float(gamma))
    if prediction == "sample":
        return clipped
    if prediction == "v_prediction":
        return clipped / (snr + 1.0)
    return torch.where(snr > 0, clipped / snr.clamp(min=1e-20), torch.ones_like(snr))


class BucketLosses:
    """Running mean of the unweighted loss in ``num_buckets`` equal slices of 0 … T-1.

    An exponential moving average per bucket (``smoothing`` per update) so the curve follows
    training; buckets never seen are NaN.
    """

    def __init__(self, num_timesteps: int, num_buckets: int = 10, smoothing: float = 0.05):
        self.num_timesteps = int(num_timesteps)
        self.num_buckets = int(min(num_buckets, num_timesteps))
        self.smoothing = float(smoothing)
        self.values = np.full(self.num_buckets, np.nan)

    def bucket_of(self, t: np.ndarray) -> np.ndarray:
        return np.minimum(np.asarray(t) * self.num_buckets // self.num_timesteps, self.num_buckets - 1)

    def update(self, t: np.ndarray, losses: np.ndarray) -> None:
        buckets = self.bucket_of(t)
        sums = np.bincount(buckets, weights=losses, minlength=self.num_buckets)
        counts = np.bincount(buckets, minlength=self.num_buckets)
        seen = counts > 0
        means = sums[seen] / counts[seen]
        old = self.values[seen]
        self.values[seen] = np.where(np.isnan(old), means, old + self.smoothing * (means - old))

    def state_dict(self) -> dict:
        return {"values": self.values.tolist()}  # plain floats: no float64 tensor anywhere near a device

    def load_state_dict(self, state: dict) -> None:
        values = state.get("values")
        if isinstance(values, torch.Tensor):  # written by earlier versions
            values = values.tolist()
        try:
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            return  # a damaged state: the curve starts afresh
        if array.shape == (self.num_buckets,):
            self.values = array
