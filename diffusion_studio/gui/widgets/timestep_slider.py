"""A timestep control: a slider and a spin box over t = 0 … T-1 that stay in step."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget

from .. import theme

__all__ = ["TimestepSlider"]


class TimestepSlider(QWidget):
    """Emits ``valueChanged(t)`` while the user drags (tracking on) or types."""

    valueChanged = Signal(int)

    def __init__(self, maximum: int = 999, parent: QWidget | None = None, *, label: str = "t"):
        super().__init__(parent)
        self._label = QLabel(f"<b>{label}</b>")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setTracking(True)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.spin_box = QSpinBox()
        self.spin_box.setKeyboardTracking(False)  # typing "250" does not jump to 2 and 25 first
        self.spin_box.setAccelerated(True)
        self.spin_box.setFont(theme.mono_font())
        self._fraction = QLabel()
        self._fraction.setFont(theme.mono_font())
        self._fraction.setProperty("role", "muted")
        self._fraction.setToolTip("t as a fraction of the way from the clean image (0 %) to pure noise (100 %)")
        # Fixed size: a new text repaints the label only, no re-layout of the window per step.
        self._fraction.setText("100.0 %")
        self._fraction.setFixedSize(self._fraction.sizeHint())
        self.set_maximum(maximum)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(theme.SPACING)
        layout.addWidget(self._label)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin_box)
        layout.addWidget(self._fraction)

        self.slider.valueChanged.connect(self._on_slider)
        self.spin_box.valueChanged.connect(self._on_spin)

    def value(self) -> int:
        return self.slider.value()

    def maximum(self) -> int:
        return self.slider.maximum()

    def set_maximum(self, maximum: int) -> None:
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin_box):
            self.slider.setRange(0, maximum)
            self.slider.setPageStep(max(1, round(maximum / 10)))
            self.slider.setTickInterval(max(1, round(maximum / 10)))
            self.spin_box.setRange(0, maximum)
            self.spin_box.setSuffix(f" / {maximum}")
        self._update_fraction(self.slider.value())

    def set_value(self, t: int) -> None:
        """Move both controls without emitting ``valueChanged``."""
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin_box):
            self.slider.setValue(t)
            self.spin_box.setValue(t)
        self._update_fraction(self.slider.value())

    def _update_fraction(self, t: int) -> None:
        maximum = max(1, self.slider.maximum())
        self._fraction.setText(f"{100.0 * t / maximum:5.1f} %")

    def _on_slider(self, t: int) -> None:
        with QSignalBlocker(self.spin_box):
            self.spin_box.setValue(t)
        self._update_fraction(t)
        self.valueChanged.emit(t)

    def _on_spin(self, t: int) -> None:
        with QSignalBlocker(self.slider):
            self.slider.setValue(t)
        self._update_fraction(t)
        self.valueChanged.emit(t)
