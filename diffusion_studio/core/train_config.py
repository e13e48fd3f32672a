"""``TrainConfig``: every setting of a training run, one field per CLI flag.

Re-exported by :mod:`diffusion_studio.core.training`. Plain data: JSON-ready via
:meth:`TrainConfig.to_dict`, checked by :meth:`TrainConfig.validate` with messages for people.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError

__all__ = ["TrainConfig", "PREDICTIONS", "PRECISIONS", "LR_SCHEDULES", "MODEL_PRESETS", "RESUME_OVERRIDABLE"]

PREDICTIONS = ("epsilon", "sample", "v_prediction")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LR_SCHEDULES = ("constant", "cosine")
MODEL_PRESETS = ("auto", "cpu-tiny", "gpu-small", "ddpm-cifar")

#: Fields a ``--resume`` may change; everything else comes from the run's saved config so the
#: continued run is the same run (same model, data, seed, optimiser settings).
RESUME_OVERRIDABLE = (
    "steps", "max_minutes", "device", "precision", "sample_every", "checkpoint_every", "log_every", "keep_last",
    "workers", "compile", "cpu_threads", "num_sample_images", "sample_steps", "resume",
)


@dataclass
class TrainConfig:
    """A training run. ``folder`` is a folder of images, or None with ``demo=True`` (built-in digits)."""

    out: str = ""  # the run folder (created if missing)
    folder: str | None = None
    demo: bool = False
    resume: bool = False
    # data and model
    image_size: int = 32
    channels: int | None = None  # None: 1 for all-grayscale folders, else 3
    preset: str = "auto"  # auto: cpu-tiny on the CPU, gpu-small on a GPU
    base_channels: int | None = None
    channel_mults: tuple[int, ...] | None = None
    num_res_blocks: int | None = None
    attention_resolutions: tuple[int, ...] | None = None
    dropout: float | None = None
    hflip: bool = True
    # diffusion
    schedule: str = "cosine"
    timesteps: int = 1000
    prediction: str = "epsilon"
    min_snr_gamma: float | None = None  # None/0: uniform weighting; 5 is Hang et al.'s choice
    # optimisation
    steps: int = 10_000
    max_minutes: float | None = None  # stop cleanly (and save) after this much training time
    batch_size: int = 64
    lr: float = 2e-4
    lr_schedule: str = "constant"
    warmup_steps: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    # hardware
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | None = None  # None: on CUDA only (on the CPU it is slower)
    compile: bool = False
    workers: int = 0
    cpu_threads: int | None = None  # None: all cores but one (the GUI keeps one)
    # outputs
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_last: int = 3
    num_sample_images: int = 16
    sample_steps: int = 25
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("channel_mults", "attention_resolutions"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        for key in ("channel_mults", "attention_resolutions"):
            if known.get(key) is not None:
                known[key] = tuple(int(v) for v in known[key])
        return cls(**known)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def validate(self) -> "TrainConfig":
        """Raise InputError naming the first setting that cannot work."""
        if not self.out:
            raise InputError("choose a run folder to write to (--out RUN_DIR)")
        if self.demo and self.folder:
            raise InputError("give either an image folder or --demo, not both")
        if not self.demo and not self.folder and not self.resume:
            raise InputError("give a folder of images to train on, or --demo for the built-in digits")
        _positive("steps", self.steps)
        _positive("batch size", self.batch_size)
        _positive("timesteps", self.timesteps, minimum=2)
        _positive("log interval", self.log_every)
        _positive("sample interval", self.sample_every)
        _positive("checkpoint interval", self.checkpoint_every)
        _positive("checkpoints to keep", self.keep_last)
        _positive("sample images", self.num_sample_images)
        _positive("sample steps", self.sample_steps)
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise InputError(f"the time limit must be > 0 minutes, got {self.max_minutes}")
        if self.warmup_steps < 0:
            raise InputError(f"warm-up steps cannot be negative, got {self.warmup_steps}")
        if self.workers < 0:
            raise InputError(f"the number of data workers cannot be negative, got {self.workers}")
        if not (self.lr > 0):
            raise InputError(f"the learning rate must be > 0, got {self.lr}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise InputError(f"the EMA decay must lie in [0, 1), got {self.ema_decay}")
        if self.grad_clip < 0 or self.weight_decay < 0:
            raise InputError("gradient clipping and weight decay cannot be negative")
        if self.min_snr_gamma is not None and self.min_snr_gamma < 0:
            raise InputError(f"min-SNR γ must be > 0 (or 0 for uniform weighting), got {self.min_snr_gamma}")
        if self.channels not in (None, 1, 3):
            raise InputError(f"channels must be 1 (grayscale) or 3 (colour), got {self.channels}")
        _choice("prediction", self.prediction, PREDICTIONS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("learning-rate schedule", self.lr_schedule, LR_SCHEDULES)
        _choice("model preset", self.preset, MODEL_PRESETS)
        return self


def _positive(what: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise InputError(f"the {what} must be a whole number ≥ {minimum}, got {value}")


def _choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")
