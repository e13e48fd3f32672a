"""``TrainConfig``: every setting of a training run, defined once — type, range, default, help.

The CLI's ``train`` flags (:mod:`diffusion_studio.cli.config_flags`) and the app's settings form
are generated from these field definitions (:data:`SETTINGS`), and every value that enters —
flags, form fields, a run's saved ``config.json`` — is validated here, with the shared types of
:mod:`diffusion_studio.core.validation`, before any work starts: a non-finite float, an integer
out of range or a wrong type is refused with one sentence that names the flag or field.

A config remembers which fields were *given* (:attr:`TrainConfig.given`): a ``--resume`` keeps
every setting the run recorded except the ones given explicitly. Importing this module does not
import torch.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Mapping, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..checkpoint.run_config import (
    AttentionResolutions,
    BaseChannels,
    ChannelMults,
    Dropout,
    ImageChannels,
    ImageSize,
    ResBlocks,
)
from ..data.labels import CONDITIONING_CHOICES
from ..prediction import PredictionType
from ..schedules import MAX_TIMESTEPS, SCHEDULE_NAMES
from ..validation import (
    STRICT,
    ConfigError,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Seed,
    describe_errors,
)

__all__ = [
    "TrainConfig", "SettingSpec", "SETTINGS", "PRECISIONS", "LR_SCHEDULES", "MODEL_PRESETS", "RESUME_OVERRIDABLE",
    "CONDITIONING_CHOICES", "LOSS_TYPES", "flag_labels", "form_labels", "TRAINING_PRESETS", "matching_preset",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: The denoising loss: squared error (Ho et al.), absolute error, or Huber (The Annotated Diffusion Model).
LOSS_TYPES = ("l2", "l1", "huber")
LR_SCHEDULES = ("constant", "cosine")
#: "auto" and the U-Net's presets (core.unet.PRESETS; named here so this module needs no torch)
MODEL_PRESETS = ("auto", "cpu-tiny", "gpu-small", "ddpm-cifar")

#: Fields a ``--resume`` may change; everything else comes from the run's saved config so the
#: continued run is the same run (same model, data, seed, optimiser settings). The hardware settings
#: may change (a run moves from a laptop to a GPU), and so may the batch size, so that a run that
#: ran out of memory can go on with a smaller one.
RESUME_OVERRIDABLE = (
    "steps", "max_minutes", "batch_size", "device", "precision", "channels_last", "compile", "workers", "cpu_threads",
    "sample_every", "first_samples_after", "checkpoint_every", "log_every", "keep_last", "num_sample_images",
    "sample_steps", "resume",
)

Timesteps = Annotated[int, Field(ge=2, le=MAX_TIMESTEPS)]
DropProbability = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Decay = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Workers = Annotated[int, Field(ge=0, le=64)]
Threads = Annotated[int, Field(ge=1, le=1024)]
KeepLast = Annotated[int, Field(ge=1, le=1000)]
SampleImages = Annotated[int, Field(ge=1, le=256)]
SampleSteps = Annotated[int, Field(ge=1, le=1000)]
PathText = Annotated[str, Field(max_length=4096)]


def _setting(default: Any, help: str, label: str, group: str, *, flag: str | None = None,
             metavar: str | None = None) -> Any:
    """A field with what the CLI and the form show: help, label, argument group, flag name."""
    extra = {"label": label, "group": group, "flag": flag, "metavar": metavar}
    return Field(default, description=help, json_schema_extra={k: v for k, v in extra.items() if v is not None})


RUN, DATA, DIFFUSION, OPTIMISATION, HARDWARE, OUTPUTS = (
    "run", "data and model", "diffusion", "optimisation", "hardware", "outputs")


class TrainConfig(BaseModel):
    """A training run. ``folder`` is a folder of images, or None with ``demo=True`` (built-in digits)."""

    model_config = ConfigDict(**STRICT, frozen=True)

    # the run
    out: PathText = _setting("", "run folder to create (or continue with --resume)", "Run folder", RUN,
                         metavar="RUN_DIR")
    folder: PathText | None = _setting(None, "folder of images (searched recursively)", "Image folder", RUN)
    demo: bool = _setting(False, "train on the built-in 1797 handwritten digits", "Demo digits", RUN)
    resume: bool = _setting(False, "continue the run in RUN_DIR exactly where it stopped", "Continue", RUN)
    restart: bool = _setting(False, "start the run in RUN_DIR over; only for a run that has no checkpoint yet "
                                    "(it stopped before its first one)", "Start over", RUN)
    # data and model
    image_size: ImageSize = _setting(32, "side in pixels after resize + centre crop",
                                     "Image size (px)", DATA)
    channels: ImageChannels | None = _setting(None, "1 (grayscale) or 3 (colour); default: 1 if every image is "
                                                    "grayscale", "Channels", DATA)
    preset: Literal[MODEL_PRESETS] = _setting("auto", "model size; auto: cpu-tiny on the CPU, gpu-small on a GPU; "
                                                      "the fields below override it", "Model size", DATA)
    base_channels: BaseChannels | None = _setting(None, "width of the first level (default: the preset's)",
                                                  "Base channels", DATA)
    channel_mults: ChannelMults | None = _setting(None, "width of each resolution level as multiples of the base "
                                                        "channels, e.g. 1,2,2,2", "Channel multipliers", DATA)
    num_res_blocks: ResBlocks | None = _setting(None, "residual blocks per level (default: the preset's)",
                                                "Res blocks per level", DATA)
    attention_resolutions: AttentionResolutions | None = _setting(
        None, "feature-map sizes in pixels that get self-attention, e.g. 16", "Attention at (px)", DATA)
    dropout: Dropout | None = _setting(None, "dropout in the residual blocks (default: the preset's)", "Dropout",
                                       DATA)
    hflip: bool = _setting(True, "random horizontal flips of the training images", "Random horizontal flip", DATA)
    conditioning: Literal[CONDITIONING_CHOICES] = _setting(
        "auto", "class conditioning: auto uses classes when the images sit in class subfolders (or --demo), "
                "classes insists on them, none trains without them", "Classes", DATA)
    label_dropout: DropProbability = _setting(
        0.1, "probability that a label is replaced by 'no class' while training, so one network also learns the "
             "unconditional model that classifier-free guidance needs (Ho & Salimans: 0.1)", "Label dropout p", DATA)
    # diffusion
    schedule: Literal[SCHEDULE_NAMES] = _setting("cosine", "noise schedule: how fast noise is added (β schedule)",
                                                 "Noise schedule", DIFFUSION)
    timesteps: Timesteps = _setting(1000, "number of diffusion steps T", "Timesteps T", DIFFUSION)
    prediction: PredictionType = _setting("epsilon", "what the model predicts: ε (Ho et al.), x₀ or v "
                                                     "(Salimans & Ho)", "Model predicts", DIFFUSION)
    min_snr_gamma: NonNegativeFloat | None = _setting(
        None, "min-SNR-γ loss weighting (Hang et al. 2023); empty or 0: uniform, 5 is typical", "Min-SNR γ",
        DIFFUSION)
    loss: Literal[LOSS_TYPES] = _setting("l2", "the denoising loss: l2 (squared error, Ho et al.), l1, or huber "
                                              "(smooth L1, δ = 1)", "Loss", DIFFUSION)
    learned_variance: bool = _setting(
        False, "the network also learns the reverse-step variance, between β_t and β̃_t (Nichol & Dhariwal 2021); "
               "trained with L_simple + λ·L_vlb; DDPM sampling then uses it", "Learn the variance", DIFFUSION)
    vlb_weight: NonNegativeFloat = _setting(0.001, "λ, the weight of L_vlb with a learned variance (Nichol & "
                                                   "Dhariwal: 0.001)", "L_vlb weight λ", DIFFUSION)
    # optimisation
    steps: PositiveInt = _setting(10_000, "total optimiser steps", "Steps", OPTIMISATION)
    max_minutes: PositiveFloat | None = _setting(None, "stop cleanly (with a checkpoint) after this much training "
                                                       "time", "Time limit (min)", OPTIMISATION)
    batch_size: PositiveInt = _setting(64, "images per step (per GPU under torchrun); on a GPU the default grows "
                                           "with its free memory", "Batch size", OPTIMISATION)
    lr: PositiveFloat = _setting(2e-4, "peak learning rate of AdamW, e.g. 2e-4", "Learning rate", OPTIMISATION)
    lr_schedule: Literal[LR_SCHEDULES] = _setting("constant", "constant, or cosine decay after the warm-up",
                                                  "LR schedule", OPTIMISATION)
    warmup_steps: NonNegativeInt = _setting(200, "linear learning-rate warm-up", "Warm-up steps", OPTIMISATION)
    weight_decay: NonNegativeFloat = _setting(0.0, "AdamW weight decay", "Weight decay", OPTIMISATION)
    grad_clip: NonNegativeFloat = _setting(1.0, "clip the gradient norm to this value (0: off)", "Gradient clip",
                                           OPTIMISATION)
    ema_decay: Decay = _setting(0.999, "decay of the exponential moving average of the weights that samples use",
                                "EMA decay", OPTIMISATION)
    seed: Seed = _setting(0, "seed of the initial weights, the data order and the noise", "Seed", OPTIMISATION)
    # hardware
    device: Annotated[str, Field(max_length=16)] = _setting("auto", "auto, cpu, cuda, cuda:N or mps", "Device",
                                                            HARDWARE)
    precision: Literal[PRECISIONS] = _setting("auto", "auto: bf16 on GPUs with bf16 units (compute capability ≥ 8), "
                                                      "else fp16; fp32 on the CPU", "Precision", HARDWARE)
    channels_last: bool | None = _setting(None, "NHWC memory layout (default: on for CUDA, off on the CPU where it "
                                                "is slower)", "channels_last memory", HARDWARE)
    compile: bool = _setting(False, "torch.compile the model (slow first steps, faster later; GPU)", "torch.compile",
                             HARDWARE)
    workers: Workers = _setting(0, "DataLoader processes for folders too big to keep in memory", "Data workers",
                                HARDWARE)
    cpu_threads: Threads | None = _setting(None, "CPU threads for torch (default: all cores but one, so the app "
                                                 "stays smooth)", "CPU threads", HARDWARE, flag="--threads")
    # outputs
    log_every: PositiveInt = _setting(10, "steps between metrics.jsonl lines", "Log every (steps)", OUTPUTS)
    sample_every: PositiveInt = _setting(500, "steps between EMA sample grids", "Samples every (steps)", OUTPUTS)
    first_samples_after: NonNegativeFloat = _setting(
        10.0, "seconds of training before the first EMA sample grid; more follow after 2, 4, 8 … times that, until "
              "the first --sample-every grid (0: grids only every --sample-every steps)", "First samples after (s)",
        OUTPUTS, metavar="SECONDS")
    checkpoint_every: PositiveInt = _setting(1000, "steps between checkpoints", "Checkpoint every (steps)", OUTPUTS)
    keep_last: KeepLast = _setting(3, "checkpoint folders to keep", "Checkpoints kept", OUTPUTS)
    num_sample_images: SampleImages = _setting(16, "images in each sample grid", "Sample images", OUTPUTS,
                                               flag="--num-samples")
    sample_steps: SampleSteps = _setting(25, "DDIM steps for the sample grids", "Sampling steps", OUTPUTS)

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except ValidationError as exc:
            error = ConfigError(f"training settings: {describe_errors(exc)}")
            error.validation_error = exc  # from_dict words it again with the caller's labels
            raise error from None

    # -- building --------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, labels: Mapping[str, str] | None = None,
                  what: str = "training settings") -> "TrainConfig":
        """Validated from a mapping (CLI flags, a form); ``labels`` name fields in messages (``{"lr": "--lr"}``).

        Only the keys present count as given (see :attr:`given`); unknown keys are refused.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"{what} must be a JSON object, got {type(values).__name__}")
        try:
            return cls(**{str(key): value for key, value in values.items()})
        except ConfigError as exc:
            raise ConfigError(f"{what}: {describe_errors(exc.validation_error, labels)}") from None

    @classmethod
    def from_saved(cls, section: Any, *, what: str) -> "TrainConfig":
        """The ``train`` section of a run's ``config.json``; keys this version does not know are ignored."""
        if not isinstance(section, Mapping):
            raise ConfigError(f"{what} must be a JSON object, got {type(section).__name__}")
        return cls.from_dict({k: v for k, v in section.items() if k in cls.model_fields}, what=what)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with ``changes`` (every field then counts as given)."""
        return type(self).from_dict({**self.model_dump(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples become lists); :meth:`from_dict` reads it back."""
        return self.model_dump(mode="json")

    @property
    def given(self) -> frozenset[str]:
        """The fields set explicitly (flags given, keyword arguments passed), not left at their default."""
        return frozenset(self.model_fields_set)


# ---------------------------------------------------------------------------- the field definitions


@dataclass(frozen=True)
class SettingSpec:
    """One field of :class:`TrainConfig` as a CLI flag or a form widget sees it."""

    name: str
    flag: str  # "--image-size"
    label: str  # "Image size (px)"
    help: str
    group: str
    kind: str  # "bool" | "int" | "float" | "str" | "ints" (a tuple of whole numbers)
    optional: bool  # None allowed (shown as "auto"/"off", or the flag left out)
    default: Any
    choices: tuple | None
    minimum: float | None  # inclusive unless minimum_exclusive
    maximum: float | None  # inclusive unless maximum_exclusive
    minimum_exclusive: bool = False
    maximum_exclusive: bool = False
    metavar: str | None = None

    @property
    def resumable(self) -> bool:
        """A ``--resume`` may change it."""
        return self.name in RESUME_OVERRIDABLE

    def describe_range(self) -> str:
        """"1–2147483647", "> 0", "0 ≤ x < 1", "" (no bounds)."""
        low, high = self.minimum, self.maximum
        if low is None and high is None:
            return ""
        if low is not None and high is not None and not self.minimum_exclusive and not self.maximum_exclusive:
            return f"{_number(low)}–{_number(high)}"
        parts = []
        if low is not None:
            parts.append(f"{'>' if self.minimum_exclusive else '≥'} {_number(low)}")
        if high is not None:
            parts.append(f"{'<' if self.maximum_exclusive else '≤'} {_number(high)}")
        return ", ".join(parts)


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _unwrap(annotation: Any) -> tuple[Any, bool, list]:
    """(base type, optional?, constraint metadata) of an annotation like ``Annotated[int, Field(ge=1)] | None``."""
    optional = False
    metadata: list = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            args = get_args(annotation)
            annotation = args[0]
            for item in args[1:]:
                metadata.extend(getattr(item, "metadata", [item]))
        elif origin is Union or origin is types.UnionType:
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            annotation = args[0]
        else:
            return annotation, optional, metadata


def _spec(name: str, info) -> SettingSpec:
    base, optional, metadata = _unwrap(info.annotation)
    metadata = [*info.metadata, *metadata]
    choices = None
    if get_origin(base) is Literal:
        choices = get_args(base)
        kind = "int" if all(isinstance(c, int) for c in choices) else "str"
    elif get_origin(base) is tuple:
        kind = "ints"
        _element, _, element_metadata = _unwrap(get_args(base)[0])
        metadata = element_metadata  # the range of each entry
    else:
        kind = {bool: "bool", int: "int", float: "float"}.get(base, "str")
    bounds = {"minimum": None, "maximum": None, "minimum_exclusive": False, "maximum_exclusive": False}
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            bounds["minimum"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            bounds.update(minimum=item.gt, minimum_exclusive=True)
        elif isinstance(item, annotated_types.Le):
            bounds["maximum"] = item.le
        elif isinstance(item, annotated_types.Lt):
            bounds.update(maximum=item.lt, maximum_exclusive=True)
    extra = info.json_schema_extra or {}
    return SettingSpec(name=name, flag=extra.get("flag") or "--" + name.replace("_", "-"), label=extra["label"],
                       help=info.description or "", group=extra["group"], kind=kind, optional=optional,
                       default=info.default, choices=choices, metavar=extra.get("metavar"), **bounds)


#: Every field of TrainConfig, in definition order, as the CLI and the form build them.
SETTINGS: tuple[SettingSpec, ...] = tuple(_spec(name, info) for name, info in TrainConfig.model_fields.items())


# ---------------------------------------------------------------------------- the app's presets

#: The model-size fields a preset leaves to its model preset (``None``: the preset's own value).
_MODEL_SIZE_FROM_PRESET = dict(base_channels=None, channel_mults=None, num_res_blocks=None,
                               attention_resolutions=None, dropout=None)

#: Complete starting points of the Settings tab, by the name it shows: each a set of TrainConfig values.
#: "CPU tiny" is sized for a laptop's CPU: a whole run in about three minutes of one core, recognisable
#: demo digits after two (benchmarks/bench_demo_quality.py; a high learning rate that decays over the
#: short run beat 2e-4 held constant); the others for a GPU.
TRAINING_PRESETS: dict[str, dict[str, Any]] = {
    "CPU tiny": dict(
        preset="cpu-tiny", **_MODEL_SIZE_FROM_PRESET, device="cpu", image_size=16, batch_size=64, steps=1000,
        lr=1e-3, lr_schedule="cosine", warmup_steps=50, schedule="cosine", timesteps=1000, ema_decay=0.995,
        sample_every=250, checkpoint_every=250, num_sample_images=16, sample_steps=25, precision="auto",
    ),
    "GPU small": dict(
        preset="gpu-small", **_MODEL_SIZE_FROM_PRESET, device="auto", image_size=32, batch_size=128, steps=20_000,
        lr=2e-4, lr_schedule="constant", warmup_steps=500, schedule="cosine", timesteps=1000, ema_decay=0.999,
        sample_every=1000, checkpoint_every=2000, num_sample_images=16, sample_steps=25, precision="auto",
    ),
    # Ho et al. 2020, CIFAR-10: linear β, T=1000, lr 2e-4 with 5000 warm-up steps, batch 128,
    # EMA 0.9999, dropout 0.1, 800k steps.
    "GPU DDPM-CIFAR": dict(
        preset="ddpm-cifar", **_MODEL_SIZE_FROM_PRESET, device="auto", image_size=32, batch_size=128,
        steps=800_000, lr=2e-4, lr_schedule="constant", warmup_steps=5000, schedule="linear", timesteps=1000,
        ema_decay=0.9999, sample_every=5000, checkpoint_every=5000, num_sample_images=16, sample_steps=50,
        precision="auto", grad_clip=1.0,
    ),
}


def matching_preset(values: Mapping[str, Any]) -> str | None:
    """The name of the preset whose every field ``values`` has (fields it does not set do not count), or None."""
    for name, preset in TRAINING_PRESETS.items():
        if all(key in values and values[key] == value for key, value in preset.items()):
            return name
    return None


def flag_labels() -> dict[str, str]:
    """Field name → CLI flag, for messages: ``{"lr": "--lr", "cpu_threads": "--threads", …}``."""
    return {spec.name: spec.flag for spec in SETTINGS}


def form_labels() -> dict[str, str]:
    """Field name → the form's label, for messages in the app."""
    return {spec.name: spec.label for spec in SETTINGS}
