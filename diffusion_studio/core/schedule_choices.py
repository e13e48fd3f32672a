"""How the schedule selectors (forward view, schedule lab) list the schedules core knows."""

from __future__ import annotations

from .schedules import SCHEDULE_ALIASES, SCHEDULE_NAMES

__all__ = ["SCHEDULE_CHOICES", "schedule_label"]

_LABELS = {
    "linear": "linear (DDPM)",
    "scaled_linear": "scaled_linear (Stable Diffusion)",
    "squaredcos_cap_v2": "cosine (improved DDPM)",
    "sigmoid": "sigmoid (GeoDiff)",
    "quadratic": "quadratic (DDPM code)",
    "sigmoid_alphas_cumprod": "sigmoid on ᾱ (Chen 2023)",
    "laplace": "laplace (Hang 2024)",
}


def schedule_label(name: str) -> str:
    return _LABELS.get(name, name)


#: (label in the selector, canonical schedule name): every schedule core knows, aliases left out
SCHEDULE_CHOICES: tuple[tuple[str, str], ...] = tuple(
    (schedule_label(name), name) for name in SCHEDULE_NAMES if name not in SCHEDULE_ALIASES
)
