"""DDIM (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", eq. 12 and 16).

A step from t to the next timestep t' of the (sub)sequence τ:

    x_{t'} = √ᾱ_{t'}·x̂0 + √(1 − ᾱ_{t'} − σ_t²)·ε̂ + σ_t·z,
    σ_t = η·√((1 − ᾱ_{t'})/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t'})

η = 0 is the deterministic DDIM; η = 1 is DDPM's ancestral step on the subsequence.

t' is always the next entry of :attr:`timesteps`. diffusers' ``DDIMScheduler`` uses
t − T // num_steps instead, which is the same for ``leading`` spacing and for ``trailing``
when num_steps divides T, and a few timesteps off otherwise (``linspace``); the tests check
those other cases against algebraically equal diffusers schedulers.
"""

from __future__ import annotations

import math

from ..schedules import NoiseSchedule
from .base import Sampler, SamplerError, StepOutput, draw_noise, predict_epsilon, spaced_timesteps

__all__ = ["DDIMSampler"]


class DDIMSampler(Sampler):
    """DDIM with ``num_steps`` steps spaced ``leading``/``trailing``/``linspace`` and noise ``eta``.

    ``set_alpha_to_one``: the last step lands on ᾱ = 1 (the clean image); otherwise on ᾱ_0
    (``final_alpha_cumprod`` in diffusers). ``use_clipped_model_output`` recomputes ε̂ from the
    clipped x̂0, as diffusers' option of the same name.
    """

    name = "ddim"

    def __init__(
        self,
        schedule: NoiseSchedule,
        *,
        num_steps: int = 50,
        eta: float = 0.0,
        spacing: str = "leading",
        steps_offset: int = 0,
        set_alpha_to_one: bool = True,
        use_clipped_model_output: bool = False,
        prediction: str = "epsilon",
        clip_sample: bool = True,
        **options,
    ):
        super().__init__(schedule, prediction=prediction, clip_sample=clip_sample, **options)
        if not (math.isfinite(eta) and eta >= 0):
            raise SamplerError(f"eta must be a number ≥ 0, got {eta}")
        self.eta = float(eta)
        self.spacing = spacing
        self.set_alpha_to_one = bool(set_alpha_to_one)
        self.use_clipped_model_output = bool(use_clipped_model_output)
        self.final_alpha_cumprod = 1.0 if set_alpha_to_one else float(schedule.alphas_cumprod[0])
        self.steps_offset = int(steps_offset)
        self._set_timesteps(spaced_timesteps(schedule.num_timesteps, num_steps, spacing, steps_offset))

    def _alpha_prev(self, prev_t: int) -> float:
        return self.alpha_cumprod(prev_t) if prev_t >= 0 else self.final_alpha_cumprod

    def step(self, model_output, t, x_t, noise=None, generator=None) -> StepOutput:
        """One DDIM step from x_t to x_{t'}; ``noise``/``generator`` only matter when η > 0."""
        t = int(t)
        prev_t = self.prev_timestep(t)
        alpha_prod_t = self.alpha_cumprod(t)
        alpha_prod_prev = self._alpha_prev(prev_t)
        beta_prod_t = 1.0 - alpha_prod_t

        # 1. x̂0 ("predicted x_0", eq. 12) and ε̂ from the model output
        pred_x0 = self.predict_x0(model_output, t, x_t)
        pred_epsilon = self.predict_epsilon(model_output, t, x_t)

        # 2. clip or threshold x̂0
        pred_x0 = self._process_x0(pred_x0)
        if self.use_clipped_model_output:
            pred_epsilon = predict_epsilon(pred_x0, x_t, alpha_prod_t, "sample")

        # 3. σ_t(η), eq. 16; ᾱ_t/ᾱ_{t'} exact where both underflowed to 0; no noise where none was added yet
        step_alpha = self.alpha_ratio(t, prev_t) if prev_t >= 0 else alpha_prod_t / alpha_prod_prev
        variance = (1.0 - alpha_prod_prev) / beta_prod_t * (1.0 - step_alpha) if beta_prod_t > 0 else 0.0
        std_dev_t = self.eta * math.sqrt(variance)

        # 4. "direction pointing to x_t", eq. 12: √(1 − ᾱ_{t'} − σ_t²)·ε̂
        direction_coef = math.sqrt(max(1.0 - alpha_prod_prev - std_dev_t**2, 0.0))

        # 5. x_{t'} = √ᾱ_{t'}·x̂0 + direction (+ σ_t·z), eq. 12
        prev_sample = math.sqrt(alpha_prod_prev) * pred_x0 + direction_coef * pred_epsilon
        if self.eta > 0:
            prev_sample = prev_sample + std_dev_t * draw_noise(x_t, noise, generator)
        return StepOutput(prev_sample, pred_x0)

    def describe(self) -> str:
        return f"DDIM ({self.num_steps} steps, η={self.eta:g}, {self.spacing}, {self.prediction})"
