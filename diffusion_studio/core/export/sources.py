"""Frames to export: chain frames (duck-typed), plain labelled images, or the forward process.

Anything with ``.t``, ``.alphas_cumprod`` and ``.x_t`` (and optionally ``.pred_x0``, ``.pred_noise``,
``.is_final``) is a frame: :class:`diffusion_studio.core.chain.ChainFrame` is one, :class:`ImageFrame`
wraps a plain picture, and :class:`ForwardFrameSource` renders x_t of the forward process lazily.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["ImageFrame", "frames_from_images", "ForwardFrameSource", "parse_t_spec", "select_frames"]


@dataclass(frozen=True)
class ImageFrame:
    """A plain uint8 picture ((H, W), (H, W, C) or a batch (N, H, W, C)) with an optional label, t and ᾱ_t."""

    x_t: np.ndarray
    label: str = ""
    t: int | None = None
    alphas_cumprod: float | None = None
    pred_x0: np.ndarray | None = None
    pred_noise: np.ndarray | None = None
    is_final: bool = False


def frames_from_images(images, labels: Sequence[str] | None = None) -> list[ImageFrame]:
    """Wrap uint8 images (a list, or an array (F, H, W[, C])) as frames with optional labels."""
    images = list(images)
    if not images:
        raise InputError("There are no frames to export")
    if labels is not None and len(labels) != len(images):
        raise InputError(f"{len(labels)} labels were given for {len(images)} images")
    frames = []
    for i, image in enumerate(images):
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            raise InputError(f"frame {i} is {arr.dtype}, expected uint8 pixels")
        frames.append(ImageFrame(arr, label=labels[i] if labels is not None else ""))
    return frames


class ForwardFrameSource(Sequence):
    """x_t of the forward process for a list of t, rendered on demand (Ho et al. 2020, eq. 4).

    Each frame's ``pred_x0`` is the clean image and ``pred_noise`` the fixed ε, so the
    side-by-side view shows x_0 | x_t | ε.
    """

    def __init__(self, image_uint8: np.ndarray, schedule, ts: Sequence[int], *, seed: int = 0, max_side: int = 512):
        from ..forward import ForwardRenderer  # local: keeps this module light

        self.renderer = ForwardRenderer(image_uint8, schedule, seed=seed, max_side=max_side)
        self._lock = threading.Lock()  # the renderer reuses its buffers; a preview and an export may overlap
        self.schedule = schedule
        self.ts = [int(t) for t in ts]
        if not self.ts:
            raise InputError("No timesteps to export")
        bad = [t for t in self.ts if not 0 <= t < schedule.num_timesteps]
        if bad:
            raise InputError(f"t must lie in 0 … {schedule.num_timesteps - 1}; got {bad[0]}")

    @classmethod
    def from_renderer(cls, renderer, ts: Sequence[int]) -> "ForwardFrameSource":
        source = cls.__new__(cls)
        source.renderer, source.schedule, source.ts = renderer, renderer.schedule, [int(t) for t in ts]
        source._lock = threading.Lock()
        return source

    def __len__(self) -> int:
        return len(self.ts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        t = self.ts[index]
        with self._lock:
            x_t = self.renderer.render(t).copy()
        return ImageFrame(
            x_t,
            label=f"t = {t}",
            t=t,
            alphas_cumprod=float(self.schedule.alphas_cumprod[t]),
            pred_x0=self.renderer.x0_uint8,
            pred_noise=self.renderer.noise_uint8,
        )


_RANGE = re.compile(r"^\s*(-?\d+)\s*:\s*(-?\d+)\s*(?::\s*(\d+)\s*)?$")


def parse_t_spec(spec: str, num_timesteps: int) -> list[int]:
    """Parse "START:STOP[:STEP]" (like ``range``; a STOP ≥ T also adds t = T-1) or "0,10,500".

    "0:1000:25" with T = 1000 gives 0, 25, …, 975, 999: the last frame is pure noise.
    """
    text = str(spec).strip()
    match = _RANGE.match(text)
    if match:
        start, stop, step = int(match[1]), int(match[2]), int(match[3] or 1)
        if step < 1:
            raise InputError(f"The t step must be at least 1 in {text!r}")
        ts = [t for t in range(max(0, start), min(stop, num_timesteps), step)]
        if stop >= num_timesteps and (not ts or ts[-1] != num_timesteps - 1) and start < num_timesteps:
            ts.append(num_timesteps - 1)
    else:
        try:
            ts = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise InputError(f"Cannot read the timesteps {text!r}: use START:STOP:STEP or a list like 0,10,999") from None
        out_of_range = [t for t in ts if not 0 <= t < num_timesteps]
        if out_of_range:
            raise InputError(f"t must lie in 0 … {num_timesteps - 1}; got {out_of_range[0]}")
    if not ts:
        raise InputError(f"The timesteps {text!r} select no t in 0 … {num_timesteps - 1}")
    return ts


def _all_ts(frames: Sequence) -> list[float | None]:
    """Each frame's t (None for a frame without one).

    A lazy source (ForwardFrameSource) lists its t as ``ts``, so choosing frames renders none of them.
    """
    known = getattr(frames, "ts", None)
    if known is not None and len(known) == len(frames):
        return [float(t) for t in known]
    return [None if (t := getattr(frames[i], "t", None)) is None else float(t) for i in range(len(frames))]


def select_frames(frames: Sequence, t_range=None, max_frames: int | None = None, spacing: str = "even") -> list[int]:
    """Indices of the frames to export, in their original order.

    ``t_range`` keeps frames with low ≤ t ≤ high (the final frame, t = -1, counts as t = 0 here).
    ``max_frames`` then picks that many, always keeping the first and the last, spaced evenly in t
    or — ``spacing="dense_near_0"`` — quadratically denser near t = 0 where the image forms.
    """
    n = len(frames)
    candidates = list(range(n))
    ts_all = _all_ts(frames) if (t_range or max_frames) else []
    if t_range is not None:
        low, high = t_range
        candidates = [i for i in candidates if ts_all[i] is None or low <= max(ts_all[i], 0) <= high]
        if not candidates:
            raise InputError(f"No frame has t in {low} … {high}")
    if max_frames is None or len(candidates) <= max_frames:
        return candidates
    if max_frames == 1:
        return [candidates[-1]]
    ts = np.array([max(float(i) if ts_all[i] is None else ts_all[i], -1.0) for i in candidates])
    t_low, t_high = ts.min(), ts.max()
    u = np.linspace(0.0, 1.0, max_frames)
    targets = t_low + (t_high - t_low) * (u**2 if spacing == "dense_near_0" else u)
    chosen: set[int] = {0, len(candidates) - 1}
    for target in targets[1:-1]:  # the ends are already in
        order = np.argsort(np.abs(ts - target), kind="stable")
        for j in order:
            if int(j) not in chosen:
                chosen.add(int(j))
                break
        if len(chosen) >= max_frames:
            break
    return [candidates[j] for j in sorted(chosen)]
