"""Pictures of the playground without Qt: the heatmap colours, arrow geometry, and export frames.

The GUI draws with pyqtgraph but takes its colours, the density → colour mapping and the arrow
shapes from here, so an export (:class:`ForwardFrames`, :class:`ReverseFrames`, lazily rendered
uint8 images for ``core.export``) looks like the panel.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..export.sources import ImageFrame
from ..schedules import NoiseSchedule
from .scene import VIEW_EXTENT, PlaygroundScene
from .snapshot import MLPSnapshot
from .trajectories import Trajectories

__all__ = [
    "COLORS",
    "DENSITY_LUT",
    "density_levels",
    "arrow_segments",
    "RenderStyle",
    "render_picture",
    "ForwardFrames",
    "ReverseFrames",
]

#: The playground's palette (RGB): colour-blind friendly against the magma-like heatmap.
COLORS: dict[str, tuple[int, int, int]] = {
    "background": (13, 8, 26),
    "data": (86, 180, 233),  # the data set / the noised cloud
    "particles": (140, 240, 160),  # reverse-process particles
    "x0": (255, 255, 255),  # x̂0 of the followed particle
    "ideal": (236, 236, 236),  # ideal field arrows
    "learned": (255, 159, 28),  # learned field arrows
    "difference": (255, 93, 173),  # learned − ideal
    "path": (255, 255, 255),  # particle paths
    "ghost": (86, 180, 233),  # the previous run's paths
    "follow": (255, 214, 10),  # the followed particle
}

# A magma-like ramp (dark → purple → orange → pale yellow): anchors at 0, 1/8, … 1.
_ANCHORS = np.array([(13, 8, 26), (40, 16, 78), (84, 21, 122), (130, 38, 129), (181, 54, 122),
                     (229, 80, 100), (251, 135, 97), (254, 194, 135), (252, 253, 191)], dtype=np.float64)
#: 256 RGB colours for density levels 0 … 255
DENSITY_LUT: np.ndarray = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)), _ANCHORS[:, c]) for c in range(3)],
    axis=1).round().astype(np.uint8)
DENSITY_LUT.setflags(write=False)


def density_levels(density: np.ndarray, gamma: float = 0.5) -> np.ndarray:
    """uint8 levels 0 … 255 of a density grid: relative to this frame's maximum, to the power ``gamma``.

    Per-frame: the shape is what matters (q(x_t) at t = 0 peaks thousands of times higher than at T);
    γ = ½ lifts the low-density shoulders so the spread is visible.
    """
    peak = float(density.max()) if density.size else 0.0
    if not peak > 0:
        return np.zeros(density.shape, np.uint8)
    relative = np.clip(density * (1.0 / peak), 0.0, 1.0)
    return (np.power(relative, gamma) * 255.0 + 0.5).astype(np.uint8)


def arrow_segments(positions: np.ndarray, vectors: np.ndarray, spacing: float, *, reference: float | None = None,
                   head: float = 0.35) -> np.ndarray:
    """Line segments drawing one arrow per position: (6·M, 2) endpoints, consecutive pairs.

    Lengths are relative: the ``reference`` magnitude (default: the 95th percentile of ``vectors``)
    and longer draw 0.8·``spacing`` long (neighbours never touch); shorter ones in proportion. Pass the same reference to
    compare two fields (learned against ideal). Non-finite vectors draw nothing (zero length).
    """
    vectors = np.nan_to_num(np.asarray(vectors, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    positions = np.asarray(positions, dtype=np.float64)
    magnitude = np.hypot(vectors[:, 0], vectors[:, 1])
    if reference is None:
        reference = float(np.percentile(magnitude, 95)) if magnitude.size else 0.0
    if not reference > 0:
        reference = 1.0
    length = 0.8 * spacing * np.minimum(magnitude / reference, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        direction = np.where(magnitude[:, None] > 0, vectors / magnitude[:, None], 0.0)
    tip = positions + direction * length[:, None]
    back = -direction * (head * length[:, None])
    cos, sin = math.cos(math.radians(25)), math.sin(math.radians(25))
    left = np.stack([back[:, 0] * cos - back[:, 1] * sin, back[:, 0] * sin + back[:, 1] * cos], axis=1)
    right = np.stack([back[:, 0] * cos + back[:, 1] * sin, -back[:, 0] * sin + back[:, 1] * cos], axis=1)
    segments = np.stack([positions, tip, tip, tip + left, tip, tip + right], axis=1)
    return segments.reshape(-1, 2)


@dataclass(frozen=True)
class RenderStyle:
    """How an exported frame looks: its size in pixels, the view square, the layers and the dot size."""

    size: int = 400
    extent: float = VIEW_EXTENT
    heatmap: bool = True
    field: str | None = None  # None, "ideal" or "learned" (needs a snapshot)
    field_kind: str = "score"
    paths: int = 12  # reverse frames: draw the paths of this many particles
    dot: int = 2  # dot size in pixels

    def __post_init__(self) -> None:
        if not 64 <= int(self.size) <= 4096:
            raise ValueError(f"the picture size must be 64 … 4096 px, got {self.size}")


class _Canvas:
    """A float RGB picture of the view square with y up."""

    def __init__(self, style: RenderStyle):
        self.style = style
        self.size = int(style.size)
        self.pixels = np.empty((self.size, self.size, 3), np.float32)
        self.pixels[:] = COLORS["background"]

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        scale = self.size / (2.0 * self.style.extent)
        columns = (np.asarray(xy[:, 0], dtype=np.float64) + self.style.extent) * scale
        rows = (self.style.extent - np.asarray(xy[:, 1], dtype=np.float64)) * scale
        return np.stack([columns, rows], axis=1)

    def heatmap(self, density: np.ndarray) -> None:
        colours = DENSITY_LUT[density_levels(density)][::-1]  # row 0 of the grid is the lowest y
        image = Image.fromarray(np.ascontiguousarray(colours)).resize((self.size, self.size), Image.Resampling.BILINEAR)
        self.pixels[:] = np.asarray(image, dtype=np.float32)

    def dots(self, xy: np.ndarray, colour, alpha: float = 0.75) -> None:
        """Blend a dot of ``style.dot`` pixels per point; overlapping dots build up opacity."""
        finite = np.all(np.isfinite(xy), axis=1)
        pixel = np.floor(self.to_pixels(xy[finite])).astype(np.int64)
        counts = np.zeros(self.size * self.size, np.float32)
        for dy in range(self.style.dot):
            for dx in range(self.style.dot):
                cols, rows = pixel[:, 0] + dx, pixel[:, 1] + dy
                inside = (cols >= 0) & (cols < self.size) & (rows >= 0) & (rows < self.size)
                counts += np.bincount(rows[inside] * self.size + cols[inside], minlength=counts.size)
        coverage = (1.0 - np.power(1.0 - alpha, counts)).reshape(self.size, self.size, 1)
        self.pixels += coverage * (np.asarray(colour, np.float32) - self.pixels)

    def lines(self, polylines: list[np.ndarray], colour, width: int = 1) -> None:
        image = Image.fromarray(self.picture())
        draw = ImageDraw.Draw(image)
        for line in polylines:
            points = self.to_pixels(line)
            points = points[np.all(np.isfinite(points), axis=1)]
            if len(points) >= 2:
                draw.line([tuple(p) for p in points], fill=tuple(colour), width=width)
        self.pixels[:] = np.asarray(image, dtype=np.float32)

    def segments(self, endpoints: np.ndarray, colour) -> None:
        pairs = endpoints.reshape(-1, 2, 2)
        self.lines([pair for pair in pairs], colour)

    def picture(self) -> np.ndarray:
        return np.clip(self.pixels + 0.5, 0, 255).astype(np.uint8)


def render_picture(scene: PlaygroundScene | None, t: int, style: RenderStyle, *, cloud: np.ndarray | None = None,
                   cloud_colour=COLORS["data"], snapshot: MLPSnapshot | None = None,
                   paths: list[np.ndarray] | None = None) -> np.ndarray:
    """One uint8 (S, S, 3) picture: q(x_t) heatmap, an optional field, paths, then the cloud on top."""
    canvas = _Canvas(style)
    if scene is not None and len(scene) and style.heatmap:
        canvas.heatmap(scene.density(t))
    if scene is not None and len(scene) and style.field is not None and t >= 0:
        field = scene.learned_field(t, snapshot, style.field_kind) if style.field == "learned" and snapshot else \
            scene.ideal_field(t, style.field_kind)
        if field is not None:
            spacing = 2.0 * style.extent / scene.field_grid.resolution
            canvas.segments(arrow_segments(field.positions, field.vectors, spacing),
                            COLORS["learned" if style.field == "learned" and snapshot else "ideal"])
    if paths:
        canvas.lines(paths, COLORS["path"])
    if cloud is not None:
        canvas.dots(cloud, cloud_colour)
    return canvas.picture()


class _LazyFrames(Sequence):
    """A sequence of frames rendered when read (an export may read them from another thread)."""

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._frame(range(len(self))[index])

    def _frame(self, index: int) -> ImageFrame:  # pragma: no cover - every subclass has one
        raise NotImplementedError


class ForwardFrames(_LazyFrames):
    """The forward process of a point set as export frames: x_t over q(x_t), with x0 and ε beside it.

    ``frame.x_t`` is the noised cloud on its density, ``pred_x0`` the data and ``pred_noise`` the
    fixed ε, so the export's side-by-side view shows x0 | x_t | ε (as the image export does).
    """

    def __init__(self, points: np.ndarray, schedule: NoiseSchedule, ts: Sequence[int], *, seed: int = 0,
                 noise: np.ndarray | None = None, style: RenderStyle = RenderStyle(),
                 snapshot: MLPSnapshot | None = None):
        self.scene = PlaygroundScene(points, schedule, seed=seed, noise=noise)
        self.schedule, self.style, self.snapshot = schedule, style, snapshot
        self.ts = [int(t) for t in ts]
        self._lock = threading.Lock()  # the scene reuses buffers; a preview and an export may overlap
        self._clean = render_picture(None, 0, RenderStyle(**{**style.__dict__, "heatmap": False}),
                                     cloud=self.scene.points)
        self._noise = render_picture(None, 0, RenderStyle(**{**style.__dict__, "heatmap": False}),
                                     cloud=self.scene.noise, cloud_colour=COLORS["particles"])

    def __len__(self) -> int:
        return len(self.ts)

    def _frame(self, index: int) -> ImageFrame:
        t = self.ts[index]
        with self._lock:
            picture = render_picture(self.scene, t, self.style, cloud=self.scene.cloud(t), snapshot=self.snapshot)
        return ImageFrame(picture, label=f"t = {t}", t=t, alphas_cumprod=self.scene.alpha_bar(t),
                          pred_x0=self._clean, pred_noise=self._noise)


class ReverseFrames(_LazyFrames):
    """A reverse run as export frames: the particles over q(x_t) of the data, with their x̂0 and ε̂ beside.

    The paths of ``style.paths`` particles (evenly spread over the cloud), or of ``follow``, are drawn
    up to each frame. Without ``points`` there is no heatmap.
    """

    def __init__(self, trajectories: Trajectories, schedule: NoiseSchedule, *, points: np.ndarray | None = None,
                 style: RenderStyle = RenderStyle(), follow: Sequence[int] | None = None):
        self.trajectories, self.schedule, self.style = trajectories, schedule, style
        self.scene = PlaygroundScene(points, schedule) if points is not None and len(points) else None
        count = trajectories.num_particles
        self.follow = list(follow) if follow is not None else \
            sorted(set(np.linspace(0, count - 1, min(style.paths, count)).round().astype(int).tolist()))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.trajectories)

    def _frame(self, index: int) -> ImageFrame:
        frame = self.trajectories.frame(index)
        paths = [self.trajectories.positions[: index + 1, particle] for particle in self.follow]
        no_field = RenderStyle(**{**self.style.__dict__, "field": None})
        with self._lock:
            picture = render_picture(self.scene, max(frame.t, 0), no_field, cloud=frame.positions,
                                     cloud_colour=COLORS["particles"], paths=paths)
            guess = render_picture(self.scene, -1, no_field, cloud=frame.pred_x0, cloud_colour=COLORS["x0"])
        noise = render_picture(None, 0, RenderStyle(**{**no_field.__dict__, "heatmap": False}),
                               cloud=frame.pred_epsilon, cloud_colour=COLORS["particles"])
        return ImageFrame(picture, label=f"t = {frame.t}" if frame.t >= 0 else "samples", t=frame.t,
                          alphas_cumprod=frame.alphas_cumprod, pred_x0=guess, pred_noise=noise,
                          is_final=frame.is_final)
