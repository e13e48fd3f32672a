"""A short first-launch tour of the panels: a few pages, Back / Next / Skip. Shown once.

Each page after the first is titled with a panel's real name (a dock's title, or the forward
explorer's) and writes the symbols as the panels do: x<sub>t</sub>, ᾱ<sub>t</sub>, x₀ (rich text).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

__all__ = ["TourDialog", "TOUR_PAGES"]

_FORMULA = "x<sub>t</sub> = √ᾱ<sub>t</sub>·x₀ + √(1−ᾱ<sub>t</sub>)·ε"

#: (title, rich text) of each page, in order; from the second page on, the title is a panel's name.
TOUR_PAGES: tuple[tuple[str, str], ...] = (
    (
        "Welcome to Diffusion Studio",
        "A diffusion model learns to undo noise. This tour shows where to see each part of that, "
        "in seven short pages. You can reopen it from Help ▸ Tour.",
    ),
    (
        "Forward process",
        "The middle of the window shows x₀ (your image), x<sub>t</sub> and the noise ε. Drag the "
        f"t slider or press ← / → to add noise step by step: {_FORMULA}. Drop any image on the "
        "window, paste one, or use File ▸ Open Image.",
    ),
    (
        "Schedule lab",
        "The Schedule lab tab plots β<sub>t</sub>, ᾱ<sub>t</sub>, √ᾱ<sub>t</sub>, √(1−ᾱ<sub>t</sub>) "
        "and the signal-to-noise ratio of the forward process's schedule. Add other schedules to compare, "
        "edit their parameters live, and drag the cursor to move t in the forward view.",
    ),
    (
        "Train",
        "The Train tab trains a small U-Net on a folder of your images — or the built-in handwritten "
        "digits — in the background, on your GPU or CPU. Watch the loss and the samples as it learns.",
    ),
    (
        "Sample",
        "The Sample tab runs the reverse chain with the bundled demo model or one you trained, and "
        "plays it frame by frame: x<sub>t</sub>, the model's guess of x₀ and its guess of the noise ε. "
        "Compare two samplers from the same noise, and export any of it as a GIF, WebP, APNG, PNG "
        "frames or MP4.",
    ),
    (
        "Text to image",
        "The Text to image tab runs a Stable Diffusion model (or the bundled demo) on your prompt and shows "
        "what it does inside: x<sub>t</sub> and x̂₀ as pixels, the latent itself, and what classifier-free "
        "guidance adds — with guidance scales or two prompts side by side, or redrawing your own photo.",
    ),
    (
        "Playground",
        "The Playground tab shows diffusion whole, in two dimensions: a point cloud noised at the same t, "
        "its exact density, the ideal denoiser's field beside a small network trained in seconds, and "
        "the paths particles take back to the data.",
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
            body.setTextFormat(Qt.TextFormat.RichText)
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
