"""Reverse-process samplers, one algorithm per module.

>>> from diffusion_studio.core.schedules import make_schedule
>>> sampler = make_sampler("ddim", make_schedule("linear", 1000), num_steps=50, eta=0.0)
>>> sampler.timesteps[:3].tolist()
[980, 960, 940]

Every sampler has ``timesteps`` (descending ints), ``step(model_output, t, x_t, noise=None,
generator=None) -> StepOutput(prev_sample, pred_original_sample)`` and ``reset()``.
Importing this package does not import torch.
"""

from __future__ import annotations

import inspect

from ..schedules import NoiseSchedule
from .base import (
    PREDICTION_TYPES,
    SPACINGS,
    Sampler,
    SamplerError,
    StepOutput,
    predict_epsilon,
    predict_x0,
    spaced_timesteps,
    threshold_sample,
)
from .ddim import DDIMSampler
from .ddpm import VARIANCE_TYPES, DDPMSampler
from .dpm_solver import DPMSolverSampler, dpm_solver_timesteps

__all__ = [
    "DDIMSampler",
    "DDPMSampler",
    "DPMSolverSampler",
    "PREDICTION_TYPES",
    "SAMPLER_ALIASES",
    "SAMPLER_LABELS",
    "SAMPLER_NAMES",
    "SAMPLER_OPTIONS",
    "SPACINGS",
    "Sampler",
    "SamplerError",
    "StepOutput",
    "VARIANCE_TYPES",
    "dpm_solver_timesteps",
    "make_sampler",
    "predict_epsilon",
    "predict_x0",
    "spaced_timesteps",
    "threshold_sample",
]

_CLASSES: dict[str, type[Sampler]] = {
    "ddpm": DDPMSampler,
    "ddim": DDIMSampler,
    "dpm_solver": DPMSolverSampler,
}

#: Canonical sampler names, in the order a menu lists them.
SAMPLER_NAMES: tuple[str, ...] = tuple(_CLASSES)

#: Other spellings ``make_sampler`` accepts.
SAMPLER_ALIASES: dict[str, str] = {
    "dpm++2m": "dpm_solver",
    "dpmsolver++": "dpm_solver",
    "dpm-solver": "dpm_solver",
    "dpm_solver++": "dpm_solver",
}

#: Human-readable names for menus.
SAMPLER_LABELS: dict[str, str] = {
    "ddpm": "DDPM (ancestral)",
    "ddim": "DDIM",
    "dpm_solver": "DPM-Solver++ 2M",
}

_SHARED_OPTIONS = inspect.signature(Sampler.__init__).parameters


def _options(cls: type[Sampler]) -> tuple[str, ...]:
    own = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "schedule", "options")]
    shared = [p for p in _SHARED_OPTIONS if p not in ("self", "schedule") and p not in own]
    return tuple(own + shared)


#: The keyword options each sampler takes (a GUI enables the matching widgets).
SAMPLER_OPTIONS: dict[str, tuple[str, ...]] = {name: _options(cls) for name, cls in _CLASSES.items()}


def make_sampler(name: str, schedule: NoiseSchedule, **options) -> Sampler:
    """Build a sampler by name. Options set to ``None`` are left at the sampler's default.

    Options that the chosen sampler does not take raise :class:`SamplerError`, except when
    ``None``, so one call site can pass e.g. ``eta=args.eta`` for every sampler.
    """
    key = str(name).strip().lower()
    key = SAMPLER_ALIASES.get(key, key)
    if key not in _CLASSES:
        raise SamplerError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLER_NAMES)}")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = set(given) - set(SAMPLER_OPTIONS[key])
    if unknown:
        raise SamplerError(
            f"the {key} sampler has no option {', '.join(sorted(unknown))}; "
            f"its options are {', '.join(SAMPLER_OPTIONS[key])}"
        )
    return _CLASSES[key](schedule, **given)
