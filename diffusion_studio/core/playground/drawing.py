"""Drawing a point set by hand: spray points around the cursor, erase the points under it.

Qt-free so that it can be tested (and scripted) without a display; the GUI turns mouse strokes
into these calls and applies the result with :meth:`~.scene.PlaygroundScene.edit`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["spray", "erase_mask", "stroke_count"]


def spray(center: tuple[float, float], radius: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniform in the disc of ``radius`` around ``center``: float32 (count, 2)."""
    if count <= 0:
        return np.empty((0, 2), np.float32)
    r = float(radius) * np.sqrt(rng.random(count))  # √u: uniform over the area, not the radius
    angle = rng.uniform(0.0, 2.0 * math.pi, count)
    points = np.stack([center[0] + r * np.cos(angle), center[1] + r * np.sin(angle)], axis=1)
    return points.astype(np.float32)


def erase_mask(points: np.ndarray, center: tuple[float, float], radius: float) -> np.ndarray:
    """True for the points that stay: those farther than ``radius`` from ``center``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    dx, dy = points[:, 0] - center[0], points[:, 1] - center[1]
    return dx * dx + dy * dy > float(radius) ** 2


def stroke_count(distance: float, radius: float, density: float = 6.0) -> int:
    """How many points a brush of ``radius`` lays down over ``distance``: ``density`` per radius moved, at least 1."""
    return max(1, int(round(density * distance / max(float(radius), 1e-9))))
