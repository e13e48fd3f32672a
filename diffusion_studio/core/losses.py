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
    """The recent loss in ``num_buckets`` equal slices of t = 0 … T-1, and over all t.

    "Recent" is an exponential window over training steps: every step multiplies what came before by
    ``decay`` = 1 − 1/``window_steps`` (a step k steps ago weighs decay^k; the mean age is
    ``window_steps``). Each bucket keeps a decayed sum of the losses that fell into it and a decayed
    count of them, so its value is their weighted mean — whatever the batch size or how often the
    loop folds steps in — and :attr:`overall` (all buckets' sums over all their counts) is the
    same window's mean loss over all t: the loss readout the buckets add up to. Feed it the same
    per-sample terms the training loss averages (with min-SNR-γ weights, if any). Buckets never
    seen are NaN.
    """

    def __init__(self, num_timesteps: int, num_buckets: int = 10, window_steps: int = 100):
        self.num_timesteps = int(num_timesteps)
        self.num_buckets = int(min(num_buckets, num_timesteps))
        self.window_steps = int(window_steps)
        self.decay = 1.0 - 1.0 / max(1, self.window_steps)
        self._sums = np.zeros(self.num_buckets)
        self._counts = np.zeros(self.num_buckets)

    def bucket_of(self, t: np.ndarray) -> np.ndarray:
        return np.minimum(np.asarray(t) * self.num_buckets // self.num_timesteps, self.num_buckets - 1)

    def add_step(self, t: np.ndarray, losses: np.ndarray) -> None:
        """Fold in one training step: the timesteps of its samples and their losses."""
        buckets = self.bucket_of(t)
        self._sums *= self.decay
        self._counts *= self.decay
        self._sums += np.bincount(buckets, weights=np.asarray(losses, dtype=np.float64), minlength=self.num_buckets)
        self._counts += np.bincount(buckets, minlength=self.num_buckets)

    @property
    def values(self) -> np.ndarray:
        """The recent mean loss of each bucket (NaN where none was seen)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._counts > 0, self._sums / np.where(self._counts > 0, self._counts, 1.0), np.nan)

    @property
    def counts(self) -> np.ndarray:
        """How many samples each bucket's value stands for (decayed, so a weight rather than a tally)."""
        return self._counts.copy()

    @property
    def overall(self) -> float:
        """The recent mean loss over all t (NaN before the first step)."""
        total = float(self._counts.sum())
        return float(self._sums.sum()) / total if total > 0 else float("nan")

    def state_dict(self) -> dict:
        # plain floats: no float64 tensor anywhere near a device
        return {"sums": self._sums.tolist(), "counts": self._counts.tolist(), "values": self.values.tolist()}

    def load_state_dict(self, state: dict) -> None:
        try:
            if "sums" in state and "counts" in state:
                sums = np.array(_as_list(state["sums"]), dtype=np.float64)
                counts = np.array(_as_list(state["counts"]), dtype=np.float64)
            else:  # written by versions that kept only a moving average per bucket: one sample's weight each
                values = np.array(_as_list(state.get("values")), dtype=np.float64)
                counts = np.isfinite(values).astype(np.float64)
                sums = np.nan_to_num(values)
        except (TypeError, ValueError):
            return  # a damaged state: the curve starts afresh
        shape = (self.num_buckets,)
        if sums.shape == counts.shape == shape and np.all(np.isfinite(sums)) and np.all(counts >= 0):
            self._sums, self._counts = sums, counts


def _as_list(values):
    return values.tolist() if isinstance(values, torch.Tensor) else values  # tensors: written by earlier versions
