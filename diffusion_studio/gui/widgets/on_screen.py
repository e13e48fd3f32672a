"""Is a panel on screen? For work that can wait while nobody sees it.

Qt keeps the docks behind another tab of a tabbed dock area *visible*: it moves them off
screen instead of hiding them, so ``isVisible()`` stays True and no show event comes when
their tab is picked. A panel following the forward slider would redo its view for every t
there. :func:`is_on_screen` tells the two apart; :class:`OnScreenWatch` calls back when the
widget comes (back) on screen, so the panel can catch up then.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QDockWidget, QWidget

__all__ = ["is_on_screen", "OnScreenWatch"]


def is_on_screen(widget: QWidget) -> bool:
    """Shown, and not off screen behind another dock tab (a window covering it still counts)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


class OnScreenWatch(QObject):
    """Calls ``on_shown()`` when ``widget`` is shown or the tab of the dock holding it is picked."""

    def __init__(self, widget: QWidget, on_shown: Callable[[], None]):
        super().__init__(widget)
        self._widget = widget
        self._on_shown = on_shown
        self._dock: QDockWidget | None = None
        widget.installEventFilter(self)
        self._follow_dock()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self._widget:
            if event.type() == QEvent.Type.ParentChange:
                self._follow_dock()
            elif event.type() == QEvent.Type.Show:
                self._follow_dock()
                self._on_shown()
        return False

    def _follow_dock(self) -> None:
        dock = self._widget.parentWidget()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        if dock is self._dock:
            return
        if self._dock is not None:
            self._dock.visibilityChanged.disconnect(self._on_dock_visibility)
        self._dock = dock
        if dock is not None:
            dock.visibilityChanged.connect(self._on_dock_visibility)

    def _on_dock_visibility(self, visible: bool) -> None:
        if visible:
            self._on_shown()
