"""Live training plots: loss (raw + smoothed, log-y) against step, loss per timestep bucket,
learning rate and GPU memory.

Plot items are created once; updates only append to growing numpy buffers and call
``setData`` (pyqtgraph's fast path), with clip-to-view and peak downsampling so a
curve of 100 000 steps costs the same to draw as one of 1 000.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...theme import colors, plot_brush, plot_color, plot_pen, style_plot, theme_manager

__all__ = ["GrowingSeries", "LivePlots", "smooth_ema"]


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
        self.summary = QLabel("")
        self.summary.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        controls.addWidget(self.summary)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(320)
        self.loss_plot = _plot(self.graphics, 0, 0, "Loss", "loss", colspan=3,
                               axisItems={"left": _SparseLogAxis("left")})
        self.loss_plot.setLogMode(y=True)
        self.raw_curve = self.loss_plot.plot()
        self.smooth_curve = self.loss_plot.plot()
        self.bucket_plot = _plot(self.graphics, 1, 0, "Loss by timestep", "loss")
        self.bucket_plot.setLabel("bottom", "t")
        self.bucket_bars = pg.BarGraphItem(x=[], height=[], width=1.0, pen=None)
        self.bucket_plot.addItem(self.bucket_bars)
        self.lr_plot = _plot(self.graphics, 1, 1, "Learning rate", "lr")
        self.lr_plot.enableAutoRange(y=False)
        self.lr_curve = self.lr_plot.plot()
        self.memory_plot = _plot(self.graphics, 1, 2, "GPU memory", "MiB")
        self.memory_plot.enableAutoRange(y=False)
        self.memory_curve = self.memory_plot.plot()
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
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
        theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed()

    # -- public ----------------------------------------------------------------------------
    @property
    def num_points(self) -> int:
        return len(self._loss)

    def clear(self) -> None:
        for series in (self._loss, self._smooth, self._lr, self._memory):
            series.clear()
        self._smooth_state = (0.0, 0)
        self.bucket_bars.setOpts(x=[], height=[])
        self.summary.setText("")
        self.memory_plot.setTitle("GPU memory")
        self._redraw()

    def set_num_timesteps(self, num_timesteps: int) -> None:
        self._num_timesteps = max(1, int(num_timesteps))

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
                self.memory_plot.setTitle("GPU memory (peak)")
            elif not len(self._memory):
                self.memory_plot.setTitle("GPU memory — none (CPU run)")
            self.summary.setText(f"step {int(steps[-1]):,}   loss {self._smooth.y[-1]:.4g}")
        self._redraw()

    def set_bucket_losses(self, bucket_losses) -> None:
        """Mean loss per equal-width timestep bucket (NaN for buckets not seen yet)."""
        if bucket_losses is None:
            return
        heights = np.nan_to_num(np.asarray(bucket_losses, dtype=np.float64).ravel(), nan=0.0)
        if not len(heights):
            return
        width = self._num_timesteps / len(heights)
        centres = (np.arange(len(heights)) + 0.5) * width
        self.bucket_bars.setOpts(x=centres, height=heights, width=width * 0.85)

    def set_history(self, records: list[dict]) -> None:
        """Draw the metrics of a previous session (``metrics.jsonl`` records)."""
        self.clear()
        rows = [r for r in records if "step" in r and math.isfinite(float(r.get("loss", float("nan"))))]
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

    # -- internals ---------------------------------------------------------------------------
    def _redraw(self) -> None:
        self.raw_curve.setData(self._loss.x, self._loss.y)
        self.smooth_curve.setData(self._smooth.x, self._smooth.y)
        self.lr_curve.setData(self._lr.x, self._lr.y)
        self.memory_curve.setData(self._memory.x, self._memory.y)
        # lr and memory start at 0: a flat line then reads as "constant", not as noise
        for plot, series in ((self.lr_plot, self._lr), (self.memory_plot, self._memory)):
            top = float(np.nanmax(series.y)) if len(series) else 0.0
            plot.setYRange(0.0, top * 1.1 if top > 0 else 1.0, padding=0)

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
        self.lr_curve.setPen(plot_pen(2, width=2))
        self.memory_curve.setPen(plot_pen(3, width=2))

    def _on_log_y_toggled(self, checked: bool) -> None:
        self.loss_plot.setLogMode(y=checked)
        self.bucket_plot.setLogMode(y=False)

    def _on_smoothing_changed(self, weight: float) -> None:
        smoothed, self._smooth_state = smooth_ema(self._loss.y, weight)
        self._smooth.clear()
        self._smooth.extend(self._loss.x, smoothed)
        self._redraw()
