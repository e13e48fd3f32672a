"""A reusable image canvas: title, pyqtgraph ViewBox + ImageItem, optional pixel readout.

Created once; ``set_image(uint8 HWC)`` afterwards only swaps pixels (no levels, no
auto-levelling: uint8 goes to the QImage as is), so it is cheap enough to follow a slider
or a sampling chain.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from .. import theme

__all__ = ["ImageView"]


class ImageView(QWidget):
    """Shows a uint8 image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), aspect ratio locked.

    ``hover_readout=True`` shows the pixel under the mouse as ``x, y: value`` with the
    value also in the model's [-1, 1] range. ``pixelHovered(x, y)`` is emitted too
    (−1, −1 when the mouse leaves the image).
    """

    pixelHovered = Signal(int, int)

    def __init__(self, title: str = "", parent: QWidget | None = None, *, hover_readout: bool = False,
                 tooltip: str = ""):
        super().__init__(parent)
        self._image: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None

        self._title = QLabel(title)
        self._title.setFont(theme.heading_font(0))
        self._title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._title.setTextFormat(Qt.TextFormat.RichText)
        if tooltip:
            self._title.setToolTip(tooltip)
        self._title.setVisible(bool(title))

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.ci.setContentsMargins(0, 0, 0, 0)
        self._graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._graphics.setMinimumSize(120, 120)
        self._graphics.setAcceptDrops(False)  # file drops fall through to the main window
        self._graphics.viewport().setAcceptDrops(False)
        self.view_box: pg.ViewBox = self._graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view_box.setDefaultPadding(0.0)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        if tooltip:
            self._graphics.setToolTip(tooltip)

        self._readout = QLabel(" ")
        self._readout.setFont(theme.mono_font(-1))
        self._readout.setProperty("role", "muted")
        self._readout.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._readout.setVisible(hover_readout)
        if hover_readout:
            self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self._title)
        layout.addWidget(self._graphics, 1)
        layout.addWidget(self._readout)

        theme.theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed(theme.colors())

    # -- public API ------------------------------------------------------------------------
    def set_title(self, title: str) -> None:
        self._title.setText(title)
        self._title.setVisible(bool(title))

    def title(self) -> str:
        return self._title.text()

    @property
    def graphics(self) -> pg.GraphicsLayoutWidget:
        """The pyqtgraph canvas (its ``viewport()`` takes the mouse; its ``scene()`` emits hovers and clicks)."""
        return self._graphics

    def readout_text(self) -> str:
        """The pixel readout under the image ("x 2, y 3:  255 0 128 [...]"), blank when not hovering."""
        return self._readout.text()

    def image(self) -> np.ndarray | None:
        """The array last shown (the same object that was passed in)."""
        return self._image

    def set_image(self, image: np.ndarray | None) -> None:
        """Show ``image`` (uint8). The view re-fits only when the image size changes."""
        if image is None:
            self.clear()
            return
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise TypeError(f"ImageView shows uint8 images, got {array.dtype}")
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        self._image = image
        # levels=None: uint8 is shown as is. Levels (0, 255) would give the same pixels, but
        # through a per-frame rescale of every pixel in pyqtgraph (≈ 1 ms for 512×512 RGB).
        self.image_item.setImage(array, autoLevels=False, levels=None)
        if array.shape != self._shape:
            self._shape = array.shape
            self.view_box.autoRange(padding=0.0)

    def clear(self) -> None:
        self._image, self._shape = None, None
        self.image_item.clear()

    def reset_zoom(self) -> None:
        self.view_box.autoRange(padding=0.0)

    # -- internals -------------------------------------------------------------------------
    def _on_theme_changed(self, colors: theme.ThemeColors) -> None:
        self._graphics.setBackground(colors.canvas)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._image is None:
            return
        pos = self.image_item.mapFromScene(scene_pos)
        x, y = int(np.floor(pos.x())), int(np.floor(pos.y()))
        h, w = self._image.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            self._readout.setText(" ")
            self.pixelHovered.emit(-1, -1)
            return
        value = np.atleast_1d(self._image[y, x])
        as_unit = value.astype(np.float32) / 127.5 - 1.0
        raw = " ".join(f"{int(v):3d}" for v in value)
        unit = " ".join(f"{v:+.2f}" for v in as_unit)
        self._readout.setText(f"x {x}, y {y}:  {raw}   [{unit}]")
        self.pixelHovered.emit(x, y)
