"""The training losses: the denoising loss (L2, L1, Huber), min-SNR-γ weights, L_vlb for a learned
variance, and the loss per t-bucket (targets: :mod:`.prediction`).

A learned variance (Nichol & Dhariwal 2021, "Improved Denoising Diffusion Probabilistic Models", §3.1):
the network's second output half v interpolates the reverse step's log-variance between log β̃_t and
log β_t (:func:`~core.samplers.ddpm.learned_log_variance`), and is trained by L_hybrid = L_simple + λ·L_vlb
(eq. 16), with the mean's output detached inside L_vlb so that it only trains the variance. L_vlb is
measured in bits per dimension, as in the paper: KL(q(x_{t−1} | x_t, x_0) ‖ p(x_{t−1} | x_t)) for t > 0 and
the discretised Gaussian decoder's −log p(x_0 | x_1) at t = 0 (Ho et al. 2020, §3.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .prediction import x0_from_output
from .samplers.ddpm import learned_log_variance
from .schedules import NoiseSchedule

__all__ = ["min_snr_weights", "BucketLosses", "denoising_loss", "VLBTerms", "normal_kl",
           "discretized_gaussian_log_likelihood"]


def denoising_loss(output: torch.Tensor, target: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """The per-sample loss (N,) between the network's output and its target, averaged over the pixels.

    ``l2``: (f − y)² (Ho et al. 2020, eq. 14); ``l1``: |f − y|; ``huber``: ½(f − y)² where |f − y| < 1, else
    |f − y| − ½ (smooth L1, The Annotated Diffusion Model's choice).
    """
    if kind == "l2":
        error = (output - target).pow(2)
    elif kind == "l1":
        error = (output - target).abs()
    elif kind == "huber":
        error = F.huber_loss(output, target, reduction="none", delta=1.0)
    else:
        raise ValueError(f"unknown loss {kind!r}; choose l2, l1 or huber")
    return error.flatten(1).mean(dim=1)


def normal_kl(mean_1: torch.Tensor, log_var_1: torch.Tensor, mean_2: torch.Tensor,
              log_var_2: torch.Tensor) -> torch.Tensor:
    """KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) elementwise, in nats: ½(−1 + log σ₂² − log σ₁² + σ₁²/σ₂² + (μ₁ − μ₂)²/σ₂²)."""
    return 0.5 * (-1.0 + log_var_2 - log_var_1 + torch.exp(log_var_1 - log_var_2)
                  + (mean_1 - mean_2).pow(2) * torch.exp(-log_var_2))


def _standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    # The tanh approximation of Φ that Ho et al. and Nichol & Dhariwal use.
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log p(x) of images x in [−1, 1] with 256 levels under N(mean, exp(log_scale)²), each level a bin of
    width 2/255 and the end bins open (Ho et al. 2020, eq. 13), elementwise in nats."""
    centred = x - mean
    inverse_scale = torch.exp(-log_scale)
    cdf_plus = _standard_normal_cdf(inverse_scale * (centred + 1.0 / 255.0))
    cdf_minus = _standard_normal_cdf(inverse_scale * (centred - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_minus = torch.log((1.0 - cdf_minus).clamp(min=1e-12))
    log_bin = torch.log((cdf_plus - cdf_minus).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, log_bin))


@dataclass(frozen=True)
class VLBTerms:
    """The per-timestep constants of L_vlb, float32 tensors (T,) on one device (:meth:`for_schedule`)."""

    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    posterior_coef_x0: torch.Tensor  # μ̃_t = coef_x0·x_0 + coef_xt·x_t (Ho et al. eq. 7)
    posterior_coef_xt: torch.Tensor
    log_beta: torch.Tensor  # log β_t: the upper end of the learned variance
    log_beta_tilde: torch.Tensor  # log β̃_t, with β̃_0 = β̃_1 (β̃_0 = 0): the lower end

    @classmethod
    def for_schedule(cls, schedule: NoiseSchedule, device: torch.device | str = "cpu") -> "VLBTerms":
        alphas_cumprod = np.asarray(schedule.alphas_cumprod, dtype=np.float64)
        betas = np.asarray(schedule.betas, dtype=np.float64)
        previous = np.append(1.0, alphas_cumprod[:-1])
        one_minus = np.maximum(1.0 - alphas_cumprod, 1e-20)
        beta_tilde = (1.0 - previous) / one_minus * betas
        clipped = np.append(beta_tilde[1], beta_tilde[1:]) if len(beta_tilde) > 1 else np.maximum(beta_tilde, 1e-20)
        columns = (np.sqrt(alphas_cumprod), np.sqrt(1.0 - alphas_cumprod), np.sqrt(previous) * betas / one_minus,
                   np.sqrt(1.0 - betas) * (1.0 - previous) / one_minus, np.log(np.maximum(betas, 1e-20)),
                   np.log(np.maximum(clipped, 1e-20)))
        return cls(*(torch.from_numpy(c.astype(np.float32)).to(device) for c in columns))

    def loss(self, mean_output: torch.Tensor, variance_output: torch.Tensor, x0: torch.Tensor, x_t: torch.Tensor,
             t: torch.Tensor, prediction: str) -> torch.Tensor:
        """L_vlb per sample (N,), in bits per dimension. ``mean_output`` (ε, x0 or v) is detached here, so
        the gradient reaches only ``variance_output`` (Nichol & Dhariwal §3.1: "stop-gradient on μ")."""
        def at(table: torch.Tensor) -> torch.Tensor:
            return table[t].view(-1, *([1] * (x0.ndim - 1)))

        mean_output, variance_output = mean_output.detach().float(), variance_output.float()
        x0, x_t = x0.float(), x_t.float()
        pred_x0 = x0_from_output(mean_output, x_t, at(self.sqrt_alphas_cumprod),
                                     at(self.sqrt_one_minus_alphas_cumprod), prediction)
        model_mean = at(self.posterior_coef_x0) * pred_x0 + at(self.posterior_coef_xt) * x_t
        model_log_var = learned_log_variance(variance_output, at(self.log_beta), at(self.log_beta_tilde))
        true_mean = at(self.posterior_coef_x0) * x0 + at(self.posterior_coef_xt) * x_t
        kl = normal_kl(true_mean, at(self.log_beta_tilde), model_mean, model_log_var).flatten(1).mean(dim=1)
        nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_log_var).flatten(1).mean(dim=1)
        return torch.where(t == 0, nll, kl) / math.log(2.0)


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
