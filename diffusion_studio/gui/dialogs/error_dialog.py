"""The dialog an unexpected exception shows: the message, the details, "Copy details"; the app keeps running."""

from __future__ import annotations

import logging
import platform
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from ... import __version__

__all__ = ["ErrorDialog", "install_excepthook", "format_details"]

log = logging.getLogger("diffusion_studio.gui")


def format_details(exc_type, exc: BaseException, tb: TracebackType | None) -> str:
    lines = "".join(traceback.format_exception(exc_type, exc, tb))
    return (
        f"Diffusion Studio {__version__} · Python {platform.python_version()} · "
        f"{platform.system()} {platform.release()}\n\n{lines}"
    )


class ErrorDialog(QDialog):
    def __init__(self, message: str, details: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Something went wrong")
        self.setMinimumWidth(560)
        self.details = details
        headline = QLabel(
            f"<b>{message}</b><br>Diffusion Studio is still running; your work is unchanged. "
            "The details below are also in the log file."
        )
        headline.setWordWrap(True)
        headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_view = QPlainTextEdit(details)
        self.details_view.setReadOnly(True)
        self.details_view.setMinimumHeight(200)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy details")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self._on_copy)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(headline)
        layout.addWidget(self.details_view, 1)
        layout.addWidget(buttons)

    def _on_copy(self) -> None:
        QGuiApplication.clipboard().setText(self.details)
        self.copy_button.setText("Copied")


class _ExceptHook:
    """Replaces sys.excepthook: logs, then shows one dialog at a time instead of aborting."""

    def __init__(self, parent_getter):
        self._parent_getter = parent_getter
        self._showing = False
        self.last_dialog: ErrorDialog | None = None

    def __call__(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        details = format_details(exc_type, exc, tb)
        log.error("unexpected exception\n%s", details)
        if self._showing:  # an error inside the dialog itself: log only
            return
        self._showing = True
        try:
            dialog = ErrorDialog(f"{exc_type.__name__}: {exc}", details, self._parent_getter())
            self.last_dialog = dialog
            dialog.open()
            dialog.finished.connect(self._on_closed)
        except Exception:  # noqa: BLE001 - never let the hook raise
            self._showing = False
            sys.__excepthook__(exc_type, exc, tb)

    def _on_closed(self) -> None:
        self._showing = False


def install_excepthook(parent_getter=lambda: None) -> _ExceptHook:
    hook = _ExceptHook(parent_getter)
    sys.excepthook = hook
    return hook
