"""A learned-variance model's Σ along the chain, against the two fixed choices β_t and β̃_t (log scale).

Nichol & Dhariwal (2021, Fig. 1 and §3.1): β_t and β̃_t are nearly equal except near t = 0, and the learned
Σ lies between them; it matters most for short chains. The curves are the chain's own steps (β_t of a
shortened chain is 1 − ᾱ_t/ᾱ_t'); the dots the learned Σ (geometric mean over the batch's pixels) with
its 10–90 % band, step by step as the chain runs (``core.learned_variance.VarianceStep``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ... import theme

__all__ = ["VariancePlot"]


class VariancePlot(pg.PlotWidget):
    """β_t, β̃_t and the learned Σ per step of chain 0, with a marker at the frame shown."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumHeight(130)
        self.setMaximumHeight(170)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        plot = self.getPlotItem()
        plot.setLabel("bottom", "t")
        plot.setLabel("left", "variance")
        plot.setLogMode(y=True)
        plot.addLegend(offset=(-4, 4), labelTextSize="7pt")
        self._beta = plot.plot([], [], name="β_t")
        self._beta_tilde = plot.plot([], [], name="β̃_t")
        self._low = pg.PlotDataItem([], [])
        self._high = pg.PlotDataItem([], [])
        self._band = pg.FillBetweenItem(self._low, self._high)
        plot.addItem(self._band)
        self._learned = plot.plot([], [], pen=None, symbol="o", symbolSize=5, name="learned Σ")
        self._marker = pg.InfiniteLine(angle=90, movable=False)
        self._marker.setVisible(False)
        plot.addItem(self._marker)
        self._steps: list = []
        theme.theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed(theme.colors())

    @property
    def steps(self) -> list:
        """The ``VarianceStep`` s shown, in the chain's order."""
        return list(self._steps)

    def clear(self) -> None:
        self._steps = []
        for item in (self._beta, self._beta_tilde, self._low, self._high):
            item.setData([], [])
        self._learned.setData([], [])
        self._marker.setVisible(False)

    def add_steps(self, steps: list) -> None:
        if not steps:
            return
        self._steps.extend(steps)
        t = np.array([max(step.t, 0) for step in self._steps], dtype=np.float64)
        column = lambda name: np.array([getattr(step, name) for step in self._steps], dtype=np.float64)  # noqa: E731
        self._beta.setData(t, column("beta"))
        self._beta_tilde.setData(t, column("beta_tilde"))
        self._low.setData(t, column("low"))
        self._high.setData(t, column("high"))
        self._learned.setData(t, column("mean"))

    def set_current(self, t: int | None) -> None:
        self._marker.setVisible(t is not None and t >= 0)
        if t is not None and t >= 0:
            self._marker.setValue(int(t))

    def _on_theme_changed(self, colors: theme.ThemeColors) -> None:
        theme.style_plot(self)
        self._beta.setPen(theme.plot_pen(1, width=1.5))
        self._beta_tilde.setPen(theme.plot_pen(2, width=1.5, style=Qt.PenStyle.DashLine))
        self._band.setBrush(theme.plot_brush(0, alpha=60))
        self._learned.setSymbolBrush(pg.mkBrush(theme.plot_color(0)))
        self._learned.setSymbolPen(None)
        self._marker.setPen(theme.plot_pen(0, width=1, style=Qt.PenStyle.DotLine))
