"""Compare guidance scales (the Diffusion Explainer view) or two prompts, and image-to-image (SDEdit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ...theme import muted_label
from ....core.errors import InputError
from ....core.text_to_image.generate import DEFAULT_GUIDANCE_SCALES

__all__ = ["CompareControls", "ImageToImageControls", "parse_scales"]


def parse_scales(text: str) -> list[float]:
    """'1, 3, 7.5, 12' → [1.0, 3.0, 7.5, 12.0]; InputError with the reason otherwise."""
    try:
        scales = [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise InputError(f"write the guidance scales as numbers separated by commas, e.g. 1, 3, 7.5, 12 "
                         f"(got {text!r})") from None
    if not 2 <= len(scales) <= 8:
        raise InputError(f"compare 2 to 8 guidance scales, not {len(scales)}")
    return scales



class CompareControls(QWidget):
    """``guidanceRequested(scales)`` and ``promptsRequested(second prompt)``."""

    guidanceRequested = Signal(list)
    promptsRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.scales = QLineEdit(", ".join(f"{s:g}" for s in DEFAULT_GUIDANCE_SCALES))
        self.scales.setToolTip("Guidance scales s to compare, separated by commas (2 to 8)")
        self.guidance_button = QPushButton("Compare guidance scales")
        self.guidance_button.setToolTip("The same prompt and seed at each scale, side by side, step by step")
        self.guidance_button.clicked.connect(self._on_guidance)
        self.second_prompt = QLineEdit(placeholderText="A second prompt")
        self.prompts_button = QPushButton("Compare two prompts")
        self.prompts_button.setToolTip("The prompt above and this one, from the same seed, side by side")
        self.prompts_button.clicked.connect(lambda: self.promptsRequested.emit(self.second_prompt.text()))
        self.error = muted_label("")
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(muted_label("Same seed and prompt; the chains run together and are paired by timestep."))
        layout.addWidget(self.scales)
        layout.addWidget(self.guidance_button)
        layout.addWidget(self.second_prompt)
        layout.addWidget(self.prompts_button)
        layout.addWidget(self.error)

    def _on_guidance(self) -> None:
        try:
            scales = parse_scales(self.scales.text())
        except InputError as error:
            self.error.setText(str(error))
            self.error.show()
            return
        self.error.hide()
        self.guidanceRequested.emit(scales)


class ImageToImageControls(QWidget):
    """The photo (the app's image or a file), the strength (↔ the start t) and the button.

    ``strengthChanged(strength)`` on every move (the panel shows the start t on the schedule plot);
    ``runRequested()`` for the button.
    """

    strengthChanged = Signal(float)
    runRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._file_image: np.ndarray | None = None
        self.use_app_image = QRadioButton("The app's image (File > Open Image…)")
        self.use_file = QRadioButton("A file:")
        self.use_app_image.setChecked(True)
        self._file_label = QLabel("none")
        self._file_label.setProperty("role", "muted")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._on_browse)
        file_row = QHBoxLayout()
        file_row.setContentsMargins(0, 0, 0, 0)
        file_row.addWidget(self.use_file)
        file_row.addWidget(self._file_label, 1)
        file_row.addWidget(browse)
        self.strength = QSlider(Qt.Orientation.Horizontal, toolTip="How much of the photo is redrawn")
        self.strength.setRange(1, 100)
        self.strength.setValue(60)
        self.strength.valueChanged.connect(lambda v: self.strengthChanged.emit(v / 100.0))
        self.start_label = muted_label("")
        self.button = QPushButton("Redraw the image with the prompt")
        self.button.setToolTip("SDEdit in latent space: encode with the VAE, noise to t with q_sample, denoise")
        self.button.clicked.connect(self.runRequested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(muted_label("Your photo is encoded with the VAE, noised to t by the forward process, then "
                                "denoised with the prompt: what survives the noise is kept."))
        layout.addWidget(self.use_app_image)
        layout.addLayout(file_row)
        layout.addWidget(self.strength)
        layout.addWidget(self.start_label)
        layout.addWidget(self.button)

    @property
    def strength_value(self) -> float:
        return self.strength.value() / 100.0

    def set_start(self, text: str) -> None:
        self.start_label.setText(text)

    def image(self, app_image: np.ndarray | None) -> np.ndarray | None:
        """The chosen photo: the app's image or the file's (None if there is none)."""
        return self._file_image if self.use_file.isChecked() else app_image

    def set_file_image(self, image: np.ndarray, name: str) -> None:
        self._file_image = image
        self._file_label.setText(name)
        self.use_file.setChecked(True)

    def _on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "A photo to redraw", "", "Images (*.png *.jpg *.jpeg *.webp *.bmp)")
        if not path:
            return
        from ....core.images import load_image

        try:
            self.set_file_image(load_image(path, mode="RGB"), Path(path).name)
        except InputError as error:
            self._file_label.setText(str(error))
