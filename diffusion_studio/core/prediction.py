"""What the network predicts — ε, x₀ or v — and the conversions between them, in one place.

Notation (Ho et al. 2020): ᾱ_t = ∏ α_s and x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε. A model predicts one of

- ``epsilon``: the noise ε (Ho et al. 2020, eq. 14),
- ``sample``: the clean image x₀,
- ``v_prediction``: v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀ (Salimans & Ho 2022, §4).

The names are diffusers' ``prediction_type`` values, so a diffusers scheduler config maps one to one.
Training uses :func:`prediction_target` (numpy arrays or torch tensors alike); the samplers turn
an output back into x̂₀ and ε̂. Importing this module does not import torch.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from .errors import InputError

__all__ = [
    "PREDICTION_TYPES",
    "PredictionType",
    "check_prediction",
    "prediction_target",
    "x0_from_output",
]

PredictionType = Literal["epsilon", "sample", "v_prediction"]
PREDICTION_TYPES: tuple[str, ...] = get_args(PredictionType)


def check_prediction(prediction: Any) -> str:
    """``prediction`` when it is one of :data:`PREDICTION_TYPES`, else an :class:`InputError` saying which exist."""
    if prediction not in PREDICTION_TYPES:
        raise InputError(f"unknown prediction type {prediction!r}; choose one of {', '.join(PREDICTION_TYPES)}")
    return prediction


def prediction_target(x0, noise, sqrt_alpha_prod, sqrt_one_minus_alpha_prod, prediction: str):
    """What the network should output for x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε (coefficients broadcast, e.g. (N,1,1,1))."""
    if prediction == "epsilon":
        return noise  # Ho et al. 2020, eq. 14
    if check_prediction(prediction) == "v_prediction":
        return sqrt_alpha_prod * noise - sqrt_one_minus_alpha_prod * x0  # Salimans & Ho 2022, §4
    return x0  # "sample"


def x0_from_output(output, x_t, sqrt_alpha_prod, sqrt_one_minus_alpha_prod, prediction: str):
    """x̂₀ from the network's output at x_t, with per-sample coefficients (training; the samplers use scalars).

    ε: (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t (Ho et al. eq. 15), x₀ as it is, v: √ᾱ_t·x_t − √(1−ᾱ_t)·v̂. √ᾱ_t is floored at
    2⁻¹² so that a zero-SNR step takes the limit instead of dividing by zero.
    """
    if prediction == "epsilon":
        return (x_t - sqrt_one_minus_alpha_prod * output) / sqrt_alpha_prod.clamp(min=2.0**-12)
    if check_prediction(prediction) == "v_prediction":
        return sqrt_alpha_prod * x_t - sqrt_one_minus_alpha_prod * output
    return output
