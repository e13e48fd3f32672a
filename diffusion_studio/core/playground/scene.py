"""Everything the playground draws at one t: the noised cloud, q(x_t) and the denoiser fields.

:class:`PlaygroundScene` keeps what does not depend on t (the data, each point's fixed ε, the
grid tables of :class:`~.grid_fields.GridFields`, output buffers) so that a new t costs one
fused multiply-add for the cloud, two small matrix products for the density and a few for each
field. The GUI redraws from it per slider step; the export renders its frames from it. The density and
the ideal denoiser of the last 256 t are kept, so dragging back over a stretch of t costs only
the drawing.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..schedules import NoiseSchedule
from .grid_fields import Grid, GridFields, field_vectors
from .snapshot import MLPSnapshot

__all__ = ["PlaygroundScene", "FieldSample", "DENSITY_GRID", "FIELD_GRID", "VIEW_EXTENT"]

#: the square the playground shows, [−4, 4]² in data units (standardised data: RMS 1)
VIEW_EXTENT = 4.0
DENSITY_GRID = Grid(-VIEW_EXTENT, VIEW_EXTENT, 64)
FIELD_GRID = Grid(-VIEW_EXTENT, VIEW_EXTENT, 30)
#: q(x_t) and E[x0 | x_t] of this many t are kept (≈ 46 KB each): dragging back over a t is free
CACHED_TIMESTEPS = 256


@dataclass(frozen=True)
class FieldSample:
    """A denoiser's field on the arrow grid: positions (G², 2), x̂0 there and the arrows of ``kind``."""

    positions: np.ndarray
    pred_x0: np.ndarray
    vectors: np.ndarray
    kind: str


class PlaygroundScene:
    """The data set, its fixed noise ε (one per point, from ``seed``) and the schedule; queried per t.

    >>> from diffusion_studio.core.schedules import make_schedule
    >>> from diffusion_studio.core.playground import make_dataset
    >>> scene = PlaygroundScene(make_dataset("moons", 500).points, make_schedule("cosine", 1000))
    >>> scene.cloud(300).shape, scene.density(300).shape, scene.ideal_field(300).vectors.shape
    ((500, 2), (64, 64), (900, 2))
    """

    def __init__(self, points: np.ndarray, schedule: NoiseSchedule, *, seed: int = 0, noise: np.ndarray | None = None,
                 density_grid: Grid = DENSITY_GRID, field_grid: Grid = FIELD_GRID):
        """``noise`` gives each point its ε (default: drawn from ``seed``), e.g. to render what a view shows."""
        self.schedule = schedule
        self.seed = int(seed)
        self.density_grid, self.field_grid = density_grid, field_grid
        self._rng = np.random.default_rng(self.seed)
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        if noise is None:
            noise = self._rng.standard_normal(points.shape)
        elif np.shape(noise) != points.shape:
            raise ValueError(f"noise must have the shape of the points {points.shape}, got {np.shape(noise)}")
        self._set(points, np.asarray(noise, dtype=np.float32))
        self._grid_positions = field_grid.points()

    def _set(self, points: np.ndarray, noise: np.ndarray) -> None:
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        self.noise = np.ascontiguousarray(noise, dtype=np.float32)
        self._cloud = np.empty_like(self.points)
        self._fields = GridFields(self.points, self.density_grid, self.field_grid, density_dtype=np.float32) \
            if len(self.points) else None
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def _cached(self, kind: str, t: int, compute) -> np.ndarray:
        """``compute()`` for (kind, t), remembered for the last CACHED_TIMESTEPS uses (read-only arrays)."""
        key = (kind, int(t))
        value = self._cache.get(key)
        if value is None:
            value = compute()
            value.setflags(write=False)
            self._cache[key] = value
            if len(self._cache) > 2 * CACHED_TIMESTEPS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self.points)

    # -- changing the data ------------------------------------------------------------------
    def set_schedule(self, schedule: NoiseSchedule) -> None:
        if schedule != self.schedule:
            self.schedule = schedule
            self._cache.clear()

    def edit(self, kept: np.ndarray, added: np.ndarray) -> None:
        """Keep the points where ``kept`` is True (with their ε) and append ``added`` (with fresh ε).

        How drawing changes the data: the points that stay keep their noise, so the cloud at t does
        not jump while the user paints.
        """
        kept = np.asarray(kept, dtype=bool)
        added = np.asarray(added, dtype=np.float32).reshape(-1, 2)
        fresh = self._rng.standard_normal(added.shape).astype(np.float32)
        self._set(np.concatenate([self.points[kept], added]), np.concatenate([self.noise[kept], fresh]))

    # -- per t -------------------------------------------------------------------------------
    def alpha_bar(self, t: int) -> float:
        """ᾱ_t, with t = −1 (the clean data / the final samples) as 1."""
        return 1.0 if t < 0 else float(self.schedule.alphas_cumprod[int(t)])

    def cloud(self, t: int) -> np.ndarray:
        """x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε for every point (Ho et al. 2020, eq. 4): a reused (N, 2) buffer."""
        alpha_bar = self.alpha_bar(t)
        np.multiply(self.points, np.float32(math.sqrt(alpha_bar)), out=self._cloud)
        self._cloud += np.float32(math.sqrt(1.0 - alpha_bar)) * self.noise
        return self._cloud

    def density(self, t: int) -> np.ndarray:
        """q(x_t) averaged over each cell of the density grid (G, G), row 0 = lowest y; zeros without data."""
        if self._fields is None:
            return np.zeros((self.density_grid.resolution,) * 2)
        return self._cached("density", t, lambda: self._fields.density(self.alpha_bar(t)))

    def ideal_field(self, t: int, kind: str = "score") -> FieldSample | None:
        """The ideal denoiser E[x0 | x_t] on the arrow grid, and its arrows of ``kind``."""
        if self._fields is None:
            return None
        alpha_bar = min(self.alpha_bar(t), 1.0 - 1e-12)
        x0 = self._cached("ideal_x0", t, lambda: self._fields.ideal_x0(alpha_bar).reshape(-1, 2))
        return FieldSample(self._grid_positions, x0, field_vectors(x0, self._grid_positions, alpha_bar, kind), kind)

    def learned_field(self, t: int, snapshot: MLPSnapshot, kind: str = "score") -> FieldSample:
        """A trained MLP's x̂0 on the arrow grid (from its numpy snapshot), and its arrows of ``kind``."""
        t = max(int(t), 0)
        alpha_bar = min(self.alpha_bar(t), 1.0 - 1e-12)
        x0 = snapshot.predict_x0(self._grid_positions, t, alpha_bar).astype(np.float64)
        return FieldSample(self._grid_positions, x0, field_vectors(x0, self._grid_positions, alpha_bar, kind), kind)
