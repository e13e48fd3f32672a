"""One editor widget per ``TrainConfig`` field, chosen from the field's definition (type, choices, range).

Labels, help, choices and ranges come from :data:`diffusion_studio.core.training.config.SETTINGS`, the
same definitions the CLI's flags are generated from; the form's values are validated by
``TrainConfig`` itself. A new field in ``TrainConfig`` shows up in the "Advanced" section without
any change here.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

from ....core.errors import InputError
from ....core.training.config import SETTINGS, SettingSpec

__all__ = ["FieldEditor", "GROUPS", "editable_fields"]

#: set by the panel itself, never edited in the form
PANEL_FIELDS = ("out", "folder", "demo", "resume", "restart")

GROUPS = (
    ("Model", ("preset", "channels", "base_channels", "channel_mults", "num_res_blocks", "attention_resolutions",
               "dropout", "hflip")),
    ("Classes", ("conditioning", "label_dropout")),
    ("Diffusion", ("schedule", "timesteps", "prediction", "min_snr_gamma", "loss", "learned_variance", "vlb_weight")),
    ("Optimisation", ("lr", "lr_schedule", "warmup_steps", "weight_decay", "grad_clip", "ema_decay", "seed")),
    ("Hardware", ("precision", "channels_last", "compile", "workers", "cpu_threads")),
    ("Outputs", ("first_samples_after", "log_every", "checkpoint_every", "keep_last", "num_sample_images",
                 "sample_steps")),
)

_SPIN_MAX = 2_147_483_647  # QSpinBox holds a C int
_AUTO = "auto"


def editable_fields() -> list[SettingSpec]:
    return [spec for spec in SETTINGS if spec.name not in PANEL_FIELDS]


def _format_number(value: float) -> str:
    return repr(float(value))  # the shortest text that reads back as the same float


class FieldEditor(QObject):
    """The widget for one field, with ``value()`` / ``set_value()`` in the field's Python type."""

    changed = Signal()

    def __init__(self, spec: SettingSpec, parent: QObject | None = None):
        super().__init__(parent)
        self.spec = spec
        self.name = spec.name
        self.label = spec.label
        self.optional = spec.optional
        self.kind = spec.kind
        self.widget: QWidget = self._make_widget()
        tip = spec.help[:1].upper() + spec.help[1:]
        self.widget.setToolTip(f"{tip} ({spec.describe_range()})" if spec.describe_range() else tip)
        self.set_value(spec.default)

    def _make_widget(self) -> QWidget:
        choices = self.spec.choices
        if self.kind == "bool" and self.optional:  # e.g. channels_last: auto / on / off
            choices = ((True, "on"), (False, "off"))
        elif choices is not None:
            choices = tuple((choice, str(choice)) for choice in choices)
        if choices is not None:
            combo = QComboBox()
            if self.optional:
                combo.addItem(_AUTO, None)
            for choice, text in choices:
                combo.addItem(text, choice)
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if self.kind == "bool":
            box = QCheckBox()
            box.toggled.connect(self.changed)
            return box
        if self.kind == "int" and not self.optional:
            spin = QSpinBox()
            low = int(self.spec.minimum) if self.spec.minimum is not None else 0
            high = int(self.spec.maximum) if self.spec.maximum is not None else _SPIN_MAX
            spin.setRange(low, min(high, _SPIN_MAX))
            spin.setGroupSeparatorShown(True)
            if self.name == "image_size":
                spin.setSingleStep(8)
            spin.valueChanged.connect(self.changed)
            return spin
        edit = QLineEdit()
        if self.optional:
            edit.setPlaceholderText("off" if self.name in ("min_snr_gamma", "max_minutes") else "auto")
        edit.textChanged.connect(self.changed)
        return edit

    def set_value(self, value: Any) -> None:
        widget = self.widget
        if isinstance(widget, QComboBox):
            index = widget.findData(value)
            widget.setCurrentIndex(max(index, 0))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value or 0))
        elif value is None:
            widget.setText("")
        elif self.kind == "ints":
            widget.setText(", ".join(str(int(v)) for v in value))
        elif self.kind == "float":
            widget.setText(_format_number(float(value)))
        else:
            widget.setText(str(value))

    def value(self) -> Any:
        """The value in the field's type (ranges are TrainConfig's to check); InputError naming the field for bad text."""
        widget = self.widget
        if isinstance(widget, QComboBox):
            return widget.currentData()
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QSpinBox):
            return widget.value()
        text = widget.text().strip()
        if not text:
            if self.optional:
                return None
            raise InputError(f"{self.label}: a value is needed")
        try:
            if self.kind == "ints":
                return tuple(int(part) for part in text.replace(";", ",").replace(" ", ",").split(",") if part)
            if self.kind == "float":
                return float(text)
            if self.kind == "int":
                return int(text)
        except ValueError:
            kind = "whole numbers separated by commas" if self.kind == "ints" else f"a {self.kind} number"
            raise InputError(f"{self.label}: {text!r} is not {kind}") from None
        return text
