"""The noise-prediction network: the DDPM U-Net (Ho et al. 2020, appendix B) in diffusers' layout.

Ho et al.'s network: a sinusoidal time embedding through a two-layer MLP; at each resolution
``num_res_blocks`` residual blocks (GroupNorm, SiLU, 3×3 conv, + a projection of the time
embedding, GroupNorm, SiLU, dropout, 3×3 conv, + skip) with optional single-head
self-attention; stride-2 conv down, nearest-neighbour ×2 + conv up; skip connections by
concatenation; a middle of residual block, attention, residual block. With
``PRESETS["ddpm-cifar"]`` this is their 35.7 M-parameter CIFAR-10 model.

Module for module it is diffusers' ``UNet2DModel`` (``UNetConfig.to_diffusers()`` is the
config): the state dict has diffusers' keys and shapes, so a run's weights load 1:1 into a
``UNet2DModel`` and give the same outputs. Two additions of later papers, both in diffusers:
an optional class embedding added to the time embedding (for classifier-free guidance, Ho &
Salimans 2022) and an optional second output half for the learned variance (Nichol &
Dhariwal 2021).

``model(x, t)`` maps (N, C, H, W) and 0-based timesteps (N,) to (N, out_channels, H, W): ε, x0
or v, depending on the run's prediction type, followed by v_var when out_channels = 2C.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError
from .unet_config import (
    LAYOUT,
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    NORM_EPS,
    PRESETS,
    UNetConfig,
    preset_config,
    validate_config,
)

__all__ = [
    "UNet", "UNetConfig", "PRESETS", "LAYOUT", "MAX_PARAMETERS", "preset_config", "validate_config",
    "count_parameters", "estimate_parameters", "timestep_embedding", "MIN_IMAGE_SIZE", "MAX_IMAGE_SIZE",
]

#: ``UNet.from_config`` refuses nets larger than this (4 GB of float32 weights, before the
#: optimiser's two more copies): far beyond anything this app trains, well below what hangs a machine.
MAX_PARAMETERS = 1_000_000_000


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def estimate_parameters(config: Mapping[str, Any] | UNetConfig) -> int:
    """The parameter count of ``UNet(**config)``, without allocating it (built on the meta device).

    The config is checked first (InputError), so its caps bound the cost of this call.
    """
    checked = UNetConfig.parse(config)
    with torch.device("meta"):
        return count_parameters(UNet(**checked.to_dict()))


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sinusoidal embedding of timesteps (Vaswani et al. 2017, §3.5), as in Ho et al.

    [sin(t·ω_i), cos(t·ω_i)] with ω_i = max_period^(−i/(half − 1)); diffusers' ``Timesteps``
    with ``flip_sin_to_cos=False, downscale_freq_shift=1``.
    """
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1)
    angles = t.float()[:, None] * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(groups, channels, eps=NORM_EPS)


class TimestepEmbedding(nn.Module):
    """The time MLP: Linear → SiLU → Linear (Ho et al., appendix B; diffusers' ``TimestepEmbedding``)."""

    def __init__(self, in_dim: int, time_dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, time_dim)
        self.linear_2 = nn.Linear(time_dim, time_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(features)))


class ResnetBlock(nn.Module):
    """GroupNorm → SiLU → conv, + time projection, GroupNorm → SiLU → dropout → conv, + skip.

    ``temb`` arrives already through SiLU: Ho et al. (and diffusers' ``ResnetBlock2D``) apply
    the nonlinearity to the embedding before each block's projection; the net does it once.
    """

    def __init__(self, in_ch: int, out_ch: int, time_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = _norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_emb_proj = nn.Linear(time_dim, out_ch)
        self.norm2 = _norm(out_ch, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (Ho et al. zero-init the last conv)
        nn.init.zeros_(self.conv2.bias)
        self.conv_shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return skip + h


class SelfAttention(nn.Module):
    """Spatial self-attention with a residual connection (PixelCNN++/DDPM; diffusers' ``Attention``).

    One head over the full width unless ``head_dim`` is given. q, k and v are laid out
    contiguous as (N, heads, H·W, d), in NCHW and in channels_last, so that
    ``scaled_dot_product_attention`` can pick its fused kernels instead of materialising the
    (H·W)² score matrix.
    """

    def __init__(self, channels: int, groups: int, head_dim: int | None = None):
        super().__init__()
        self.heads = 1 if head_dim is None else channels // head_dim
        self.group_norm = _norm(channels, groups)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        # A list so that the key is diffusers' "to_out.0" (its "to_out.1" is a parameter-free dropout).
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])
        nn.init.zeros_(self.to_out[0].weight)
        nn.init.zeros_(self.to_out[0].bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2).contiguous()  # a no-op copy for one head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, height, width = x.shape
        # (N, C, H, W) → (N, H·W, C) tokens; for channels_last input this is a free view.
        tokens = self.group_norm(x).flatten(2).transpose(1, 2)
        q, k, v = (self._split_heads(proj(tokens)) for proj in (self.to_q, self.to_k, self.to_v))
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q·kᵀ/√d)·v
        out = self.to_out[0](out.transpose(1, 2).flatten(2))  # (N, H·W, C)
        return x + out.transpose(1, 2).unflatten(2, (height, width))


class Downsample(nn.Module):
    """Stride-2 3×3 conv (Ho et al.; diffusers' ``Downsample2D`` with ``use_conv``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour ×2, then a 3×3 conv (Ho et al.; diffusers' ``Upsample2D`` with ``use_conv``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _attention_or_identity(enabled: bool, channels: int, config: UNetConfig) -> nn.Module:
    # An Identity has no parameters, so a level without attention has no "attentions" keys,
    # exactly as diffusers' DownBlock2D / UpBlock2D.
    return SelfAttention(channels, config.norm_num_groups, config.attention_head_dim) if enabled else nn.Identity()


class DownBlock(nn.Module):
    """One encoder level: residual blocks (each followed by attention at attention levels), then
    a stride-2 conv unless it is the lowest level. Every output is kept for the decoder's skips.
    (diffusers' ``DownBlock2D`` / ``AttnDownBlock2D``.)"""

    def __init__(self, in_ch: int, out_ch: int, config: UNetConfig, attention: bool, downsample: bool):
        super().__init__()
        groups, time_dim, dropout = config.norm_num_groups, config.time_embedding_dim, config.dropout
        self.resnets = nn.ModuleList(
            ResnetBlock(in_ch if i == 0 else out_ch, out_ch, time_dim, groups, dropout)
            for i in range(config.num_res_blocks)
        )
        self.attentions = nn.ModuleList(
            _attention_or_identity(attention, out_ch, config) for _ in range(config.num_res_blocks)
        )
        self.downsamplers = nn.ModuleList([Downsample(out_ch)] if downsample else [])

    def forward(self, h: torch.Tensor, temb: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for resnet, attention in zip(self.resnets, self.attentions):
            h = attention(resnet(h, temb))
            skips.append(h)
        for downsample in self.downsamplers:
            h = downsample(h)
            skips.append(h)
        return h


class UpBlock(nn.Module):
    """One decoder level: ``num_res_blocks + 1`` residual blocks, each eating one skip by
    concatenation (and followed by attention at attention levels), then ×2 upsampling unless it
    is the top level. (diffusers' ``UpBlock2D`` / ``AttnUpBlock2D``.)"""

    def __init__(self, in_widths: list[int], out_ch: int, config: UNetConfig, attention: bool, upsample: bool):
        super().__init__()
        groups, time_dim, dropout = config.norm_num_groups, config.time_embedding_dim, config.dropout
        self.resnets = nn.ModuleList(ResnetBlock(w, out_ch, time_dim, groups, dropout) for w in in_widths)
        self.attentions = nn.ModuleList(_attention_or_identity(attention, out_ch, config) for _ in in_widths)
        self.upsamplers = nn.ModuleList([Upsample(out_ch)] if upsample else [])

    def forward(self, h: torch.Tensor, temb: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for resnet, attention in zip(self.resnets, self.attentions):
            h = attention(resnet(torch.cat([h, skips.pop()], dim=1), temb))
        for upsample in self.upsamplers:
            h = upsample(h)
        return h


class MidBlock(nn.Module):
    """The bottom of the U: residual block, self-attention, residual block (diffusers' ``UNetMidBlock2D``)."""

    def __init__(self, channels: int, config: UNetConfig):
        super().__init__()
        groups, time_dim, dropout = config.norm_num_groups, config.time_embedding_dim, config.dropout
        self.resnets = nn.ModuleList(ResnetBlock(channels, channels, time_dim, groups, dropout) for _ in range(2))
        self.attentions = nn.ModuleList([_attention_or_identity(config.mid_attention, channels, config)])

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.resnets[0](h, temb)
        return self.resnets[1](self.attentions[0](h), temb)


class UNet(nn.Module):
    """DDPM U-Net in diffusers' ``UNet2DModel`` layout.

    Build with ``UNet(**settings)`` (the fields of :class:`UNetConfig`) or, for a saved config,
    ``UNet.from_config(config)``; ``model.config`` is the JSON-ready config,
    ``model.unet_config`` the checked :class:`UNetConfig`.
    """

    def __init__(self, **settings: Any):
        super().__init__()
        config = UNetConfig.parse(settings)
        self.unet_config = config
        self.config = config.to_dict()
        base, time_dim = config.base_channels, config.time_embedding_dim

        self.conv_in = nn.Conv2d(config.in_channels, base, 3, padding=1)
        self.time_embedding = TimestepEmbedding(base, time_dim)
        # Row K is the null label ("no class") that classifier-free guidance trains and samples with.
        self.class_embedding = None if config.num_classes is None else nn.Embedding(config.num_classes + 1, time_dim)

        # Encoder: remember the width of every feature map pushed as a skip.
        levels = len(config.channel_mults)
        skip_widths, width = [base], base
        self.down_blocks = nn.ModuleList()
        for level, out_ch in enumerate(config.widths):
            last = level == levels - 1
            self.down_blocks.append(DownBlock(width, out_ch, config, config.has_attention(level), not last))
            width = out_ch
            skip_widths += [out_ch] * (config.num_res_blocks + (0 if last else 1))

        self.mid_block = MidBlock(width, config)

        self.up_blocks = nn.ModuleList()
        for level in reversed(range(levels)):
            out_ch = config.widths[level]
            in_widths = []
            for _ in range(config.num_res_blocks + 1):
                in_widths.append(width + skip_widths.pop())
                width = out_ch
            self.up_blocks.append(UpBlock(in_widths, out_ch, config, config.has_attention(level), level > 0))

        self.conv_norm_out = _norm(base, config.norm_num_groups)
        self.conv_out = nn.Conv2d(base, config.out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | UNetConfig) -> "UNet":
        """The net a saved config describes; InputError for a config of the earlier layout or a too large net."""
        if isinstance(config, Mapping):
            _check_layout(config)
        checked = UNetConfig.parse(config)
        parameters = estimate_parameters(checked)
        if parameters > MAX_PARAMETERS:
            raise InputError(
                f"this model would have {parameters / 1e6:,.0f} M parameters ({parameters * 4 / 1e9:.1f} GB of "
                f"float32 weights), more than the {MAX_PARAMETERS / 1e6:,.0f} M this program builds; "
                "lower base_channels, channel_mults or num_res_blocks"
            )
        return cls(**checked.to_dict())

    @property
    def downsample_factor(self) -> int:
        return self.unet_config.downsample_factor

    @property
    def num_classes(self) -> int | None:
        return self.unet_config.num_classes

    @property
    def null_class(self) -> int | None:
        """The class index meaning "no class" (= num_classes), or None for an unconditional net."""
        return self.unet_config.num_classes

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """ε/x0/v (and v_var) for x_t at timesteps ``t``; ``class_labels`` None means the null label."""
        t = self._check_input(x, t)
        features = timestep_embedding(t, self.unet_config.base_channels).to(self.time_embedding.linear_1.weight.dtype)
        emb = self.time_embedding(features)
        if self.class_embedding is not None:
            emb = emb + self.class_embedding(self._class_indices(class_labels, x))
        elif class_labels is not None:
            raise ValueError("this model is not class-conditional; it takes no class_labels")
        # SiLU once here: every residual block's projection reads SiLU(emb) (Ho et al., appendix B).
        emb = F.silu(emb)

        h = self.conv_in(x)
        skips = [h]
        for block in self.down_blocks:
            h = block(h, emb, skips)
        h = self.mid_block(h, emb)
        for block in self.up_blocks:
            h = block(h, emb, skips)
        return self.conv_out(F.silu(self.conv_norm_out(h)))

    def _check_input(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        channels = self.unet_config.in_channels
        if x.ndim != 4 or x.shape[1] != channels:
            raise ValueError(f"expected input of shape (N, {channels}, H, W), got {tuple(x.shape)}")
        factor = self.downsample_factor
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"height and width must be multiples of {factor} for this model, got {tuple(x.shape[-2:])}")
        if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != x.shape[0]):
            raise ValueError(f"t must be a scalar or have shape ({x.shape[0]},), got {tuple(t.shape)}")
        return t.expand(x.shape[0]) if t.ndim == 0 else t

    def _class_indices(self, class_labels: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        batch, null = x.shape[0], self.null_class
        if class_labels is None:
            return torch.full((batch,), null, dtype=torch.long, device=x.device)
        if class_labels.dtype.is_floating_point or class_labels.dtype == torch.bool or class_labels.dtype.is_complex:
            raise ValueError(f"class_labels must be integer class indices, got {class_labels.dtype}")
        if class_labels.ndim > 1 or (class_labels.ndim == 1 and class_labels.shape[0] != batch):
            raise ValueError(f"class_labels must be a scalar or have shape ({batch},), got {tuple(class_labels.shape)}")
        # Checked where it costs no device sync; on the GPU an index out of range is the embedding's own error.
        if class_labels.device.type == "cpu" and bool(((class_labels < 0) | (class_labels > null)).any()):
            raise ValueError(f"class_labels must lie in 0 … {null} ({null} = no class), got {class_labels.tolist()}")
        return class_labels.expand(batch) if class_labels.ndim == 0 else class_labels


def _check_layout(config: Mapping[str, Any]) -> None:
    layout = config.get("layout")
    if layout is None:
        raise InputError(
            "this model was saved by Diffusion Studio 0.1, whose U-Net has a different layout (before the "
            "diffusers UNet2DModel layout and its time-embedding fix), so its weights cannot be loaded here; "
            "train it again with this version, or open it with Diffusion Studio 0.1"
        )
    if layout != LAYOUT:
        raise InputError(
            f"this model's layout {layout!r} is not one this version of Diffusion Studio knows ({LAYOUT!r}); "
            "it was probably saved by a newer version"
        )
