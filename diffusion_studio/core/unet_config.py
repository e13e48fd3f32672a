"""The U-Net's settings in one place: :class:`UNetConfig`, the named presets, and their diffusers twin.

Every key of a model config (a run's ``config.json`` "model" section, ``UNet(**settings)``,
``preset_config``) is a field of :class:`UNetConfig`; nothing else spells them. This module
needs no torch, so the CLI and the GUI can check a config and list presets cheaply; the
network itself is :mod:`diffusion_studio.core.unet`.

The layout is diffusers' ``UNet2DModel`` (marker ``"layout": "diffusers-unet2d"``):
:meth:`UNetConfig.to_diffusers` is the ``UNet2DModel`` config whose state dict has exactly
our keys and shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.dataclasses import dataclass

from .errors import InputError
from .validation import STRICT, ConfigError, validated

__all__ = [
    "LAYOUT",
    "PRESETS",
    "UNetConfig",
    "MAX_DEFAULT_ATTENTION_SIZE",
    "MIN_IMAGE_SIZE",
    "MAX_IMAGE_SIZE",
    "NORM_EPS",
    "norm_groups_for",
    "preset_config",
    "validate_config",
]

#: Written into every model config; a config without it comes from the earlier U-Net (0.1.x).
LAYOUT = "diffusers-unet2d"

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 1024
MAX_BASE_CHANNELS = 1024
MAX_LEVELS = 8
MAX_CHANNEL_MULT = 16
MAX_RES_BLOCKS = 8
MAX_IMAGE_CHANNELS = 64
MAX_CLASSES = 10_000
#: GroupNorm ε of every norm layer (diffusers' ``norm_eps``; Ho et al.'s TensorFlow default).
NORM_EPS = 1e-6
#: Presets put self-attention only on feature maps this small or smaller (32² = 1024 tokens):
#: full attention costs (H·W)² per layer, ≈ 1 GiB of scores per image at 128².
MAX_DEFAULT_ATTENTION_SIZE = 32

#: Named model sizes. ``attention_resolutions`` are in pixels of the feature map.
PRESETS: dict[str, dict[str, Any]] = {
    # ≈1.1 M parameters: trains at a few hundred images/s at 16 px on two CPU cores.
    "cpu-tiny": dict(base_channels=32, channel_mults=(1, 2, 2), num_res_blocks=1,
                     attention_resolutions=(8,), dropout=0.0),
    # ≈9 M parameters: a quick GPU model for 32–64 px folders.
    "gpu-small": dict(base_channels=64, channel_mults=(1, 2, 2, 2), num_res_blocks=2,
                      attention_resolutions=(16,), dropout=0.1),
    # Ho et al. 2020's CIFAR-10 model, ≈35.7 M parameters.
    "ddpm-cifar": dict(base_channels=128, channel_mults=(1, 2, 2, 2), num_res_blocks=2,
                       attention_resolutions=(16,), dropout=0.1),
}

Channels = Annotated[int, Field(ge=1, le=MAX_IMAGE_CHANNELS)]
Multiplier = Annotated[int, Field(ge=1, le=MAX_CHANNEL_MULT)]
Resolution = Annotated[int, Field(ge=1, le=MAX_IMAGE_SIZE)]


def norm_groups_for(base_channels: int) -> int:
    """The GroupNorm group count for a whole net of this base width.

    Ho et al. use 32 groups; narrow models keep at least 4 channels per group. Every width in
    the net (base × multiplier, and the sums at the skip concatenations) is a multiple of
    ``base_channels``, so a count that divides it divides them all.
    """
    for groups in (32, 16, 8, 4, 2):
        if (base_channels % groups == 0) and (base_channels // groups >= 4):
            return groups
    return 1


@dataclass(config=STRICT, frozen=True)
class UNetConfig:
    """The settings of one :class:`~diffusion_studio.core.unet.UNet`; build it with :meth:`parse`.

    ``out_channels`` None means ``in_channels`` (ε, x0 or v); ``2 × in_channels`` adds the
    variance interpolation v of Nichol & Dhariwal 2021 (diffusers' ``learned_range``).
    ``num_classes`` K adds a class embedding with K + 1 rows; row K is "no class", the null
    label of classifier-free guidance. ``attention_head_dim`` None is one head over the full
    width. ``norm_num_groups`` None picks :func:`norm_groups_for` ``(base_channels)``.
    """

    layout: Literal["diffusers-unet2d"] = LAYOUT
    in_channels: Channels = 3
    out_channels: Annotated[int, Field(ge=1, le=2 * MAX_IMAGE_CHANNELS)] | None = None
    base_channels: Annotated[int, Field(ge=4, le=MAX_BASE_CHANNELS)] = 64
    channel_mults: Annotated[tuple[Multiplier, ...], Field(min_length=1, max_length=MAX_LEVELS)] = (1, 2, 2, 2)
    num_res_blocks: Annotated[int, Field(ge=1, le=MAX_RES_BLOCKS)] = 2
    attention_resolutions: Annotated[tuple[Resolution, ...], Field(max_length=MAX_LEVELS)] = (16,)
    mid_attention: bool = True
    attention_head_dim: Annotated[int, Field(ge=1, le=MAX_BASE_CHANNELS * MAX_CHANNEL_MULT)] | None = None
    dropout: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.1
    image_size: Annotated[int, Field(ge=MIN_IMAGE_SIZE, le=MAX_IMAGE_SIZE)] = 32
    num_classes: Annotated[int, Field(ge=1, le=MAX_CLASSES)] | None = None
    norm_num_groups: Annotated[int, Field(ge=1, le=32)] | None = None

    def __post_init__(self) -> None:
        # Resolve the "automatic" values so that the saved config states what was built.
        resolve = object.__setattr__  # frozen dataclass
        if self.out_channels is None:
            resolve(self, "out_channels", self.in_channels)
        if self.norm_num_groups is None:
            resolve(self, "norm_num_groups", norm_groups_for(self.base_channels))
        resolve(self, "attention_resolutions", tuple(sorted(set(self.attention_resolutions), reverse=True)))

    # ------------------------------------------------------------------ building

    @classmethod
    def parse(cls, settings: Mapping[str, Any] | "UNetConfig") -> "UNetConfig":
        """Check ``settings`` (types, caps, and whether the net can be built); InputError if not."""
        if isinstance(settings, UNetConfig):
            return settings
        if not isinstance(settings, Mapping):
            raise ConfigError("model settings must be a JSON object")
        config = validated(cls, dict(settings), what="model settings")
        config._check_structure()
        return config

    def _check_structure(self) -> None:
        if self.base_channels % 4:
            raise ConfigError(f"base channels must be a multiple of 4, got {self.base_channels}")
        factor = self.downsample_factor
        levels = len(self.channel_mults)
        if self.image_size % factor:
            raise ConfigError(
                f"image size {self.image_size} cannot be halved {levels - 1} times "
                f"({levels} channel multipliers); use a multiple of {factor}, e.g. "
                f"{max(factor, round(self.image_size / factor) * factor)}"
            )
        reachable = self.resolutions
        missing = [r for r in self.attention_resolutions if r not in reachable]
        if missing:
            raise ConfigError(
                f"attention at {missing} px is never reached; at {self.image_size} px the feature maps are "
                f"{list(reachable)} px"
            )
        if self.base_channels % self.norm_num_groups:
            raise ConfigError(
                f"norm_num_groups {self.norm_num_groups} does not divide base channels {self.base_channels}"
            )
        head_dim = self.attention_head_dim
        if head_dim is not None:
            widths = [w for w, r in zip(self.widths, reachable) if r in self.attention_resolutions]
            widths += [self.widths[-1]] if self.mid_attention else []
            bad = sorted({w for w in widths if w % head_dim})
            if bad:
                raise ConfigError(f"attention_head_dim {head_dim} does not divide the attention width(s) {bad}")

    # ------------------------------------------------------------------ derived facts

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_mults) - 1)

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Feature-map size in pixels at each level, top to bottom (the middle block runs at the last)."""
        return tuple(self.image_size // 2**i for i in range(len(self.channel_mults)))

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels at each level (diffusers' ``block_out_channels``)."""
        return tuple(self.base_channels * m for m in self.channel_mults)

    @property
    def time_embedding_dim(self) -> int:
        return 4 * self.base_channels

    def has_attention(self, level: int) -> bool:
        return self.resolutions[level] in self.attention_resolutions

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (lists, not tuples); :meth:`parse` turns it back into an equal config."""
        data = asdict(self)
        for key in ("channel_mults", "attention_resolutions"):
            data[key] = list(data[key])
        return data

    def to_diffusers(self) -> dict[str, Any]:
        """The diffusers ``UNet2DModel`` config of this net: its state dict loads ours 1:1.

        Our sinusoidal embedding is Ho et al.'s [sin, cos] with frequencies
        ``exp(-ln(10000)·i/(half − 1))``: ``flip_sin_to_cos=False, freq_shift=1``.
        """
        levels = range(len(self.channel_mults))
        down = ["AttnDownBlock2D" if self.has_attention(i) else "DownBlock2D" for i in levels]
        up = ["AttnUpBlock2D" if self.has_attention(i) else "UpBlock2D" for i in reversed(levels)]
        return {
            "sample_size": self.image_size,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "center_input_sample": False,
            "time_embedding_type": "positional",
            "time_embedding_dim": None,
            "flip_sin_to_cos": False,
            "freq_shift": 1,
            "down_block_types": down,
            "mid_block_type": "UNetMidBlock2D",
            "up_block_types": up,
            "block_out_channels": list(self.widths),
            "layers_per_block": self.num_res_blocks,
            "mid_block_scale_factor": 1,
            "downsample_padding": 1,
            "downsample_type": "conv",
            "upsample_type": "conv",
            "dropout": self.dropout,
            "act_fn": "silu",
            "attention_head_dim": self.attention_head_dim,
            "norm_num_groups": self.norm_num_groups,
            "attn_norm_num_groups": None,
            "norm_eps": NORM_EPS,
            "resnet_time_scale_shift": "default",
            "add_attention": self.mid_attention,
            "class_embed_type": None,
            "num_class_embeds": None if self.num_classes is None else self.num_classes + 1,
            "num_train_timesteps": None,
        }


def validate_config(config: Mapping[str, Any]) -> UNetConfig:
    """Raise InputError unless ``UNet(**config)`` can be built (missing keys take their defaults)."""
    return UNetConfig.parse(config)


def preset_config(name: str, image_size: int, channels: int, **overrides: Any) -> dict[str, Any]:
    """A checked, JSON-ready model config from a preset, fitted to the image size.

    Levels that would shrink the map below 4 px are dropped. Unless the caller chooses
    ``attention_resolutions`` / ``mid_attention``, attention goes only to maps of at most
    :data:`MAX_DEFAULT_ATTENTION_SIZE` px. ``None`` overrides mean "the preset's value".
    """
    if name not in PRESETS:
        raise InputError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    config = {**PRESETS[name], "in_channels": channels, "image_size": image_size}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    mults = tuple(overrides.pop("channel_mults", config["channel_mults"]))
    user_attention = overrides.pop("attention_resolutions", None)
    config.update(overrides)
    divisible = image_size % 2 ** (len(mults) - 1) == 0
    while len(mults) > 1 and divisible and image_size // 2 ** (len(mults) - 1) < 4:
        mults = mults[:-1]
    reachable = [image_size // 2**i for i in range(len(mults))] if divisible else []
    if user_attention is None:  # only presets are adapted; explicit choices are checked as given
        config["attention_resolutions"] = _preset_attention(config["attention_resolutions"], reachable)
    else:
        config["attention_resolutions"] = tuple(user_attention)
    if "mid_attention" not in overrides and reachable:
        config["mid_attention"] = reachable[-1] <= MAX_DEFAULT_ATTENTION_SIZE
    config["channel_mults"] = mults
    return UNetConfig.parse(config).to_dict()


def _preset_attention(preset: tuple[int, ...], reachable: list[int]) -> tuple[int, ...]:
    small = [r for r in reachable if r <= MAX_DEFAULT_ATTENTION_SIZE]
    attention = [r for r in preset if r in small]
    if attention or not small:
        return tuple(attention)
    # Keep attention where the preset meant it, at its relative depth (16 px of 32 → ½),
    # unless that map is too large; then the largest small map.
    preferred = reachable[min(1, len(reachable) - 1)]
    return (preferred,) if preferred in small else (small[0],)
