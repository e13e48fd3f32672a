"""Training runs (folders in the user's runs directory) with their last sample and step; a run some
process trains in right now (its folder is locked: ``core.checkpoint.run_is_locked``) is marked as
training, and cannot be continued a second time."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import FunctionWorker

from ... import theme
from ....core import paths
from .sample_grid import load_sample_history

__all__ = ["RunsList", "read_run"]

_PATH_ROLE = Qt.ItemDataRole.UserRole
_TRAINING_ROLE = Qt.ItemDataRole.UserRole + 1


def read_run(run_dir: Path) -> dict:
    """What the panel shows of a past run: config, step, metrics, sample grids (call in a worker)."""
    from ....core.checkpoint import latest_step, load_config, read_metrics

    return {
        "config": load_config(run_dir),
        "step": latest_step(Path(run_dir)),
        "metrics": read_metrics(run_dir),
        "samples": load_sample_history(run_dir),
    }


def _list_runs(root: Path) -> list[tuple]:
    """(RunInfo, training now?) of every run in ``root`` (call in a worker: it imports torch)."""
    from ....core.checkpoint import list_runs, run_is_locked

    try:
        return [(run, run_is_locked(run.path)) for run in list_runs(root)]
    except OSError:
        return []


def export_folder_for(run: Path, parent: Path) -> Path:
    """``parent/<run>-diffusers``, numbered when that name is taken by a non-empty folder or a file."""
    candidate = parent / f"{run.name}-diffusers"
    number = 2
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        candidate = parent / f"{run.name}-diffusers-{number}"
        number += 1
    return candidate


def _export(run: Path, out_dir: Path):
    from ....core.diffusers_export import export_diffusers

    return export_diffusers(run, out_dir)


def _age(updated: float | None) -> str:
    if not updated:
        return ""
    seconds = max(0.0, _dt.datetime.now().timestamp() - float(updated))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


class RunsList(QWidget):
    """Lists ``paths.runs_dir()``; double-click or "Continue" resumes, "Use for sampling" hands it over."""

    continueRequested = Signal(Path)
    samplingRequested = Signal(Path)
    #: an export to diffusers ended: (True, where it wrote) or (False, why not)
    exportFinished = Signal(bool, str)
    #: the list was re-read (refresh runs in a worker: core.checkpoint imports torch)
    refreshed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._keep: Path | None = None  # the run to select once the background listing returns
        self._busy = False  # this panel trains: no run may be continued meanwhile
        self.list = QListWidget()
        self.list.setIconSize(QSize(48, 48))
        self.list.setAlternatingRowColors(True)
        self.list.setMinimumHeight(110)
        self.empty_label = QLabel("No runs yet. Start one above; it will be listed here.")
        self.empty_label.setProperty("role", "muted")
        self.empty_label.setWordWrap(True)

        self.continue_button = QPushButton("Continue training")
        self.continue_button.setToolTip("Load the run's settings and weights; Start resumes from its last step")
        self.sample_button = QPushButton("Use for sampling")
        self.sample_button.setToolTip("Make this run the model of the sampling panel")
        self.folder_button = QPushButton("Show folder")
        self.refresh_button = QPushButton("Refresh")
        self.export_button = QPushButton("Export to diffusers…")
        self.export_button.setToolTip("Write the run as a diffusers DDPMPipeline folder (UNet2DModel + scheduler), "
                                      "which DDPMPipeline.from_pretrained loads")
        buttons = QGridLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.continue_button, 0, 0)
        buttons.addWidget(self.sample_button, 0, 1)
        buttons.addWidget(self.folder_button, 1, 0)
        buttons.addWidget(self.refresh_button, 1, 1)
        buttons.addWidget(self.export_button, 2, 0, 1, 2)
        self.export_label = QLabel("")
        self.export_label.setWordWrap(True)
        self.export_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_label.hide()
        self._export_worker = None
        self._export_outcome = (False, "")

        self.root_label = QLabel("")
        self.root_label.setProperty("role", "muted")
        self.root_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.root_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label)
        layout.addLayout(buttons)
        layout.addWidget(self.export_label)
        layout.addWidget(self.root_label)

        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.list.itemDoubleClicked.connect(lambda _item: self._on_continue_clicked())
        self.continue_button.clicked.connect(self._on_continue_clicked)
        self.sample_button.clicked.connect(self._on_sample_clicked)
        self.folder_button.clicked.connect(self._on_folder_clicked)
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self._on_export_clicked)
        self._update_buttons()

    def refresh(self, select: Path | None = None) -> None:
        """Re-read the runs folder in the background; keep (or set) the selection."""
        self._keep = Path(select) if select else self.selected_run()
        root = paths.runs_dir()
        self.root_label.setText(f"Runs are kept in {root}")
        worker = FunctionWorker(_list_runs, root)
        # Bound methods, not lambdas: Qt drops the connection when this widget is deleted first.
        worker.returned.connect(self._on_runs_listed)
        worker.errored.connect(self._on_listing_failed)
        worker.start()

    def _on_runs_listed(self, runs: list) -> None:
        self._show_runs(runs, self._keep)

    def _on_listing_failed(self, _error: Exception) -> None:
        self._show_runs([], self._keep)

    def _show_runs(self, runs: list, keep: Path | None) -> None:
        self.list.clear()
        for run, training in runs:
            step = f"step {run.step:,}" if run.step is not None else "no checkpoint yet"
            when = "● training now" if training else _age(getattr(run, "updated", None))
            item = QListWidgetItem(f"{run.name}\n{step}   {when}")
            item.setData(_PATH_ROLE, str(run.path))
            item.setData(_TRAINING_ROLE, training)
            item.setToolTip(f"{run.path}\n(a process is training it)" if training else str(run.path))
            if training:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            sample = getattr(run, "last_sample_png", None)
            if sample and Path(sample).is_file():
                pixmap = QPixmap(str(sample))
                if not pixmap.isNull():
                    item.setIcon(QIcon(pixmap))
            self.list.addItem(item)
            if keep is not None and Path(run.path) == keep:
                self.list.setCurrentItem(item)
        self.empty_label.setVisible(not runs)
        self._update_buttons()
        self.refreshed.emit()

    def selected_run(self) -> Path | None:
        item = self.list.currentItem()
        return Path(item.data(_PATH_ROLE)) if item is not None and item.isSelected() else None

    def runs(self) -> list[tuple[Path, bool]]:
        """(folder, training now?) of every run listed, in the list's order."""
        items = (self.list.item(row) for row in range(self.list.count()))
        return [(Path(item.data(_PATH_ROLE)), bool(item.data(_TRAINING_ROLE))) for item in items]

    def _selected_is_training(self) -> bool:
        item = self.list.currentItem()
        return item is not None and item.isSelected() and bool(item.data(_TRAINING_ROLE))

    def set_busy(self, busy: bool) -> None:
        """While a run trains, it cannot be continued a second time."""
        self._busy = busy
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_run = self.selected_run() is not None
        self.continue_button.setEnabled(has_run and not self._busy and not self._selected_is_training())
        self.sample_button.setEnabled(has_run)
        self.folder_button.setEnabled(has_run)
        self.export_button.setEnabled(has_run and self._export_worker is None)

    def _on_continue_clicked(self) -> None:
        run = self.selected_run()
        if run is not None and not self._busy and not self._selected_is_training():
            self.continueRequested.emit(run)

    def _on_sample_clicked(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.samplingRequested.emit(run)

    def _on_folder_clicked(self) -> None:
        run = self.selected_run()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run)))

    def export_selected(self, parent: Path) -> Path | None:
        """Export the selected run to ``parent/<run>-diffusers`` in a worker; ``exportFinished`` reports."""
        run = self.selected_run()
        if run is None or self._export_worker is not None:
            return None
        out_dir = export_folder_for(run, Path(parent))
        self.export_label.setText(f"Exporting {run.name} to {out_dir}…")
        self.export_label.setStyleSheet("")
        self.export_label.show()
        worker = FunctionWorker(_export, run, out_dir)
        worker.returned.connect(self._on_exported)
        worker.errored.connect(self._on_export_failed)
        worker.finished.connect(self._on_export_finished)
        self._export_worker = worker
        self._update_buttons()
        worker.start()
        return out_dir

    def _on_export_clicked(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        parent = QFileDialog.getExistingDirectory(self, "Export to diffusers: choose where the pipeline folder goes",
                                                  str(run.parent))
        if parent:
            self.export_selected(Path(parent))

    def _on_exported(self, result) -> None:
        kind = "EMA" if result.is_ema else "raw"
        text = (f"Wrote {result.path} ({kind} weights, {result.num_parameters / 1e6:.2f} M parameters): "
                "open it in the Sample panel, or with DDPMPipeline.from_pretrained.")
        self.export_label.setText(text)
        self._export_outcome = (True, str(result.path))

    def _on_export_failed(self, error: Exception) -> None:
        from ....core.errors import InputError

        text = str(error) if isinstance(error, InputError) else f"Export failed: {type(error).__name__}: {error}"
        self.export_label.setText(text)
        self.export_label.setStyleSheet(f"color: {theme.colors().error};")
        self._export_outcome = (False, text)

    def _on_export_finished(self) -> None:
        self._export_worker = None
        self._update_buttons()
        self.exportFinished.emit(*self._export_outcome)
