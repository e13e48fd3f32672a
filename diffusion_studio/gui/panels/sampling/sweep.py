"""A guidance sweep: the same seed and class at several guidance scales, side by side, step by step.

Ho & Salimans (2022, Fig. 1) in motion: the chains run in lockstep (core.sampling, ``lockstep=True``), share
their timesteps and so pair frame for frame; a model trained on the demo digits gets the digits judge's
accuracy, confidence and spread per scale under the views — the fidelity/diversity trade-off as numbers.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLineEdit, QPushButton, QVBoxLayout, QWidget

from ...theme import muted_label
from ....core.errors import InputError
from ....core.guidance import guidance_weight
from ....core.sampling import DEFAULT_SWEEP_SCALES

__all__ = ["SweepControls"]



class SweepControls(QWidget):
    """The scales s to compare and the button; ``sweepRequested(scales)`` with valid scales."""

    sweepRequested = Signal(list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.note = muted_label("The sampler, seed and class above at each guidance scale s, side by side; the chains "
                           "run together and pair step by step.")
        self.scales = QLineEdit(", ".join(f"{s:g}" for s in DEFAULT_SWEEP_SCALES))
        self.scales.setToolTip("Guidance scales s (diffusers' convention, s = 1 + w), 2 to 8, separated by commas")
        self.weights = muted_label()
        self.button = QPushButton("Sweep guidance")
        self.button.setToolTip("Sample the chosen class at each scale from the same noise")
        self.button.clicked.connect(self._on_sweep)
        self.error = muted_label()
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.note)
        layout.addWidget(self.scales)
        layout.addWidget(self.weights)
        layout.addWidget(self.button)
        layout.addWidget(self.error)
        self.scales.textChanged.connect(self._on_text_changed)
        self._on_text_changed(self.scales.text())
        self._available = True

    def set_available(self, available: bool, reason: str = "") -> None:
        """A sweep needs a class-conditional model that can be guided and a chosen class; ``reason`` says why not."""
        self._available = bool(available)
        self.note.setText("The sampler, seed and class above at each guidance scale s, side by side; the chains "
                          "run together and pair step by step." if available else reason)

    @property
    def available(self) -> bool:
        return self._available

    def chosen_scales(self) -> list[float]:
        """The scales written in the box; InputError with the reason when they cannot be used."""
        # The Text to image panel's comparison reads its scales the same way (one message for both).
        from ..text_to_image.comparisons import parse_scales

        return parse_scales(self.scales.text())

    def _on_text_changed(self, _text: str) -> None:
        try:
            scales = self.chosen_scales()
        except InputError:
            self.weights.setText("")
            return
        self.weights.setText("w = " + ", ".join(f"{guidance_weight(s):g}" for s in scales) + " (Ho & Salimans)")

    def _on_sweep(self) -> None:
        try:
            scales = self.chosen_scales()
        except InputError as error:
            self.error.setText(str(error))
            self.error.show()
            return
        self.error.hide()
        self.sweepRequested.emit(scales)
