"""The playground's plot: q(x_t) as a heatmap, the arrow fields, paths, the data cloud and the particles.

Every item is created once; a new t only hands each one new arrays. Mouse input depends on the
tool: ``view`` pans and zooms (a click picks a particle), ``paint`` and ``erase`` turn drags into
``strokeMoved`` signals in data coordinates.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QVBoxLayout, QWidget

from ....core.playground.render import COLORS, DENSITY_LUT
from ....core.playground.scene import VIEW_EXTENT
from ... import theme
from .points_item import PointCloudItem

__all__ = ["PlaygroundCanvas", "TOOLS", "ARROW_LAYERS"]

TOOLS = ("view", "paint", "erase")
#: the arrow fields, bottom to top
ARROW_LAYERS = ("ideal", "learned", "difference")


def _pen(color, width: float = 1.0, alpha: int = 255, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = pg.mkPen(QColor(*color, alpha), width=width, style=style)
    pen.setCosmetic(True)
    return pen


class _CanvasViewBox(pg.ViewBox):
    """A ViewBox whose left-button drags paint or erase while a drawing tool is active."""

    def __init__(self, canvas: "PlaygroundCanvas"):
        super().__init__(lockAspect=True, enableMenu=False)
        self._canvas = canvas

    def mouseDragEvent(self, event, axis=None):  # noqa: N802 - pyqtgraph override
        if self._canvas.tool != "view" and event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            if event.isStart():  # the stroke begins where the button went down, not past the drag threshold
                pressed = self.mapSceneToView(event.buttonDownScenePos())
                self._canvas.strokeMoved.emit(pressed.x(), pressed.y(), True, False)
            position = self.mapSceneToView(event.scenePos())
            self._canvas.strokeMoved.emit(position.x(), position.y(), False, event.isFinish())
            return
        super().mouseDragEvent(event, axis)

    def mouseClickEvent(self, event):  # noqa: N802 - pyqtgraph override
        if event.button() != Qt.MouseButton.LeftButton:
            super().mouseClickEvent(event)
            return
        event.accept()
        position = self.mapSceneToView(event.scenePos())
        if self._canvas.tool == "view":
            pixel = self.viewPixelSize()[0]
            self._canvas.clicked.emit(position.x(), position.y(), 8.0 * pixel)
        else:  # a click is a one-point stroke
            self._canvas.strokeMoved.emit(position.x(), position.y(), True, True)


class PlaygroundCanvas(QWidget):
    #: a drawing-tool stroke in data coordinates: x, y, started, finished (a segment from the last point)
    strokeMoved = Signal(float, float, bool, bool)
    #: a click with the view tool: x, y and a pick tolerance in data units (8 px)
    clicked = Signal(float, float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.tool = "view"
        self._brush_radius = 0.25
        self.view_box = _CanvasViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self.view_box)
        self.plot.setAcceptDrops(False)
        self.plot.viewport().setAcceptDrops(False)
        self.plot.setMinimumSize(220, 220)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "x")
        item.setLabel("left", "y")
        item.hideButtons()
        self.reset_view()

        self.heatmap = pg.ImageItem(axisOrder="row-major")
        # RGBA colours made here: pyqtgraph then paints the pixels as they are (an indexed image
        # with a lookup table is converted on every paint)
        self._rgba_lut = np.concatenate([DENSITY_LUT, np.full((256, 1), 255, np.uint8)], axis=1)
        self.arrows = {name: pg.PlotCurveItem(connect="pairs", skipFiniteCheck=True) for name in ARROW_LAYERS}
        self.ghost_paths = pg.PlotCurveItem(connect="finite")
        self.paths = pg.PlotCurveItem(connect="finite")
        self.follow_path = pg.PlotCurveItem()
        self.follow_link = pg.PlotCurveItem()
        # opaque dots: translucent ones cost 5× as much to paint (2.3 against 0.45 ms for 5 000)
        self.data_cloud = PointCloudItem(COLORS["data"], 2.5)
        self.particles = PointCloudItem(COLORS["particles"], 2.5)
        self.follow_marker = pg.ScatterPlotItem(size=13, pxMode=True)
        self.follow_x0 = pg.ScatterPlotItem(size=11, pxMode=True, symbol="x")
        self.brush = QGraphicsEllipseItem()
        self.brush.setVisible(False)
        for z, graphic in enumerate((self.heatmap, *self.arrows.values(), self.data_cloud, self.particles,
                                     self.ghost_paths, self.paths, self.follow_path, self.follow_link,
                                     self.follow_x0, self.follow_marker, self.brush)):
            graphic.setZValue(z)
            self.plot.addItem(graphic, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        theme.theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed(theme.colors())

    # -- styling -------------------------------------------------------------------------------
    def _on_theme_changed(self, colors: theme.ThemeColors) -> None:
        theme.style_plot(self.plot, self.plot)  # axes in the theme's colours …
        self.plot.getPlotItem().showGrid(x=False, y=False)
        self.view_box.setBackgroundColor(QColor(*COLORS["background"]))  # … the data area dark, as the heatmap
        for name, alpha in (("ideal", 170), ("learned", 220), ("difference", 230)):
            self.arrows[name].setPen(_pen(COLORS[name], 1.0, alpha))
        self.ghost_paths.setPen(_pen(COLORS["ghost"], 1.2, 230, Qt.PenStyle.DashLine))
        self.paths.setPen(_pen(COLORS["path"], 1.2, 190))
        self.follow_path.setPen(_pen(COLORS["follow"], 2.2, 255))
        self.follow_link.setPen(_pen(COLORS["x0"], 1.2, 220, Qt.PenStyle.DashLine))
        self.follow_marker.setPen(_pen((0, 0, 0), 1.5))
        self.follow_marker.setBrush(pg.mkBrush(*COLORS["follow"]))
        self.follow_x0.setPen(_pen(COLORS["x0"], 2.0))
        self.follow_x0.setBrush(pg.mkBrush(*COLORS["x0"]))
        self.brush.setPen(_pen(COLORS["follow"], 1.5, 220, Qt.PenStyle.DashLine))

    # -- what to show --------------------------------------------------------------------------
    def reset_view(self) -> None:
        margin = 0.15
        self.plot.setRange(xRange=(-VIEW_EXTENT - margin, VIEW_EXTENT + margin),
                           yRange=(-VIEW_EXTENT - margin, VIEW_EXTENT + margin), padding=0)

    def set_density(self, levels: np.ndarray | None) -> None:
        """uint8 levels (G, G), row 0 = lowest y; None hides the heatmap."""
        if levels is None:
            self.heatmap.setVisible(False)
            return
        first = self.heatmap.image is None or self.heatmap.image.shape[:2] != levels.shape
        self.heatmap.setImage(self._rgba_lut[levels], autoLevels=False, levels=None)
        if first:  # the rect maps pixels to data units, so it needs the image's size
            self.heatmap.setRect(QRectF(-VIEW_EXTENT, -VIEW_EXTENT, 2 * VIEW_EXTENT, 2 * VIEW_EXTENT))
        self.heatmap.setVisible(True)

    def set_cloud(self, xy: np.ndarray | None) -> None:
        self._set_points(self.data_cloud, COLORS["data"], xy)

    def set_particles(self, xy: np.ndarray | None) -> None:
        self._set_points(self.particles, COLORS["particles"], xy)

    @staticmethod
    def _set_points(item: PointCloudItem, color, xy: np.ndarray | None) -> None:
        if xy is not None and len(xy) != item.count():
            item.set_style(color, 2.0 if len(xy) > 2000 else 3.0)  # a dense cloud would hide the heatmap
        item.set_points(xy)
        item.setVisible(xy is not None)

    def set_arrows(self, layer: str, segments: np.ndarray | None) -> None:
        """Arrow segments as (2k, 2) endpoints in pairs (core.playground.render.arrow_segments)."""
        curve = self.arrows[layer]
        if segments is None or not len(segments):
            curve.setVisible(False)
            return
        curve.setData(segments[:, 0], segments[:, 1], connect="pairs")
        curve.setVisible(True)

    def set_paths(self, paths: list[np.ndarray] | None, *, ghost: bool = False) -> None:
        curve = self.ghost_paths if ghost else self.paths
        if not paths:
            curve.setVisible(False)
            return
        joined = np.concatenate([np.vstack([path, [[np.nan, np.nan]]]) for path in paths])
        curve.setData(joined[:, 0], joined[:, 1], connect="finite")
        curve.setVisible(True)

    def set_follow(self, position: np.ndarray | None, pred_x0: np.ndarray | None = None,
                   path: np.ndarray | None = None) -> None:
        """The followed particle: a marker, its path so far, and a dashed link to its x̂0."""
        shown = position is not None
        for graphic in (self.follow_marker, self.follow_x0, self.follow_link, self.follow_path):
            graphic.setVisible(shown)
        if not shown:
            return
        self.follow_marker.setData([position[0]], [position[1]])
        x0 = position if pred_x0 is None else pred_x0
        self.follow_x0.setData([x0[0]], [x0[1]])
        self.follow_link.setData([position[0], x0[0]], [position[1], x0[1]])
        if path is not None and len(path) > 1:
            self.follow_path.setData(path[:, 0], path[:, 1])
        else:
            self.follow_path.setVisible(False)

    # -- tools ---------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self.view_box.setMouseEnabled(x=tool == "view", y=tool == "view")
        self.plot.setCursor(Qt.CursorShape.ArrowCursor if tool == "view" else Qt.CursorShape.CrossCursor)
        self.brush.setVisible(False)

    def set_brush_radius(self, radius: float) -> None:
        self._brush_radius = float(radius)

    def _on_mouse_moved(self, scene_position: QPointF) -> None:
        if self.tool == "view":
            return
        position = self.view_box.mapSceneToView(scene_position)
        r = self._brush_radius
        self.brush.setRect(QRectF(position.x() - r, position.y() - r, 2 * r, 2 * r))
        self.brush.setVisible(True)
