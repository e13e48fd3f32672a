"""Exact quantities of the noised data on a square grid, in numpy, fast enough to follow a slider.

For a finite data set {x_i} (i = 1 … N) the forward process at t gives the mixture

    q(x_t) = 1/N · Σ_i N(x_t; √ᾱ_t·x_i, (1 − ᾱ_t)·I)

and the optimal denoiser E[x0 | x_t] = Σ_i w_i·x_i with w = softmax_i(−‖x_t − √ᾱ_t·x_i‖² / 2(1 − ᾱ_t)).

Both factorise over the two axes (an isotropic Gaussian is a product of two 1D Gaussians), so on
a product grid they are matrix products of per-axis (G × N) tables: O(G·N) exponentials instead
of O(G²·N). That is what lets the playground redraw a 64² density and a 30² field per frame.

- :meth:`GridFields.density` is the **cell average** of q(x_t) over each grid cell (the exact
  probability mass of the cell divided by its area, from Gaussian tail probabilities), so the
  picture stays right at small t, where the Gaussians are narrower than a cell.
- :meth:`GridFields.ideal_x0` is E[x0 | x_t] at the cell centres. The per-axis tables are
  shifted by their row maxima; where the joint weights underflow anyway (small t, far from the
  data) those grid points are recomputed exactly from the data points near them (the softmax
  is concentrated there); :func:`ideal_x0_direct` is the plain log-sum-exp over all points.

Work arrays are allocated once per data set and reused: on small machines a fresh multi-megabyte
temporary per frame costs more (page faults) than the arithmetic done in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..samplers.base import predict_epsilon

__all__ = ["Grid", "GridFields", "ideal_x0_direct", "field_vectors", "FIELD_KINDS", "upper_tail", "matmul_one_thread"]

#: What an arrow of a denoiser field shows.
FIELD_KINDS: dict[str, str] = {
    "score": "score ∇log q(x_t) = −ε̂ / √(1−ᾱ_t): towards the data",
    "epsilon": "ε̂: the noise the denoiser sees (away from the data)",
    "x0": "x̂0 − x_t: from each point to its denoised guess",
}
# Per-axis log-weights are floored here: a product of two floored weights (e^−600) stays a
# normal float, and the floor adds at most N·e^−300 ≈ 1e-127 to a sum.
_LOG_FLOOR = -300.0
# A separable sum below this may have lost accuracy to the floor: recomputed directly.
_LOST_BELOW = 1e-110
# The direct log-sum-exp works in row chunks of about this many elements (8 MB of float64).
_CHUNK_ELEMENTS = 1_000_000


@dataclass(frozen=True)
class Grid:
    """``resolution`` × ``resolution`` square cells over [low, high]² (row 0 is the lowest y)."""

    low: float = -4.0
    high: float = 4.0
    resolution: int = 64

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.high > self.low):
            raise ValueError(f"a grid needs low < high, got {self.low}, {self.high}")
        if not 1 <= int(self.resolution) <= 4096:
            raise ValueError(f"grid resolution must be 1 … 4096, got {self.resolution}")

    @cached_property
    def edges(self) -> np.ndarray:
        return np.linspace(self.low, self.high, int(self.resolution) + 1)

    @cached_property
    def centres(self) -> np.ndarray:
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    @property
    def cell(self) -> float:
        return (self.high - self.low) / int(self.resolution)

    def points(self) -> np.ndarray:
        """Cell centres as (resolution², 2) x, y pairs, row by row from the lowest y."""
        x, y = np.meshgrid(self.centres, self.centres)
        return np.stack([x.ravel(), y.ravel()], axis=1)


# OpenBLAS runs a product with m·n·k at most this single-threaded (interface/gemm.c,
# SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD).
_SINGLE_THREAD_MNK = 262_144


def matmul_one_thread(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` as products small enough that the BLAS runs each on the calling thread.

    A threaded GEMM waits for its second thread; when the other core is busy (training, another
    program) that wait is tens of milliseconds (measured on 2 cores: p95 65 ms against 1 ms for
    the same 64×5000×64 product in slices). Per-frame work on the GUI thread must not wait.
    """
    (m, k), n = a.shape, b.shape[1]
    if m * n * k <= _SINGLE_THREAD_MNK:
        return a @ b
    if k >= m:  # slice the inner dimension and accumulate
        step = max(1, _SINGLE_THREAD_MNK // max(1, m * n))
        out = a[:, :step] @ b[:step]
        for start in range(step, k, step):
            out += a[:, start : start + step] @ b[start : start + step]
        return out
    step = max(1, _SINGLE_THREAD_MNK // max(1, n * k))  # slice the rows
    return np.concatenate([a[start : start + step] @ b for start in range(0, m, step)])


class _Buffers:
    """Named work arrays, reused while their shape stays the same."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype)
        return array


# Per dtype: where Q(z) is capped (beyond, the tail is set to Q(cap)) and below which a cell mass
# counts as 0, so that no product of two masses is subnormal (subnormals make BLAS and ufuncs
# many times slower, for values no picture or sum can show).
_TAIL_CAP = {np.dtype(np.float64): 37.0, np.dtype(np.float32): 9.0}  # Q(37) ≈ 6e-300, Q(9) ≈ 1e-19
_MASS_FLOOR = {np.dtype(np.float64): 1e-150, np.dtype(np.float32): 1e-18}


def _upper_tail_into(u: np.ndarray, t: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """In place: ``u`` holds z ≥ 0 on entry and Q(z) on exit; ``t`` and ``poly`` are scratch of its dtype."""
    # Numerical Recipes' erfcc (Press et al. 2007, §6.2.2) at z/√2, relative error < 1.2e-7:
    #   erfc(x) ≈ t·exp(−x² + P(t)),  t = 1/(1 + x/2),  P a degree-9 polynomial.
    np.minimum(u, _TAIL_CAP[u.dtype], out=u)
    u *= 1.0 / math.sqrt(2.0)
    np.multiply(u, 0.5, out=t)
    t += 1.0
    np.reciprocal(t, out=t)
    poly.fill(0.17087277)
    for coefficient in (-0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418,
                        0.37409196, 1.00002368, -1.26551223):
        poly *= t
        poly += coefficient
    u *= u
    np.subtract(poly, u, out=u)
    np.exp(u, out=u)
    u *= t
    u *= 0.5
    return u


def upper_tail(z: np.ndarray) -> np.ndarray:
    """Q(z) = P(Z > z) = ½·erfc(z/√2) for z ≥ 0 (float64), with a relative error < 1.2e-7 up to z = 37."""
    u = np.array(z, dtype=np.float64, copy=True)
    return _upper_tail_into(u, np.empty_like(u), np.empty_like(u))


class GridFields:
    """The data-dependent part cached once; :meth:`density` and :meth:`ideal_x0` per ᾱ_t.

    ``density_grid`` is where the heatmap is computed, ``field_grid`` where the arrows sit.
    ``density_dtype`` float32 halves the heatmap's cost (what the GUI uses; relative error ~1e-6,
    cells beyond 9σ of a point get nothing from it); float64 gives reference values. The ideal
    denoiser is always float64: its weights span hundreds of orders of magnitude at small t.
    Not thread-safe (it reuses its work arrays): one instance per thread.
    """

    def __init__(self, points: np.ndarray, density_grid: Grid = Grid(), field_grid: Grid = Grid(resolution=30),
                 *, density_dtype=np.float64):
        self.points = np.ascontiguousarray(points, dtype=np.float64)
        if self.points.ndim != 2 or self.points.shape[1] != 2 or len(self.points) == 0:
            raise ValueError(f"points must be a non-empty (N, 2) array, got shape {self.points.shape}")
        self.density_grid = density_grid
        self.field_grid = field_grid
        self.density_dtype = np.dtype(density_dtype)
        if self.density_dtype not in _TAIL_CAP:
            raise ValueError(f"density_dtype must be float32 or float64, got {self.density_dtype}")
        self._buffers = _Buffers()

    # -- the heatmap -------------------------------------------------------------------------
    def density(self, alpha_bar: float) -> np.ndarray:
        """Cell averages of q(x_t) over ``density_grid``: (G, G) float64, row 0 = lowest y.

        Times the cell area, each value is the exact probability mass of its cell, so the array
        sums to (mass inside the grid) / cell area. ᾱ = 1 (no noise) gives the data's histogram.
        """
        grid = self.density_grid
        alpha_bar = float(alpha_bar)
        scale, std = math.sqrt(alpha_bar), math.sqrt(max(1.0 - alpha_bar, 0.0))
        norm = len(self.points) * grid.cell**2
        if std == 0.0:
            counts, _, _ = np.histogram2d(scale * self.points[:, 1], scale * self.points[:, 0],
                                          bins=(grid.edges, grid.edges))
            return counts / norm
        masses_x = self._cell_masses("x", scale * self.points[:, 0], std)
        masses_y = self._cell_masses("y", scale * self.points[:, 1], std)
        return matmul_one_thread(masses_y, masses_x.T).astype(np.float64) / norm

    def _cell_masses(self, axis: str, means: np.ndarray, std: float) -> np.ndarray:
        """P(edge_k < X < edge_{k+1}) for X ~ N(mean_i, std²): a (cells, N) table.

        Φ(z) = V(z) + [z ≥ 0] with V(z) = −sign(z)·Q(|z|), so a cell's mass is ΔV + Δ[z ≥ 0]:
        inside one tail it is a difference of two tail probabilities, which keeps its relative
        precision far out, where 1 − Φ would round to 0.
        """
        edges, buffers, dtype = self.density_grid.edges, self._buffers, self.density_dtype
        shape = (len(edges), len(means))
        z = buffers.get(f"z{axis}", shape, dtype)
        np.subtract(edges.astype(dtype)[:, None], means.astype(dtype)[None, :], out=z)
        z *= dtype.type(1.0 / std)
        upper = buffers.get(f"upper{axis}", shape, bool)
        np.greater_equal(z, 0.0, out=upper)
        tails = np.abs(z, out=buffers.get(f"tails{axis}", shape, dtype))
        _upper_tail_into(tails, buffers.get("scratch_t", shape, dtype), buffers.get("scratch_poly", shape, dtype))
        np.negative(tails, out=tails, where=upper)
        masses = buffers.get(f"masses{axis}", (shape[0] - 1, shape[1]), dtype)
        np.subtract(tails[1:], tails[:-1], out=masses)
        straddles = buffers.get(f"straddles{axis}", masses.shape, bool)
        np.not_equal(upper[1:], upper[:-1], out=straddles)
        np.add(masses, straddles, out=masses)
        np.less(masses, _MASS_FLOOR[dtype], out=straddles)
        np.copyto(masses, 0.0, where=straddles)
        return masses

    # -- the ideal denoiser ------------------------------------------------------------------
    def ideal_x0(self, alpha_bar: float) -> np.ndarray:
        """E[x0 | x_t = c] at every cell centre c of ``field_grid``: (G, G, 2), row 0 = lowest y."""
        centres = self.field_grid.centres
        scale, variance = math.sqrt(float(alpha_bar)), max(1.0 - float(alpha_bar), 1e-300)
        weights_x = self._axis_weights("x", scale * self.points[:, 0], variance)
        weights_y = self._axis_weights("y", scale * self.points[:, 1], variance)
        # Σ_i w_y·w_x and Σ_i w_y·w_x·x_i in one product: weights_y @ [w_x ; w_x·x_i]ᵀ
        g = len(centres)
        stacked = self._buffers.get("stacked", (2 * g, len(self.points)))
        stacked[:g] = weights_x
        np.multiply(weights_x, self.points[:, 0], out=stacked[g:])
        sums = matmul_one_thread(weights_y, stacked.T)
        total, sum_x = sums[:, :g], sums[:, g:]
        weighted = self._buffers.get("weighted", weights_y.shape)
        sum_y = matmul_one_thread(np.multiply(weights_y, self.points[:, 1], out=weighted), weights_x.T)
        lost = ~(total >= _LOST_BELOW)
        total = np.where(lost, 1.0, total)
        x0 = np.stack([sum_x / total, sum_y / total], axis=-1)
        if lost.any():
            rows, cols = np.nonzero(lost)
            at = np.stack([centres[cols], centres[rows]], axis=1)
            x0[rows, cols] = _ideal_x0_nearby(at, self.points, alpha_bar, self._buffers)
        return x0

    def _axis_weights(self, axis: str, means: np.ndarray, variance: float) -> np.ndarray:
        """exp(−(c − μ_i)²/2σ² − row max), floored at e^−300: a (G, N) table."""
        centres = self.field_grid.centres
        logits = self._buffers.get(f"weights{axis}", (len(centres), len(means)))
        np.subtract(centres[:, None], means[None, :], out=logits)
        logits *= logits
        logits *= -0.5 / variance
        logits -= logits.max(axis=1, keepdims=True)
        np.maximum(logits, _LOG_FLOOR, out=logits)
        return np.exp(logits, out=logits)


def _squared_distances_into(block: np.ndarray, means: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """‖x − μ_i‖² for rows x of ``block`` (M, 2) into ``out`` (M, N), axis by axis.

    Written per axis, not as ‖x‖² + ‖μ‖² − 2x·μ: no cancellation when σ is small.
    """
    np.subtract(block[:, 0:1], means[None, :, 0], out=out)
    out *= out
    np.subtract(block[:, 1:2], means[None, :, 1], out=scratch)
    scratch *= scratch
    out += scratch
    return out


def ideal_x0_direct(x_t: np.ndarray, points: np.ndarray, alpha_bar: float, *, buffers: _Buffers | None = None
                    ) -> np.ndarray:
    """E[x0 | x_t] at any (M, 2) positions by a log-sum-exp over every data point, in float64.

    The reference the fast paths are tested against, and their fallback where weights underflow.
    """
    x_t = np.asarray(x_t, dtype=np.float64).reshape(-1, 2)
    points = np.ascontiguousarray(points, dtype=np.float64)
    buffers = buffers or _Buffers()
    scale, variance = math.sqrt(float(alpha_bar)), max(1.0 - float(alpha_bar), 1e-300)
    means = scale * points
    out = np.empty_like(x_t)
    chunk = max(1, min(len(x_t), _CHUNK_ELEMENTS // len(points)))
    logits_all = buffers.get("direct_logits", (chunk, len(points)))
    squares_all = buffers.get("direct_squares", (chunk, len(points)))
    for start in range(0, len(x_t), chunk):
        block = x_t[start : start + chunk]
        logits = _squared_distances_into(block, means, logits_all[: len(block)], squares_all[: len(block)])
        logits *= -0.5 / variance
        logits -= logits.max(axis=1, keepdims=True)
        np.maximum(logits, -700.0, out=logits)  # e^−700 is still a normal float
        np.exp(logits, out=logits)
        out[start : start + chunk] = matmul_one_thread(logits, points) / logits.sum(axis=1, keepdims=True)
    return out


# Data points whose weight is below e^−45 of the nearest one's are left out of the nearby sum: all of
# them together change a weighted mean by less than N·e^−45 ≈ 3e-16 (N = 10 000) of the data's spread.
_NEARBY_LOG_WEIGHT = 45.0


def _ideal_x0_nearby(x_t: np.ndarray, points: np.ndarray, alpha_bar: float, buffers: _Buffers) -> np.ndarray:
    """E[x0 | x_t] at small noise, summing only over the data points that can matter.

    Where the separable sums underflow, σ² is small and the softmax is concentrated on the few
    points nearest each position. Squared distances in float32 pick them (every point within
    ‖x − μ‖² ≤ d²_min + 2σ²·45, plus a margin for float32 rounding); their weights are then
    computed exactly in float64. The same result as :func:`ideal_x0_direct` to float64 rounding,
    at a fraction of the cost.
    """
    scale, variance = math.sqrt(float(alpha_bar)), max(1.0 - float(alpha_bar), 1e-300)
    means = scale * points
    means32 = means.astype(np.float32)
    x32 = x_t.astype(np.float32)
    # float32 rounding of a squared distance of values up to |v|: about 4·2⁻²⁴·(‖x‖² + ‖μ‖²)
    slack = 4e-7 * (float(np.max(np.sum(x_t**2, axis=1))) + float(np.max(np.sum(means**2, axis=1)))) + 1e-30
    window = 2.0 * variance * _NEARBY_LOG_WEIGHT + slack
    out = np.empty_like(x_t)
    chunk = max(1, min(len(x_t), _CHUNK_ELEMENTS // len(points)))
    squared_all = buffers.get("nearby_d2", (chunk, len(points)), np.float32)
    scratch_all = buffers.get("nearby_dy2", (chunk, len(points)), np.float32)
    for start in range(0, len(x_t), chunk):
        block = x32[start : start + chunk]
        squared = _squared_distances_into(block, means32, squared_all[: len(block)], scratch_all[: len(block)])
        nearest = squared.min(axis=1, keepdims=True)
        rows, cols = np.nonzero(squared <= nearest + np.float32(window))
        # exact float64 log-weights of the candidates, a softmax per row (rows come out sorted)
        diff = x_t[start + rows] - means[cols]
        logits = -np.sum(diff * diff, axis=1) / (2.0 * variance)
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        counts = np.diff(np.r_[starts, len(rows)])
        weights = np.exp(logits - np.repeat(np.maximum.reduceat(logits, starts), counts))
        total = np.add.reduceat(weights, starts)
        out[start : start + len(block)] = np.add.reduceat(weights[:, None] * points[cols], starts) / total[:, None]
    return out


def field_vectors(x0_hat: np.ndarray, x_t: np.ndarray, alpha_bar: float, kind: str = "score") -> np.ndarray:
    """Arrows of a denoiser at positions ``x_t`` from its x̂0: the score, ε̂ or x̂0 − x_t (see FIELD_KINDS).

    ε̂ = (x_t − √ᾱ·x̂0)/√(1−ᾱ) (Ho et al. 2020, eq. 4 solved for ε); score = −ε̂/√(1−ᾱ) (Song et al. 2021).
    """
    if kind not in FIELD_KINDS:
        raise ValueError(f"unknown field kind {kind!r}; choose one of {', '.join(FIELD_KINDS)}")
    if kind == "x0":
        return x0_hat - x_t
    alpha_bar = min(float(alpha_bar), 1.0 - 1e-12)
    epsilon = predict_epsilon(x0_hat, x_t, alpha_bar, "sample")
    return epsilon if kind == "epsilon" else -epsilon / math.sqrt(1.0 - alpha_bar)
