"""Training settings: a preset, the everyday fields, the detected devices, and every other
``TrainConfig`` option in a collapsible "Advanced" section.

The preset box always names the preset the fields really hold (``core.training.config.matching_preset``;
"Custom" when they match none): a fresh form on a machine with a GPU switches to "GPU small". Picking a
preset sets its fields, says which changed (and from what) under the box, and marks their labels.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QVBoxLayout, QWidget
from superqt import QCollapsible

from ....core.errors import InputError
from ....core.training.config import (
    RESUME_OVERRIDABLE,
    TRAINING_PRESETS,
    TrainConfig,
    form_labels,
    matching_preset,
)
from ...devices import detect_devices
from ...theme import colors, theme_manager
from .config_fields import GROUPS, FieldEditor, editable_fields

__all__ = ["SettingsForm", "describe_device"]

#: Everyday fields, shown above the advanced section (device has its own combo).
BASIC_FIELDS = ("image_size", "conditioning", "batch_size", "steps", "sample_every")

CUSTOM = "Custom"
#: what a fresh form shows; "GPU small" once a GPU is found, if nobody has edited the form yet
DEFAULT_PRESET, GPU_PRESET = "CPU tiny", "GPU small"


def describe_device(info: Any) -> str:
    """``DeviceInfo`` → "NVIDIA H100 · 79.6 GiB" / "CPU (2 cores) · 7.8 GiB RAM"."""
    text = str(getattr(info, "description", info.name))
    memory = getattr(info, "memory_bytes", None)
    if memory:
        text += f" · {memory / 2**30:.1f} GiB" + (" RAM" if info.kind == "cpu" else "")
    return text


class SettingsForm(QWidget):
    """Edits a :class:`TrainConfig` (all fields but the dataset and run folder, which the panel sets)."""

    #: devices were detected: list of core.device.DeviceInfo
    devicesDetected = Signal(list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._applying = False
        self._resume_mode = False
        self._edited = False  # a person changed a field or picked a preset: detection no longer picks one
        self._highlighted: list[str] = []
        self._devices: list = []
        self._labels: dict[str, QLabel] = {}
        self.editors: dict[str, FieldEditor] = {spec.name: FieldEditor(spec, self) for spec in editable_fields()}

        self.preset_combo = QComboBox()
        self.preset_combo.addItems([*TRAINING_PRESETS, CUSTOM])
        self.preset_combo.setToolTip("A complete starting point; it shows Custom when the fields match no preset")
        #: what the last preset picked changed, under the preset box
        self.preset_note = QLabel("")
        self.preset_note.setProperty("role", "muted")
        self.preset_note.setWordWrap(True)
        self.preset_note.hide()
        self.device_combo = QComboBox()
        self.device_combo.addItem("Auto (GPU if there is one)", "auto")
        self.device_combo.addItem("CPU", "cpu")
        self.device_combo.setToolTip("Where to train. Auto: CUDA, then Apple MPS, then the CPU")
        self.device_label = QLabel("Detecting devices…")
        self.device_label.setProperty("role", "muted")
        self.device_label.setWordWrap(True)
        self.run_name = QLineEdit()
        self.run_name.setPlaceholderText("automatic (dataset and date)")
        self.run_name.setToolTip("Folder name of the run inside the runs folder")

        basic = QFormLayout()
        basic.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        basic.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        basic.addRow("Preset", self.preset_combo)
        basic.addRow("", self.preset_note)
        self._labels["device"] = QLabel("Device")
        basic.addRow(self._labels["device"], self.device_combo)
        basic.addRow("", self.device_label)
        for name in BASIC_FIELDS:
            self._add_row(basic, name)
        basic.addRow("Run name", self.run_name)

        self.advanced = QCollapsible("Advanced")
        advanced_body = QWidget()
        advanced_layout = QVBoxLayout(advanced_body)
        advanced_layout.setContentsMargins(0, 0, 0, 0)
        placed = set(BASIC_FIELDS) | {"device"}
        for title, names in GROUPS:
            names = [n for n in names if n in self.editors and n not in placed]
            advanced_layout.addWidget(self._group(title, names))
            placed.update(names)
        others = [n for n in self.editors if n not in placed]  # fields added to TrainConfig later
        if others:
            advanced_layout.addWidget(self._group("Other", others))
        self.advanced.addWidget(advanced_body)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(basic)
        layout.addWidget(self.advanced)
        layout.addStretch(1)

        for editor in self.editors.values():
            editor.changed.connect(self._on_field_changed)
        self.device_combo.currentIndexChanged.connect(self._on_field_changed)
        self.preset_combo.currentTextChanged.connect(self._on_preset_chosen)
        theme_manager().changed.connect(self._on_theme_changed)
        self._set_values(TRAINING_PRESETS[DEFAULT_PRESET])
        self._detection_started = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.detect_devices()

    def _group(self, title: str, names: list[str]) -> QGroupBox:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for name in names:
            self._add_row(form, name)
        return box

    def _add_row(self, form: QFormLayout, name: str) -> None:
        editor = self.editors[name]
        label = QLabel(editor.label)
        label.setBuddy(editor.widget)
        self._labels[name] = label
        form.addRow(label, editor.widget)

    # -- public ------------------------------------------------------------------------------
    def apply_preset(self, name: str) -> list[str]:
        """Set the fields preset ``name`` sets (the others keep their values); the names of those that changed.

        The labels of the changed fields are marked and the note under the preset box lists them with
        their old and new values, until the next edit.
        """
        if name not in TRAINING_PRESETS:
            return []
        before = self._current_values()
        self._set_values(TRAINING_PRESETS[name])
        after = self._current_values()
        changed = [key for key in TRAINING_PRESETS[name] if before.get(key) != after.get(key)]
        self._highlight(changed)
        if changed:
            items = [f"{self._label_of(key)} {_shown(before.get(key))} → {_shown(after.get(key))}" for key in changed]
            hidden = sum(1 for key in changed if key not in BASIC_FIELDS and key != "device")
            where = f" ({hidden} under Advanced)" if hidden and not self.advanced.isExpanded() else ""
            self.preset_note.setText(f"{name} changed {len(changed)} setting{'s' if len(changed) > 1 else ''}{where}: "
                                     + "; ".join(items))
        self.preset_note.setVisible(bool(changed))
        return changed

    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` (a TrainConfig dict, e.g. from a run's config.json); unknown keys are ignored."""
        self._edited = True
        self._set_values(values)

    def _set_values(self, values: dict[str, Any]) -> None:
        self._applying = True
        try:
            for name, value in values.items():
                if name == "device":
                    self._select_device(str(value))
                elif name in self.editors:
                    self.editors[name].set_value(value)
        finally:
            self._applying = False
        self._show_matching_preset()

    @property
    def preset_name(self) -> str:
        """The preset the fields hold, or "Custom"."""
        return self.preset_combo.currentText()

    def highlighted_fields(self) -> list[str]:
        """The fields the last preset picked changed, while they are marked."""
        return list(self._highlighted)

    def values(self) -> dict[str, Any]:
        """The form as TrainConfig keyword arguments; InputError names a field with bad text."""
        values = {name: editor.value() for name, editor in self.editors.items()}
        values["device"] = self.device_combo.currentData() or "auto"
        return values

    def config(self, **panel_fields: Any) -> TrainConfig:
        """A TrainConfig with the panel's fields (out, folder, demo, resume) added, validated by TrainConfig
        itself (ConfigError naming the field by its label).

        Continuing a run sends only the fields a resume may change: the rest comes from the run.
        """
        values = self.values()
        if self._resume_mode:
            values = {name: value for name, value in values.items() if name in RESUME_OVERRIDABLE}
        return TrainConfig.from_dict({**values, **panel_fields}, labels=form_labels(), what="settings")

    def set_locked(self, locked: bool, resume_mode: bool | None = None) -> None:
        """While a run trains its settings cannot change; a continued run keeps its model and data."""
        if resume_mode is not None:
            self._resume_mode = resume_mode
        resume_mode = self._resume_mode
        self.device_combo.setEnabled(not locked)
        for widget in (self.preset_combo, self.run_name):
            widget.setEnabled(not locked and not resume_mode)
        for name, editor in self.editors.items():
            editor.widget.setEnabled(not locked and (not resume_mode or name in RESUME_OVERRIDABLE))

    def set_resume_mode(self, resume_mode: bool) -> None:
        """Continuing a run: only the fields a resume may change stay editable (``RESUME_OVERRIDABLE``)."""
        self.set_locked(False, resume_mode=resume_mode)

    @property
    def devices(self) -> list:
        return list(self._devices)

    # -- devices ---------------------------------------------------------------------------------
    def detect_devices(self) -> None:
        """List the devices once, in a worker (importing torch takes a second or two)."""
        if self._detection_started:
            return
        self._detection_started = True
        self._device_worker = detect_devices(self._on_devices_detected, self._on_device_detection_failed)

    def _on_device_detection_failed(self, exc: BaseException) -> None:
        self.device_label.setText(f"Could not list devices: {exc}")

    def _on_devices_detected(self, devices: list) -> None:
        self._devices = list(devices)
        current = self.device_combo.currentData()
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        self.device_combo.addItem("Auto (GPU if there is one)", "auto")
        for info in devices:
            self.device_combo.addItem(describe_device(info), info.name)
        self.device_combo.blockSignals(False)
        self._applying = True
        try:
            self._select_device(current or "auto")
        finally:
            self._applying = False
        gpus = [d for d in devices if d.kind != "cpu"]
        if gpus:
            self.device_label.setText("Found: " + "; ".join(describe_device(d) for d in gpus))
            if not self._edited and not self._resume_mode:
                self.apply_preset(GPU_PRESET)  # a fresh form: the preset this machine should use
        else:
            cpu = next((d for d in devices if d.kind == "cpu"), None)
            cores = f"{cpu.cores} cores, one left to the app" if cpu is not None and cpu.cores else "CPU"
            self.device_label.setText(f"No GPU found: training runs on the CPU ({cores}).")
        self.devicesDetected.emit(self._devices)

    def _select_device(self, name: str) -> None:
        index = self.device_combo.findData(name)
        if index < 0:
            # a run saved on a machine with other devices: keep its choice selectable
            self.device_combo.addItem(name, name)
            index = self.device_combo.count() - 1
        self.device_combo.setCurrentIndex(index)

    # -- handlers --------------------------------------------------------------------------------
    def _on_preset_chosen(self, name: str) -> None:
        if name != CUSTOM:
            self._edited = True
            self.apply_preset(name)

    def _on_field_changed(self, *_args) -> None:
        if not self._applying:
            self._edited = True
            self._highlight([])
            self.preset_note.hide()
            self._show_matching_preset()

    def _show_matching_preset(self) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentText(matching_preset(self._current_values()) or CUSTOM)
        self.preset_combo.blockSignals(False)

    def _current_values(self) -> dict[str, Any]:
        """The form's values, leaving out fields whose text cannot be read yet."""
        values = {}
        for name, editor in self.editors.items():
            try:
                values[name] = editor.value()
            except InputError:
                continue
        values["device"] = self.device_combo.currentData() or "auto"
        return values

    def _label_of(self, name: str) -> str:
        return "Device" if name == "device" else self.editors[name].label

    def _highlight(self, names: list[str]) -> None:
        self._highlighted = [name for name in names if name in self._labels]
        self._on_theme_changed()

    def _on_theme_changed(self, *_args) -> None:
        style = f"color: {colors().accent}; font-weight: bold;"
        for name, label in self._labels.items():
            label.setStyleSheet(style if name in self._highlighted else "")
            label.setToolTip("Set by the preset just picked" if name in self._highlighted else "")


def _shown(value: Any) -> str:
    """A value as the note under the preset box writes it."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    return str(value)
