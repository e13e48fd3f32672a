"""A point cloud item that follows a slider: thousands of dots drawn with one ``drawPoints`` call.

pyqtgraph's ScatterPlotItem rebuilds per-point records on every ``setData`` (measured 4 ms p50,
20 ms p95 for 5 000 points on 2 cores); here new positions are copied into the QPolygonF the
painter draws, with no per-point Python work.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pyqtgraph.functions as fn
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

__all__ = ["PointCloudItem"]


class PointCloudItem(pg.GraphicsObject):
    """Dots of ``size`` screen pixels in one colour; ``set_points((N, 2))`` replaces them."""

    def __init__(self, color: tuple[int, int, int], size: float = 3.0, alpha: int = 255):
        super().__init__()
        self._polygon = fn.create_qpolygonf(0)
        self._count = 0
        self._bounds = QRectF()
        self._pen = QPen()
        self._pen.setCosmetic(True)
        self._pen.setCapStyle(Qt.PenCapStyle.SquareCap)
        self.set_style(color, size, alpha)

    def set_style(self, color: tuple[int, int, int], size: float, alpha: int = 255) -> None:
        self._pen.setColor(QColor(*color, alpha))
        self._pen.setWidthF(float(size))
        self.update()

    def set_points(self, xy: np.ndarray | None) -> None:
        xy = np.empty((0, 2)) if xy is None else np.asarray(xy).reshape(-1, 2)
        if self._polygon.size() != len(xy):
            self._polygon = fn.create_qpolygonf(len(xy))
        if len(xy):
            fn.ndarray_from_qpolygonf(self._polygon)[:] = xy
            finite = xy[np.all(np.isfinite(xy), axis=1)] if not np.isfinite(xy).all() else xy
            low, high = (finite.min(axis=0), finite.max(axis=0)) if len(finite) else (np.zeros(2), np.zeros(2))
            bounds = QRectF(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))
        else:
            bounds = QRectF()
        self._count = len(xy)
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds
        self.update()

    def count(self) -> int:
        return self._count

    def points(self) -> np.ndarray:
        """A copy of the positions drawn (for tests and hit-testing)."""
        return fn.ndarray_from_qpolygonf(self._polygon).copy() if self._count else np.empty((0, 2))

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        # A margin of a few pixels in data units: the dots are drawn around their positions.
        pixel = self.pixelLength(None) if self._count else None
        margin = 4.0 * pixel if pixel else 0.0
        return self._bounds.adjusted(-margin, -margin, margin, margin)

    def dataBounds(self, axis: int, frac: float = 1.0, orthoRange=None):  # noqa: N802, N803 - pyqtgraph API
        if not self._count:
            return None, None
        if axis == 0:
            return self._bounds.left(), self._bounds.right()
        return self._bounds.top(), self._bounds.bottom()

    def paint(self, painter: QPainter, *_args) -> None:
        if self._count:
            painter.setPen(self._pen)
            painter.drawPoints(self._polygon)
