"""Histogram of x_t's pixel values against the N(0, 1) density that x_t approaches as t → T."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ... import theme

__all__ = ["ForwardHistogram"]

_X = np.linspace(-4.0, 4.0, 241)
_STANDARD_NORMAL = np.exp(-0.5 * _X**2) / np.sqrt(2.0 * np.pi)


class ForwardHistogram(pg.PlotWidget):
    """Created once; :meth:`set_histogram` updates the bars in place."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(False)  # file drops go to the main window
        self.viewport().setAcceptDrops(False)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMinimumHeight(110)  # the side column scrolls below that (a short laptop window)
        self.setMaximumHeight(340)
        item = self.getPlotItem()
        item.setLabel("bottom", "value (x₀ in [−1, 1])")
        item.setLabel("left", "density")
        for axis in ("bottom", "left"):
            item.getAxis(axis).enableAutoSIPrefix(False)
        item.setXRange(-4.0, 4.0, padding=0.0)
        self._y_top = 0.75
        item.setYRange(0.0, self._y_top, padding=0.0)
        self.legend = item.addLegend(offset=(4, 4), labelTextSize="8pt", verSpacing=-6)
        self.bars = item.plot(name="x<sub>t</sub>", stepMode="center", fillLevel=0)
        self.normal = item.plot(_X, _STANDARD_NORMAL, name="N(0, 1)")
        self.setToolTip(
            "Distribution of x_t's pixel values (a fixed random subsample).\n"
            "At t = 0 it is the image's own histogram; as t grows it approaches\n"
            "the standard normal N(0, 1), the starting point of sampling."
        )
        theme.theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed(theme.colors())

    def _on_theme_changed(self, colors: theme.ThemeColors) -> None:
        theme.style_plot(self)
        self.getPlotItem().showGrid(x=False, y=False)  # a small plot reads better without; repaints faster
        self.bars.setPen(theme.plot_pen(0, 1.5))
        self.bars.setBrush(theme.plot_brush(0, 80))
        self.normal.setPen(theme.plot_pen(1, 2.0, Qt.PenStyle.DashLine))
        self.legend.setLabelTextColor(colors.text)

    def set_histogram(self, density: np.ndarray, edges: np.ndarray) -> None:
        self.bars.setData(edges, density)
        # Rescale only when the bars leave the view or shrink well inside it: the axis stays
        # still while scrubbing (and is not re-laid out on every frame).
        needed = min(max(0.45, float(density.max()) if density.size else 0.0) * 1.08, 6.0)
        if needed > self._y_top or needed < 0.6 * self._y_top:
            self._y_top = needed
            self.getPlotItem().setYRange(0.0, needed, padding=0.0)
