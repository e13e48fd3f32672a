"""The form that edits :class:`core.sampling.SamplerSettings`."""

from __future__ import annotations

import random

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QSpinBox,
    QToolButton,
    QWidget,
)

from ....core.samplers import SAMPLER_NAMES
from ....core.sampling import SamplerSettings, default_steps, sampler_label
from ...devices import detect_devices

__all__ = ["SamplerSettings", "SamplerSettingsForm", "sampler_label", "device_choices"]


def device_choices(devices: list) -> list[tuple[str, str]]:
    """(value, label) pairs for a list of core.device.DeviceInfo: auto first, then each device."""
    choices = [("auto", "Auto")]
    for info in devices:
        choices.append((info.name, info.description if info.kind == "cpu" else f"{info.name}: {info.description}"))
    if not any(value == "cpu" for value, _ in choices):
        choices.append(("cpu", "cpu"))
    return choices


class SamplerSettingsForm(QWidget):
    """Sampler, steps, η, batch, seed, device. ``changed`` fires on every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, with_batch_and_device: bool = True):
        super().__init__(parent)
        self._sampler_box = QComboBox(toolTip="How the reverse chain steps from noise to image")
        for name in SAMPLER_NAMES:
            self._sampler_box.addItem(sampler_label(name), name)
        self._steps = QSpinBox(toolTip="Number of denoising steps, spread over the model's T timesteps")
        self._steps.setRange(1, 10000)
        self._eta = QDoubleSpinBox(toolTip="DDIM's η: 0 is deterministic, 1 adds DDPM-like fresh noise")
        self._eta.setRange(0.0, 1.0)
        self._eta.setSingleStep(0.1)
        self._eta.setDecimals(2)
        self._batch = QSpinBox(toolTip="How many images to sample at once (shown as a grid)")
        self._batch.setRange(1, 256)
        self._seed = QSpinBox(toolTip="The starting noise; the same seed gives the same images")
        self._seed.setRange(0, 2**31 - 1)
        dice = QToolButton(text="Random", toolTip="Pick a new random seed")
        dice.clicked.connect(lambda: self._seed.setValue(random.randrange(0, 1_000_000)))
        seed_row = QHBoxLayout()
        seed_row.setContentsMargins(0, 0, 0, 0)
        seed_row.addWidget(self._seed, 1)
        seed_row.addWidget(dice)
        self._device = QComboBox(toolTip="Where the model runs")
        for value, label in device_choices([]):  # the GPUs are added when first shown (see showEvent)
            self._device.addItem(label, value)
        self._device_worker = None

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Sampler", self._sampler_box)
        form.addRow("Steps", self._steps)
        form.addRow("η (eta)", self._eta)
        form.addRow("Batch", self._batch)
        form.addRow("Seed", seed_row)
        form.addRow("Device", self._device)
        if not with_batch_and_device:
            for widget in (self._batch, self._device):
                form.setRowVisible(widget, False)
        self._form = form
        self._seed_row = seed_row

        self.set_settings(SamplerSettings())
        self._sampler_box.currentIndexChanged.connect(self._on_sampler_changed)
        for spin in (self._steps, self._batch, self._seed):
            spin.valueChanged.connect(self.changed)
        self._eta.valueChanged.connect(self.changed)
        self._device.currentIndexChanged.connect(self.changed)

    def settings(self) -> SamplerSettings:
        return SamplerSettings(
            sampler=self._sampler_box.currentData(),
            steps=self._steps.value(),
            eta=self._eta.value(),
            batch_size=self._batch.value(),
            seed=self._seed.value(),
            device=self._device.currentData() or "auto",
        )

    def set_settings(self, settings: SamplerSettings) -> None:
        index = self._sampler_box.findData(settings.sampler)
        if index >= 0:
            self._sampler_box.setCurrentIndex(index)
        self._steps.setValue(settings.steps)
        self._eta.setValue(settings.eta)
        self._batch.setValue(settings.batch_size)
        self._seed.setValue(settings.seed)
        index = self._device.findData(settings.device)
        self._device.setCurrentIndex(max(index, 0))
        self._sync_enabled()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._device_worker is None and self._device.isVisibleTo(self):
            self._device_worker = detect_devices(self._on_devices_detected)

    def _on_devices_detected(self, devices: list) -> None:
        chosen = self._device.currentData()
        self._device.blockSignals(True)
        self._device.clear()
        for value, label in device_choices(devices):
            self._device.addItem(label, value)
        self._device.setCurrentIndex(max(self._device.findData(chosen), 0))
        self._device.blockSignals(False)

    def set_seed_visible(self, visible: bool) -> None:
        self._form.setRowVisible(self._seed_row, visible)

    def set_max_steps(self, num_timesteps: int) -> None:
        """The model's T bounds the step count."""
        self._steps.setMaximum(max(1, int(num_timesteps)))

    def _on_sampler_changed(self) -> None:
        self._steps.setValue(min(default_steps(self._sampler_box.currentData()), self._steps.maximum()))
        self._sync_enabled()
        self.changed.emit()

    def _sync_enabled(self) -> None:
        sampler = self._sampler_box.currentData()
        self._eta.setEnabled(sampler == "ddim")
