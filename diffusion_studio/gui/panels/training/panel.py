"""The Train panel: dataset, settings and past runs on the left; controls, live plots and the
EMA sample grid on the right. Training runs in a superqt worker (see :mod:`.worker`)."""

from __future__ import annotations

import datetime as _dt
import logging
import re
from pathlib import Path

from PySide6.QtCore import QEventLoop, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QLabel, QMessageBox, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget
from superqt.utils import FunctionWorker

from ....core import paths
from ....core.errors import InputError
from ....core.training.relay import ChildFailed, TrainingControl, TrainingUpdate
from ...state import AppState
from ...theme import MARGIN
from ...widgets.message_strip import MessageStrip
from ...widgets.scroll_panel import ScrollPanel
from .controls import TrainingControls, format_duration
from .dataset_view import DatasetChoice, DatasetView, folder_from_mime
from .live_plots import LivePlots
from .runs_list import RunsList, read_run
from .sample_grid import SampleGrid
from .settings_form import SettingsForm
from .worker import make_training_worker

__all__ = ["TrainingPanel"]

log = logging.getLogger(__name__)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:40] or "run"


class TrainingPanel(QWidget):
    """Train a model on a folder (or the demo digits) without leaving the app."""

    #: "idle", "starting", "training", "pausing", "paused" or "stopping"
    trainingStateChanged = Signal(str)
    #: a run finished or stopped; its folder
    runFinished = Signal(Path)
    #: a past run was opened for continuing (its metrics and samples are shown)
    runOpened = Signal(Path)
    #: every TrainingUpdate from the worker (≤ 20 Hz), after the panel has drawn it
    progressed = Signal(object)
    #: run the engine in a child process (None: yes, except in a frozen app); False: in a thread
    train_in_subprocess: bool | None = None

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._worker = None
        self._control: TrainingControl | None = None
        self._run_dir: Path | None = None
        self._resume_dir: Path | None = None
        self._last_update: TrainingUpdate | None = None
        self._error_shown = False
        self.setAcceptDrops(True)
        pool = QThreadPool.globalInstance()
        # training holds one pool thread for its whole run; scans and listings need others
        pool.setMaxThreadCount(max(pool.maxThreadCount(), 4))

        self.message_strip = MessageStrip()
        self.dataset_view = DatasetView()
        self.settings_form = SettingsForm()
        self.runs_list = RunsList()
        self.controls = TrainingControls()
        self.plots = LivePlots()
        self.sample_grid = SampleGrid()
        self.run_label = QLabel("")
        self.run_label.setProperty("role", "muted")
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_label.setWordWrap(True)
        self.run_label.hide()  # shown with a text: an empty line would cost a short dock its height
        #: shown in the main window's status bar (permanent widget) while a run is active
        self.status_label = QLabel("")
        self.status_label.setVisible(False)

        # Each tab scrolls on its own once it cannot shrink further, so a short dock (a laptop) keeps the
        # controls and the loss plot on the right in view instead of scrolling the whole panel.
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._scrolling(self.dataset_view), "Data")
        self.tabs.addTab(self._scrolling(self.settings_form, shrinks=False), "Settings")
        self.tabs.addTab(self._scrolling(self.runs_list), "Runs")
        self.tabs.setMinimumWidth(330)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(6)
        right_layout.addWidget(self.controls)
        right_layout.addWidget(self.run_label)
        results = QSplitter(Qt.Orientation.Horizontal)
        results.addWidget(self.plots)
        results.addWidget(self.sample_grid)
        results.setStretchFactor(0, 3)
        results.setStretchFactor(1, 1)
        results.setChildrenCollapsible(False)
        right_layout.addWidget(results, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tabs)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([360, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN // 2, MARGIN, MARGIN // 2)
        layout.setSpacing(6)
        layout.addWidget(self.message_strip)
        layout.addWidget(splitter, 1)

        self.dataset_view.datasetChanged.connect(self._on_dataset_changed)
        self.dataset_view.scanFailed.connect(lambda message: self.show_message(message, "warning"))
        self.controls.startClicked.connect(self.start)
        self.controls.pauseClicked.connect(self.pause)
        self.controls.resumeClicked.connect(self.resume)
        self.controls.stopClicked.connect(self.stop)
        self.runs_list.continueRequested.connect(self.open_run)
        self.runs_list.samplingRequested.connect(self._on_sampling_requested)
        self._update_can_start()
        self._first_show_done = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._first_show_done:
            # after the window is up: listing runs and devices imports torch (in a worker)
            self._first_show_done = True
            QTimer.singleShot(100, self.dataset_view.use_demo)
            QTimer.singleShot(1000, self.runs_list.refresh)
            QTimer.singleShot(1000, self.settings_form.detect_devices)

    @staticmethod
    def _scrolling(widget: QWidget, *, shrinks: bool = True) -> QWidget:
        """``widget`` in a tab that scrolls: one that ``shrinks`` fills the tab down to its minimum (a list gives
        up height first); a form keeps its natural height for the width."""
        holder = QWidget()
        layout = QVBoxLayout(holder)
        layout.setContentsMargins(4, 8, 4 if shrinks else 12, 4)
        layout.addWidget(widget)
        if shrinks:
            area = ScrollPanel(holder)
        else:
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setFrameShape(QScrollArea.Shape.NoFrame)
            area.setWidget(holder)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return area

    # -- public API (main window, tests) -----------------------------------------------------
    def is_training(self) -> bool:
        return self._worker is not None

    @property
    def run_dir(self) -> Path | None:
        """The folder of the run being trained (or last trained)."""
        return self._run_dir

    @property
    def training_state(self) -> str:
        return self.controls.state

    def show_message(self, text: str, kind: str = "error") -> None:
        self.message_strip.show_message(text, kind)

    def start(self) -> bool:
        """Start (or continue) a run with the current settings. False, with a message, if impossible."""
        if self.is_training():
            return False
        self.message_strip.dismiss()
        try:
            config = self._build_config()
        except InputError as exc:
            self.show_message(f"Cannot start: {exc}")
            return False
        self._run_dir = Path(config.out)
        resuming = self._resume_dir is not None
        if not resuming:
            self.plots.clear()
            self.sample_grid.clear()
        self.plots.set_num_timesteps(config.timesteps)
        self._control = TrainingControl()
        self._error_shown = False
        self._last_update = None
        worker = make_training_worker(config, self._control, in_subprocess=self.train_in_subprocess)
        worker.yielded.connect(self._on_update)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self._set_state("starting")
        verb = "Continuing" if resuming else "Training"
        self._show_run_text(f"{verb} run <b>{self._run_dir.name}</b> — {self._run_dir}")
        self.state.show_status(f"{verb} {self._run_dir.name}…", 3000)
        worker.start()
        return True

    def pause(self) -> None:
        """Ask the engine to wait after the current step; the state is "paused" once it says it waits."""
        if self._control is not None and self.training_state == "training":
            self._control.request_pause()
            self._set_state("pausing")

    def resume(self) -> None:
        if self._control is not None and self.training_state in ("pausing", "paused"):
            self._control.request_resume()
            self._set_state("training")

    def stop(self) -> None:
        """Ask the engine to save a checkpoint and stop after the current step."""
        if self._control is not None and self.is_training():
            self._control.request_stop()
            self._set_state("stopping")

    def request_stop_and_wait(self, timeout_ms: int = 120_000) -> bool:
        """Stop (saving a checkpoint) and wait, keeping the GUI alive. True when training has ended."""
        if not self.is_training():
            return True
        self.stop()
        loop = QEventLoop()
        self._worker.finished.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        if self.is_training():
            loop.exec()
        return not self.is_training()

    def confirm_close(self) -> bool:
        """For the main window's closeEvent: True when the window may close."""
        if not self.is_training():
            return True
        answer = QMessageBox.question(
            self, "Training is running",
            "A model is training. Stop it and quit?\n\nA checkpoint is saved first; "
            "you can continue the run later from the Runs tab.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.status_label.setText("Saving a checkpoint before quitting…")
        return self.request_stop_and_wait()

    def open_run(self, run_dir: Path) -> None:
        """Load a past run's settings, curves and samples; Start then continues it from its last step."""
        if self.is_training():
            return
        run_dir = Path(run_dir)
        worker = FunctionWorker(read_run, run_dir)
        worker.returned.connect(lambda info: self._on_run_read(run_dir, info))
        worker.errored.connect(lambda exc: self.show_message(f"Cannot open the run {run_dir.name}: {exc}"))
        worker.start()

    # -- building the config ----------------------------------------------------------------
    def _build_config(self):
        if self._resume_dir is not None:
            return self.settings_form.config(out=str(self._resume_dir), resume=True)
        choice: DatasetChoice | None = self.dataset_view.choice
        if choice is None:
            raise InputError("choose a folder with usable images, or the demo digits, on the Data tab")
        name = self.settings_form.run_name.text().strip()
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = "digits" if choice.is_demo else Path(choice.source).name
        run_dir = paths.runs_dir() / _slug(name or f"{base}-{stamp}")
        if name and run_dir.exists():
            raise InputError(f"a run named {run_dir.name!r} exists already; continue it from the Runs tab "
                             "or choose another name")
        if choice.is_demo:
            return self.settings_form.config(out=str(run_dir), demo=True)
        return self.settings_form.config(out=str(run_dir), folder=choice.source)

    # -- worker signals ----------------------------------------------------------------------
    def _on_update(self, update: TrainingUpdate) -> None:
        self._last_update = update
        if self.training_state == "starting":
            self._set_state("training")
        self.controls.set_progress(update.step, update.total_steps, update.images_per_s, update.elapsed_s,
                                   update.eta_s)
        self.plots.append(update.steps, update.losses, update.lrs, update.gpu_memory_bytes)
        self.plots.set_bucket_losses(update.bucket_losses, update.recent_loss)
        if update.sample_grid is not None:
            self.sample_grid.add_grid(update.step, update.sample_grid)
        if update.event == "error":
            self._show_training_error(update.message or "training stopped with an error")
        elif update.event == "checkpoint":
            self.state.show_status(f"Checkpoint saved at step {update.step:,}", 3000)
            self.runs_list.refresh()  # the run is listed (as training) from its first checkpoint on
        elif update.event == "paused" and self.training_state == "pausing":
            self._set_state("paused")  # the engine waits now (a Resume clicked meanwhile has won)
        self._update_status_label()
        self.progressed.emit(update)

    def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, InputError):
            self._show_training_error(str(exc))
        elif isinstance(exc, MemoryError):
            self._show_training_error("out of memory; lower the batch size or the image size")
        elif isinstance(exc, ChildFailed):  # logged with its traceback where it was caught
            self._show_training_error(str(exc))
        else:
            log.error("training failed", exc_info=(type(exc), exc, exc.__traceback__))
            self._show_training_error(f"unexpected {type(exc).__name__}: {exc}")

    def _show_training_error(self, message: str) -> None:
        self._error_shown = True
        self.show_message(f"Training stopped: {message}")
        self.state.show_status(f"Training stopped: {message}", 10000)

    def _on_finished(self) -> None:
        update = self._last_update
        self._worker = None
        self._control = None
        self._set_state("idle")
        run_dir = self._run_dir
        if self._error_shown:
            self._show_run_text("Training stopped with an error (see the message above); "
                                   "saved checkpoints are kept.")
        elif update is not None:
            what = "finished" if update.event == "done" else "stopped"
            text = f"Training {what} at step {update.step:,}; saved in {run_dir}"
            self._show_run_text(text)
            self.state.show_status(text, 8000)
        # Start now begins a new run with these settings; continuing is explicit (Runs tab)
        self._set_resume_dir(None)
        self.runs_list.refresh(select=run_dir)
        if run_dir is not None:
            self.runFinished.emit(run_dir)

    # -- other handlers ----------------------------------------------------------------------
    def _show_run_text(self, text: str) -> None:
        self.run_label.setText(text)
        self.run_label.setVisible(bool(text))

    def _on_run_read(self, run_dir: Path, info: dict) -> None:
        config = info["config"]
        train = dict(config.get("train") or {})
        step = int(info["step"] or 0)
        if train.get("steps") and step >= int(train["steps"]):
            train["steps"] = step + int(train["steps"])  # a finished run: offer as many steps again
        self.settings_form.set_values(train)
        self._set_resume_dir(run_dir)
        self._run_dir = run_dir
        self.plots.set_num_timesteps(int(train.get("timesteps") or 1000))
        # records after the last checkpoint (a killed run) are redone by the resume
        self.plots.set_history([r for r in info["metrics"] if int(r.get("step", 0)) <= step])
        self.sample_grid.set_history(info["samples"])
        source = (config.get("dataset") or {}).get("source", "")
        self._show_run_text(
            f"Continuing run <b>{run_dir.name}</b> from step {step:,} (data: {source or 'as saved'}). "
            "Press Start; choose a dataset to begin a new run instead.")
        self.controls.set_progress(step, int(train.get("steps") or step or 1), 0.0, float("nan"), float("nan"))
        self._update_can_start()
        self.runOpened.emit(run_dir)

    def _on_dataset_changed(self, choice: DatasetChoice | None) -> None:
        if choice is not None and self._resume_dir is not None and not self.is_training():
            self._set_resume_dir(None)  # a new dataset means a new run
            self._show_run_text("")
        self._update_can_start()

    def _set_resume_dir(self, run_dir: Path | None) -> None:
        """Continue ``run_dir`` on the next Start (only the settings a resume may change stay editable)."""
        self._resume_dir = run_dir
        self.settings_form.set_resume_mode(run_dir is not None)
        self.settings_form.run_name.setText(run_dir.name if run_dir is not None else "")
        self._update_can_start()

    def _on_sampling_requested(self, run_dir: Path) -> None:
        self.state.set_model_path(run_dir)
        self.state.show_status(f"Sampling panel: using {run_dir.name}", 4000)

    def _set_state(self, state: str) -> None:
        self.controls.set_state(state)
        busy = state != "idle"
        self.settings_form.set_locked(busy, resume_mode=self._resume_dir is not None)
        self.dataset_view.setEnabled(not busy)
        self.runs_list.set_busy(busy)
        self._update_status_label()
        self.trainingStateChanged.emit(state)

    def _update_can_start(self) -> None:
        ready = self._resume_dir is not None or self.dataset_view.choice is not None
        self.controls.set_can_start(ready, "" if ready else "Choose a dataset on the Data tab first")

    def _update_status_label(self) -> None:
        state = self.training_state
        if state == "idle":
            self.status_label.setVisible(False)
            return
        update = self._last_update
        text = {"starting": "Training: starting…", "paused": "Training paused", "stopping": "Training: saving…",
                "pausing": "Training: pausing…"}.get(state, "Training")
        if update is not None and update.total_steps:
            text += f"  {update.step:,}/{update.total_steps:,}"
            if state == "training":
                text += f" · ETA {format_duration(update.eta_s)}"
        self.status_label.setText(text)
        self.status_label.setVisible(True)

    # -- drag a folder onto the panel ----------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if not self.is_training() and folder_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        folder = folder_from_mime(event.mimeData())
        if folder is None or self.is_training():
            event.ignore()
            return
        event.acceptProposedAction()
        self.tabs.setCurrentIndex(0)
        self.dataset_view.set_folder(folder)
