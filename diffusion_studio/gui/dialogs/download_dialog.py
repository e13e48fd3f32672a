"""Download a Hugging Face Hub repository into the local cache, with a progress bar and Cancel.

Reusable by every panel that opens Hub models (the Sample panel's pixel models, the Text to image panel)::

    dialog = DownloadDialog("google/ddpm-cifar10-32", parent=self)          # hub.download_snapshot
    dialog = DownloadDialog(repo_id, parent=self, fetch=partial(my_download, repo_id))  # any fetch
    dialog.downloaded.connect(self._on_downloaded)   # Path of the cached snapshot
    dialog.open()                                    # starts the download; Cancel stops it between chunks

``fetch(progress, should_stop) -> Path`` does the work in a worker thread: ``progress(done, total)`` in
bytes (each call of huggingface_hub restarts the count), ``should_stop()`` true after Cancel. The default
is :func:`core.model_sources.hub.download_snapshot` of the repository with its safe patterns. The dialog
never downloads by itself: huggingface_hub does, into its own cache.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from ...core.stopping import StopFlag

__all__ = ["DownloadDialog", "format_bytes"]

Fetch = Callable[[Callable[[int, int], None], Callable[[], bool]], Path]
_REPORT_INTERVAL_S = 0.05  # at most 20 progress updates a second reach the GUI


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


class _Relay(QObject):
    """Carries progress from the download thread to the dialog (a queued signal)."""

    progressed = Signal(int, int)


def _default_fetch(repo_id: str) -> Fetch:
    def fetch(progress, should_stop):
        from ...core.model_sources import hub

        return hub.download_snapshot(repo_id, progress=progress, should_stop=should_stop)

    return fetch


class DownloadDialog(QDialog):
    """Downloads ``repo_id`` (see the module docstring); ``downloaded(Path)``, ``failed(str)`` or ``cancelled()``."""

    downloaded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, repo_id: str, parent: QWidget | None = None, *, fetch: Fetch | None = None,
                 title: str | None = None):
        super().__init__(parent)
        self.repo_id = repo_id
        self.snapshot: Path | None = None
        self.error: Exception | None = None
        self._fetch = fetch or _default_fetch(repo_id)
        self._stop = StopFlag()
        self._worker = None
        self._last_report = 0.0
        self._relay = _Relay(self)
        self._relay.progressed.connect(self._on_progress)

        self.setWindowTitle(title or f"Download {repo_id}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.label = QLabel(self._where_text())
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy until the first byte count arrives
        self.progress.setTextVisible(True)
        self.status = QLabel("Connecting…")
        self.status.setProperty("role", "muted")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)

    def _where_text(self) -> str:
        try:
            from ...core.model_sources.hub import hub_cache_dir

            cache = f" into {hub_cache_dir()}"
        except Exception:  # noqa: BLE001 - only a label
            cache = ""
        return f"Downloading <b>{self.repo_id}</b> from the Hugging Face Hub{cache}."

    # -- public API ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        """Begin the download (``open()``/``show()`` call this); does nothing if it runs or has finished."""
        if self._worker is not None or self.snapshot is not None or self.error is not None:
            return
        from superqt.utils import thread_worker

        factory = thread_worker(self._run, start_thread=False, ignore_errors=True)
        self._worker = factory()
        self._worker.returned.connect(self._on_returned)
        self._worker.errored.connect(self._on_errored)
        self._worker.finished.connect(self._on_finished)
        self._worker.start()

    def cancel(self) -> None:
        """Ask the download to stop at its next chunk; ``cancelled`` follows when it has."""
        if self._worker is None:
            return
        self._stop.set()
        self.status.setText("Cancelling… (what was fetched stays in the cache for next time)")
        self.buttons.setEnabled(False)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.start()

    def reject(self) -> None:
        if self._worker is not None:
            self.cancel()  # Cancel, Esc or the window's close button: the dialog closes once it stopped
            return
        super().reject()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._worker is not None:
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)

    # -- the worker --------------------------------------------------------------------------
    def _run(self) -> Path:
        return Path(self._fetch(self._report, self._stop))

    def _report(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_report >= _REPORT_INTERVAL_S or (total and done >= total):
            self._last_report = now
            self._relay.progressed.emit(int(done), int(total))

    def _on_progress(self, done: int, total: int) -> None:
        if self._stop():
            return
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(min(1000, int(1000 * done / total)))
            self.progress.setFormat(f"{format_bytes(done)} of {format_bytes(total)}")
            self.status.setText("Downloading…")
        else:
            self.status.setText(f"Downloading… {format_bytes(done)}")

    def _on_returned(self, snapshot: Path) -> None:
        self.snapshot = snapshot

    def _on_errored(self, error: Exception) -> None:
        self.error = error

    def _on_finished(self) -> None:
        from ...core.errors import InputError
        from ...core.model_sources.hub import DownloadCancelled

        self._worker = None
        self.buttons.setEnabled(True)
        if self.snapshot is not None:
            self.downloaded.emit(self.snapshot)
            self.accept()
        elif isinstance(self.error, DownloadCancelled) or self._stop():
            self.cancelled.emit()
            super().reject()
        else:
            error = self.error
            text = str(error) if isinstance(error, InputError) else f"Download failed: {type(error).__name__}: {error}"
            self.status.setText(text)
            self.status.setProperty("role", "error")
            self.status.setStyleSheet("color: palette(bright-text);")
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
            self.failed.emit(text)
