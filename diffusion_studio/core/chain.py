"""Run a model and a sampler from a seed and yield the reverse chain as displayable frames.

A frame is taken *after* each model call, so it shows the input x_t together with what the
model made of it: x̂0 (its current guess of the clean image) and ε̂ (the noise it sees).
Frame ``index`` is the chain step (0 = the starting noise); the final frame (``t = −1``)
holds the finished samples. With ``stride = k`` every k-th step is kept, and always the
first and the final frame.

Memory: a frame holds three uint8 (N, H, W, C) arrays, 3·N·H·W·C bytes. A 1000-step chain
of 64 RGB images at 64² is 1001 × 2.25 MiB ≈ 2.2 GiB at stride 1, 754 MiB at stride 3
(:func:`stride_for_budget` picks 3 for the 768 MiB budget; ``stride="auto"`` does that here, and
the Sample panel and ``diffusion-studio sample`` keep every chain within the same budget).

Reproducible across devices: the starting noise and every step's noise come from one
``torch.Generator`` on the CPU seeded with ``seed``, then move to the model's device.

Sizes are ``image_size`` (a square side) or ``(height, width)``. A latent model's chain keeps its
frames as :class:`LatentFrame` s (``run_chain(keep_latents=True)``): float32 copies of the latents
themselves, 4·C·h·w bytes per view — for a 512² Stable Diffusion image a 64² × 4 latent, 64 KiB, where
the same view as uint8 pixels would be 768 KiB — and pixels are made from them only for what is
looked at (``core.text_to_image.views``: a cheap linear preview, or the VAE decode on demand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence, Union

import numpy as np

from .errors import InputError
from .samplers.base import Sampler

if TYPE_CHECKING:
    import torch

__all__ = [
    "ChainFrame",
    "LatentFrame",
    "ChainProgress",
    "DEFAULT_FRAME_BUDGET_BYTES",
    "NOISE_DISPLAY_SIGMAS",
    "chain_frame_count",
    "chain_timesteps",
    "estimate_chain_bytes",
    "nearest_frame_index",
    "pair_by_noise_level",
    "run_chain",
    "sample_hw",
    "stride_for_budget",
    "to_uint8_images",
]

#: What the frames of one chain are kept under (``stride="auto"``, the Sample panel, the CLI).
DEFAULT_FRAME_BUDGET_BYTES = 768 * 2**20
#: ε̂ is shown with ±2.5σ mapped onto 0 … 255 (as the forward explorer shows ε).
NOISE_DISPLAY_SIGMAS = 2.5
_VIEWS_PER_FRAME = 3  # x_t, x̂0, ε̂


@dataclass(frozen=True)
class _StepViews:
    """One kept step of a chain: where it is, and what the model saw and made of it."""

    index: int  # 0 = the starting noise, increasing (the chain step)
    t: int  # timestep of x_t (0-based); for the final clean sample: -1
    alphas_cumprod: float  # ᾱ_t of x_t (1.0 for the final frame)
    x_t: np.ndarray  # the current sample
    pred_x0: np.ndarray  # the model's guess of the clean image x̂0
    pred_noise: np.ndarray  # the model's guess of the noise ε̂
    is_final: bool
    #: more noise-like views of the step by name, from ``run_chain(extra_views=…)``: e.g. the
    #: conditional and unconditional ε̂ of a guided model
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return self.x_t.nbytes + self.pred_x0.nbytes + self.pred_noise.nbytes + sum(a.nbytes for a in self.extras.values())


@dataclass(frozen=True)
class ChainFrame(_StepViews):
    """A step as pictures: x_t, x̂0 and the extras as uint8 (N, H, W, C), ε̂ (and noise-like extras) with
    ±2.5σ mapped onto 0 … 255."""


@dataclass(frozen=True)
class LatentFrame(_StepViews):
    """A step in the model's own sample space: x_t, x̂0, ε̂ and the extras as float32 (N, C, H, W) host arrays.

    For a latent model these are latents, which a decoder turns into pixels when they are shown. The
    final frame's ``x_t`` is the chain's result, exactly.
    """


@dataclass(frozen=True)
class ChainProgress:
    """Yielded for steps that are not kept as frames (only with ``progress=True``)."""

    step: int  # chain steps done so far
    total: int  # model calls in the chain
    t: int  # the timestep just computed


# ---------------------------------------------------------------------------- sizes


def sample_hw(image_size: int | tuple[int, int]) -> tuple[int, int]:
    """(height, width) of a sample: ``image_size`` is a square side or a (height, width) pair."""
    if isinstance(image_size, (tuple, list)):
        height, width = (int(v) for v in image_size)
    else:
        height = width = int(image_size)
    if height < 1 or width < 1:
        raise InputError(f"a sample must be at least 1×1, got {height}×{width}")
    return height, width


def chain_timesteps(sampler: Sampler, start_t: int | None = None) -> np.ndarray:
    """The timesteps a chain visits: all of the sampler's, or its tail from ``start_t`` (SDEdit)."""
    return sampler.timesteps if start_t is None else sampler.timesteps_from(start_t)


def chain_frame_count(num_steps: int, stride: int = 1) -> int:
    """Frames kept from a chain of ``num_steps`` model calls: steps 0, k, 2k, … plus the final frame."""
    return math.ceil(int(num_steps) / int(stride)) + 1


def estimate_chain_bytes(
    num_steps: int, num_samples: int, image_size: int | tuple[int, int], channels: int, stride: int = 1,
    extra_views: int = 0, bytes_per_value: int = 1,
) -> int:
    """Bytes the kept frames of one chain take: frames × (3 + extra) views × N·H·W·C values
    (1 byte each for uint8 :class:`ChainFrame` s, 4 for float32 :class:`LatentFrame` s)."""
    height, width = sample_hw(image_size)
    per_frame = (_VIEWS_PER_FRAME + int(extra_views)) * int(num_samples) * height * width * int(channels)
    return chain_frame_count(num_steps, stride) * per_frame * int(bytes_per_value)


def stride_for_budget(
    num_steps: int, num_samples: int, image_size: int | tuple[int, int], channels: int,
    budget_bytes: int = DEFAULT_FRAME_BUDGET_BYTES, extra_views: int = 0, bytes_per_value: int = 1,
) -> int:
    """The smallest stride whose frames fit in ``budget_bytes`` (at least the first and final frame are kept)."""
    for stride in range(1, max(1, int(num_steps)) + 1):
        if estimate_chain_bytes(num_steps, num_samples, image_size, channels, stride, extra_views,
                                bytes_per_value) <= budget_bytes:
            return stride
    return max(1, int(num_steps))


# ---------------------------------------------------------------------------- frames


def _to_uint8_nhwc(buf: "torch.Tensor") -> np.ndarray:
    """float (…, H, W, C) in [−1, 1] → uint8 numpy on the host; ``buf`` is overwritten.

    Rounds as ``core.images.float_to_uint8``, (x + 1)·127.5 + 0.5 truncated; NaN becomes
    mid-grey and ±inf saturates. In place, so a frame costs few passes over the batch.
    """
    import torch

    buf.add_(1.0).mul_(127.5).add_(0.5).nan_to_num_(nan=128.0).clamp_(0.0, 255.0)
    if buf.device.type == "cpu":
        return buf.numpy().astype(np.uint8)  # numpy's cast is much faster than torch's on the CPU
    return buf.to(torch.uint8).cpu().numpy()  # cast on the device: a quarter of the bytes to copy


def _nhwc_buffer(tensors, device) -> "torch.Tensor":
    import torch

    first = tensors[0]
    n, c, h, w = first.shape
    buf = torch.empty((len(tensors), n, h, w, c), dtype=torch.float32, device=device)
    for i, tensor in enumerate(tensors):
        buf[i].copy_(tensor.permute(0, 2, 3, 1))  # the copy we need anyway also makes it channel-last
    return buf


def to_uint8_images(x: "torch.Tensor", scale: float = 1.0) -> np.ndarray:
    """float (N, C, H, W) with x/scale in [−1, 1] → uint8 (N, H, W, C) numpy array."""
    buf = _nhwc_buffer([x], x.device)
    if scale != 1.0:
        buf.div_(scale)
    return _to_uint8_nhwc(buf)[0]


def _frame(index, t, alpha_prod, x_t, pred_x0, pred_noise, is_final, extras=None) -> ChainFrame:
    # All views in one buffer: one conversion and one device→host copy per frame.
    extras = extras or {}
    buf = _nhwc_buffer([x_t, pred_x0, pred_noise, *extras.values()], x_t.device)
    buf[2:].div_(NOISE_DISPLAY_SIGMAS)
    host = _to_uint8_nhwc(buf)
    host.setflags(write=False)
    named = dict(zip(extras, host[3:]))
    return ChainFrame(int(index), int(t), float(alpha_prod), host[0], host[1], host[2], bool(is_final), named)


def _latent_frame(index, t, alpha_prod, x_t, pred_x0, pred_noise, is_final, extras=None) -> LatentFrame:
    # All views stacked: one device→host copy per frame, then read-only views of the one host array.
    import torch

    extras = extras or {}
    host = torch.stack([v.detach().float() for v in (x_t, pred_x0, pred_noise, *extras.values())]).cpu().numpy()
    host.setflags(write=False)
    named = dict(zip(extras, host[3:]))
    return LatentFrame(int(index), int(t), float(alpha_prod), host[0], host[1], host[2], bool(is_final), named)


# ---------------------------------------------------------------------------- the chain


def _start_tensor(start, num_samples: int, shape: tuple[int, int, int]):
    import torch

    start = torch.as_tensor(start)
    if start.ndim == 3:
        start = start.unsqueeze(0).expand(num_samples, *start.shape)
    if tuple(start.shape) != (num_samples, *shape):
        raise InputError(
            f"the start image batch has shape {tuple(start.shape)}, the model needs {(num_samples, *shape)}"
        )
    return start.float()


def run_chain(
    model: Callable,
    sampler: Sampler,
    *,
    num_samples: int,
    seed: int,
    image_size: int | tuple[int, int],
    channels: int,
    device: Union[str, "torch.device"] = "cpu",
    stride: Union[int, str] = 1,
    start=None,
    start_t: int | None = None,
    start_image=None,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = False,
    frame_budget_bytes: int = DEFAULT_FRAME_BUDGET_BYTES,
    extra_views: Callable[["torch.Tensor", int, Sampler], Mapping[str, "torch.Tensor"]] | None = None,
    keep_latents: bool = False,
) -> Iterator[ChainFrame | LatentFrame | ChainProgress]:
    """Sample ``num_samples`` images and yield :class:`ChainFrame` s (and :class:`ChainProgress`).

    ``image_size`` is a side or ``(height, width)``. ``keep_latents=True`` yields :class:`LatentFrame` s
    (float32 copies of the samples, for latent models) instead of uint8 images.

    ``model(x, t)`` takes float (N, C, H, W) on ``device`` and long (N,) timesteps. ``stride`` is
    an int or ``"auto"`` (the smallest that fits ``frame_budget_bytes``). SDEdit (Meng et al. 2022):
    pass ``start_t`` and either ``start_image`` — clean x0 in [−1, 1], (C, H, W) or (N, C, H, W),
    noised here to the chain's first timestep with q_sample — or ``start``, an x_t already at
    ``start_t``. The chain then runs the sampler's timesteps ≤ ``start_t``.
    ``should_stop()`` is checked between steps; a stopped chain ends without a final frame.
    ``extra_views(x_t, t, sampler)``, called after each kept step's model call, adds named noise-like
    views to the frame (e.g. :meth:`core.guidance.GuidedModel.views`).
    """
    import torch

    from .forward import q_sample

    if int(num_samples) < 1:
        raise InputError(f"the number of samples must be at least 1, got {num_samples}")
    if (start is not None or start_image is not None) and start_t is None:
        raise InputError("SDEdit needs start_t, the timestep the start image is noised to")
    if start is not None and start_image is not None:
        raise InputError("give either start (an x_t) or start_image (a clean x0), not both")
    timesteps = chain_timesteps(sampler, start_t).tolist()
    num_steps = len(timesteps)
    if stride == "auto":
        stride = stride_for_budget(num_steps, num_samples, image_size, channels, frame_budget_bytes,
                                   bytes_per_value=4 if keep_latents else 1)
    if isinstance(stride, bool) or int(stride) != stride or int(stride) < 1:
        raise InputError(f"the frame stride must be a whole number ≥ 1, got {stride!r}")
    stride = int(stride)

    device = torch.device(device)
    shape = (int(channels), *sample_hw(image_size))
    make_frame = _latent_frame if keep_latents else _frame
    generator = torch.Generator().manual_seed(int(seed))
    if start is not None:
        x = _start_tensor(start, num_samples, shape)
    elif start_image is not None:
        x0 = _start_tensor(start_image, num_samples, shape)
        noise = torch.randn(x0.shape, generator=generator)
        x = q_sample(x0, timesteps[0], noise, sampler.schedule)  # Ho et al. eq. 4
    else:
        x = torch.randn((int(num_samples), *shape), generator=generator)
    x = x.to(device)
    sampler.reset()

    with torch.inference_mode():
        for step_index, t in enumerate(timesteps):
            if should_stop is not None and should_stop():
                return
            t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=device)
            model_output = model(x, t_batch)
            out = sampler.step(model_output, t, x, generator=generator)
            last = step_index == num_steps - 1
            if step_index % stride == 0 or last:
                pred_noise = sampler.predict_epsilon(model_output, t, x)
                extras = extra_views(x, t, sampler) if extra_views is not None else None
            if step_index % stride == 0:
                yield make_frame(step_index, t, sampler.alpha_cumprod(t), x, out.pred_original_sample, pred_noise,
                                 False, extras)
            elif progress:
                yield ChainProgress(step_index + 1, num_steps, t)
            x = out.prev_sample
        if should_stop is not None and should_stop():
            return
        yield make_frame(num_steps, -1, 1.0, x, x, pred_noise, True, extras)  # the last step's ε̂ and views


# ---------------------------------------------------------------------------- comparing chains


def _noise_key(alpha_prod: float, by: str) -> float:
    if by == "alphas_cumprod":
        return float(alpha_prod)
    if by == "log_snr":
        a = min(max(float(alpha_prod), 1e-12), 1.0 - 1e-12)
        return math.log(a) - math.log1p(-a)
    raise ValueError(f"pair frames by 'alphas_cumprod' or 'log_snr', not {by!r}")


def nearest_frame_index(frames: Sequence[ChainFrame | LatentFrame], alphas_cumprod: float, by: str = "alphas_cumprod") -> int:
    """Index into ``frames`` of the frame whose noise level is nearest ``alphas_cumprod`` (first on ties)."""
    if not frames:
        raise ValueError("no frames to choose from")
    target = _noise_key(alphas_cumprod, by)
    keys = np.array([_noise_key(f.alphas_cumprod, by) for f in frames])
    return int(np.argmin(np.abs(keys - target)))


def pair_by_noise_level(
    frames_a: Sequence[ChainFrame], frames_b: Sequence[ChainFrame], by: str = "alphas_cumprod"
) -> list[tuple[ChainFrame, ChainFrame]]:
    """Side-by-side pairs: every frame of ``frames_a`` with the frame of ``frames_b`` at the nearest ᾱ.

    Two samplers from the same seed (DDPM 1000 vs DDIM 50) then show equally noisy images
    side by side, not frames with the same step number. Final frames pair with final frames.
    """
    pairs = []
    for frame in frames_a:
        if frame.is_final and frames_b and frames_b[-1].is_final:
            pairs.append((frame, frames_b[-1]))
        else:
            pairs.append((frame, frames_b[nearest_frame_index(frames_b, frame.alphas_cumprod, by)]))
    return pairs
