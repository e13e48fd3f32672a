"""Training the playground MLP: objective, time budget, Train / Pause / Stop, and the loss curve."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ....core.playground.configs import MAX_TRAIN_SECONDS
from ... import theme

__all__ = ["TrainControls", "LossPlot"]

_PREDICTIONS = (("ε (noise)", "epsilon"), ("x₀ (clean point)", "sample"), ("v (velocity)", "v_prediction"))


class TrainControls(QWidget):
    startRequested = Signal()
    pauseToggled = Signal(bool)
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.prediction = QComboBox()
        for label, value in _PREDICTIONS:
            self.prediction.addItem(label, value)
        self.prediction.setToolTip("What the network learns to predict, as for image models")
        self.min_snr = QDoubleSpinBox()
        self.min_snr.setRange(0.0, 100.0)
        self.min_snr.setSingleStep(1.0)
        self.min_snr.setSpecialValueText("off")
        self.min_snr.setToolTip("Min-SNR-γ loss weighting (Hang et al. 2023); 5 is the paper's choice, 0 = off")
        self.seconds = QDoubleSpinBox()
        self.seconds.setRange(1.0, MAX_TRAIN_SECONDS)
        self.seconds.setValue(20.0)
        self.seconds.setSuffix(" s")
        self.seconds.setDecimals(0)
        self.seconds.setToolTip("Training stops after this long (pauses do not count)")
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train a fresh MLP on the current points, on the CPU")
        self.pause_button = QPushButton("Pause", checkable=True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop training; the model so far is kept")
        self.status = QLabel("Not trained yet")
        self.status.setProperty("role", "muted")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Predict", self.prediction)
        form.addRow("Min-SNR γ", self.min_snr)
        form.addRow("Time", self.seconds)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button, 1)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

        self.train_button.clicked.connect(self.startRequested)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button.clicked.connect(self.stopRequested)
        self.set_running(False)

    def values(self) -> dict:
        """The settings as MLPTrainConfig fields (validated by the panel)."""
        return {"prediction": self.prediction.currentData(), "min_snr_gamma": self.min_snr.value(),
                "max_seconds": self.seconds.value(), "max_steps": 10_000_000}

    def set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        for widget in (self.prediction, self.min_snr, self.seconds):
            widget.setEnabled(not running)
        if not running and self.pause_button.isChecked():
            self.pause_button.setChecked(False)

    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pauseToggled.emit(paused)


class LossPlot(pg.PlotWidget):
    """The training loss against step, log-scaled; one point per hand-over from the worker."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumHeight(110)
        self.setMaximumHeight(220)
        self.setAcceptDrops(False)
        item = self.getPlotItem()
        item.setLogMode(y=True)
        item.setLabel("bottom", "step")
        item.hideButtons()
        item.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.curve = item.plot()
        self._show_empty_range()
        self._steps: list[float] = []
        self._losses: list[float] = []
        theme.theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed(theme.colors())

    def _on_theme_changed(self, _colors) -> None:
        theme.style_plot(self, self)
        self.curve.setPen(theme.plot_pen(1, 1.5))

    def _show_empty_range(self) -> None:
        # before the first loss: a plausible range (0.3 … 1.5) instead of pyqtgraph's 1 … 10
        item = self.getPlotItem()
        item.setXRange(0, 1000, padding=0)
        item.setYRange(math.log10(0.3), math.log10(1.5), padding=0)

    def clear_curve(self) -> None:
        self._steps.clear()
        self._losses.clear()
        self.curve.setData([], [])
        self._show_empty_range()

    def add(self, steps: np.ndarray, losses: np.ndarray) -> None:
        finite = np.isfinite(losses) & (losses > 0)
        if not finite.any():
            return
        self._steps.append(float(steps[finite][-1]))
        self._losses.append(float(np.mean(losses[finite])))  # the batch mean: smooth enough to read
        self.curve.setData(self._steps, self._losses)
        self.getPlotItem().enableAutoRange()

    def values(self) -> tuple[list[float], list[float]]:
        return list(self._steps), list(self._losses)


def describe_progress(step: int, steps_per_s: float, loss: float, elapsed_s: float, state: str) -> str:
    loss_text = f"{loss:.4f}" if math.isfinite(loss) else "–"
    return f"{state}: step {step:,} · {elapsed_s:.1f} s · {steps_per_s:,.0f} steps/s · loss {loss_text}"
