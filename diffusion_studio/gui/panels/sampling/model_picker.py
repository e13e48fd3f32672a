"""Choose the model to sample from: the bundled demo model, a training run, or any run folder / file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ....core.checkpoint import DEMO_MODEL_DIR, list_runs
from ....core.errors import InputError

__all__ = ["ModelPicker", "demo_model_dir"]

DEMO_LABEL = "Demo model (bundled)"
_CUSTOM_PREFIX = "Opened: "


def demo_model_dir() -> Path:
    return Path(DEMO_MODEL_DIR)


def _list_runs() -> list:
    try:
        return list(list_runs())
    except (OSError, InputError):  # an unreadable runs folder must not hide the demo model
        return []


class ModelPicker(QWidget):
    """A combo of models plus "Open folder…" / "Open file…". ``modelChosen(Path)`` on every choice."""

    modelChosen = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._combo = QComboBox(toolTip="The model to sample from")
        self._combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._combo.setMinimumContentsLength(14)
        self._combo.currentIndexChanged.connect(self._on_index_changed)
        refresh = QToolButton(text="↻", toolTip="Look for new training runs")
        refresh.setAutoRaise(True)
        refresh.clicked.connect(self.refresh_runs)
        open_folder = QToolButton(text="Folder…", toolTip="Open a run folder (config.json + model.safetensors)")
        open_folder.clicked.connect(self._on_open_folder)
        open_file = QToolButton(text="File…", toolTip="Open a .safetensors file with a config.json beside it")
        open_file.clicked.connect(self._on_open_file)

        self._info = QLabel("Loading…")
        self._info.setProperty("role", "muted")
        self._info.setWordWrap(True)
        self._info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

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
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(self._info)
        self.refresh_runs()

    # -- public API ------------------------------------------------------------------------
    def current_text(self) -> str:
        """What the model box shows ("Demo model (bundled)", "Run: …", "Opened: …")."""
        return self._combo.currentText()

    def current_path(self) -> Path | None:
        data = self._combo.currentData()
        return Path(data) if data else None

    def set_info(self, text: str, error: bool = False) -> None:
        self._info.setText(text)
        self._info.setProperty("role", "error" if error else "muted")
        self._info.setStyleSheet("color: palette(bright-text);" if error else "")

    def info_text(self) -> str:
        return self._info.text()

    def refresh_runs(self) -> None:
        """Rebuild the list: the demo model, the runs of the training panel, paths opened before."""
        current = self.current_path()
        extra = [Path(self._combo.itemData(i)) for i in range(self._combo.count())
                 if self._combo.itemData(i) and self._combo.itemText(i).startswith(_CUSTOM_PREFIX)]
        with QSignalBlocker(self._combo):
            self._combo.clear()
            self._combo.addItem(DEMO_LABEL, str(demo_model_dir()))
            for run in _list_runs():
                step = f" · step {run.step:,}" if run.step else ""
                self._combo.addItem(f"Run: {run.name}{step}", str(run.path))
            for path in extra:
                self._add_custom(path)
            index = self._combo.findData(str(current)) if current is not None else 0
            self._combo.setCurrentIndex(max(index, 0))
        if current is not None and self.current_path() != current:
            self.modelChosen.emit(self.current_path())  # the chosen run was deleted meanwhile

    def select_path(self, path: str | Path, emit: bool = True) -> None:
        """Select ``path`` (adding it to the list when new)."""
        path = Path(path)
        index = self._combo.findData(str(path))
        if index < 0:
            self.refresh_runs()
            index = self._combo.findData(str(path))
        if index < 0:
            index = self._add_custom(path)
        if index == self._combo.currentIndex():
            if emit:
                self.modelChosen.emit(path)
            return
        with QSignalBlocker(self._combo):
            self._combo.setCurrentIndex(index)
        if emit:
            self.modelChosen.emit(path)

    # -- internals -------------------------------------------------------------------------
    def _add_custom(self, path: Path) -> int:
        self._combo.addItem(f"{_CUSTOM_PREFIX}{path.name or path}", str(path))
        index = self._combo.count() - 1
        self._combo.setItemData(index, str(path), Qt.ItemDataRole.ToolTipRole)
        return index

    def _on_index_changed(self, _index: int) -> None:
        path = self.current_path()
        if path is not None:
            self.modelChosen.emit(path)

    def _on_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", str(self._start_dir()))
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
