"""The form that edits :class:`core.sampling.SamplerSettings`: the sampler, and for a class-conditional model
the class to draw and the guidance scale (diffusers' s, with Ho & Salimans' w = s − 1 beside it)."""

from __future__ import annotations


from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QWidget,
)

from ....core.conditioning import ANY_CLASS, describe_guidance
from ....core.guidance import guidance_weight
from ....core.samplers import SAMPLER_NAMES
from ....core.sampling import SamplerSettings, default_steps, sampler_label
from ...devices import detect_devices
from ...widgets.controls_column import seed_field

__all__ = ["SamplerSettings", "SamplerSettingsForm", "sampler_label", "device_choices", "DEFAULT_GUIDANCE_SCALE",
           "MAX_FORM_GUIDANCE"]

#: The guidance scale s a class starts with: w = 3, where the demo model draws the asked digit ≥ 90 % of the time.
DEFAULT_GUIDANCE_SCALE = 4.0
#: The slider's end (the spin box goes further, up to core's limit)
MAX_FORM_GUIDANCE = 20.0
_SLIDER_STEPS_PER_UNIT = 10


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

    def __init__(self, parent: QWidget | None = None, *, with_batch_and_device: bool = True,
                 with_condition: bool = True):
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
        self._seed, seed_row = seed_field("The starting noise; the same seed gives the same images")
        self._device = QComboBox(toolTip="Where the model runs")
        for value, label in device_choices([]):  # the GPUs are added when first shown (see showEvent)
            self._device.addItem(label, value)
        self._device_worker = None
        self._build_condition_widgets()

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Sampler", self._sampler_box)
        form.addRow("Steps", self._steps)
        form.addRow("η (eta)", self._eta)
        form.addRow("Batch", self._batch)
        form.addRow("Seed", seed_row)
        form.addRow("Device", self._device)
        form.addRow("Class", self._class_box)
        form.addRow("Guidance", self._guidance_row)
        form.addRow("", self._guidance_note)
        if not with_batch_and_device:
            for widget in (self._batch, self._device):
                form.setRowVisible(widget, False)
        self._form = form
        self._seed_row = seed_row
        self._with_condition = with_condition
        self.set_classes(())

        self.set_settings(SamplerSettings())
        self._sampler_box.currentIndexChanged.connect(self._on_sampler_changed)
        for spin in (self._steps, self._batch, self._seed):
            spin.valueChanged.connect(self.changed)
        self._eta.valueChanged.connect(self.changed)
        self._device.currentIndexChanged.connect(self.changed)
        self._class_box.currentIndexChanged.connect(self._on_class_changed)
        self._guidance.valueChanged.connect(self._on_guidance_changed)
        self._guidance_slider.valueChanged.connect(self._on_guidance_slid)

    def _build_condition_widgets(self) -> None:
        self._class_box = QComboBox(toolTip="The class to draw; 'any' samples the unconditional model (no class)")
        self._guidance = QDoubleSpinBox(toolTip="Classifier-free guidance scale s (diffusers' guidance_scale): "
                                                "ε̃ = ε̂(∅) + s·(ε̂(c) − ε̂(∅)); Ho & Salimans' weight is w = s − 1. "
                                                "1: no guidance, 0: the unconditional model")
        self._guidance.setRange(0.0, 100.0)
        self._guidance.setDecimals(1)
        self._guidance.setSingleStep(0.5)
        self._guidance.setPrefix("s = ")
        self._guidance.setValue(DEFAULT_GUIDANCE_SCALE)
        self._guidance_slider = QSlider(Qt.Orientation.Horizontal, toolTip=self._guidance.toolTip())
        self._guidance_slider.setRange(0, int(MAX_FORM_GUIDANCE * _SLIDER_STEPS_PER_UNIT))
        self._guidance_slider.setValue(int(DEFAULT_GUIDANCE_SCALE * _SLIDER_STEPS_PER_UNIT))
        self._guidance_row = QWidget()
        row = QHBoxLayout(self._guidance_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self._guidance_slider, 1)
        row.addWidget(self._guidance)
        self._guidance_note = QLabel()
        self._guidance_note.setProperty("role", "muted")
        self._guidance_note.setWordWrap(True)
        self._can_guide = False

    def settings(self) -> SamplerSettings:
        class_name = self.class_name()
        return SamplerSettings(
            sampler=self._sampler_box.currentData(),
            steps=self._steps.value(),
            eta=self._eta.value(),
            batch_size=self._batch.value(),
            seed=self._seed.value(),
            device=self._device.currentData() or "auto",
            class_name=class_name,
            guidance_scale=self._guidance.value() if class_name is not None and self._can_guide else 1.0,
        )

    # -- the class and the guidance ----------------------------------------------------------
    def set_classes(self, names, *, can_guide: bool = True) -> None:
        """The loaded model's classes (empty: unconditional, the rows hide). ``can_guide``: it has a "no class"
        label (a model without one samples its classes unguided). Keeps the chosen class where it still exists."""
        chosen = self.class_name()
        names = tuple(names)
        self._can_guide = bool(names) and can_guide
        self._class_box.blockSignals(True)
        self._class_box.clear()
        if can_guide or not names:
            self._class_box.addItem(f"{ANY_CLASS} (no class)", None)
        for name in names:
            self._class_box.addItem(name, name)
        index = self._class_box.findData(chosen) if chosen is not None else 0
        self._class_box.setCurrentIndex(max(index, 0))
        self._class_box.blockSignals(False)
        visible = bool(names) and self._with_condition
        for widget in (self._class_box, self._guidance_row, self._guidance_note):
            self._form.setRowVisible(widget, visible)
        self._sync_guidance()

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self._class_box.itemData(i) for i in range(self._class_box.count())
                     if self._class_box.itemData(i) is not None)

    def class_name(self) -> str | None:
        return self._class_box.currentData()

    def condition_shown(self) -> bool:
        """The class and guidance rows are on the form (a class-conditional model is loaded)."""
        return self._class_box.isVisibleTo(self)

    def set_class(self, name: str | None) -> None:
        index = self._class_box.findData(name)
        if index >= 0:
            self._class_box.setCurrentIndex(index)

    def set_guidance_scale(self, scale: float) -> None:
        self._guidance.setValue(float(scale))

    def guidance_text(self) -> str:
        return self._guidance_note.text()

    def _on_class_changed(self) -> None:
        self._sync_guidance()
        self.changed.emit()

    def _on_guidance_changed(self, value: float) -> None:
        self._guidance_slider.blockSignals(True)
        self._guidance_slider.setValue(round(min(value, MAX_FORM_GUIDANCE) * _SLIDER_STEPS_PER_UNIT))
        self._guidance_slider.blockSignals(False)
        self._sync_guidance()
        self.changed.emit()

    def _on_guidance_slid(self, position: int) -> None:
        self._guidance.setValue(position / _SLIDER_STEPS_PER_UNIT)

    def _sync_guidance(self) -> None:
        guided = self._can_guide and self.class_name() is not None
        self._guidance.setEnabled(guided)
        self._guidance_slider.setEnabled(guided)
        scale = self._guidance.value()
        if not self._class_box.count() or self._class_box.count() == 1 and self.class_name() is None:
            text = ""
        elif self.class_name() is None:
            text = "No class: the unconditional model; choose a class to guide towards it."
        elif not self._can_guide:
            text = "This model has no 'no class' label: its classes are drawn without guidance."
        else:
            w = guidance_weight(scale)
            if w == 0:
                what = "the conditional model alone"
            elif scale == 0:
                what = "the unconditional model"
            else:
                what = f"ε̃ = {scale:g}·ε̂(c) {'−' if w > 0 else '+'} {abs(w):g}·ε̂(∅)"
            text = f"{describe_guidance(scale)}: {what} (diffusers' scale s; Ho & Salimans' w = s − 1)"
        self._guidance_note.setText(text)

    def set_settings(self, settings: SamplerSettings) -> None:
        index = self._sampler_box.findData(settings.sampler)
        if index >= 0:
            self._sampler_box.setCurrentIndex(index)
        self._steps.setValue(settings.steps)
        self._eta.setValue(settings.eta)
        self._batch.setValue(settings.batch_size)
        self._seed.setValue(settings.seed)
        if settings.class_name is not None:
            self.set_class(settings.class_name)
            self.set_guidance_scale(settings.guidance_scale)
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
