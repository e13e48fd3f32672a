"""The noise-prediction network: a DDPM-style U-Net (Ho et al. 2020, appendix B).

Sinusoidal time embedding → MLP; at each resolution ``num_res_blocks`` residual
blocks (GroupNorm, SiLU, 3×3 conv, time projection, dropout) with optional
self-attention; stride-2 conv down, nearest + conv up; skip connections by
concatenation. With ``PRESETS["ddpm-cifar"]`` this is Ho et al.'s 35.7 M-parameter
CIFAR-10 model. ``model(x, t)`` maps (N, C, H, W) and 0-based timesteps (N,) to
(N, C, H, W): ε, x0 or v, depending on the run's prediction type.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError

__all__ = ["UNet", "PRESETS", "preset_config", "validate_config", "count_parameters", "timestep_embedding"]

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 1024

#: Named model sizes. ``attention_resolutions`` are in pixels of the feature map.
PRESETS: dict[str, dict[str, Any]] = {
    # ≈1.6 M parameters: trains at a few hundred images/s at 16 px on two CPU cores.
    "cpu-tiny": dict(base_channels=32, channel_mults=(1, 2, 2), num_res_blocks=1,
                     attention_resolutions=(8,), dropout=0.0),
    # ≈9 M parameters: a quick GPU model for 32–64 px folders.
    "gpu-small": dict(base_channels=64, channel_mults=(1, 2, 2, 2), num_res_blocks=2,
                      attention_resolutions=(16,), dropout=0.1),
    # Ho et al. 2020's CIFAR-10 model, ≈35.7 M parameters.
    "ddpm-cifar": dict(base_channels=128, channel_mults=(1, 2, 2, 2), num_res_blocks=2,
                       attention_resolutions=(16,), dropout=0.1),
}


_DEFAULTS: dict[str, Any] = dict(in_channels=3, out_channels=None, base_channels=64, channel_mults=(1, 2, 2, 2),
                                 num_res_blocks=2, attention_resolutions=(16,), dropout=0.1, image_size=32)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sinusoidal embedding of timesteps (Vaswani et al. 2017, §3.5), as in Ho et al."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1)
    angles = t.float()[:, None] * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


def _groups(channels: int) -> int:
    # Ho et al. use 32 groups; narrow models keep at least 4 channels per group.
    for g in (32, 16, 8, 4, 2, 1):
        if channels % g == 0 and channels // g >= 4 or g == 1:
            return g
    return 1


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(_groups(channels), channels, eps=1e-6)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, + time projection, GroupNorm → SiLU → dropout → conv, + skip."""

    def __init__(self, in_ch: int, out_ch: int, time_dim: int, dropout: float):
        super().__init__()
        self.norm1 = _norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, out_ch)
        self.norm2 = _norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # start as identity (Ho et al. zero-init the last conv)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head spatial self-attention with a residual connection (PixelCNN++/DDPM style)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n, 3, 1, c, h * w).transpose(-1, -2)  # (n, 3, 1, hw, c)
        out = F.scaled_dot_product_attention(qkv[:, 0], qkv[:, 1], qkv[:, 2])  # (n, 1, hw, c)
        out = out.transpose(-1, -2).reshape(n, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """The residual blocks (and attention) of one resolution on one side of the U."""

    def __init__(self, blocks: list[ResBlock], attentions: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(attentions)


class UNet(nn.Module):
    """DDPM U-Net. Build with ``UNet(**config)`` or ``UNet.from_config(config)``; ``model.config`` is JSON-ready."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int | None = None,
        base_channels: int = 64,
        channel_mults: Sequence[int] = (1, 2, 2, 2),
        num_res_blocks: int = 2,
        attention_resolutions: Sequence[int] = (16,),
        dropout: float = 0.1,
        image_size: int = 32,
    ):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        channel_mults = tuple(int(m) for m in channel_mults)
        attention_resolutions = tuple(sorted({int(r) for r in attention_resolutions}, reverse=True))
        _validate(in_channels, out_channels, base_channels, channel_mults, num_res_blocks,
                  attention_resolutions, dropout, image_size)
        self.config = {
            "in_channels": int(in_channels),
            "out_channels": int(out_channels),
            "base_channels": int(base_channels),
            "channel_mults": list(channel_mults),
            "num_res_blocks": int(num_res_blocks),
            "attention_resolutions": list(attention_resolutions),
            "dropout": float(dropout),
            "image_size": int(image_size),
        }
        self.base_channels = base_channels
        time_dim = 4 * base_channels
        self.time_mlp = nn.Sequential(
            nn.Linear(base_channels, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        # Down path: remember the width of every feature map pushed as a skip.
        self.down = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        skip_widths = [base_channels]
        width, resolution = base_channels, image_size
        for level, mult in enumerate(channel_mults):
            blocks, attns = [], []
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(width, base_channels * mult, time_dim, dropout))
                width = base_channels * mult
                attns.append(SelfAttention(width) if resolution in attention_resolutions else nn.Identity())
                skip_widths.append(width)
            self.down.append(Level(blocks, attns))
            last = level == len(channel_mults) - 1
            self.downsamplers.append(nn.Identity() if last else Downsample(width))
            if not last:
                skip_widths.append(width)
                resolution //= 2

        self.mid_block1 = ResBlock(width, width, time_dim, dropout)
        self.mid_attention = SelfAttention(width)
        self.mid_block2 = ResBlock(width, width, time_dim, dropout)

        # Up path: num_res_blocks + 1 blocks per level, each eating one skip.
        self.up = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mults))):
            blocks, attns = [], []
            for _ in range(num_res_blocks + 1):
                blocks.append(ResBlock(width + skip_widths.pop(), base_channels * mult, time_dim, dropout))
                width = base_channels * mult
                attns.append(SelfAttention(width) if resolution in attention_resolutions else nn.Identity())
            self.up.append(Level(blocks, attns))
            self.upsamplers.append(Upsample(width) if level > 0 else nn.Identity())
            if level > 0:
                resolution *= 2

        self.norm_out = _norm(width)
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "UNet":
        known = {"in_channels", "out_channels", "base_channels", "channel_mults", "num_res_blocks",
                 "attention_resolutions", "dropout", "image_size"}
        unknown = set(config) - known
        if unknown:
            raise InputError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**config)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.config["channel_mults"]) - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self._check_input(x, t)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        temb = self.time_mlp(timestep_embedding(t, self.base_channels).to(x.dtype))
        h = self.conv_in(x)
        skips = [h]
        for level, down in zip(self.down, self.downsamplers):
            for block, attn in zip(level.blocks, level.attentions):
                h = attn(block(h, temb))
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        h = self.mid_block2(self.mid_attention(self.mid_block1(h, temb)), temb)
        for level, up in zip(self.up, self.upsamplers):
            for block, attn in zip(level.blocks, level.attentions):
                h = attn(block(torch.cat([h, skips.pop()], dim=1), temb))
            h = up(h)
        return self.conv_out(F.silu(self.norm_out(h)))

    def _check_input(self, x: torch.Tensor, t: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(
                f"expected input of shape (N, {self.config['in_channels']}, H, W), got {tuple(x.shape)}"
            )
        factor = self.downsample_factor
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"height and width must be multiples of {factor} for this model, got {tuple(x.shape[-2:])}")
        if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != x.shape[0]):
            raise ValueError(f"t must be a scalar or have shape ({x.shape[0]},), got {tuple(t.shape)}")


def validate_config(config: dict[str, Any]) -> None:
    """Raise InputError if ``UNet(**config)`` would refuse it, without building the network."""
    c = {**_DEFAULTS, **config}
    c["out_channels"] = c["in_channels"] if c["out_channels"] is None else c["out_channels"]
    _validate(c["in_channels"], c["out_channels"], c["base_channels"], tuple(c["channel_mults"]), c["num_res_blocks"],
              tuple(c["attention_resolutions"]), c["dropout"], c["image_size"])


def _validate(in_channels, out_channels, base_channels, channel_mults, num_res_blocks,
              attention_resolutions, dropout, image_size) -> None:
    if in_channels < 1 or out_channels < 1:
        raise InputError("the model needs at least one input and one output channel")
    if base_channels < 4 or base_channels % 4:
        raise InputError(f"base channels must be a multiple of 4 and at least 4, got {base_channels}")
    if not channel_mults or any(m < 1 for m in channel_mults):
        raise InputError(f"channel multipliers must be positive whole numbers, got {list(channel_mults)}")
    if num_res_blocks < 1:
        raise InputError(f"each level needs at least one residual block, got {num_res_blocks}")
    if not 0.0 <= dropout < 1.0:
        raise InputError(f"dropout must lie in [0, 1), got {dropout}")
    if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise InputError(f"image size must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} pixels, got {image_size}")
    factor = 2 ** (len(channel_mults) - 1)
    if image_size % factor:
        raise InputError(
            f"image size {image_size} cannot be halved {len(channel_mults) - 1} times "
            f"({len(channel_mults)} channel multipliers); use a multiple of {factor}, e.g. "
            f"{max(factor, round(image_size / factor) * factor)}"
        )
    reachable = [image_size // 2**i for i in range(len(channel_mults))]
    missing = [r for r in attention_resolutions if r not in reachable]
    if missing:
        raise InputError(
            f"attention at {missing} px is never reached; at {image_size} px the feature maps are "
            f"{reachable} px"
        )


def preset_config(name: str, image_size: int, channels: int, **overrides: Any) -> dict[str, Any]:
    """A model config from a preset, fitted to the image size: levels that would shrink the
    map below 4 px are dropped, attention moves to resolutions that exist."""
    if name not in PRESETS:
        raise InputError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    config = {**PRESETS[name], "in_channels": channels, "out_channels": channels, "image_size": image_size}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    mults = tuple(overrides.pop("channel_mults", config["channel_mults"]))
    user_attention = overrides.pop("attention_resolutions", None)
    config.update(overrides)
    if user_attention is None:  # only presets are adapted; explicit choices are validated as given
        while len(mults) > 1 and image_size // 2 ** (len(mults) - 1) < 4 and image_size % 2 ** (len(mults) - 1) == 0:
            mults = mults[:-1]
        reachable = [image_size // 2**i for i in range(len(mults))] if image_size % 2 ** (len(mults) - 1) == 0 else []
        attention = [r for r in config["attention_resolutions"] if r in reachable]
        if not attention and reachable:
            # keep attention where the preset meant it: at its relative depth (e.g. 16 px of 32 → ½)
            attention = [reachable[min(1, len(reachable) - 1)]]
        config["attention_resolutions"] = tuple(attention)
    else:
        config["attention_resolutions"] = tuple(user_attention)
    config["channel_mults"] = mults
    return config
