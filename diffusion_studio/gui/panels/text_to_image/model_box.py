"""Choose a text-to-image model: a Stable Diffusion pipeline folder or a Hub id, the device and the precision."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...devices import detect_devices
from ..sampling.settings import device_choices

__all__ = ["ModelBox", "PRECISION_CHOICES"]

PRECISION_CHOICES = (("auto", "Auto (float16 on a GPU)"), ("float32", "float32"), ("float16", "float16"),
                     ("bfloat16", "bfloat16"))


class ModelBox(QWidget):
    """``openRequested(spec, device, precision, allow_pickle)`` when the user asks to open a model."""

    openRequested = Signal(str, str, str, bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.spec = QLineEdit(placeholderText="A Stable Diffusion folder, a Hub id (owner/name), or demo")
        self.spec.setToolTip("A diffusers StableDiffusionPipeline folder (tokenizer, text_encoder, unet, vae, "
                             "scheduler), or a Hugging Face Hub id; one not in the local cache is downloaded")
        self.spec.returnPressed.connect(self._on_open)
        browse = QPushButton("Folder…", toolTip="Choose a pipeline folder")
        browse.clicked.connect(self._on_browse)
        self.open_button = QPushButton("Open", toolTip="Load the model (it stays loaded until another one opens)")
        self.open_button.clicked.connect(self._on_open)
        self.demo_button = QPushButton("Demo model", toolTip="The bundled demo: coloured handwritten digits from "
                                                              "prompts like “a red seven”, trained in minutes on a CPU")
        self.demo_button.clicked.connect(lambda: self.request_open("demo"))
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.spec, 1)
        row.addWidget(browse)
        self.device = QComboBox(toolTip="Where the U-Net runs (the text encoder stays on the CPU)")
        for value, label in device_choices([]):
            self.device.addItem(label, value)
        self.precision = QComboBox(toolTip="The U-Net's precision; the VAE and the text encoder stay float32")
        for value, label in PRECISION_CHOICES:
            self.precision.addItem(label, value)
        self.allow_pickle = QCheckBox("Allow pickled .bin weights (only files you trust)")
        self.allow_pickle.setToolTip("Pickled weights can run code when opened; they load with torch's "
                                     "weights_only loader, and only if you tick this")
        self.info = QLabel("No model open. Any Stable Diffusion 1.x / 2.x model in diffusers' folder layout works, "
                           "and distilled ones of the same layout.")
        self.info.setWordWrap(True)
        self.info.setProperty("role", "muted")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(row)
        layout.addLayout(form)
        layout.addWidget(self.allow_pickle)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.open_button, 1)
        buttons.addWidget(self.demo_button)
        layout.addLayout(buttons)
        layout.addWidget(self.info)
        self._device_worker = None

    def set_info(self, text: str, *, error: bool = False) -> None:
        self.info.setText(text)
        self.info.setProperty("role", "value" if not error else "muted")
        self.info.setStyleSheet("color: palette(highlight);" if error else "")

    def request_open(self, spec: str | None = None) -> None:
        """Open ``spec`` (or what the field holds) with the chosen device and precision."""
        if spec is not None:
            self.spec.setText(str(spec))
        self._on_open()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._device_worker is None:
            self._device_worker = detect_devices(self._on_devices_detected)

    def _on_devices_detected(self, devices: list) -> None:
        chosen = self.device.currentData()
        self.device.blockSignals(True)
        self.device.clear()
        for value, label in device_choices(devices):
            self.device.addItem(label, value)
        self.device.setCurrentIndex(max(self.device.findData(chosen), 0))
        self.device.blockSignals(False)

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a Stable Diffusion pipeline folder", self.spec.text())
        if folder:
            self.request_open(folder)

    def _on_open(self) -> None:
        spec = self.spec.text().strip()
        if spec:
            self.openRequested.emit(spec, self.device.currentData() or "auto", self.precision.currentData(),
                                    self.allow_pickle.isChecked())
