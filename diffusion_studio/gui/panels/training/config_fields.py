"""One editor widget per ``TrainConfig`` field, chosen from the field's type, plus its label and help.

Kept apart from the form so the form only arranges widgets; a new field in ``TrainConfig``
shows up in the "Advanced" section without any change here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from PySide6.QtCore import Signal, QObject
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

from ....core.errors import InputError
from ....core.schedules import SCHEDULE_NAMES
from ....core.train_config import LR_SCHEDULES, MODEL_PRESETS, PRECISIONS, PREDICTIONS, TrainConfig

__all__ = ["FieldEditor", "LABELS", "HELP", "GROUPS", "editable_fields"]

#: set by the panel itself, never edited in the form
PANEL_FIELDS = ("out", "folder", "demo", "resume", "extra")

LABELS = {
    "image_size": "Image size (px)", "channels": "Channels", "preset": "Model size",
    "base_channels": "Base channels", "channel_mults": "Channel multipliers", "num_res_blocks": "Res blocks per level",
    "attention_resolutions": "Attention at (px)", "dropout": "Dropout", "hflip": "Random horizontal flip",
    "schedule": "Noise schedule", "timesteps": "Timesteps T", "prediction": "Model predicts",
    "min_snr_gamma": "Min-SNR γ", "steps": "Steps", "batch_size": "Batch size", "lr": "Learning rate",
    "lr_schedule": "LR schedule", "warmup_steps": "Warm-up steps", "weight_decay": "Weight decay",
    "grad_clip": "Gradient clip", "ema_decay": "EMA decay", "seed": "Seed", "device": "Device",
    "precision": "Precision", "channels_last": "channels_last memory", "compile": "torch.compile",
    "workers": "Data workers", "cpu_threads": "CPU threads", "log_every": "Log every (steps)",
    "sample_every": "Samples every (steps)", "checkpoint_every": "Checkpoint every (steps)",
    "keep_last": "Checkpoints kept", "num_sample_images": "Sample images", "sample_steps": "Sampling steps",
}

HELP = {
    "image_size": "Images are resized and centre-cropped to this square size",
    "channels": "Empty: 1 for all-grayscale folders, else 3",
    "preset": "U-Net size; auto picks cpu-tiny on the CPU and gpu-small on a GPU. The fields below override it",
    "base_channels": "Empty: from the model size preset",
    "channel_mults": "Width of each resolution level as multiples of the base channels, e.g. 1, 2, 2",
    "num_res_blocks": "Empty: from the model size preset",
    "attention_resolutions": "Feature-map sizes in pixels that get self-attention, e.g. 16",
    "dropout": "Empty: from the model size preset",
    "schedule": "How fast noise is added (β schedule)",
    "prediction": "ε (Ho et al.), x₀ or v (Salimans & Ho)",
    "min_snr_gamma": "Min-SNR-γ loss weighting (Hang et al. 2023); empty or 0 = uniform, 5 is typical",
    "lr": "AdamW learning rate, e.g. 2e-4",
    "lr_schedule": "Constant or cosine decay after the warm-up",
    "grad_clip": "Clip the gradient norm to this value (0 = off)",
    "ema_decay": "Samples use an exponential moving average of the weights",
    "precision": "auto: bf16 on CUDA where supported (fp16 otherwise), fp32 on the CPU",
    "compile": "torch.compile the model (slow first steps, faster later; GPU)",
    "workers": "DataLoader worker processes for folders too big to keep in memory",
    "cpu_threads": "Empty: all cores but one, so the app stays smooth",
    "sample_steps": "DDIM steps for the preview grids",
}

GROUPS = (
    ("Model", ("preset", "channels", "base_channels", "channel_mults", "num_res_blocks", "attention_resolutions",
               "dropout", "hflip")),
    ("Diffusion", ("schedule", "timesteps", "prediction", "min_snr_gamma")),
    ("Optimisation", ("lr", "lr_schedule", "warmup_steps", "weight_decay", "grad_clip", "ema_decay", "seed")),
    ("Hardware", ("precision", "channels_last", "compile", "workers", "cpu_threads")),
    ("Outputs", ("log_every", "checkpoint_every", "keep_last", "num_sample_images", "sample_steps")),
)

CHOICES = {
    "schedule": tuple(SCHEDULE_NAMES),
    "prediction": PREDICTIONS,
    "precision": PRECISIONS,
    "lr_schedule": LR_SCHEDULES,
    "preset": MODEL_PRESETS,
}

INT_RANGES = {"image_size": (8, 1024), "timesteps": (2, 100_000), "seed": (0, 2_147_483_647)}


def editable_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(TrainConfig) if f.name not in PANEL_FIELDS]


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def _format_number(value: float) -> str:
    return f"{value:g}"


class FieldEditor(QObject):
    """The widget for one field, with ``value()`` / ``set_value()`` in the field's Python type."""

    changed = Signal()

    def __init__(self, field: dataclasses.Field, parent: QObject | None = None):
        super().__init__(parent)
        self.name = field.name
        self.label = _label(field.name)
        annotation = str(field.type).replace(" ", "")
        self.optional = annotation.endswith("|None") or annotation.startswith("Optional")
        self.kind = ("bool" if annotation.startswith("bool") else "int" if annotation.startswith("int")
                     else "float" if annotation.startswith("float") else "tuple" if annotation.startswith("tuple")
                     else "str")
        default = field.default if field.default is not dataclasses.MISSING else None
        self.widget: QWidget = self._make_widget()
        self.widget.setToolTip(HELP.get(field.name, ""))
        self.set_value(default)

    def _make_widget(self) -> QWidget:
        if self.name in CHOICES:
            combo = QComboBox()
            combo.addItems(list(CHOICES[self.name]))
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if self.kind == "bool":
            box = QCheckBox()
            box.toggled.connect(self.changed)
            return box
        if self.kind == "int" and not self.optional:
            spin = QSpinBox()
            low, high = INT_RANGES.get(self.name, (0, 2_147_483_647))
            spin.setRange(low, high)
            spin.setGroupSeparatorShown(True)
            if self.name == "image_size":
                spin.setSingleStep(8)
            spin.valueChanged.connect(self.changed)
            return spin
        edit = QLineEdit()
        if self.optional:
            edit.setPlaceholderText("off" if self.name == "min_snr_gamma" else "auto")
        edit.textChanged.connect(self.changed)
        return edit

    def set_value(self, value: Any) -> None:
        widget = self.widget
        if isinstance(widget, QComboBox):
            index = widget.findText(str(value))
            widget.setCurrentIndex(max(index, 0))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value or 0))
        elif value is None:
            widget.setText("")
        elif self.kind == "tuple":
            widget.setText(", ".join(str(int(v)) for v in value))
        elif self.kind == "float":
            widget.setText(_format_number(float(value)))
        else:
            widget.setText(str(value))

    def value(self) -> Any:
        """The value in the field's type; raises InputError naming the field for bad text."""
        widget = self.widget
        if isinstance(widget, QComboBox):
            return widget.currentText()
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
            if self.kind == "tuple":
                return tuple(int(part) for part in text.replace(";", ",").replace(" ", ",").split(",") if part)
            if self.kind == "float":
                number = float(text)
                if not math.isfinite(number):
                    raise ValueError
                return number
            if self.kind == "int":
                return int(text)
        except ValueError:
            kind = "whole numbers separated by commas" if self.kind == "tuple" else f"a {self.kind} number"
            raise InputError(f"{self.label}: {text!r} is not {kind}") from None
        return text
