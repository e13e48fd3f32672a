"""Choose the model to sample from: the bundled demo model, a training run, a run folder / file, a diffusers
pipeline or UNet2DModel folder, or a Hugging Face Hub id; recently opened models are remembered.

A model is named by its *spec*: a local path or a Hub id (``owner/name``), kept as the text the user gave
(a Hub id is never turned into a path). The options row holds how a pretrained model is opened
(pickled weights allowed or not, precision on a GPU); :meth:`ModelPicker.load_options` hands them to
``core.model_sources.open_model``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ... import theme
from ....core.checkpoint import DEMO_MODEL_DIR, list_runs
from ....core.errors import InputError
from ....core.model_sources.hub import looks_like_hub_id

__all__ = ["ModelPicker", "demo_model_dir"]

DEMO_LABEL = "Demo model (bundled)"
_CUSTOM_PREFIX = "Opened: "
_HUB_PREFIX = "Hub: "
#: (value, label) of the precision choices; the CPU always runs float32.
PRECISIONS = (("auto", "Auto (weights' own; float32 on the CPU)"), ("float32", "float32"),
              ("bfloat16", "bfloat16 (GPU)"), ("float16", "float16 (GPU)"))
PICKLE_WARNING = ("Pickled weights (.bin) can run code when they are opened. Allow them only for models from a "
                  "source you trust; they are then read with torch's weights_only loader.")


def demo_model_dir() -> Path:
    return Path(DEMO_MODEL_DIR)


def _list_runs() -> list:
    try:
        return list(list_runs())
    except (OSError, InputError):  # an unreadable runs folder must not hide the demo model
        return []


def _label(spec: str) -> str:
    if looks_like_hub_id(spec):
        return f"{_HUB_PREFIX}{spec}"
    path = Path(spec)
    return f"{_CUSTOM_PREFIX}{path.name or path}"


class ModelPicker(QWidget):
    """A combo of models plus "Folder…", "File…" and "Hub id…". ``modelChosen(spec)`` on every choice,
    ``optionsChanged()`` when how to open pretrained models changes. ``settings`` (core.settings.Settings,
    optional) keeps the recent models and the precision."""

    modelChosen = Signal(object)
    optionsChanged = Signal()

    def __init__(self, parent: QWidget | None = None, *, settings=None):
        super().__init__(parent)
        self._settings = settings
        self._combo = QComboBox(toolTip="The model to sample from")
        self._combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._combo.setMinimumContentsLength(14)
        self._combo.currentIndexChanged.connect(self._on_index_changed)
        refresh = QToolButton(text="↻", toolTip="Look for new training runs")
        refresh.setAutoRaise(True)
        refresh.clicked.connect(self.refresh_runs)
        open_folder = QToolButton(text="Folder…", toolTip="Open a run folder, or a diffusers pipeline or UNet2DModel "
                                                          "folder")
        open_folder.clicked.connect(self._on_open_folder)
        open_file = QToolButton(text="File…", toolTip="Open a .safetensors file with a config.json beside it")
        open_file.clicked.connect(self._on_open_file)
        self.hub_button = QToolButton(text="Hub id…", toolTip="Open a model by its Hugging Face Hub id "
                                                              "(e.g. google/ddpm-cifar10-32)")
        self.hub_button.setCheckable(True)
        self.hub_button.toggled.connect(self._on_hub_toggled)

        self.hub_field = QLineEdit(placeholderText="owner/name, e.g. google/ddpm-cifar10-32")
        self.hub_field.setToolTip("From the local Hugging Face cache, or downloaded into it")
        self.hub_field.returnPressed.connect(self.open_hub_field)
        self.hub_open = QPushButton("Open")
        self.hub_open.clicked.connect(self.open_hub_field)
        self._hub_row = QWidget()
        hub_layout = QHBoxLayout(self._hub_row)
        hub_layout.setContentsMargins(0, 0, 0, 0)
        hub_layout.setSpacing(4)
        hub_layout.addWidget(self.hub_field, 1)
        hub_layout.addWidget(self.hub_open)
        self._hub_row.hide()

        self.allow_pickle = QCheckBox("Allow pickled weights")
        self.allow_pickle.setToolTip(PICKLE_WARNING)
        self.allow_pickle.toggled.connect(self._on_allow_pickle_toggled)
        self.precision = QComboBox(toolTip="A pretrained model's precision on a GPU; the CPU runs float32")
        for value, label in PRECISIONS:
            self.precision.addItem(label, value)
        self.precision.setCurrentIndex(max(0, self.precision.findData(self._setting("model_dtype", "auto"))))
        self.precision.currentIndexChanged.connect(self._on_precision_changed)
        self.pickle_warning = QLabel(PICKLE_WARNING)
        self.pickle_warning.setWordWrap(True)
        self.pickle_warning.setProperty("role", "error")
        self.pickle_warning.setStyleSheet(f"color: {theme.colors().error};")
        self.pickle_warning.hide()

        self._info = QLabel("Loading…")
        self._info.setProperty("role", "muted")
        self._info.setWordWrap(True)
        self._info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.estimate = QLabel("")
        self.estimate.setProperty("role", "muted")
        self.estimate.setWordWrap(True)
        self.estimate.hide()

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(self._combo, 1)
        row.addWidget(refresh)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(4)
        buttons.addWidget(open_folder)
        buttons.addWidget(open_file)
        buttons.addWidget(self.hub_button)
        buttons.addStretch(1)
        options = QHBoxLayout()
        options.setContentsMargins(0, 0, 0, 0)
        options.setSpacing(4)
        options.addWidget(self.allow_pickle)
        options.addWidget(self.precision, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(self._hub_row)
        layout.addLayout(options)
        layout.addWidget(self.pickle_warning)
        layout.addWidget(self._info)
        layout.addWidget(self.estimate)
        self.refresh_runs()

    # -- public API ------------------------------------------------------------------------
    def current_text(self) -> str:
        """What the model box shows ("Demo model (bundled)", "Run: …", "Opened: …")."""
        return self._combo.currentText()

    def current_spec(self) -> str | None:
        """The chosen model as the user named it: a path or a Hub id."""
        data = self._combo.currentData()
        return str(data) if data else None

    def current_path(self) -> Path | None:
        spec = self.current_spec()
        return Path(spec) if spec else None

    def load_options(self) -> dict:
        """How to open a pretrained model (``core.model_sources.open_model`` options)."""
        return {"allow_pickle": self.allow_pickle.isChecked(), "dtype": self.precision.currentData() or "auto"}

    def set_info(self, text: str, error: bool = False) -> None:
        self._info.setText(text)
        self._info.setProperty("role", "error" if error else "muted")
        self._info.setStyleSheet("color: palette(bright-text);" if error else "")

    def info_text(self) -> str:
        return self._info.text()

    def set_estimate(self, text: str) -> None:
        """How long a chain takes with the current settings ("" hides it)."""
        self.estimate.setText(text)
        self.estimate.setVisible(bool(text))

    def recent_models(self) -> list[str]:
        return list(self._setting("recent_models", []))

    def remember(self, spec: str | Path) -> None:
        """Put a model the user opened first in the recent models (saved in the settings)."""
        spec = str(spec)
        index = self._combo.findData(spec)
        listed = index >= 0 and not self._combo.itemText(index).startswith((_CUSTOM_PREFIX, _HUB_PREFIX))
        if self._settings is None or listed:
            return  # the demo model and the training runs are always in the list
        self._settings.add_recent_model(spec)
        with contextlib.suppress(Exception):  # a read-only settings folder must not break sampling
            self._settings.save()

    def refresh_runs(self) -> None:
        """Rebuild the list: the demo model, the runs of the training panel, recent and opened models."""
        current = self.current_spec()
        extra = [str(self._combo.itemData(i)) for i in range(self._combo.count())
                 if self._combo.itemData(i) and self._combo.itemText(i).startswith((_CUSTOM_PREFIX, _HUB_PREFIX))]
        with QSignalBlocker(self._combo):
            self._combo.clear()
            self._combo.addItem(DEMO_LABEL, str(demo_model_dir()))
            for run in _list_runs():
                step = f" · step {run.step:,}" if run.step else ""
                self._combo.addItem(f"Run: {run.name}{step}", str(run.path))
            for spec in extra + self.recent_models():
                if self._combo.findData(spec) < 0 and (looks_like_hub_id(spec) or Path(spec).exists()):
                    self._add_custom(spec)
            index = self._combo.findData(current) if current is not None else 0
            self._combo.setCurrentIndex(max(index, 0))
        if current is not None and self.current_spec() != current:
            self.modelChosen.emit(self.current_spec())  # the chosen run was deleted meanwhile

    def select_path(self, path: str | Path, emit: bool = True) -> None:
        """Select the model ``path`` names (a path or a Hub id), adding it to the list when new."""
        spec = str(path)
        index = self._combo.findData(spec)
        if index < 0:
            self.refresh_runs()
            index = self._combo.findData(spec)
        if index < 0:
            index = self._add_custom(spec)
        if index == self._combo.currentIndex():
            if emit:
                self.modelChosen.emit(self._spec_value(spec))
            return
        with QSignalBlocker(self._combo):
            self._combo.setCurrentIndex(index)
        if emit:
            self.modelChosen.emit(self._spec_value(spec))

    def open_hub_field(self) -> None:
        """Open what is typed in the Hub id field: a Hub id, or a folder on this machine."""
        text = self.hub_field.text().strip()
        if not text:
            return
        if looks_like_hub_id(text) or Path(text).expanduser().exists():
            self.select_path(text if looks_like_hub_id(text) else Path(text).expanduser())
            self.hub_button.setChecked(False)
        else:
            self.set_info(f"{text!r} is not a Hub id (owner/name) nor a folder on this machine", error=True)

    # -- internals -------------------------------------------------------------------------
    @staticmethod
    def _spec_value(spec: str):
        return spec if looks_like_hub_id(spec) else Path(spec)

    def _setting(self, key: str, default):
        return self._settings.get(key, default) if self._settings is not None else default

    def _add_custom(self, spec: str) -> int:
        self._combo.addItem(_label(spec), spec)
        index = self._combo.count() - 1
        self._combo.setItemData(index, spec, Qt.ItemDataRole.ToolTipRole)
        return index

    def _on_index_changed(self, _index: int) -> None:
        spec = self.current_spec()
        if spec is not None:
            self.modelChosen.emit(self._spec_value(spec))

    def _on_hub_toggled(self, shown: bool) -> None:
        self._hub_row.setVisible(shown)
        if shown:
            self.hub_field.setFocus()

    def _on_allow_pickle_toggled(self, allowed: bool) -> None:
        self.pickle_warning.setVisible(allowed)
        self.optionsChanged.emit()

    def _on_precision_changed(self) -> None:
        if self._settings is not None:
            self._settings.set("model_dtype", self.precision.currentData())
        self.optionsChanged.emit()

    def _on_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a model folder", str(self._start_dir()))
        if folder:
            self.select_path(folder)

    def _on_open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open model weights", str(self._start_dir()), "safetensors weights (*.safetensors)"
        )
        if path:
            self.select_path(path)

    def _start_dir(self) -> Path:
        current = self.current_path()
        if current is not None and current != demo_model_dir() and current.exists():
            return current.parent
        try:
            from ....core.paths import runs_dir

            return runs_dir()
        except Exception:  # noqa: BLE001
            return Path.home()
