"""A non-modal message bar across the top of the window (like a browser's info bar).

Used for errors the user should read but that must not block work: an image that
could not be opened, a settings file that was corrupt. Closed with ✕ or replaced
by the next message.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

__all__ = ["MessageStrip"]

_ICONS = {"error": "⚠", "warning": "⚠", "info": "ℹ"}


class MessageStrip(QFrame):
    closed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageStrip")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._icon = QLabel()
        self._icon.setTextFormat(Qt.TextFormat.PlainText)
        self._text = QLabel()
        self._text.setWordWrap(True)
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.setSpacing(8)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self._text, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        self._icon.setText(_ICONS.get(kind, ""))
        self._text.setText(text)
        self.setProperty("kind", kind)
        self.show()

    def text(self) -> str:
        """The message shown, or "" when the strip is hidden."""
        return "" if self.isHidden() else self._text.text()

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()
