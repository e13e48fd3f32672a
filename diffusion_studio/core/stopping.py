"""A stop request that a GUI thread, a signal handler or a test can set and a core generator polls."""

from __future__ import annotations

import threading

__all__ = ["StopFlag"]


class StopFlag:
    """Thread-safe, set-once stop request; call it to ask whether a stop was requested.

    Core generators take ``should_stop: Callable[[], bool]``; a ``StopFlag`` is one.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()
