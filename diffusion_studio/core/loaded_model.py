"""The one thing every model source produces and everything downstream uses: a :class:`LoadedModel`.

Models come from several sources — our run folders, diffusers pixel-space pipelines, Stable-Diffusion
layout latent pipelines, the 2D playground — and reach the samplers, the chain, the player, compare,
SDEdit and export through this one interface. Nothing downstream branches on where a model came
from, except to show it: a latent model carries a ``decode`` from its samples to pixels.

The network is called as ``loaded.model(x_t, t, **conditioning) -> output`` with x_t float
(N, C, H, W) on the model's device and t long (N,); the output has the prediction type
``loaded.prediction`` (with the learned-variance channels after it when ``variance`` is
``"learned_range"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

    from .schedules import NoiseSchedule

__all__ = ["LoadedModel", "PREDICTION_LABELS"]

#: How the interface names each prediction type.
PREDICTION_LABELS = {"epsilon": "ε-prediction", "sample": "x0-prediction", "v_prediction": "v-prediction"}


@dataclass
class LoadedModel:
    """A model ready to sample from: eval mode, on its device, with its schedule and what it takes.

    ``image_size`` × ``image_size`` × ``channels`` is the sample's shape as the sampler sees it (for a
    latent model: the latent). ``class_names`` are the classes a class-conditional model knows (empty:
    unconditional). ``clip_sample``: x̂0 lives in [−1, 1] (pixel models) and samplers may clip it.
    ``source`` says where it came from ("run", "diffusers", …), for display only.
    """

    model: "torch.nn.Module"
    schedule: "NoiseSchedule"
    prediction: str
    image_size: int
    channels: int
    step: int | None
    config: dict
    path: Path  # the weights file (or folder) that was loaded
    run_dir: Path = field(default=Path("."))  # the folder holding its config
    is_ema: bool = False
    class_names: tuple[str, ...] = ()
    clip_sample: bool = True
    variance: str = "fixed_small"  # or "fixed_large", "learned_range"
    source: str = "run"
    #: latent → pixels for display (None: the samples are pixels)
    decode: Callable[["torch.Tensor"], "torch.Tensor"] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> "torch.device":
        return next(self.model.parameters()).device

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def describe(self) -> str:
        """One line for people: size, colour, prediction, training step, schedule, parameters."""
        colour = {1: "gray", 3: "RGB"}.get(self.channels, f"{self.channels} channels")
        parts = [f"{self.image_size}×{self.image_size} {colour}", PREDICTION_LABELS.get(self.prediction, self.prediction)]
        if self.class_names:
            parts.append(f"{len(self.class_names)} classes")
        if self.step is not None:
            parts.append(f"step {self.step:,}")
        parts.append(f"{self.schedule.name} T = {self.schedule.num_timesteps}")
        params = self.num_parameters
        parts.append(f"{params / 1e6:.1f} M params" if params >= 100_000 else f"{params / 1e3:.0f} k params")
        return " · ".join(parts)
