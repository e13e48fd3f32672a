"""The current EMA sample grid, with a slider back through the grids seen so far."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ...widgets.image_view import ImageView

__all__ = ["SampleGrid", "load_sample_history"]

_STEP_PNG = re.compile(r"step_(\d+)\.png$")
#: grids kept in memory for the history slider (a 4×4 grid of 32 px images is ~50 kB)
MAX_HISTORY = 200


def load_sample_history(run_dir: Path, limit: int = MAX_HISTORY) -> list[tuple[int, np.ndarray]]:
    """The sample grids a run saved (``samples/step_XXXXXX.png``), oldest first; unreadable ones skipped."""
    from ....core.errors import InputError
    from ....core.images import load_image

    folder = Path(run_dir) / "samples"
    found = []
    for path in folder.glob("step_*.png") if folder.is_dir() else ():
        match = _STEP_PNG.search(path.name)
        if match:
            found.append((int(match.group(1)), path))
    found.sort()
    history = []
    for step, path in found[-limit:]:
        try:
            history.append((step, load_image(path, mode=None)))
        except InputError:
            continue
    return history


class SampleGrid(QWidget):
    """Shows the latest grid by default; moving the slider pins an older one."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._history: list[tuple[int, np.ndarray]] = []
        self.view = ImageView("EMA samples", tooltip="Samples drawn with the EMA weights during training")
        self.view.setMinimumSize(140, 100)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.setToolTip("Look back at earlier sample grids")
        self.caption = QLabel("No samples yet")
        self.caption.setProperty("role", "muted")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        layout.addWidget(self.caption)
        self.slider.valueChanged.connect(self._on_slider_moved)

    @property
    def history(self) -> list[tuple[int, np.ndarray]]:
        return list(self._history)

    def clear(self) -> None:
        self._history = []
        self.view.clear()
        self.slider.setEnabled(False)
        self.caption.setText("No samples yet")

    def set_history(self, history: list[tuple[int, np.ndarray]]) -> None:
        self.clear()
        for step, grid in history:
            self.add_grid(step, grid)

    def add_grid(self, step: int, grid: np.ndarray) -> None:
        """Append a grid; follow it if the slider was at the newest one."""
        following = not self._history or self.slider.value() == len(self._history) - 1
        self._history.append((int(step), grid))
        if len(self._history) > MAX_HISTORY:
            del self._history[0]
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self._history) - 1)
        if following:
            self.slider.setValue(len(self._history) - 1)
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(self._history) > 1)
        self._show(self.slider.value())

    def _show(self, index: int) -> None:
        if not self._history:
            return
        index = min(max(index, 0), len(self._history) - 1)
        step, grid = self._history[index]
        self.view.set_image(grid)
        newest = " (latest)" if index == len(self._history) - 1 else ""
        self.caption.setText(f"step {step:,}{newest}   ·   {index + 1} of {len(self._history)}")

    def _on_slider_moved(self, index: int) -> None:
        self._show(index)
