"""Download a Hub model into the local cache behind a progress dialog with Cancel.

One small entry point, :func:`download_model`, so the shared download dialog can replace it in one place.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget
from superqt.utils import thread_worker

from ....core.stopping import StopFlag

__all__ = ["DownloadDialog", "download_model"]


def _fetch(spec: str, report: Callable[[int, int], None], stop: StopFlag):
    from ....core.model_sources import latent

    return latent.download(spec, progress=report, should_stop=stop)


class DownloadDialog(QProgressDialog):
    """Bytes done of the total while ``core.model_sources.latent.download`` runs in a worker; Cancel stops it."""

    #: byte counts from the download thread (queued to the GUI thread)
    moved = Signal(int, int)
    #: (snapshot folder or None, error or None)
    finished_download = Signal(object, object)

    def __init__(self, spec: str, parent: QWidget | None = None):
        super().__init__(f"Downloading {spec} from the Hugging Face Hub…", "Cancel", 0, 1000, parent)
        self.spec = spec
        self.setWindowTitle("Download model")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.stop = StopFlag()
        self.canceled.connect(self.stop.set)
        self.moved.connect(self._on_moved)
        self.worker = thread_worker(_fetch, start_thread=False, ignore_errors=True)(spec, self.moved.emit, self.stop)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_errored)

    def start(self) -> None:
        self.show()
        self.worker.start()

    def _on_moved(self, done: int, total: int) -> None:
        self.setValue(int(1000 * done / total) if total else 0)
        self.setLabelText(f"Downloading {self.spec}: {done / 1e6:,.0f} of {total / 1e6:,.0f} MB")

    def _on_returned(self, folder) -> None:
        self.close()
        self.finished_download.emit(folder, None)

    def _on_errored(self, error: Exception) -> None:
        self.close()
        self.finished_download.emit(None, error)


def download_model(parent: QWidget, spec: str, on_done: Callable[[object, object], None]) -> DownloadDialog:
    """Download ``spec`` with a progress dialog; then ``on_done(folder, None)`` or ``on_done(None, error)``
    (a ``DownloadCancelled`` after Cancel; what was fetched stays in the cache). Keep the returned dialog."""
    dialog = DownloadDialog(spec, parent)
    dialog.finished_download.connect(on_done)
    dialog.start()
    return dialog
