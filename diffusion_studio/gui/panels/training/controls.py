"""Start / pause / resume / stop buttons with a progress bar and the run's speed and times.

The elapsed time is the engine's training time (pauses left out); the ETA is shown only while the run
trains — paused it says so, and once the run has stopped it is gone.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

__all__ = ["TrainingControls", "format_duration", "progress_text"]

#: what the controls allow in each state of a run
STATES = ("idle", "starting", "training", "pausing", "paused", "stopping")


def format_duration(seconds: float) -> str:
    """``75`` → ``1:15``, ``3725`` → ``1:02:05``; unknown → ``–``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(step: int, total: int, images_per_s: float, elapsed_s: float, eta_s: float | None) -> str:
    """The details line; ``eta_s`` None leaves the ETA out (a run that is not training has none)."""
    speed = f"{images_per_s:,.1f} img/s" if images_per_s and math.isfinite(images_per_s) else "– img/s"
    text = f"step {step:,} / {total:,}   ·   {speed}   ·   elapsed {format_duration(elapsed_s)}"
    return text if eta_s is None else f"{text}   ·   ETA {format_duration(eta_s)}"


class TrainingControls(QWidget):
    startClicked = Signal()
    pauseClicked = Signal()
    resumeClicked = Signal()
    stopClicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._state = "idle"
        self._can_start = False
        self._progress: tuple | None = None  # (step, total, images/s, elapsed, eta) of the last update
        self.start_button = QPushButton("Start training")
        self.start_button.setToolTip("Train with the settings on the left (Ctrl+Return)")
        self.start_button.setShortcut("Ctrl+Return")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause between two steps; Resume continues exactly where it stopped")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Save a checkpoint, then stop (the run can be continued later)")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("%p%")
        self.bar.setMinimumWidth(160)
        self.state_label = QLabel("Ready")
        self.state_label.setMinimumWidth(90)
        self.details = QLabel("")
        self.details.setProperty("role", "muted")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.start_button)
        row.addWidget(self.pause_button)
        row.addWidget(self.stop_button)
        row.addSpacing(8)
        row.addWidget(self.state_label)
        row.addWidget(self.bar, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addWidget(self.details)

        self.start_button.clicked.connect(self.startClicked)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.stop_button.clicked.connect(self.stopClicked)
        self.set_state("idle")

    @property
    def state(self) -> str:
        return self._state

    def set_can_start(self, can_start: bool, reason: str = "") -> None:
        self._can_start = can_start
        self.start_button.setToolTip(reason or "Train with the settings on the left (Ctrl+Return)")
        self.set_state(self._state)

    def set_state(self, state: str) -> None:
        assert state in STATES, state
        self._state = state
        idle = state == "idle"
        self.start_button.setEnabled(idle and self._can_start)
        self.pause_button.setEnabled(state in ("training", "pausing", "paused"))
        self.pause_button.setText("Resume" if state in ("pausing", "paused") else "Pause")
        self.stop_button.setEnabled(state in ("starting", "training", "pausing", "paused"))
        self.state_label.setText({
            "idle": "Ready", "starting": "Starting…", "training": "Training", "pausing": "Pausing…",
            "paused": "Paused", "stopping": "Saving…",
        }[state])
        if state == "starting":
            self.bar.setRange(0, 0)  # busy until the first step arrives
        self._show_details()

    def set_progress(self, step: int, total: int, images_per_s: float, elapsed_s: float, eta_s: float) -> None:
        total = max(int(total), 1)
        if self.bar.maximum() != total:
            self.bar.setRange(0, total)
        self.bar.setValue(min(int(step), total))
        self.bar.setFormat(f"{step:,} / {total:,}")
        self._progress = (int(step), total, images_per_s, elapsed_s, eta_s)
        self._show_details()

    def _show_details(self) -> None:
        self.details.setVisible(self._progress is not None)  # no empty line above the plots before a run
        if self._progress is None:
            return
        step, total, images_per_s, elapsed_s, eta_s = self._progress
        self.details.setText(progress_text(step, total, images_per_s, elapsed_s,
                                           eta_s if self._state == "training" else None))

    def _on_pause_clicked(self) -> None:
        if self._state in ("pausing", "paused"):
            self.resumeClicked.emit()
        else:
            self.pauseClicked.emit()
