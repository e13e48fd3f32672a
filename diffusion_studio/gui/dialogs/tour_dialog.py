"""A short first-launch tour of the panels: a few pages, Back / Next / Skip. Shown once."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

__all__ = ["TourDialog", "TOUR_PAGES"]

#: (title, text) of each page, in order.
TOUR_PAGES: tuple[tuple[str, str], ...] = (
    (
        "Welcome to Diffusion Studio",
        "A diffusion model learns to undo noise. This tour shows where to see each part of that, "
        "in five short pages. You can reopen it from Help ▸ Tour.",
    ),
    (
        "Forward process",
        "The centre shows x₀ (your image), x_t and the noise ε. Drag the t slider or use ← / → to add "
        "noise step by step: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε. Drop any image on the window, paste one, "
        "or use File ▸ Open.",
    ),
    (
        "Schedules",
        "The Schedules panel plots β_t, ᾱ_t and the signal-to-noise ratio. Add schedules to compare them, "
        "edit their parameters live, and drag the cursor to move t in the forward view.",
    ),
    (
        "Training",
        "The Training panel trains a small U-Net on a folder of your images — or the built-in handwritten "
        "digits — in the background, on your GPU or CPU. Watch the loss and samples as it learns.",
    ),
    (
        "Sampling and export",
        "The Sampling panel runs the reverse chain with the bundled demo model or one you trained, and "
        "plays it frame by frame: x_t, the model's guess x̂₀, and its noise estimate ε̂. Export any of it "
        "as a GIF, WebP, APNG, PNG frames or MP4.",
    ),
)


class TourDialog(QDialog):
    #: emitted once when the tour is finished or skipped
    done = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Tour")
        self.setMinimumSize(460, 240)
        self.pages = QStackedWidget()
        for title, text in TOUR_PAGES:
            page = QWidget()
            heading = QLabel(f"<h3>{title}</h3>")
            body = QLabel(text)
            body.setWordWrap(True)
            body.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            box = QVBoxLayout(page)
            box.addWidget(heading)
            box.addWidget(body, 1)
            self.pages.addWidget(page)
        self.position = QLabel()
        self.skip_button = QPushButton("Skip tour")
        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        self.skip_button.clicked.connect(self.accept)
        self.back_button.clicked.connect(lambda: self._go(self.pages.currentIndex() - 1))
        self.next_button.clicked.connect(self._on_next)
        row = QHBoxLayout()
        row.addWidget(self.skip_button)
        row.addStretch(1)
        row.addWidget(self.position)
        row.addWidget(self.back_button)
        row.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addLayout(row)
        self.finished.connect(lambda _result: self.done.emit())
        self._go(0)

    def _on_next(self) -> None:
        if self.pages.currentIndex() == self.pages.count() - 1:
            self.accept()
        else:
            self._go(self.pages.currentIndex() + 1)

    def _go(self, index: int) -> None:
        index = max(0, min(index, self.pages.count() - 1))
        self.pages.setCurrentIndex(index)
        last = index == self.pages.count() - 1
        self.back_button.setEnabled(index > 0)
        self.next_button.setText("Start exploring" if last else "Next")
        self.position.setText(f"{index + 1} / {self.pages.count()}")
