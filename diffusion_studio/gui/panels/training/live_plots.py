"""Live training plots: loss (raw + smoothed, log-y) against step, the recent loss per timestep
bucket, learning rate and GPU memory (on a GPU).

Plot items are created once; updates only append to growing numpy buffers and call
``setData`` (pyqtgraph's fast path), with clip-to-view and peak downsampling so a
curve of 100 000 steps costs the same to draw as one of 1 000.

"Loss by timestep" and the loss readout above the plots are the same numbers: the engine's window
over the last ~``LOSS_WINDOW_STEPS`` steps (``core.losses.BucketLosses``), of the same loss terms
training averages. The bars are that window per tenth of t; the dashed line and the readout are the
window over all t (the bars' mean, weighted by how many samples each stands for).

On a short panel (a laptop) the plots stand in one row — loss, loss by timestep, learning rate — so
the loss curve keeps its height; on a tall one the loss spans the top and the others sit below.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ....core.training.progress import LOSS_WINDOW_STEPS
from ...theme import colors, plot_brush, plot_color, plot_pen, style_plot, theme_manager

__all__ = ["GrowingSeries", "LivePlots", "smooth_ema"]

#: below this height the plots stand in one row …
COMPACT_HEIGHT = 330
#: … where a plot needs about this width (the loss twice that)
COMPACT_PLOT_WIDTH = 260


class GrowingSeries:
    """x/y float64 buffers that double when full (amortised O(1) append)."""

    def __init__(self, capacity: int = 1024):
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        self._n = 0

    def extend(self, x: Iterable[float], y: Iterable[float]) -> None:
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        needed = self._n + len(x)
        if needed > len(self._x):
            capacity = max(needed, 2 * len(self._x))
            self._x = np.resize(self._x, capacity)
            self._y = np.resize(self._y, capacity)
        self._x[self._n:needed] = x
        self._y[self._n:needed] = y
        self._n = needed

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]


def smooth_ema(values: np.ndarray, weight: float, state: tuple[float, int] = (0.0, 0)):
    """Bias-corrected exponential moving average (TensorBoard's smoothing).

    Returns (smoothed values, new state); pass the state back to continue a series.
    """
    accumulated, count = state
    out = np.empty(len(values))
    for i, value in enumerate(values):
        accumulated = weight * accumulated + (1.0 - weight) * value
        count += 1
        out[i] = accumulated / (1.0 - weight**count) if weight > 0 else value
    return out, (accumulated, count)


class _SparseLogAxis(pg.AxisItem):
    """A log axis that labels only 1, 2 and 5 × 10^k: all nine minor labels overprint in a short plot."""

    def tickStrings(self, values, scale, spacing):
        strings = super().tickStrings(values, scale, spacing)
        if not self.logMode:
            return strings
        kept = []
        for exponent, text in zip(values, strings):
            mantissa = 10 ** (exponent - np.floor(exponent + 1e-9))
            kept.append(text if min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 0.05 else "")
        return kept


def _plot(layout: pg.GraphicsLayoutWidget, row: int, col: int, title: str, left: str, **kwargs) -> pg.PlotItem:
    plot = layout.addPlot(row=row, col=col, title=title, **kwargs)
    plot.setLabel("left", left)
    plot.setLabel("bottom", "step")
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getAxis("left").enableAutoSIPrefix(False)
    return plot


class LivePlots(QWidget):
    """Four plots fed by :meth:`append` (a batch of steps) and :meth:`set_bucket_losses`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._loss = GrowingSeries()
        self._smooth = GrowingSeries()
        self._smooth_state: tuple[float, int] = (0.0, 0)
        self._lr = GrowingSeries()
        self._memory = GrowingSeries()
        self._num_timesteps = 1000
        self._buckets = np.full(0, np.nan)
        self._recent_loss = float("nan")
        self._weighting = ""
        self._arrangement: tuple | None = None  # (compact?, the plots shown besides the loss)

        self.log_y = QCheckBox("Log scale")
        self.log_y.setChecked(True)
        self.log_y.setToolTip("Show the loss on a logarithmic axis")
        self.smoothing = QDoubleSpinBox()
        self.smoothing.setRange(0.0, 0.999)
        self.smoothing.setSingleStep(0.05)
        self.smoothing.setDecimals(3)
        self.smoothing.setValue(0.9)
        self.smoothing.setToolTip("Weight of the exponential moving average drawn over the raw loss")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.log_y)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing)
        controls.addStretch(1)
        #: the loss readout: the step and the recent loss (the same window as "Loss by timestep")
        self.summary = QLabel("")
        self.summary.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        controls.addWidget(self.summary)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(150)
        self.loss_plot = _plot(self.graphics, 0, 0, "Loss", "loss", axisItems={"left": _SparseLogAxis("left")})
        self.loss_plot.setLogMode(y=True)
        self.raw_curve = self.loss_plot.plot()
        self.smooth_curve = self.loss_plot.plot()
        self.bucket_plot = _plot(self.graphics, 0, 1, "Loss by timestep", "loss")
        self.bucket_plot.setLabel("bottom", "t")
        self.bucket_bars = pg.BarGraphItem(x=[], height=[], width=1.0, pen=None)
        self.bucket_plot.addItem(self.bucket_bars)
        self.recent_line = pg.InfiniteLine(angle=0, movable=False)  # the window over all t: the readout
        self.recent_line.hide()
        self.bucket_plot.addItem(self.recent_line, ignoreBounds=True)
        self.hover_label = pg.TextItem("", anchor=(0.5, 0.0))  # hangs from the top of the plot
        self.hover_label.setZValue(10)
        self.hover_label.hide()
        self.bucket_plot.addItem(self.hover_label, ignoreBounds=True)
        self.lr_plot = _plot(self.graphics, 0, 2, "Learning rate", "lr")
        self.lr_plot.enableAutoRange(y=False)
        self.lr_curve = self.lr_plot.plot()
        self.memory_plot = _plot(self.graphics, 0, 3, "GPU memory (peak)", "MiB")
        self.memory_plot.enableAutoRange(y=False)
        self.memory_curve = self.memory_plot.plot()
        for curve in (self.raw_curve, self.smooth_curve, self.lr_curve, self.memory_curve):
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            curve.setSkipFiniteCheck(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)

        self.log_y.toggled.connect(self._on_log_y_toggled)
        self.smoothing.valueChanged.connect(self._on_smoothing_changed)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed()
        self._describe_buckets()
        self._arrange()

    # -- public ----------------------------------------------------------------------------
    @property
    def num_points(self) -> int:
        return len(self._loss)

    @property
    def recent_loss(self) -> float:
        """The loss the readout shows: the engine's window over all t (NaN before the first one)."""
        return self._recent_loss

    @property
    def compact(self) -> bool:
        """The plots stand in one row (a short panel)."""
        return bool(self._arrangement and self._arrangement[0])

    def clear(self) -> None:
        for series in (self._loss, self._smooth, self._lr, self._memory):
            series.clear()
        self._smooth_state = (0.0, 0)
        self._buckets = np.full(0, np.nan)
        self._recent_loss = float("nan")
        self.bucket_bars.setOpts(x=[], height=[])
        self.recent_line.hide()
        self.hover_label.hide()
        self.summary.setText("")
        self._redraw()

    def set_num_timesteps(self, num_timesteps: int) -> None:
        self._num_timesteps = max(1, int(num_timesteps))

    def set_loss_weighting(self, min_snr_gamma: float | None) -> None:
        """Say which loss the plots show: plain, or min-SNR-γ weighted (as the run trains)."""
        self._weighting = f"min-SNR-γ {min_snr_gamma:g} weighted" if min_snr_gamma else ""
        self._describe_buckets()

    def append(self, steps, losses, lrs=None, gpu_memory_bytes: int | None = None) -> None:
        """Add a batch of (step, loss[, lr]) points and redraw once."""
        steps = np.asarray(steps, dtype=np.float64)
        losses = np.asarray(losses, dtype=np.float64)
        if len(steps):
            # a resumed run may repeat steps already drawn from metrics.jsonl
            if len(self._loss) and steps[0] <= self._loss.x[-1]:
                keep = steps > self._loss.x[-1]
                steps, losses = steps[keep], losses[keep]
                lrs = None if lrs is None else np.asarray(lrs)[keep]
        if len(steps):
            self._loss.extend(steps, losses)
            smoothed, self._smooth_state = smooth_ema(losses, self.smoothing.value(), self._smooth_state)
            self._smooth.extend(steps, smoothed)
            if lrs is not None and len(lrs) == len(steps):
                finite = np.isfinite(np.asarray(lrs, dtype=np.float64))
                self._lr.extend(steps[finite], np.asarray(lrs, dtype=np.float64)[finite])
            if gpu_memory_bytes:
                self._memory.extend(steps[-1:], [gpu_memory_bytes / 2**20])
            self._show_summary()
        self._redraw()

    def set_bucket_losses(self, bucket_losses, recent_loss: float = float("nan")) -> None:
        """The recent loss per equal-width timestep bucket (NaN: not seen yet) and over all t."""
        if bucket_losses is None:
            return
        values = np.asarray(bucket_losses, dtype=np.float64).ravel()
        if not len(values):
            return
        self._buckets = values
        self._recent_loss = float(recent_loss)
        width = self._num_timesteps / len(values)
        centres = (np.arange(len(values)) + 0.5) * width
        self.bucket_bars.setOpts(x=centres, height=np.nan_to_num(values, nan=0.0), width=width * 0.85)
        if math.isfinite(self._recent_loss):
            self.recent_line.setValue(self._recent_loss)
            self.recent_line.show()
        else:
            self.recent_line.hide()
        self._show_summary()

    def bucket_text_at(self, t: float) -> str:
        """What hovering at timestep ``t`` of "Loss by timestep" says ("" outside the bars)."""
        if not len(self._buckets) or not 0 <= t < self._num_timesteps:
            return ""
        index = min(int(t * len(self._buckets) // self._num_timesteps), len(self._buckets) - 1)
        low = math.ceil(index * self._num_timesteps / len(self._buckets))
        high = math.ceil((index + 1) * self._num_timesteps / len(self._buckets)) - 1
        value = self._buckets[index]
        shown = f"{value:.4g}" if math.isfinite(value) else "not seen yet"
        return f"t {low}–{high}: {shown}"

    @property
    def hover_text(self) -> str:
        """The value under the mouse in "Loss by timestep" ("" when the mouse is elsewhere)."""
        return self.hover_label.textItem.toPlainText() if self.hover_label.isVisible() else ""

    def set_history(self, records: list[dict]) -> None:
        """Draw the metrics of a previous session (``metrics.jsonl`` records)."""
        self.clear()
        rows = [r for r in records if "step" in r and math.isfinite(float(r.get("loss") or float("nan")))]
        if rows:
            self.append(
                [r["step"] for r in rows],
                [r["loss"] for r in rows],
                [r.get("lr", float("nan")) for r in rows],
            )
            memory = [(r["step"], r["gpu_memory_bytes"]) for r in rows if r.get("gpu_memory_bytes")]
            if memory:
                self._memory.extend(*zip(*[(s, b / 2**20) for s, b in memory]))
                self._redraw()
            last = rows[-1]
            if isinstance(last.get("bucket_losses"), list):
                buckets = [float("nan") if v is None else v for v in last["bucket_losses"]]
                recent = last.get("recent_loss")
                self.set_bucket_losses(buckets, float("nan") if recent is None else float(recent))

    # -- internals ---------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._arrange()

    def _arrange(self) -> None:
        """Tall: the loss over the others. Short: one row — the loss and the loss by timestep, then the
        learning rate and GPU memory as far as the width allows. GPU memory only once it is measured."""
        compact = self.height() < COMPACT_HEIGHT
        others = [self.bucket_plot, self.lr_plot] + ([self.memory_plot] if len(self._memory) else [])
        if compact:
            others = others[:max(1, min(len(others), self.width() // COMPACT_PLOT_WIDTH - 2))]
        key = (compact, tuple(id(plot) for plot in others))
        if key == self._arrangement:
            return
        self._arrangement = key
        layout = self.graphics.ci
        for plot in (self.loss_plot, self.bucket_plot, self.lr_plot, self.memory_plot):
            if plot in layout.items:
                layout.removeItem(plot)
            plot.setVisible(plot is self.loss_plot or plot in others)
        grid = layout.layout
        for row in range(grid.rowCount()):
            grid.setRowStretchFactor(row, 0)
        for column in range(grid.columnCount()):
            grid.setColumnStretchFactor(column, 0)
        if compact:
            for column, plot in enumerate([self.loss_plot, *others]):
                layout.addItem(plot, row=0, col=column)
                grid.setColumnStretchFactor(column, 2 if plot is self.loss_plot else 1)
            grid.setRowStretchFactor(0, 1)
        else:
            layout.addItem(self.loss_plot, row=0, col=0, colspan=len(others))
            for column, plot in enumerate(others):
                layout.addItem(plot, row=1, col=column)
                grid.setColumnStretchFactor(column, 1)
            grid.setRowStretchFactor(0, 3)
            grid.setRowStretchFactor(1, 2)
        self._show_summary()

    def _show_summary(self) -> None:
        if not len(self._loss):
            return
        loss = self._recent_loss if math.isfinite(self._recent_loss) else self._smooth.y[-1]
        text = f"step {int(self._loss.x[-1]):,}   loss {loss:.4g}"
        if not self.lr_plot.isVisible() and len(self._lr):
            text += f"   lr {self._lr.y[-1]:.3g}"  # its plot gave way to the loss on a short panel
        self.summary.setText(text)

    def _describe_buckets(self) -> None:
        weighting = f", {self._weighting}" if self._weighting else ""
        self.bucket_plot.setTitle(f"Loss by timestep (last ~{LOSS_WINDOW_STEPS} steps)", color=colors().text)
        explanation = (f"The loss of the last ~{LOSS_WINDOW_STEPS} steps (an exponential window){weighting}: per tenth "
                       "of t as bars, over all t as the dashed line — the loss shown above the plots. "
                       "Point at a bar for its value.")
        self.summary.setToolTip(f"The loss of the last ~{LOSS_WINDOW_STEPS} steps over all t{weighting}: the dashed "
                                "line in Loss by timestep (the curve's smoothing is only for the curve)")
        self.graphics.setToolTip("")
        self.bucket_plot.setToolTip(explanation)

    def _redraw(self) -> None:
        self.raw_curve.setData(self._loss.x, self._loss.y)
        self.smooth_curve.setData(self._smooth.x, self._smooth.y)
        self.lr_curve.setData(self._lr.x, self._lr.y)
        self.memory_curve.setData(self._memory.x, self._memory.y)
        # lr and memory start at 0: a flat line then reads as "constant", not as noise
        for plot, series in ((self.lr_plot, self._lr), (self.memory_plot, self._memory)):
            top = float(np.nanmax(series.y)) if len(series) else 0.0
            plot.setYRange(0.0, top * 1.1 if top > 0 else 1.0, padding=0)
        self._arrange()  # GPU memory gets its plot once it is measured

    def _on_mouse_moved(self, scene_pos) -> None:
        inside = self.bucket_plot.vb.sceneBoundingRect().contains(scene_pos)
        point = self.bucket_plot.vb.mapSceneToView(scene_pos)
        text = self.bucket_text_at(point.x()) if inside else ""
        if not text:
            self.hover_label.hide()
            return
        index = min(int(point.x() * len(self._buckets) // self._num_timesteps), len(self._buckets) - 1)
        width = self._num_timesteps / len(self._buckets)
        top = self.bucket_plot.vb.viewRange()[1][1]
        self.hover_label.setText(text, color=colors().text)
        self.hover_label.setPos((index + 0.5) * width, top)
        self.hover_label.show()

    def _on_theme_changed(self, *_args) -> None:
        for plot in (self.loss_plot, self.bucket_plot, self.lr_plot, self.memory_plot):
            style_plot(plot)
        self.graphics.setBackground(colors().panel)
        # the key sits in the title: a legend box would hide the end of the curve in a short plot
        line = plot_color(0).name()
        self.loss_plot.setTitle(f"Loss &nbsp;<span style='color:{line}'>— smoothed</span> "
                                f"&nbsp;<span style='color:{line}; opacity:0.6'>· raw (thin)</span>",
                                color=colors().text)
        raw = plot_color(0)
        raw.setAlpha(110)
        self.raw_curve.setPen(pg.mkPen(raw, width=1))
        self.smooth_curve.setPen(plot_pen(0, width=2))
        self.bucket_bars.setOpts(brush=plot_brush(1, alpha=200))
        self.recent_line.setPen(pg.mkPen(colors().text, width=1, style=Qt.PenStyle.DashLine))
        self.hover_label.fill = pg.mkBrush(colors().panel)
        self.hover_label.border = pg.mkPen(colors().border)
        self.lr_curve.setPen(plot_pen(2, width=2))
        self.memory_curve.setPen(plot_pen(3, width=2))
        self._describe_buckets()

    def _on_log_y_toggled(self, checked: bool) -> None:
        self.loss_plot.setLogMode(y=checked)
        self.bucket_plot.setLogMode(y=False)

    def _on_smoothing_changed(self, weight: float) -> None:
        smoothed, self._smooth_state = smooth_ema(self._loss.y, weight)
        self._smooth.clear()
        self._smooth.extend(self._loss.x, smoothed)
        self._redraw()
        self._show_summary()
