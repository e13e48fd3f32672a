"""A rate cap for views that follow a fast stream of changes (a dragged slider).

The first request is served at once; requests during the next ``interval_ms`` become one call
at its end. So the view moves while the user drags and always ends on the last value.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QTimer

__all__ = ["Throttle"]


class Throttle(QObject):
    """``throttle()`` asks for ``callback()``: at once, or once at the end of the running interval."""

    def __init__(self, callback: Callable[[], None], interval_ms: int, parent: QObject | None = None):
        super().__init__(parent)
        self._callback = callback
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_interval_end)

    def __call__(self) -> None:
        if self._timer.isActive():
            self._pending = True
            return
        self._serve()

    @property
    def pending(self) -> bool:
        return self._pending

    def flush(self) -> None:
        """Serve a waiting request now (e.g. before reading what the view shows)."""
        if self._pending:
            self._timer.stop()
            self._serve()

    def _serve(self) -> None:
        self._pending = False
        self._timer.start()  # the interval starts before the call: a slow callback still gets a rest
        self._callback()

    def _on_interval_end(self) -> None:
        if self._pending:
            self._serve()
