"""A small plot of ᾱ_t over t with the visited timesteps as dots and a marker at the current frame."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ... import theme

__all__ = ["ScheduleMarkerPlot"]

_MAX_CHAINS = 2


class ScheduleMarkerPlot(pg.PlotWidget):
    """ᾱ_t curve of the model's schedule; per chain, its timesteps (dots) and its current t (marker).

    The clean final frame (t = −1) is drawn at t = 0 with ᾱ = 1, where the chain ends.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumHeight(110)
        self.setMaximumHeight(150)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        plot = self.getPlotItem()
        plot.setLabel("bottom", "t")
        plot.setLabel("left", "ᾱ_t")
        plot.enableAutoRange(False)
        plot.setYRange(0.0, 1.05, padding=0)
        self._curve = plot.plot([], [])
        self._visited: list[pg.ScatterPlotItem] = []
        self._markers: list[pg.ScatterPlotItem] = []
        self._lines: list[pg.InfiniteLine] = []
        for i in range(_MAX_CHAINS):
            visited = pg.ScatterPlotItem(size=4, pen=None)
            marker = pg.ScatterPlotItem(size=13 - 4 * i)  # the second chain's marker sits inside the first's
            line = pg.InfiniteLine(angle=90, movable=False)
            for item in (visited, line, marker):
                item.setZValue(10 + i)
                item.setVisible(False)
                plot.addItem(item)
            self._visited.append(visited)
            self._markers.append(marker)
            self._lines.append(line)
        self._num_timesteps = 1
        theme.theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed(theme.colors())

    def set_schedule(self, alphas_cumprod: np.ndarray) -> None:
        alphas_cumprod = np.asarray(alphas_cumprod, dtype=np.float64)
        self._num_timesteps = len(alphas_cumprod)
        self._curve.setData(np.arange(len(alphas_cumprod)), alphas_cumprod)
        self.getPlotItem().setXRange(-0.01 * len(alphas_cumprod), len(alphas_cumprod) * 1.01, padding=0)

    def set_visited(self, chain: int, timesteps, alphas_cumprod) -> None:
        """Dots at the timesteps this chain's frames visit (shows DDIM's spacing, SDEdit's start)."""
        ts = np.maximum(np.asarray(timesteps, dtype=np.float64), 0.0)
        self._visited[chain].setData(ts, np.asarray(alphas_cumprod, dtype=np.float64))
        self._visited[chain].setVisible(len(ts) > 0)

    def set_current(self, chain: int, t: int | None, alpha_bar: float | None = None) -> None:
        marker, line = self._markers[chain], self._lines[chain]
        if t is None:
            marker.setVisible(False)
            line.setVisible(False)
            return
        x = max(int(t), 0)
        marker.setData([x], [1.0 if alpha_bar is None else alpha_bar])
        line.setValue(x)
        marker.setVisible(True)
        line.setVisible(True)

    def clear_chain(self, chain: int) -> None:
        self.set_current(chain, None)
        self._visited[chain].setData([], [])
        self._visited[chain].setVisible(False)

    def marker_position(self, chain: int = 0) -> tuple[float, float] | None:
        """The current marker's (t, ᾱ), or None when hidden (for tests and tooltips)."""
        if not self._markers[chain].isVisible():
            return None
        x, y = self._markers[chain].getData()
        return float(x[0]), float(y[0])

    def _on_theme_changed(self, colors: theme.ThemeColors) -> None:
        theme.style_plot(self)
        curve_pen = pg.mkPen(colors.muted_text, width=1.5)
        curve_pen.setCosmetic(True)
        self._curve.setPen(curve_pen)
        for i in range(_MAX_CHAINS):
            color = theme.plot_color(i)
            self._visited[i].setBrush(theme.plot_brush(i, alpha=160))
            self._markers[i].setBrush(pg.mkBrush(color))
            self._markers[i].setPen(pg.mkPen(colors.panel, width=1.5))
            self._lines[i].setPen(theme.plot_pen(i, width=1, style=Qt.PenStyle.DashLine))
