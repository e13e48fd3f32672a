"""Drawing a point set by hand: spray points along a brush stroke, erase the points under it.

Qt-free so that it can be tested (and scripted) without a display; the GUI turns mouse strokes
into these calls and applies the result with :meth:`~.scene.PlaygroundScene.edit`. A stroke is a
segment from the previous mouse position to the current one, so a fast drag (few mouse events)
still paints or erases a continuous band.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["spray", "erase_mask", "stroke_count"]


def stroke_count(length: float, radius: float, density: float = 6.0) -> int:
    """Points a brush of ``radius`` lays down along ``length``: ``density`` per radius, plus one dab's worth."""
    return max(1, int(round(density * (1.0 + length / max(float(radius), 1e-9)))))


def spray(start: tuple[float, float], end: tuple[float, float], radius: float, rng: np.random.Generator,
          density: float = 6.0) -> np.ndarray:
    """Points uniform in the band of ``radius`` around the segment start → end (a click: start = end).

    Returns float32 (k, 2) with k = :func:`stroke_count` of the segment's length.
    """
    start_xy, end_xy = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    count = stroke_count(float(np.hypot(*(end_xy - start_xy))), radius, density)
    along = rng.random(count)[:, None]
    r = float(radius) * np.sqrt(rng.random(count))  # √u: uniform over the disc's area, not its radius
    angle = rng.uniform(0.0, 2.0 * math.pi, count)
    centres = start_xy + along * (end_xy - start_xy)
    return (centres + np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)).astype(np.float32)


def erase_mask(points: np.ndarray, start: tuple[float, float], end: tuple[float, float], radius: float) -> np.ndarray:
    """True for the points that stay: those farther than ``radius`` from the segment start → end."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    a, b = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    direction = b - a
    length2 = float(direction @ direction)
    along = np.clip(((points - a) @ direction) / length2, 0.0, 1.0) if length2 > 0 else np.zeros(len(points))
    nearest = a + along[:, None] * direction
    return np.sum((points - nearest) ** 2, axis=1) > float(radius) ** 2
