"""The settings column of a chain panel (Sample, Text to image): sections that scroll, run controls that do not.

On a short laptop screen the sections (model, sampler, comparisons …) scroll, while the button that
starts a chain, the one that stops it and the progress bar stay pinned under them, in reach.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import theme

__all__ = ["RunControls", "ControlsColumn", "seed_field"]

#: the largest seed a seed box offers (torch.Generator takes any 64-bit value; this one fits a spin box)
MAX_SEED = 2**31 - 1


class RunControls(QWidget):
    """Start and Stop side by side, and under them a progress bar that counts steps."""

    def __init__(self, start_text: str, start_tip: str, on_start: Callable[[], None], stop_tip: str,
                 on_stop: Callable[[], None], parent: QWidget | None = None):
        super().__init__(parent)
        self.start_button = QPushButton(start_text)
        self.start_button.setToolTip(start_tip)
        self.start_button.clicked.connect(on_start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(stop_tip)
        self.stop_button.clicked.connect(on_stop)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m steps")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)


class ControlsColumn(QWidget):
    """Titled group boxes in a scroll area, with ``pinned`` widgets (the run controls) always in view below."""

    def __init__(self, sections: Sequence[tuple[str, Sequence[QWidget]]], pinned: Sequence[QWidget],
                 min_width: int = 280, parent: QWidget | None = None):
        super().__init__(parent)
        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 6, 0)
        column_layout.setSpacing(theme.SPACING)
        self.boxes: dict[str, QGroupBox] = {}
        for title, widgets in sections:
            box = QGroupBox(title)
            box_layout = QVBoxLayout(box)
            box_layout.setSpacing(6)
            for widget in widgets:
                box_layout.addWidget(widget)
            column_layout.addWidget(box)
            self.boxes[title] = box
        column_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidget(column)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.scroll, 1)
        for widget in pinned:
            layout.addWidget(widget)
        self.setFixedWidth(max(min_width, column.sizeHint().width() + 16))


def seed_field(tooltip: str) -> tuple[QSpinBox, QHBoxLayout]:
    """A seed box with a *Random* button beside it; returns the box and the row to put in a form."""
    seed = QSpinBox(toolTip=tooltip)
    seed.setRange(0, MAX_SEED)
    dice = QToolButton(text="Random", toolTip="Pick a new random seed")
    dice.clicked.connect(lambda: seed.setValue(random.randrange(0, 1_000_000)))
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(seed, 1)
    row.addWidget(dice)
    return seed, row
