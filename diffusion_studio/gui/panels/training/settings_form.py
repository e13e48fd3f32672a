"""Training settings: a preset, the everyday fields, the detected devices, and every other
``TrainConfig`` option in a collapsible "Advanced" section."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QVBoxLayout, QWidget
from superqt import QCollapsible

from ....core.errors import InputError
from ....core.training.config import RESUME_OVERRIDABLE, TrainConfig, form_labels
from ...devices import detect_devices
from .config_fields import GROUPS, FieldEditor, editable_fields

__all__ = ["SettingsForm", "PRESETS", "describe_device"]

#: Everyday fields, shown above the advanced section (device has its own combo).
BASIC_FIELDS = ("image_size", "conditioning", "batch_size", "steps", "sample_every")

#: The panel's presets: complete starting points, each a set of TrainConfig values.
PRESETS: dict[str, dict[str, Any]] = {
    "CPU tiny": dict(
        preset="cpu-tiny", device="cpu", image_size=16, batch_size=64, steps=3000, lr=2e-4, warmup_steps=100,
        schedule="cosine", timesteps=1000, ema_decay=0.995, sample_every=250, checkpoint_every=500,
        num_sample_images=16, sample_steps=25, precision="auto",
    ),
    "GPU small": dict(
        preset="gpu-small", device="auto", image_size=32, batch_size=128, steps=20_000, lr=2e-4,
        warmup_steps=500, schedule="cosine", timesteps=1000, ema_decay=0.999, sample_every=1000,
        checkpoint_every=2000, num_sample_images=16, sample_steps=25, precision="auto",
    ),
    # Ho et al. 2020, CIFAR-10: linear β, T=1000, lr 2e-4 with 5000 warm-up steps, batch 128,
    # EMA 0.9999, dropout 0.1, 800k steps.
    "GPU DDPM-CIFAR": dict(
        preset="ddpm-cifar", device="auto", image_size=32, batch_size=128, steps=800_000, lr=2e-4,
        warmup_steps=5000, schedule="linear", timesteps=1000, ema_decay=0.9999, sample_every=5000,
        checkpoint_every=5000, num_sample_images=16, sample_steps=50, precision="auto", grad_clip=1.0,
    ),
}
CUSTOM = "Custom"


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
        self._devices: list = []
        self.editors: dict[str, FieldEditor] = {spec.name: FieldEditor(spec, self) for spec in editable_fields()}

        self.preset_combo = QComboBox()
        self.preset_combo.addItems([*PRESETS, CUSTOM])
        self.preset_combo.setToolTip("A complete starting point; any change below makes it Custom")
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
        basic.addRow("Device", self.device_combo)
        basic.addRow("", self.device_label)
        for name in BASIC_FIELDS:
            basic.addRow(self.editors[name].label, self.editors[name].widget)
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
        self.apply_preset("CPU tiny")
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
            form.addRow(self.editors[name].label, self.editors[name].widget)
        return box

    # -- public ------------------------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        """Reset every field to its default, then the preset's values."""
        if name not in PRESETS:
            return
        values = {**{spec.name: spec.default for spec in editable_fields()}, **PRESETS[name]}
        self._preset_values = values
        self.set_values(values)
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentText(name)
        self.preset_combo.blockSignals(False)

    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` (a TrainConfig dict, e.g. from a run's config.json); unknown keys are ignored."""
        self._applying = True
        try:
            for name, value in values.items():
                if name == "device":
                    self._select_device(str(value))
                elif name in self.editors:
                    self.editors[name].set_value(value)
        finally:
            self._applying = False
        self._mark_custom_if_edited()

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
        self._select_device(current or "auto")
        gpus = [d for d in devices if d.kind != "cpu"]
        if gpus:
            self.device_label.setText("Found: " + "; ".join(describe_device(d) for d in gpus))
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
            self.apply_preset(name)

    def _on_field_changed(self, *_args) -> None:
        if not self._applying:
            self._mark_custom_if_edited()

    def _mark_custom_if_edited(self) -> None:
        name = self.preset_combo.currentText()
        if name not in PRESETS:
            return
        try:
            values = self.values()
        except InputError:
            values = {}
        expected = getattr(self, "_preset_values", PRESETS[name])
        if any(values.get(key) != value for key, value in expected.items()):
            self.preset_combo.blockSignals(True)
            self.preset_combo.setCurrentText(CUSTOM)
            self.preset_combo.blockSignals(False)
