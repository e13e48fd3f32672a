"""A labelled number control: a slider to drag (linear or logarithmic) and a box to type in.

The slider covers the useful range; the box accepts a wider one, so a person can type
a value the model will refuse (β = 1) and read why, instead of having it silently clamped.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QWidget

from .. import theme

__all__ = ["ParamControl", "ScientificSpinBox"]

_SLIDER_STEPS = 1000


class ScientificSpinBox(QDoubleSpinBox):
    """A QDoubleSpinBox that shows and accepts values like ``1e-4`` and ``0.00085``."""

    def __init__(self, significant: int = 6, parent: QWidget | None = None):
        super().__init__(parent)
        self._significant = significant
        self.setDecimals(12)  # storage precision; the text uses significant digits
        self.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt override)
        return f"{value:.{self._significant}g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: D401
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            partial = stripped in ("", "-", "+", ".", "-.", "+.") or stripped.lower().endswith(("e", "e-", "e+"))
            return (QValidator.State.Intermediate if partial else QValidator.State.Invalid), text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos


class ParamControl(QWidget):
    """``label  [slider]  [value]``; emits ``valueChanged(float)`` while dragging and on typing."""

    valueChanged = Signal(float)

    def __init__(
        self,
        label: str,
        *,
        slider_range: tuple[float, float],
        box_range: tuple[float, float] | None = None,
        log: bool = False,
        integer: bool = False,
        tooltip: str = "",
        label_in_layout: bool = True,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        lo, hi = slider_range
        if log and not 0 < lo < hi:
            raise ValueError("a logarithmic slider needs 0 < low < high")
        self._lo, self._hi, self._log, self._integer = float(lo), float(hi), log, integer
        self.label = QLabel(label)
        self.label.setMinimumWidth(64)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, _SLIDER_STEPS)
        self.slider.setTracking(True)
        self.spin_box = ScientificSpinBox(significant=6 if not integer else 10)
        box_lo, box_hi = box_range if box_range is not None else slider_range
        self.spin_box.setRange(box_lo, box_hi)
        if integer:
            self.spin_box.setDecimals(0)
            self.spin_box.setStepType(QDoubleSpinBox.StepType.DefaultStepType)
            self.spin_box.setSingleStep(1)
        self.spin_box.setFont(theme.mono_font())
        self.spin_box.setMinimumWidth(92)
        self.spin_box.setAlignment(Qt.AlignmentFlag.AlignRight)
        for widget in (self.label, self.slider, self.spin_box):
            widget.setToolTip(tooltip)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(theme.SPACING)
        if label_in_layout:  # else the owner places ``label`` (e.g. in a QFormLayout's label column)
            layout.addWidget(self.label)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin_box)

        self.slider.valueChanged.connect(self._on_slider_moved)
        self.spin_box.valueChanged.connect(self._on_box_changed)

    # -- value mapping -------------------------------------------------------------------
    def _to_slider(self, value: float) -> int:
        if self._log:
            value = min(max(value, self._lo), self._hi)
            fraction = math.log(value / self._lo) / math.log(self._hi / self._lo)
        else:
            fraction = (value - self._lo) / (self._hi - self._lo)
        return round(min(max(fraction, 0.0), 1.0) * _SLIDER_STEPS)

    def _from_slider(self, position: int) -> float:
        fraction = position / _SLIDER_STEPS
        if self._log:
            value = self._lo * (self._hi / self._lo) ** fraction
        else:
            value = self._lo + fraction * (self._hi - self._lo)
        if self._integer:
            return float(round(value))
        # Round to 4 significant digits so dragged values read cleanly (0.0123, not 0.01234567).
        return float(f"{value:.4g}")

    # -- API -------------------------------------------------------------------------------
    def value(self) -> float:
        return float(self.spin_box.value())

    def set_value(self, value: float) -> None:
        """Show ``value`` without emitting ``valueChanged``."""
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin_box):
            self.spin_box.setValue(value)
            self.slider.setValue(self._to_slider(value))

    # -- handlers --------------------------------------------------------------------------
    def _on_slider_moved(self, position: int) -> None:
        value = self._from_slider(position)
        with QSignalBlocker(self.spin_box):
            self.spin_box.setValue(value)
        self.valueChanged.emit(self.value())

    def _on_box_changed(self, value: float) -> None:
        with QSignalBlocker(self.slider):
            self.slider.setValue(self._to_slider(value))
        self.valueChanged.emit(float(value))
