"""The forward (noising) process q(x_t | x_0) and a cheap renderer for scrubbing it.

Ho et al. 2020, eq. 4: x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε, with ε ~ N(0, I).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from .schedules import NoiseSchedule

__all__ = [
    "q_sample",
    "posterior_coefficients",
    "PosteriorCoefficients",
    "ForwardRenderer",
    "TimestepStats",
    "timestep_stats",
]

ArrayLike = Union[np.ndarray, "torch.Tensor"]  # noqa: F821 - torch is optional here


def _is_torch(x: object) -> bool:
    return type(x).__module__.startswith("torch")


def _coefficients_for(t, schedule: NoiseSchedule, like, ndim: int):
    """√ᾱ_t and √(1−ᾱ_t) for scalar or batched t, shaped to broadcast over ``like``."""
    sqrt_ab = schedule.sqrt_alphas_cumprod
    sqrt_1m_ab = schedule.sqrt_one_minus_alphas_cumprod
    if _is_torch(like):
        import torch

        t_idx = torch.as_tensor(t, device="cpu").long()
        # torch.tensor copies: the schedule's arrays are read-only, which torch.from_numpy warns about.
        a = torch.tensor(sqrt_ab)[t_idx].to(device=like.device, dtype=like.dtype)
        b = torch.tensor(sqrt_1m_ab)[t_idx].to(device=like.device, dtype=like.dtype)
    else:
        t_idx = np.asarray(t, dtype=np.int64)
        dtype = like.dtype if np.issubdtype(like.dtype, np.floating) else np.float64
        a = sqrt_ab[t_idx].astype(dtype)
        b = sqrt_1m_ab[t_idx].astype(dtype)
    if t_idx.ndim == 1:
        shape = (-1,) + (1,) * (ndim - 1)
        a, b = a.reshape(shape), b.reshape(shape)
    elif t_idx.ndim > 1:
        raise ValueError("t must be a scalar or a 1-D batch of timesteps")
    return a, b


def _check_t(t, schedule: NoiseSchedule) -> None:
    t_arr = np.asarray(t.cpu() if _is_torch(t) else t)
    if t_arr.size and (t_arr.min() < 0 or t_arr.max() >= schedule.num_timesteps):
        raise ValueError(f"t must lie in 0 … {schedule.num_timesteps - 1}, got {t_arr.min()} … {t_arr.max()}")


def q_sample(x0: ArrayLike, t, noise: ArrayLike, schedule: NoiseSchedule) -> ArrayLike:
    """Sample x_t ~ q(x_t | x_0) (Ho et al. 2020, eq. 4) with the given noise.

    ``x0`` and ``noise`` are numpy arrays or torch tensors of the same shape, in [-1, 1].
    ``t`` is a scalar or, for a batch ``(N, …)``, a length-N sequence of 0-based timesteps.
    Equals diffusers' ``DDPMScheduler.add_noise(x0, noise, t)``.
    """
    _check_t(t, schedule)
    a, b = _coefficients_for(t, schedule, x0, x0.ndim)
    return a * x0 + b * noise


@dataclass(frozen=True)
class PosteriorCoefficients:
    """q(x_{t-1} | x_t, x_0) = N(coef_x0·x_0 + coef_xt·x_t, variance) (Ho et al. 2020, eq. 6–7)."""

    coef_x0: float
    coef_xt: float
    variance: float


def posterior_coefficients(schedule: NoiseSchedule, t: int) -> PosteriorCoefficients:
    ab_t = schedule.alphas_cumprod[t]
    ab_prev = schedule.alphas_cumprod[t - 1] if t > 0 else 1.0
    beta_t = schedule.betas[t]
    # eq. 7: μ̃ = √ᾱ_{t-1}β_t/(1−ᾱ_t)·x_0 + √α_t(1−ᾱ_{t-1})/(1−ᾱ_t)·x_t ; β̃_t = (1−ᾱ_{t-1})/(1−ᾱ_t)·β_t
    denom = 1.0 - ab_t
    return PosteriorCoefficients(
        coef_x0=float(np.sqrt(ab_prev) * beta_t / denom),
        coef_xt=float(np.sqrt(schedule.alphas[t]) * (1.0 - ab_prev) / denom),
        variance=float((1.0 - ab_prev) / denom * beta_t),
    )


@dataclass(frozen=True)
class TimestepStats:
    """The numbers shown beside the forward view for one t."""

    t: int
    beta: float
    alphas_cumprod: float
    sqrt_alphas_cumprod: float
    sqrt_one_minus_alphas_cumprod: float
    snr: float
    snr_db: float


def timestep_stats(schedule: NoiseSchedule, t: int) -> TimestepStats:
    return TimestepStats(
        t=int(t),
        beta=float(schedule.betas[t]),
        alphas_cumprod=float(schedule.alphas_cumprod[t]),
        sqrt_alphas_cumprod=float(schedule.sqrt_alphas_cumprod[t]),
        sqrt_one_minus_alphas_cumprod=float(schedule.sqrt_one_minus_alphas_cumprod[t]),
        snr=float(schedule.snr[t]),
        snr_db=float(schedule.snr_db[t]),
    )


class ForwardRenderer:
    """Renders x_t for any t as a displayable uint8 image, fast enough to follow a slider.

    The image is taken at *working resolution* (its longest side at most ``max_side``),
    and ε is drawn once at that resolution, so scrubbing changes only t. Everything that
    does not depend on t is precomputed; a frame is two fused multiply-adds, a clip and
    a cast into preallocated buffers.
    """

    HIST_SAMPLES = 32_768
    HIST_RANGE = (-4.0, 4.0)

    def __init__(self, image_uint8: np.ndarray, schedule: NoiseSchedule, *, seed: int = 0, max_side: int = 512):
        from .images import resize_to_fit  # local: keeps this module import-light

        image = resize_to_fit(np.asarray(image_uint8), max_side)
        if image.ndim == 2:
            image = image[:, :, None]
        self.schedule = schedule
        self._x0_uint8 = np.ascontiguousarray(image)
        # x0 and ε premultiplied by 127.5 so that uint8 = a·X0 + b·E + 127.5.
        self._x0_scaled = image.astype(np.float32) - 127.5
        self._out = np.empty_like(self._x0_scaled)
        self._tmp = np.empty_like(self._x0_scaled)
        self._frame = np.empty(image.shape, dtype=np.uint8)
        self.reseed(seed)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._x0_uint8.shape

    @property
    def x0_uint8(self) -> np.ndarray:
        return self._x0_uint8

    @property
    def noise(self) -> np.ndarray:
        """The fixed ε as float32 (H, W, C) at working resolution (read-only)."""
        return self._noise

    @property
    def noise_uint8(self) -> np.ndarray:
        """ε shown as an image: ±2.5σ mapped onto 0 … 255."""
        return self._noise_uint8

    @property
    def seed(self) -> int:
        return self._seed

    def reseed(self, seed: int) -> None:
        """Draw a new ε (fixed while scrubbing) from ``seed``."""
        self._seed = int(seed)
        rng = np.random.default_rng(self._seed)
        noise = rng.standard_normal(self._x0_scaled.shape, dtype=np.float32)
        noise.setflags(write=False)
        self._noise = noise
        self._noise_scaled = noise * np.float32(127.5)
        self._noise_uint8 = np.clip(noise * (127.5 / 2.5) + 127.5, 0, 255).astype(np.uint8)
        flat = self._x0_scaled.size
        idx = rng.choice(flat, size=min(self.HIST_SAMPLES, flat), replace=False)
        self._hist_x0 = self._x0_scaled.reshape(-1)[idx] / np.float32(127.5)
        self._hist_noise = noise.reshape(-1)[idx]

    def set_schedule(self, schedule: NoiseSchedule) -> None:
        self.schedule = schedule

    def render(self, t: int) -> np.ndarray:
        """x_t as uint8 (H, W, C). The returned array is reused by the next call."""
        a = np.float32(self.schedule.sqrt_alphas_cumprod[t])
        b = np.float32(self.schedule.sqrt_one_minus_alphas_cumprod[t])
        np.multiply(self._x0_scaled, a, out=self._out)
        np.multiply(self._noise_scaled, b, out=self._tmp)
        self._out += self._tmp
        # +127.5 maps [-1, 1] onto [0, 255]; the extra +0.5 makes the truncating cast round.
        self._out += np.float32(128.0)
        np.clip(self._out, 0.0, 255.0, out=self._out)
        np.copyto(self._frame, self._out, casting="unsafe")
        return self._frame

    def histogram(self, t: int, bins: int = 81) -> tuple[np.ndarray, np.ndarray]:
        """Density histogram of x_t's pixel values (on a fixed subsample) over [-4, 4]."""
        a = self.schedule.sqrt_alphas_cumprod[t]
        b = self.schedule.sqrt_one_minus_alphas_cumprod[t]
        values = a * self._hist_x0 + b * self._hist_noise
        return np.histogram(values, bins=bins, range=self.HIST_RANGE, density=True)
