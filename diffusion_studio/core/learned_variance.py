"""What a learned variance does along a chain: Σ per step against the fixed choices β_t and β̃_t.

Ho et al. (2020, §3.2) fix the reverse step's variance at β_t or β̃_t and find both give similar samples
with 1000 steps; Nichol & Dhariwal (2021, §3.1) learn Σ = exp(frac·log β_t + (1 − frac)·log β̃_t) per pixel
and show it matters for short chains, where β_t and β̃_t are far apart. :class:`VarianceRecorder` wraps the
``model(x, t)`` a chain calls and keeps, for every step, the learned Σ's geometric mean over the pixels of
the batch and its 10th and 90th percentiles, next to the step's β_t and β̃_t (``Sampler.variance_bounds``),
whatever sampler runs the chain (DDIM and DPM-Solver++ use only the mean; DDPM draws with Σ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .samplers.base import split_variance
from .samplers.ddpm import learned_log_variance

if TYPE_CHECKING:
    import torch

    from .samplers import Sampler

__all__ = ["VarianceStep", "VarianceRecorder"]

#: Percentiles are taken over at most this many pixels of the batch (strided), so a big batch costs no more.
_MAX_VALUES = 1 << 16


@dataclass(frozen=True)
class VarianceStep:
    """The learned variance at one step of a chain, and the fixed variances it interpolates between."""

    t: int
    beta: float  # β_t of the step t → t' (the upper end)
    beta_tilde: float  # β̃_t (the lower end)
    mean: float  # the learned Σ: exp of the mean log Σ over the batch's pixels
    low: float  # its 10th percentile
    high: float  # its 90th percentile


class VarianceRecorder:
    """``model(x, t)`` that also records the learned variance of every call (:meth:`drain` takes them)."""

    def __init__(self, network: Callable, sampler: "Sampler"):
        self.network = network
        self.sampler = sampler
        self._steps: list[VarianceStep] = []

    def parameters(self):
        return self.network.parameters()

    def __call__(self, x: "torch.Tensor", t: "torch.Tensor") -> "torch.Tensor":
        import torch

        output = self.network(x, t)
        _prediction, variance_output = split_variance(output, x)
        step = int(t.reshape(-1)[0])
        if variance_output is None:
            return output
        beta, beta_tilde = self.sampler.variance_bounds(step)
        log_var = learned_log_variance(variance_output.float(), math.log(max(beta, 1e-20)), math.log(beta_tilde))
        flat = log_var.flatten()
        if flat.numel() > _MAX_VALUES:
            flat = flat[:: math.ceil(flat.numel() / _MAX_VALUES)]
        low, high = torch.quantile(flat, torch.tensor([0.1, 0.9], device=flat.device)).tolist()
        self._steps.append(VarianceStep(step, beta, beta_tilde, math.exp(float(flat.mean())), math.exp(low),
                                        math.exp(high)))
        return output

    def drain(self) -> list[VarianceStep]:
        """The steps recorded since the last call."""
        steps, self._steps = self._steps, []
        return steps
