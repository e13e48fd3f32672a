"""What every sampler shares: the step result, prediction conversion, x̂0 clipping and thresholding.

Notation (Ho et al. 2020): ᾱ_t = ∏ α_s, x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε.
The model predicts one of ε (``epsilon``), x_0 (``sample``) or v = √ᾱ_t·ε − √(1−ᾱ_t)·x_0
(``v_prediction``, Salimans & Ho 2022, §4).

Per-step coefficients are computed in float64 from the schedule's float64 arrays and
passed to torch as Python floats, so a step costs no host→device copy on any device and
every tensor keeps its own dtype. Sampler objects hold per-chain state (the multistep
solver's history); call :meth:`Sampler.reset` before a new chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import InputError
from ..prediction import PREDICTION_TYPES
from ..schedules import NoiseSchedule

if TYPE_CHECKING:  # torch is imported lazily by the functions that need it
    import torch

__all__ = [
    "StepOutput",
    "Sampler",
    "SamplerError",
    "PREDICTION_TYPES",
    "SPACINGS",
    "offset_timesteps",
    "spaced_timesteps",
    "predict_x0",
    "predict_epsilon",
    "split_variance",
    "threshold_sample",
]

SPACINGS: tuple[str, ...] = ("leading", "trailing", "linspace")

#: Where a conversion divides by √ᾱ or √(1 − ᾱ) and the schedule gives exactly 0 (zero terminal SNR,
#: or ᾱ underflowing over a long chain; β = 0 at the start), that 0 is replaced by this — diffusers'
#: choice (the smallest fp16 subnormal) for the first σ of a zero-SNR schedule — so the step takes the
#: limit instead of dividing by zero. Nonzero values, however small, are used as they are.
MIN_VARIANCE = 2.0**-24


class SamplerError(InputError):
    """A sampler was asked for with options that cannot work."""


@dataclass(frozen=True)
class StepOutput:
    """One reverse step: x_{t_prev} and the model's current guess of the clean image x̂0."""

    prev_sample: "torch.Tensor"
    pred_original_sample: "torch.Tensor"

    @property
    def pred_x0(self) -> "torch.Tensor":
        return self.pred_original_sample


def spaced_timesteps(num_train_timesteps: int, num_steps: int, spacing: str, steps_offset: int = 0) -> np.ndarray:
    """Descending int64 timesteps for a shortened chain, exactly as diffusers' ``set_timesteps``.

    See Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed", Table 2.
    ``steps_offset`` shifts ``leading`` timesteps up, as diffusers does (Stable Diffusion's configs say 1).
    """
    T, n = int(num_train_timesteps), int(num_steps)
    if not 1 <= n <= T:
        raise SamplerError(f"the number of steps must be between 1 and {T}, got {num_steps}")
    if spacing == "linspace":
        timesteps = np.linspace(0, T - 1, n).round()[::-1]
    elif spacing == "leading":
        timesteps = (np.arange(0, n) * (T // n)).round()[::-1]
    elif spacing == "trailing":
        timesteps = np.round(np.arange(T, 0, -T / n)) - 1
    else:
        raise SamplerError(f"unknown timestep spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    return offset_timesteps(np.ascontiguousarray(timesteps, dtype=np.int64), T, spacing, steps_offset)


def offset_timesteps(timesteps: np.ndarray, num_train_timesteps: int, spacing: str, steps_offset: int) -> np.ndarray:
    """``leading`` timesteps + ``steps_offset`` (diffusers' rule: the other spacings ignore it), kept below T."""
    if isinstance(steps_offset, bool) or int(steps_offset) != steps_offset or steps_offset < 0:
        raise SamplerError(f"steps_offset must be a whole number ≥ 0, got {steps_offset!r}")
    if spacing != "leading" or not steps_offset:
        return timesteps
    shifted = timesteps + int(steps_offset)
    if shifted.max() >= num_train_timesteps:
        raise SamplerError(f"steps_offset {steps_offset} moves the first timestep to {int(shifted.max())}, past "
                           f"T − 1 = {num_train_timesteps - 1}; use more steps or a smaller offset")
    return shifted


def split_variance(model_output, sample):
    """(prediction, variance values or None) of a model output for ``sample``.

    A network with a learned variance (Nichol & Dhariwal 2021; diffusers' ``learned_range``) gives 2C
    channels for a C-channel sample: its prediction (ε, x0 or v), then the variance interpolation v.
    """
    channels = sample.shape[1]
    if model_output.shape[1] == 2 * channels:
        return model_output[:, :channels], model_output[:, channels:]
    return model_output, None


def predict_x0(model_output, sample, alpha_prod: float, prediction: str):
    """x̂0 from the model output at a level with ᾱ = ``alpha_prod`` (Ho et al. eq. 15; Salimans & Ho §4)."""
    if prediction == "epsilon":
        # (1) x̂0 = (x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t
        return (sample - math.sqrt(1.0 - alpha_prod) * model_output) / math.sqrt(alpha_prod or MIN_VARIANCE)
    if prediction == "sample":
        return model_output
    if prediction == "v_prediction":
        # (2) x̂0 = √ᾱ_t·x_t − √(1−ᾱ_t)·v̂
        return math.sqrt(alpha_prod) * sample - math.sqrt(1.0 - alpha_prod) * model_output
    raise SamplerError(f"unknown prediction type {prediction!r}; choose one of {', '.join(PREDICTION_TYPES)}")


def predict_epsilon(model_output, sample, alpha_prod: float, prediction: str):
    """ε̂ from the model output (the inverse of (1) and (2) where the model gave x̂0 or v̂)."""
    if prediction == "epsilon":
        return model_output
    if prediction == "sample":
        # ε̂ = (x_t − √ᾱ_t·x̂0) / √(1−ᾱ_t)
        return (sample - math.sqrt(alpha_prod) * model_output) / math.sqrt((1.0 - alpha_prod) or MIN_VARIANCE)
    if prediction == "v_prediction":
        # ε̂ = √ᾱ_t·v̂ + √(1−ᾱ_t)·x_t
        return math.sqrt(alpha_prod) * model_output + math.sqrt(1.0 - alpha_prod) * sample
    raise SamplerError(f"unknown prediction type {prediction!r}; choose one of {', '.join(PREDICTION_TYPES)}")


def threshold_sample(sample, ratio: float = 0.995, max_value: float = 1.0):
    """Dynamic thresholding (Saharia et al. 2022, Imagen §2.3).

    Per sample, s = the ``ratio`` quantile of |x̂0|, clamped to [1, ``max_value``];
    x̂0 is clipped to [−s, s] and divided by s. With s = 1 this is plain clipping.
    """
    import torch

    dtype = sample.dtype
    batch, *rest = sample.shape
    flat = sample.reshape(batch, -1)
    if dtype not in (torch.float32, torch.float64):
        flat = flat.float()  # quantile needs float32/64
    s = torch.quantile(flat.abs(), ratio, dim=1)
    s = torch.clamp(s, min=1.0, max=max_value).unsqueeze(1)
    flat = torch.clamp(flat, -s, s) / s
    return flat.reshape(batch, *rest).to(dtype)


class Sampler:
    """Base class: options shared by every sampler and the x̂0 post-processing.

    Subclasses set ``self.timesteps`` (descending int64 numpy array) and implement ``step``.
    """

    name = "sampler"

    def __init__(
        self,
        schedule: NoiseSchedule,
        *,
        prediction: str = "epsilon",
        clip_sample: bool = True,
        clip_sample_range: float = 1.0,
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        sample_max_value: float = 1.0,
    ):
        if not isinstance(schedule, NoiseSchedule):
            raise SamplerError("a sampler needs a NoiseSchedule (see core.schedules.make_schedule)")
        if prediction not in PREDICTION_TYPES:
            raise SamplerError(f"unknown prediction type {prediction!r}; choose one of {', '.join(PREDICTION_TYPES)}")
        if not clip_sample_range > 0:
            raise SamplerError(f"clip_sample_range must be > 0, got {clip_sample_range}")
        if not 0.0 < dynamic_thresholding_ratio <= 1.0:
            raise SamplerError(f"dynamic_thresholding_ratio must be in (0, 1], got {dynamic_thresholding_ratio}")
        if not sample_max_value >= 1.0:
            raise SamplerError(f"sample_max_value must be ≥ 1, got {sample_max_value}")
        self.schedule = schedule
        self.prediction = prediction
        self.clip_sample = bool(clip_sample)
        self.clip_sample_range = float(clip_sample_range)
        self.thresholding = bool(thresholding)
        self.dynamic_thresholding_ratio = float(dynamic_thresholding_ratio)
        self.sample_max_value = float(sample_max_value)
        # Python floats in float64: ᾱ_t for every training timestep, and Σ_{s≤t} log α_s, from which
        # ᾱ_t/ᾱ_t' is exact even where both have underflowed to 0.
        self._alphas_cumprod: Sequence[float] = schedule.alphas_cumprod.tolist()
        with np.errstate(divide="ignore"):
            self._log_alphas_cumsum: Sequence[float] = np.cumsum(np.log(schedule.alphas)).tolist()
        self.timesteps: np.ndarray = np.arange(schedule.num_timesteps - 1, -1, -1, dtype=np.int64)
        self._index_of: dict[int, int] = {}

    # -- timesteps --------------------------------------------------------------------------------

    def _set_timesteps(self, timesteps: np.ndarray) -> None:
        timesteps = np.ascontiguousarray(timesteps, dtype=np.int64)
        timesteps.setflags(write=False)
        self.timesteps = timesteps
        self._index_of = {int(t): i for i, t in enumerate(timesteps)}

    @property
    def num_steps(self) -> int:
        return int(self.timesteps.size)

    def index_of(self, t) -> int:
        """Position of timestep ``t`` in :attr:`timesteps`."""
        key = int(t)
        try:
            return self._index_of[key]
        except KeyError:
            raise SamplerError(f"timestep {key} is not one of this {self.name} sampler's timesteps") from None

    def prev_timestep(self, t) -> int:
        """The timestep the step from ``t`` lands on; −1 means the clean image."""
        i = self.index_of(t)
        return int(self.timesteps[i + 1]) if i + 1 < self.timesteps.size else -1

    def alpha_cumprod(self, t: int) -> float:
        """ᾱ_t as a float64 Python float (1.0 for t = −1, the clean image)."""
        return 1.0 if t < 0 else self._alphas_cumprod[t]

    def alpha_ratio(self, t: int, prev_t: int) -> float:
        """ᾱ_t / ᾱ_{t'} = ∏_{t' < s ≤ t} α_s: the α of one (possibly spaced) step from t to t' < t."""
        if prev_t < 0:
            return self.alpha_cumprod(t)
        log_ratio = self._log_alphas_cumsum[t] - self._log_alphas_cumsum[prev_t]
        return 0.0 if math.isnan(log_ratio) else math.exp(log_ratio)  # −inf − (−inf): both past an α = 0

    def variance_bounds(self, t: int) -> tuple[float, float]:
        """(β_t, β̃_t) of the step from ``t`` to the chain's next timestep t': the variances of DDPM's ancestral
        step, and the range a learned variance spans (with a shortened chain β_t is 1 − ᾱ_t/ᾱ_{t'}; β̃_t =
        (1 − ᾱ_{t'})/(1 − ᾱ_t)·β_t, Ho et al. eq. 7, floored at 1e-20 as diffusers does)."""
        t = int(t)
        prev_t = self.prev_timestep(t)
        beta = 1.0 - self.alpha_ratio(t, prev_t)
        beta_prod_t = 1.0 - self.alpha_cumprod(t)
        if beta_prod_t == 0.0:
            return beta, 0.0
        return beta, max((1.0 - self.alpha_cumprod(prev_t)) / beta_prod_t * beta, 1e-20)

    def timesteps_from(self, start_t: int) -> np.ndarray:
        """The tail of the chain that starts at the largest timestep ≤ ``start_t`` (for SDEdit)."""
        tail = self.timesteps[self.timesteps <= int(start_t)]
        if tail.size == 0:
            raise SamplerError(f"no {self.name} timestep at or below t = {start_t}; the chain ends at {self.timesteps[-1]}")
        return tail

    def reset(self) -> None:
        """Forget per-chain state. Single-step samplers have none."""

    # -- predictions ------------------------------------------------------------------------------

    def predict_x0(self, model_output, t: int, sample):
        """x̂0 at step t (the prediction channels of a learned-variance output: see :func:`split_variance`)."""
        prediction, _variance = split_variance(model_output, sample)
        return predict_x0(prediction, sample, self.alpha_cumprod(int(t)), self.prediction)

    def predict_epsilon(self, model_output, t: int, sample):
        """ε̂ at step t (the prediction channels of a learned-variance output)."""
        prediction, _variance = split_variance(model_output, sample)
        return predict_epsilon(prediction, sample, self.alpha_cumprod(int(t)), self.prediction)

    def _process_x0(self, pred_x0):
        # Thresholding wins over clipping, as in diffusers.
        if self.thresholding:
            return threshold_sample(pred_x0, self.dynamic_thresholding_ratio, self.sample_max_value)
        if self.clip_sample:
            return pred_x0.clamp(-self.clip_sample_range, self.clip_sample_range)
        return pred_x0

    def step(self, model_output, t, x_t, noise=None, generator=None) -> StepOutput:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} ({self.num_steps} steps, {self.prediction})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


def draw_noise(like, noise, generator):
    """``noise`` if given, else N(0, I) shaped like ``like`` from ``generator`` (drawn on its device)."""
    import torch

    if noise is not None:
        return noise
    gen_device = generator.device if generator is not None else like.device
    z = torch.randn(like.shape, generator=generator, device=gen_device, dtype=like.dtype)
    return z.to(like.device)
