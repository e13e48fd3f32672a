"""The schedule lab's plots: β_t, ᾱ_t, √ᾱ_t, √(1−ᾱ_t) and log-SNR over t, one PlotItem each.

Plot items, curves, cursors and the legend are created once; edits only call
``setData`` (pyqtgraph's fast path). The vertical cursor is the forward view's t;
dragging it emits :attr:`SchedulePlots.cursorDragged`, hovering emits :attr:`hovered`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from ....core.schedules import NoiseSchedule
from ... import theme
from ...widgets import plot_export
from ....core.schedule_entries import ScheduleEntry, compact_params, short_name

__all__ = ["Quantity", "QUANTITIES", "SchedulePlots", "X_MODES", "curve_data"]


@dataclass(frozen=True)
class Quantity:
    key: str
    title: str
    axis: str
    log_y: bool
    values: Callable[[NoiseSchedule], np.ndarray]


#: In display order: the top row reads "noise per step → signal kept → SNR".
QUANTITIES: tuple[Quantity, ...] = (
    Quantity("beta", "β<sub>t</sub>: noise variance added at step t", "β<sub>t</sub> (log scale)", True,
             lambda s: s.betas),
    Quantity("alphas_cumprod", "ᾱ<sub>t</sub> = ∏(1 − β): signal variance kept", "ᾱ<sub>t</sub>", False,
             lambda s: s.alphas_cumprod),
    Quantity("log_snr", "log SNR = ln(ᾱ<sub>t</sub> / (1 − ᾱ<sub>t</sub>))", "ln SNR", False, lambda s: s.log_snr),
    Quantity("sqrt_alphas_cumprod", "√ᾱ<sub>t</sub>: scale of x<sub>0</sub> in x<sub>t</sub>", "√ᾱ<sub>t</sub>", False,
             lambda s: s.sqrt_alphas_cumprod),
    Quantity("sqrt_one_minus_alphas_cumprod", "√(1 − ᾱ<sub>t</sub>): scale of ε in x<sub>t</sub>",
             "√(1 − ᾱ<sub>t</sub>)", False, lambda s: s.sqrt_one_minus_alphas_cumprod),
)
_BY_KEY = {q.key: q for q in QUANTITIES}
#: x axis: t as a fraction t/(T−1) (schedules of any T line up) or the timestep t itself
X_MODES = {"fraction": "t / (T − 1)", "timestep": "timestep t"}
#: wider than this many heights, the plots go in one row (two rows would leave each too short to read)
WIDE_ASPECT = 3.2
#: where the legend goes, first visible wins (these curves leave the top-right corner free)
_LEGEND_HOSTS = ("alphas_cumprod", "sqrt_alphas_cumprod", "log_snr")


def curve_data(schedule: NoiseSchedule, quantity: Quantity, x_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """x and y of one curve. Points a plot cannot show (the −inf log-SNR where ᾱ = 0, β ≤ 0 on
    a log axis) are left out, so a curve never carries a NaN or an infinity."""
    T = schedule.num_timesteps
    x = np.linspace(0.0, 1.0, T) if x_mode == "fraction" else np.arange(T, dtype=np.float64)
    y = np.asarray(quantity.values(schedule), dtype=np.float64)
    keep = np.isfinite(y)
    if quantity.log_y:
        keep &= y > 0
    return (x, y) if keep.all() else (x[keep], y[keep])


class SchedulePlots(QWidget):
    #: the x position the user dragged the cursor to (in the current x mode)
    cursorDragged = Signal(float)
    #: the x under the mouse, or NaN when the mouse left the plots
    hovered = Signal(float)
    #: (entry uid, visible) from a click on a legend sample
    legendToggled = Signal(int, bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.x_mode = "fraction"
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(4, 4, 8, 4)
        self.graphics.ci.setSpacing(6)
        self.plots: dict[str, pg.PlotItem] = {}
        self.cursors: dict[str, pg.InfiniteLine] = {}
        self.hover_lines: dict[str, pg.InfiniteLine] = {}
        self.curves: dict[int, dict[str, pg.PlotDataItem]] = {}
        self._legend_samples: dict[int, pg.PlotDataItem] = {}
        self._entries: dict[int, ScheduleEntry] = {}  # by uid, for the legend's labels
        self._visible_keys: list[str] = [q.key for q in QUANTITIES]
        self._syncing_legend = False
        self._max_columns = 3
        for quantity in QUANTITIES:
            self._create_plot(quantity)
        first = self.plots[QUANTITIES[0].key]
        for plot in self.plots.values():
            if plot is not first:
                plot.setXLink(first)
        # An empty, inert view that holds the legend when the plot grid has a free cell.
        self._legend_cell = pg.ViewBox(enableMouse=False, enableMenu=False)
        self._legend_cell.border = None
        # A long legend may run past the cell's right edge into the margin rather than be cut.
        self._legend_cell.setFlag(self._legend_cell.GraphicsItemFlag.ItemClipsChildrenToShape, False)
        self.legend = pg.LegendItem(offset=(-8, 8), labelTextSize="8pt", verSpacing=-4)
        self._layout_plots()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.viewport().installEventFilter(self)
        self.restyle()

    # -- building ----------------------------------------------------------------------------
    def _create_plot(self, quantity: Quantity) -> None:
        plot = pg.PlotItem()
        plot.setTitle(quantity.title, size="9pt")
        plot.setLabel("left", quantity.axis)
        plot.setLabel("bottom", X_MODES[self.x_mode])
        plot.setLogMode(x=False, y=quantity.log_y)
        plot.setMenuEnabled(True)
        plot.hideButtons()
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        plot.getViewBox().setMouseEnabled(x=True, y=False)  # wheel zooms t; values keep their full range
        plot.getAxis("left").setWidth(54)
        for axis in ("left", "bottom"):
            # pyqtgraph's SI prefix rescales a log axis of small values (β ≈ 1e-4 … 0.02) into
            # "0.1 / 1 / 10 (x0.001)": the plain values are what the readout and the papers show.
            plot.getAxis(axis).enableAutoSIPrefix(False)
        # ViewBoxes paint a border path even with no pen; the SVG export turns it into a
        # black frame. None skips the painting altogether.
        plot.getViewBox().border = None
        cursor = pg.InfiniteLine(angle=90, movable=True, label="", labelOpts={"position": 0.92})
        cursor.setZValue(100)
        cursor.setToolTip("The forward view's t: drag to move it")
        cursor.sigDragged.connect(self._on_cursor_dragged)
        hover = pg.InfiniteLine(angle=90, movable=False)
        hover.setZValue(90)
        hover.hide()
        plot.addItem(cursor, ignoreBounds=True)
        plot.addItem(hover, ignoreBounds=True)
        self.plots[quantity.key], self.cursors[quantity.key], self.hover_lines[quantity.key] = plot, cursor, hover

    def _layout_plots(self) -> None:
        """Put the visible plots in a grid (items are kept, not rebuilt): at most three columns, or
        one row when the area is short and wide (a laptop's dock), so each plot keeps some height."""
        layout = self.graphics.ci
        for plot in self.plots.values():
            if plot in layout.items:
                layout.removeItem(plot)
        columns = min(len(self._visible_keys), self._max_columns) or 1
        for i, key in enumerate(self._visible_keys):
            layout.addItem(self.plots[key], row=i // columns, col=i % columns)
        for key, plot in self.plots.items():
            plot.setVisible(key in self._visible_keys)
        # The legend takes the grid's empty cell when there is one, else a free corner of a plot.
        count = len(self._visible_keys)
        if self._legend_cell in layout.items:
            layout.removeItem(self._legend_cell)
        if count and count % columns:
            layout.addItem(self._legend_cell, row=count // columns, col=count % columns)
            self.legend.setParentItem(self._legend_cell)
            self.legend.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(6, 26))
            self.legend.setVisible(True)
        else:
            host_key = next((k for k in _LEGEND_HOSTS if k in self._visible_keys), None)
            host_key = host_key or (self._visible_keys[0] if self._visible_keys else None)
            if host_key is not None:
                self.legend.setParentItem(self.plots[host_key].getViewBox())
                self.legend.anchor(itemPos=(1, 0), parentPos=(1, 0), offset=(-8, 8))
            self.legend.setVisible(host_key is not None)
        for key in self.plots:
            self.cursors[key].label.setVisible(bool(self._visible_keys) and key == self._visible_keys[0])

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        max_columns = len(QUANTITIES) if self.width() > WIDE_ASPECT * self.height() else 3
        if max_columns != self._max_columns:
            self._max_columns = max_columns
            one_row = max_columns > 3
            for quantity in QUANTITIES:
                # In one row each plot is narrow: the short name as its title, no axis label beside it.
                plot = self.plots[quantity.key]
                plot.setTitle(quantity.axis if one_row else quantity.title, size="9pt")
                plot.showLabel("left", not one_row)
            self._layout_plots()

    def columns(self) -> int:
        """How many plots sit side by side now."""
        return min(len(self._visible_keys), self._max_columns) or 1

    # -- API -------------------------------------------------------------------------------
    def visible_quantities(self) -> list[str]:
        return list(self._visible_keys)

    def set_visible_quantities(self, keys: list[str]) -> None:
        self._visible_keys = [q.key for q in QUANTITIES if q.key in keys]
        self._layout_plots()

    def set_x_mode(self, mode: str) -> None:
        if mode not in X_MODES:
            raise ValueError(f"x mode must be one of {', '.join(X_MODES)}")
        self.x_mode = mode
        for plot in self.plots.values():
            plot.setLabel("bottom", X_MODES[mode])

    def x_of(self, t: int, num_timesteps: int) -> float:
        return t / (num_timesteps - 1) if self.x_mode == "fraction" else float(t)

    def t_of(self, x: float, num_timesteps: int) -> int | None:
        """The timestep of a schedule with ``num_timesteps`` steps at x (None when x is past its end)."""
        t = round(x * (num_timesteps - 1)) if self.x_mode == "fraction" else round(x)
        return t if 0 <= t < num_timesteps else None

    def add_entry(self, entry: ScheduleEntry) -> None:
        self.curves[entry.uid] = {key: self._new_curve(plot) for key, plot in self.plots.items()}
        sample = pg.PlotDataItem()
        sample.visibleChanged.connect(lambda uid=entry.uid, item=sample: self._on_legend_sample(uid, item))
        self._legend_samples[entry.uid] = sample
        self._entries[entry.uid] = entry
        self.legend.addItem(sample, "")
        self.update_entry(entry)

    @staticmethod
    def _new_curve(plot: pg.PlotItem) -> pg.PlotDataItem:
        # About one point per pixel is drawn (T = 10 000 on a 300 px plot), "peak" keeping each
        # bin's extremes: the curve looks the same and redraws several times faster.
        # (The mode itself is the PlotItem's, set in _create_plot: addItem applies it.)
        curve = pg.PlotDataItem(autoDownsampleFactor=1.0)
        # The cursors move over still curves with every t of the forward slider: Qt then blits
        # the curve from a pixmap instead of stroking its path again (a frame costs half as
        # much). Qt redraws the pixmap on any change of data, pen or zoom.
        curve.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plot.addItem(curve)
        return curve

    def remove_entry(self, entry: ScheduleEntry) -> None:
        for key, curve in self.curves.pop(entry.uid, {}).items():
            self.plots[key].removeItem(curve)
        sample = self._legend_samples.pop(entry.uid, None)
        self._entries.pop(entry.uid, None)
        if sample is not None:
            self.legend.removeItem(sample)
            self._relabel_legend()

    def update_entry(self, entry: ScheduleEntry) -> None:
        """Restyle and re-feed ``entry``'s curves (``setData`` only)."""
        pen = theme.plot_pen(entry.color_index, width=2.6 if entry.primary else 1.8)
        for key, curve in self.curves[entry.uid].items():
            x, y = curve_data(entry.schedule, _BY_KEY[key], self.x_mode)
            curve.setData(x, y, pen=pen, skipFiniteCheck=True)  # curve_data left out non-finite points
            curve.setVisible(entry.visible)
            curve.setZValue(10 if entry.primary else 5)
        sample = self._legend_samples[entry.uid]
        sample.setPen(pen)
        self._syncing_legend = True
        try:
            sample.setVisible(entry.visible)
        finally:
            self._syncing_legend = False
        self._relabel_legend()

    def _relabel_legend(self) -> None:
        texts = _legend_texts(list(self._entries.values()))
        by_sample = {id(self._legend_samples[uid]): text for uid, text in texts.items()}
        for legend_sample, label in self.legend.items:
            text = by_sample.get(id(legend_sample.item))
            if text is not None and text != label.text:
                label.setText(text, color=theme.colors().text)
            legend_sample.update()
        self.legend.updateSize()

    def set_cursor(self, t: int, num_timesteps: int) -> None:
        x = self.x_of(t, num_timesteps)
        upper = 1.0 if self.x_mode == "fraction" else float(num_timesteps - 1)
        for cursor in self.cursors.values():
            cursor.setBounds((0.0, upper))
            cursor.setValue(x)
            cursor.label.setFormat(f"t = {t}")

    def cursor_x(self) -> float:
        return float(self.cursors[QUANTITIES[0].key].value())

    def curve_arrays(self, entry: ScheduleEntry, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The data a curve holds now, before any log transform of the axis (for tests)."""
        item = self.curves[entry.uid][key]
        return np.asarray(item.xData), np.asarray(item.yData)

    def restyle(self, *_args) -> None:
        c = theme.colors()
        self.graphics.setBackground(c.panel)
        for plot in self.plots.values():
            theme.style_plot(plot)
            # No grid: the axis draws it across the whole plot, so every cursor move and every
            # edit would replay it (≈ 4 ms per axis); without it only the curves near a change repaint.
            plot.showGrid(x=False, y=False)
        cursor_pen = pg.mkPen(c.text, width=1.4)  # neutral: never mistaken for a schedule's colour
        hover_pen = pg.mkPen(c.muted_text, width=1, style=Qt.PenStyle.DashLine)
        for key in self.plots:
            self.cursors[key].setPen(cursor_pen)
            self.cursors[key].setHoverPen(pg.mkPen(c.accent, width=3))  # "you can drag me"
            self.cursors[key].label.setColor(c.text)
            self.cursors[key].label.fill = pg.mkBrush(c.base)
            self.hover_lines[key].setPen(hover_pen)
        self.legend.setBrush(pg.mkBrush(_with_alpha(c.base, 215)))
        self.legend.setPen(pg.mkPen(c.border))
        self.legend.setLabelTextColor(c.text)
        for _sample, label in self.legend.items:  # the colour above reaches a label only with its next text
            label.setText(label.text, color=c.text)

    # -- export ----------------------------------------------------------------------------
    def png_bytes(self, scale: float = 2.0) -> bytes:
        with self._drawn_directly():
            return plot_export.png_bytes(self.graphics.ci, scale)

    def svg_bytes(self) -> bytes:
        with self._drawn_directly():
            return plot_export.svg_bytes(self.graphics.ci)

    @contextlib.contextmanager
    def _drawn_directly(self) -> Iterator[None]:
        """Exports draw each curve afresh at their own scale, never from the on-screen pixmaps."""
        items = [curve.curve for curves in self.curves.values() for curve in curves.values()]
        for item in items:
            item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        try:
            yield
        finally:
            for item in items:
                item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    # -- handlers --------------------------------------------------------------------------
    def _on_cursor_dragged(self, line: pg.InfiniteLine) -> None:
        x = float(line.value())
        for cursor in self.cursors.values():
            if cursor is not line:
                cursor.setValue(x)
        self.cursorDragged.emit(x)

    def _on_legend_sample(self, uid: int, sample: pg.PlotDataItem) -> None:
        if not self._syncing_legend:
            self.legendToggled.emit(uid, sample.isVisible())

    def _on_mouse_moved(self, scene_pos) -> None:
        for key in self._visible_keys:
            view = self.plots[key].getViewBox()
            if view.sceneBoundingRect().contains(scene_pos):
                x = float(view.mapSceneToView(scene_pos).x())
                for k in self._visible_keys:
                    self.hover_lines[k].setValue(x)
                    self.hover_lines[k].show()
                self.hovered.emit(x)
                return
        self._end_hover()

    def _end_hover(self) -> None:
        for line in self.hover_lines.values():
            line.hide()
        self.hovered.emit(math.nan)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Leave:
            self._end_hover()
        return super().eventFilter(watched, event)



def _with_alpha(color: str, alpha: int) -> QColor:
    q = QColor(color)
    q.setAlpha(alpha)
    return q


def _legend_texts(entries: list[ScheduleEntry]) -> dict[int, str]:
    """One short line per schedule ("cosine T=1000"), with the parameters only where two would
    read the same; the table under the plots carries the full description."""
    def base(entry: ScheduleEntry) -> str:
        s = entry.schedule
        return f"{short_name(s.name)} T={s.num_timesteps}" + (" · zero SNR" if s.zero_terminal_snr else "")

    bases = [base(e) for e in entries]
    texts = {}
    for entry, text in zip(entries, bases):
        if bases.count(text) > 1:
            text += f" · {compact_params(entry.schedule.name, entry.schedule.params)}"
        texts[entry.uid] = text
    return texts
