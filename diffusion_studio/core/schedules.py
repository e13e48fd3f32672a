"""Noise schedules: named β_t recipes turned into an immutable :class:`NoiseSchedule`.

Timesteps are 0-based, t = 0 … T-1, as in diffusers. Where diffusers has a name,
the formula is diffusers' (``DDPMScheduler(beta_schedule=...)``) so that a
diffusers ``scheduler_config.json`` maps one to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from .errors import InputError

__all__ = [
    "NoiseSchedule",
    "ScheduleError",
    "SCHEDULE_NAMES",
    "SCHEDULE_ALIASES",
    "SCHEDULE_PARAMS",
    "make_schedule",
    "rescale_zero_terminal_snr",
    "from_diffusers_config",
    "to_diffusers_config",
    "DIFFUSERS_SCHEDULES",
    "DIFFUSERS_VARIANCE_TYPES",
    "MAX_TIMESTEPS",
]

MAX_TIMESTEPS = 100_000


class ScheduleError(InputError):
    """A schedule was asked for with a name or parameters that cannot work."""


# ---------------------------------------------------------------------------
# β recipes. Each returns float64 betas of shape (T,).
# ---------------------------------------------------------------------------


def _linear(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    # Ho et al. 2020, §4: β_t linear from 1e-4 to 0.02.
    _check_beta_range(beta_start, beta_end)
    return np.linspace(beta_start, beta_end, T, dtype=np.float64)


def _scaled_linear(T: int, beta_start: float = 0.00085, beta_end: float = 0.012) -> np.ndarray:
    # Latent diffusion: linear in √β, β_t = (√β_start + t/(T-1)·(√β_end − √β_start))².
    _check_beta_range(beta_start, beta_end)
    return np.linspace(math.sqrt(beta_start), math.sqrt(beta_end), T, dtype=np.float64) ** 2


def _quadratic(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    # Ho et al. 2020 code ("quad") and The Annotated Diffusion Model: the scaled_linear
    # formula (linear in √β) with DDPM's range 1e-4 … 0.02.
    return _scaled_linear(T, beta_start, beta_end)


def _cosine(T: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    # Nichol & Dhariwal 2021, eq. 17: ᾱ(t) = cos²((t/T + s)/(1 + s) · π/2).
    if not 0 <= s < 1:
        raise ScheduleError(f"cosine offset s must be in [0, 1), got {s:g}")
    _check_max_beta(max_beta)
    return _betas_from_alpha_bar(T, lambda u: np.cos((u + s) / (1 + s) * math.pi / 2) ** 2, max_beta)


def _sigmoid(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    # diffusers' "sigmoid" (GeoDiff): β_t = σ(linspace(-6, 6)) · (β_end − β_start) + β_start.
    _check_beta_range(beta_start, beta_end)
    x = np.linspace(-6.0, 6.0, T, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-x)) * (beta_end - beta_start) + beta_start


def _logistic(z: np.ndarray | float) -> np.ndarray:
    # σ(z) written with tanh so that large |z| neither overflows nor warns.
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def _sigmoid_alphas_cumprod(
    T: int, start: float = -3.0, end: float = 3.0, tau: float = 1.0, max_beta: float = 0.999
) -> np.ndarray:
    # Chen 2023, "On the importance of noise scheduling", Alg. 1:
    # ᾱ(u) = (σ(end/τ) − σ((u·(end − start) + start)/τ)) / (σ(end/τ) − σ(start/τ)).
    if not end > start:
        raise ScheduleError(f"the sigmoid range needs end > start, got start={start:g}, end={end:g}")
    if not tau > 0:
        raise ScheduleError(f"tau must be > 0, got {tau:g}")
    _check_max_beta(max_beta)
    v_start, v_end = float(_logistic(start / tau)), float(_logistic(end / tau))
    if not v_end - v_start > 1e-12:
        raise ScheduleError(f"tau={tau:g} is too small for the range {start:g} … {end:g}: the curve is flat")

    def alpha_bar(u: np.ndarray) -> np.ndarray:
        return (v_end - _logistic((u * (end - start) + start) / tau)) / (v_end - v_start)

    return _betas_from_alpha_bar(T, alpha_bar, max_beta)


def _laplace(T: int, mu: float = 0.0, b: float = 0.5, max_beta: float = 0.999) -> np.ndarray:
    # diffusers' "laplace" (after Hang et al. 2024, "Improved noise schedule for diffusion
    # training", eq. 9): λ(u) = μ − b·sgn(0.5 − u)·ln(1 − 2|u − 0.5| + 1e-6).
    # diffusers then takes √sigmoid(λ) as ᾱ (the paper's α_t), so the log-SNR of the
    # discrete schedule is not λ itself; μ = 0, b = 0.5 reproduce diffusers exactly.
    if not b > 0:
        raise ScheduleError(f"laplace scale b must be > 0, got {b:g}")
    _check_max_beta(max_beta)

    def alpha_bar(u: np.ndarray) -> np.ndarray:
        log_snr = mu - b * np.copysign(1.0, 0.5 - u) * np.log(1.0 - 2.0 * np.abs(0.5 - u) + 1e-6)
        return np.sqrt(_logistic(log_snr))

    return _betas_from_alpha_bar(T, alpha_bar, max_beta)


def _betas_from_alpha_bar(
    T: int, alpha_bar: Callable[[np.ndarray], np.ndarray], max_beta: float
) -> np.ndarray:
    # diffusers' betas_for_alpha_bar: β_i = min(1 − ᾱ((i+1)/T) / ᾱ(i/T), max_β), vectorised.
    u = np.arange(T + 1, dtype=np.float64) / T
    a = np.asarray(alpha_bar(u), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        betas = np.where(a[:-1] > 0, 1.0 - a[1:] / a[:-1], max_beta)
    return np.minimum(betas, max_beta)


def _check_beta_range(beta_start: float, beta_end: float) -> None:
    for label, value in (("beta_start", beta_start), ("beta_end", beta_end)):
        if not 0.0 < value < 1.0:
            raise ScheduleError(f"{label} must be strictly between 0 and 1, got {value:g}")
    if beta_start > beta_end:
        raise ScheduleError(f"beta_start ({beta_start:g}) must not exceed beta_end ({beta_end:g})")


def _check_max_beta(max_beta: float) -> None:
    if not 0.0 < max_beta < 1.0:
        raise ScheduleError(f"max_beta must be strictly between 0 and 1, got {max_beta:g}")


_RECIPES: dict[str, Callable[..., np.ndarray]] = {
    "linear": _linear,
    "scaled_linear": _scaled_linear,
    "squaredcos_cap_v2": _cosine,
    "sigmoid": _sigmoid,
    "quadratic": _quadratic,
    "sigmoid_alphas_cumprod": _sigmoid_alphas_cumprod,
    "laplace": _laplace,
}

#: Friendly names that map to a canonical recipe.
SCHEDULE_ALIASES: dict[str, str] = {"cosine": "squaredcos_cap_v2"}

#: Every name ``make_schedule`` accepts, canonical names first.
SCHEDULE_NAMES: tuple[str, ...] = tuple(_RECIPES) + tuple(SCHEDULE_ALIASES)


def _default_params(recipe: Callable[..., np.ndarray]) -> dict[str, float]:
    import inspect

    return {
        name: p.default
        for name, p in inspect.signature(recipe).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


#: The keyword parameters of each schedule with their defaults.
SCHEDULE_PARAMS: dict[str, dict[str, float]] = {
    name: _default_params(_RECIPES[SCHEDULE_ALIASES.get(name, name)]) for name in SCHEDULE_NAMES
}


def rescale_zero_terminal_snr(betas: np.ndarray) -> np.ndarray:
    """Lin et al. 2024, Alg. 1: shift and scale √ᾱ so that ᾱ_{T-1} = 0 (SNR = 0 at the end).

    Same as diffusers' ``rescale_betas_zero_snr``.
    """
    alphas_bar_sqrt = np.sqrt(np.cumprod(1.0 - np.asarray(betas, dtype=np.float64)))
    first, last = alphas_bar_sqrt[0], alphas_bar_sqrt[-1]
    if not first > last:
        raise ScheduleError("zero-terminal-SNR rescale needs ᾱ_t to decrease over the schedule")
    alphas_bar_sqrt = (alphas_bar_sqrt - last) * first / (first - last)
    alphas_bar = alphas_bar_sqrt**2
    # Once ᾱ has reached 0 (float underflow on long schedules) every later step keeps it
    # there: α = 0/0 is taken as 0 (β = 1) instead of NaN.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(alphas_bar[:-1] > 0, alphas_bar[1:] / alphas_bar[:-1], 0.0)
    return 1.0 - np.concatenate([alphas_bar[:1], ratios])


def _readonly(array: np.ndarray) -> np.ndarray:
    # Always a private copy: freezing the caller's own array in place would surprise them.
    array = np.array(array, dtype=np.float64, order="C", copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """An immutable discrete noise schedule. All arrays are read-only float64 of shape (T,)."""

    name: str
    betas: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    zero_terminal_snr: bool = False

    def __post_init__(self) -> None:
        betas = _readonly(self.betas)
        if betas.ndim != 1 or betas.size < 2:
            raise ScheduleError("a schedule needs at least 2 timesteps")
        if not np.all(np.isfinite(betas)) or np.any(betas < 0) or np.any(betas > 1):
            raise ScheduleError(f"{self.name}: every β_t must lie in [0, 1]")
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "params", dict(self.params))
        alphas = _readonly(1.0 - betas)
        object.__setattr__(self, "alphas", alphas)
        object.__setattr__(self, "alphas_cumprod", _readonly(np.cumprod(alphas)))

    # The two derived arrays are set in __post_init__; declared here for type checkers.
    alphas: np.ndarray = field(init=False, repr=False, compare=False)
    alphas_cumprod: np.ndarray = field(init=False, repr=False, compare=False)

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.size)

    @property
    def alphas_cumprod_prev(self) -> np.ndarray:
        """ᾱ_{t-1}, with ᾱ_{-1} = 1."""
        return _readonly(np.concatenate([[1.0], self.alphas_cumprod[:-1]]))

    # Derived arrays are computed once per schedule (cached_property writes to __dict__,
    # which a frozen dataclass allows) because the forward view reads them per frame.
    @cached_property
    def sqrt_alphas_cumprod(self) -> np.ndarray:
        return _readonly(np.sqrt(self.alphas_cumprod))

    @cached_property
    def sqrt_one_minus_alphas_cumprod(self) -> np.ndarray:
        return _readonly(np.sqrt(1.0 - self.alphas_cumprod))

    @cached_property
    def snr(self) -> np.ndarray:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) (Kingma et al. 2021); 0 where ᾱ_t = 0."""
        with np.errstate(divide="ignore"):
            return _readonly(self.alphas_cumprod / (1.0 - self.alphas_cumprod))

    @cached_property
    def log_snr(self) -> np.ndarray:
        """Natural log of the SNR; −inf where ᾱ_t = 0 (zero terminal SNR)."""
        with np.errstate(divide="ignore"):
            return _readonly(np.log(self.alphas_cumprod) - np.log1p(-self.alphas_cumprod))

    @cached_property
    def snr_db(self) -> np.ndarray:
        """SNR in decibels, 10·log10(SNR)."""
        return _readonly(self.log_snr * (10.0 / math.log(10.0)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NoiseSchedule):
            return NotImplemented
        return self.to_config() == other.to_config() and np.array_equal(self.betas, other.betas)

    def __hash__(self) -> int:
        return hash((self.name, self.num_timesteps, self.zero_terminal_snr, tuple(sorted(self.params.items()))))

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        zt = ", zero terminal SNR" if self.zero_terminal_snr else ""
        return f"{self.name}(T={self.num_timesteps}{', ' + args if args else ''}{zt})"

    def table(self) -> dict[str, np.ndarray]:
        """The per-t quantities a user plots or exports, in column order."""
        return {
            "t": np.arange(self.num_timesteps),
            "beta": self.betas,
            "alpha": self.alphas,
            "alphas_cumprod": self.alphas_cumprod,
            "sqrt_alphas_cumprod": self.sqrt_alphas_cumprod,
            "sqrt_one_minus_alphas_cumprod": self.sqrt_one_minus_alphas_cumprod,
            "snr": self.snr,
        }

    def to_config(self) -> dict[str, Any]:
        """A JSON-ready description that :func:`make_schedule` turns back into this schedule."""
        return {
            "name": self.name,
            "num_timesteps": self.num_timesteps,
            "zero_terminal_snr": self.zero_terminal_snr,
            **self.params,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "NoiseSchedule":
        """The inverse of :meth:`to_config`; a broken config raises :class:`ScheduleError`."""
        if not isinstance(config, dict) or "name" not in config:
            raise ScheduleError("a schedule config must be a dict with at least a 'name'")
        config = dict(config)
        return make_schedule(config.pop("name"), config.pop("num_timesteps", 1000), **config)


def _whole_number(value: Any) -> int:
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        as_float = math.nan
    if isinstance(value, bool) or not math.isfinite(as_float) or as_float != int(as_float):
        raise ScheduleError(f"the number of timesteps must be a whole number, got {value!r}")
    return int(as_float)


def _finite_number(label: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ScheduleError(f"{label} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ScheduleError(f"{label} must be a finite number, got {value!r}")
    return number


def make_schedule(
    name: str, num_timesteps: int = 1000, *, zero_terminal_snr: bool = False, **params: float
) -> NoiseSchedule:
    """Build a named schedule.

    >>> make_schedule("linear", 1000, beta_start=1e-4, beta_end=0.02).num_timesteps
    1000
    """
    key = str(name).strip().lower()
    canonical = SCHEDULE_ALIASES.get(key, key)
    if canonical not in _RECIPES:
        raise ScheduleError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULE_NAMES)}")
    T = _whole_number(num_timesteps)
    if not 2 <= T <= MAX_TIMESTEPS:
        raise ScheduleError(f"the number of timesteps must be between 2 and {MAX_TIMESTEPS}, got {T}")
    allowed = SCHEDULE_PARAMS[canonical]
    unknown = set(params) - set(allowed)
    if unknown:
        raise ScheduleError(
            f"schedule {canonical!r} has no parameter {', '.join(sorted(unknown))}; "
            f"its parameters are {', '.join(allowed) or 'none'}"
        )
    merged = {**allowed, **{k: _finite_number(k, v) for k, v in params.items()}}
    betas = _RECIPES[canonical](T, **merged)
    if zero_terminal_snr:
        betas = rescale_zero_terminal_snr(betas)
    if np.any(betas >= 1.0) and not zero_terminal_snr:
        raise ScheduleError(f"{canonical}: β_t reaches 1, the image would be destroyed in one step")
    return NoiseSchedule(canonical, betas, merged, bool(zero_terminal_snr))


#: diffusers ``beta_schedule`` names this module reproduces formula for formula.
DIFFUSERS_SCHEDULES: tuple[str, ...] = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid", "laplace")


#: ``beta_schedule`` names that every diffusers scheduler (DDPM, DDIM, DPM-Solver …) computes.
#: diffusers' DDPMScheduler also knows "sigmoid" and "laplace", but DDIMScheduler does not, so an
#: exported pipeline states those as ``trained_betas``: any scheduler can then be swapped in.
_PORTABLE_DIFFUSERS_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")

#: diffusers' ``variance_type`` values our runs can produce: β̃_t, β_t, or learned (Nichol & Dhariwal 2021).
DIFFUSERS_VARIANCE_TYPES = ("fixed_small", "fixed_large", "learned_range")


def to_diffusers_config(
    schedule: NoiseSchedule,
    *,
    prediction: str = "epsilon",
    clip_sample: bool = True,
    variance: str = "fixed_small",
) -> dict[str, Any]:
    """The diffusers ``DDPMScheduler`` config (``scheduler_config.json``) of ``schedule``.

    A schedule diffusers computes by name is written by name (then :func:`from_diffusers_config`
    gives it back); any other (quadratic, Chen's sigmoid, cosine with another ``s``, …) as its
    ``trained_betas``, already rescaled when ``zero_terminal_snr``. ``prediction`` is our
    prediction type (the same strings as diffusers' ``prediction_type``); ``variance`` is one of
    :data:`DIFFUSERS_VARIANCE_TYPES` (``learned_range`` for a net with 2C outputs).
    """
    if variance not in DIFFUSERS_VARIANCE_TYPES:
        raise ScheduleError(f"unknown variance type {variance!r}; choose one of {', '.join(DIFFUSERS_VARIANCE_TYPES)}")
    defaults = SCHEDULE_PARAMS.get(schedule.name)
    by_name = schedule.name in _PORTABLE_DIFFUSERS_SCHEDULES and (
        schedule.name != "squaredcos_cap_v2" or schedule.params == defaults  # diffusers fixes s and max_beta
    )
    return {
        "num_train_timesteps": schedule.num_timesteps,
        "beta_schedule": schedule.name if by_name else "linear",  # ignored by diffusers when trained_betas is set
        "beta_start": float(schedule.params.get("beta_start", 1e-4)) if by_name else 1e-4,
        "beta_end": float(schedule.params.get("beta_end", 0.02)) if by_name else 0.02,
        "trained_betas": None if by_name else schedule.betas.tolist(),
        "rescale_betas_zero_snr": bool(schedule.zero_terminal_snr) if by_name else False,
        "variance_type": variance,
        "clip_sample": bool(clip_sample),
        "clip_sample_range": 1.0,
        "prediction_type": prediction,
        "thresholding": False,
        "timestep_spacing": "leading",
        "steps_offset": 0,
    }


def from_diffusers_config(config: dict[str, Any]) -> NoiseSchedule:
    """Map a diffusers ``scheduler_config.json`` dict onto a schedule (diffusers' defaults apply).

    ``trained_betas`` (what :func:`to_diffusers_config` writes for schedules diffusers cannot compute by
    name) are read back as they are: as the named schedule they equal when one of ours with its default
    parameters does, else as a schedule named ``trained_betas``.
    """
    if not isinstance(config, dict):
        raise ScheduleError("a diffusers scheduler config must be a JSON object")
    zero_terminal_snr = bool(config.get("rescale_betas_zero_snr", False))
    if config.get("trained_betas") is not None:
        return _from_trained_betas(config["trained_betas"], config.get("num_train_timesteps"), zero_terminal_snr)
    name = config.get("beta_schedule", "linear")
    if name not in DIFFUSERS_SCHEDULES:
        raise ScheduleError(f"unknown diffusers beta_schedule {name!r}; known: {', '.join(DIFFUSERS_SCHEDULES)}")
    params: dict[str, float] = {}
    if name in ("linear", "scaled_linear", "sigmoid"):
        params = {"beta_start": config.get("beta_start", 1e-4), "beta_end": config.get("beta_end", 0.02)}
    return make_schedule(name, config.get("num_train_timesteps", 1000), zero_terminal_snr=zero_terminal_snr, **params)


def _from_trained_betas(values: Any, num_train_timesteps: Any, zero_terminal_snr: bool) -> NoiseSchedule:
    if not isinstance(values, (list, tuple)) or not 2 <= len(values) <= MAX_TIMESTEPS:
        raise ScheduleError(f"trained_betas must be a list of 2 to {MAX_TIMESTEPS} numbers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ScheduleError("trained_betas must hold numbers only")
    betas = np.asarray(values, dtype=np.float64)
    if num_train_timesteps is not None and _whole_number(num_train_timesteps) != betas.size:
        raise ScheduleError(f"num_train_timesteps is {num_train_timesteps} but trained_betas has {betas.size} values")
    if not np.all(np.isfinite(betas)) or np.any(betas < 0) or np.any(betas > 1):
        raise ScheduleError("every value of trained_betas must lie in [0, 1]")
    if zero_terminal_snr:  # diffusers rescales trained betas too
        betas = rescale_zero_terminal_snr(betas)
    for name in _RECIPES:  # our own export of a schedule diffusers has no name for: give its name back
        for rescaled in (False, True):
            try:
                candidate = make_schedule(name, betas.size, zero_terminal_snr=rescaled)
            except ScheduleError:
                continue
            if np.array_equal(candidate.betas, betas):
                return candidate
    return NoiseSchedule("trained_betas", betas, {}, zero_terminal_snr)
