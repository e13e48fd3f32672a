"""DDPM ancestral sampling (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", Alg. 2).

Each step samples x_{t'} ~ q(x_{t'} | x_t, x̂0) with the posterior of eq. 6–7, where t' is the
previous timestep of the chain (t − 1 for the full chain, or the next entry of a shortened one,
as diffusers' ``DDPMScheduler.set_timesteps``; then β_t is replaced by 1 − ᾱ_t/ᾱ_{t'}).

The step's variance is fixed — β̃_t or β_t (Ho et al. §3.2) — or learned (Nichol & Dhariwal 2021, eq. 15):
the network's extra output v gives Σ = exp(frac·log β_t + (1 − frac)·log β̃_t) with frac = (v + 1)/2,
per pixel (diffusers' ``variance_type="learned_range"``).
"""

from __future__ import annotations

import math

from ..schedules import NoiseSchedule
from .base import Sampler, SamplerError, StepOutput, draw_noise, spaced_timesteps, split_variance

__all__ = ["DDPMSampler", "VARIANCE_TYPES", "learned_log_variance"]

VARIANCE_TYPES: tuple[str, ...] = ("fixed_small", "fixed_large", "learned_range")


def learned_log_variance(variance_output, log_beta, log_beta_tilde):
    """log Σ of a learned variance (Nichol & Dhariwal 2021, eq. 15): frac·log β_t + (1 − frac)·log β̃_t.

    frac = (v + 1)/2 maps the network's output v ≈ [−1, 1] onto [0, 1], as diffusers' ``learned_range``
    and improved-diffusion do; the training loss (``core.losses.VLBTerms``) and this sampler share it.
    """
    frac = (variance_output + 1.0) / 2.0
    return frac * log_beta + (1.0 - frac) * log_beta_tilde


class DDPMSampler(Sampler):
    """Ancestral sampler. ``variance``: ``fixed_small`` (β̃_t, eq. 7) or ``fixed_large`` (β_t), §3.2, or
    ``learned_range`` (the model's output has 2C channels: its prediction, then v; see the module docstring).

    ``num_steps=None`` runs all T steps; a number shortens the chain with ``spacing``
    (``leading``/``trailing``/``linspace``) exactly like diffusers.
    """

    name = "ddpm"

    def __init__(
        self,
        schedule: NoiseSchedule,
        *,
        variance: str = "fixed_small",
        num_steps: int | None = None,
        spacing: str = "leading",
        steps_offset: int = 0,
        prediction: str = "epsilon",
        clip_sample: bool = True,
        **options,
    ):
        super().__init__(schedule, prediction=prediction, clip_sample=clip_sample, **options)
        if variance not in VARIANCE_TYPES:
            raise SamplerError(f"unknown DDPM variance {variance!r}; choose one of {', '.join(VARIANCE_TYPES)}")
        self.variance = variance
        self.spacing = spacing
        if num_steps is None:
            self._set_timesteps(self.timesteps)
        else:
            self._set_timesteps(spaced_timesteps(schedule.num_timesteps, num_steps, spacing, steps_offset))

    def step(self, model_output, t, x_t, noise=None, generator=None) -> StepOutput:
        """One ancestral step from x_t to x_{t'}. ``noise`` (N(0, I), shape of x_t) or ``generator``."""
        t = int(t)
        prev_t = self.prev_timestep(t)
        alpha_prod_t = self.alpha_cumprod(t)
        alpha_prod_prev = self.alpha_cumprod(prev_t)
        beta_prod_t = 1.0 - alpha_prod_t
        beta_prod_prev = 1.0 - alpha_prod_prev
        current_alpha_t = self.alpha_ratio(t, prev_t)  # ᾱ_t/ᾱ_{t'}, exact where both underflowed to 0
        current_beta_t = 1.0 - current_alpha_t

        # 1. x̂0 from the model output (eq. 15 for ε), then clip or threshold it
        prediction, variance_output = split_variance(model_output, x_t)
        if self.variance == "learned_range" and variance_output is None:
            raise SamplerError(f"a learned variance needs a model output of {2 * x_t.shape[1]} channels (the "
                               f"prediction, then v), got {model_output.shape[1]}")
        pred_x0 = self._process_x0(self.predict_x0(prediction, t, x_t))
        if beta_prod_t == 0.0:
            return StepOutput(pred_x0, pred_x0)  # no noise has been added up to t (β = 0): x_t' = x0

        # 2. posterior mean μ̃_t(x_t, x̂0), eq. 7:
        #    √ᾱ_{t'}·β_t/(1−ᾱ_t)·x̂0 + √α_t·(1−ᾱ_{t'})/(1−ᾱ_t)·x_t
        coef_x0 = math.sqrt(alpha_prod_prev) * current_beta_t / beta_prod_t
        coef_xt = math.sqrt(current_alpha_t) * beta_prod_prev / beta_prod_t
        prev_sample = coef_x0 * pred_x0 + coef_xt * x_t

        # 3. add σ_t·z, σ_t² = β̃_t = (1−ᾱ_{t'})/(1−ᾱ_t)·β_t or β_t (§3.2), or the learned
        #    Σ = exp(frac·log β_t + (1 − frac)·log β̃_t) (Nichol & Dhariwal eq. 15); z = 0 at t = 0 (Alg. 2,
        #    line 3). As diffusers, noise is added for every t > 0; β̃ is floored at 1e-20.
        if t > 0:
            beta, beta_tilde = self.variance_bounds(t)
            z = draw_noise(x_t, noise, generator)
            if self.variance == "learned_range":
                log_var = learned_log_variance(variance_output, math.log(max(beta, 1e-20)), math.log(beta_tilde))
                prev_sample = prev_sample + (0.5 * log_var).exp() * z
            else:
                prev_sample = prev_sample + math.sqrt(beta_tilde if self.variance == "fixed_small" else beta) * z
        return StepOutput(prev_sample, pred_x0)

    def describe(self) -> str:
        return f"DDPM ({self.num_steps} steps, {self.variance}, {self.prediction})"
