"""The mouse wheel scrolls panels; it changes a spin box or a drop-down only once you clicked it.

Without this, scrolling a long form with the wheel changes whichever value passes under the
pointer (Batch went from 16 to 13 on the way down the Train tab). Installed once on the
application by ``app.create_application``, so it covers every panel and dialog.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QWidget

__all__ = ["WheelGuard", "install_wheel_guard"]


class WheelGuard(QObject):
    """An application event filter: a wheel over a spin box or combo box without keyboard focus
    goes to the scroll area around it (or nowhere) instead of changing the value."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, (QAbstractSpinBox, QComboBox)):
            return False
        if watched.hasFocus():
            return False  # clicked or tabbed into: the wheel edits, as everywhere
        area = _scroll_area_around(watched)
        if area is not None:
            viewport = area.viewport()
            position = QPointF(viewport.mapFromGlobal(event.globalPosition().toPoint()))
            QApplication.sendEvent(viewport, QWheelEvent(
                position, event.globalPosition(), event.pixelDelta(), event.angleDelta(), event.buttons(),
                event.modifiers(), event.phase(), event.inverted(), event.source()))
        return True


def _scroll_area_around(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea):
            return parent
        parent = parent.parentWidget()
    return None


def install_wheel_guard(app: QApplication) -> WheelGuard:
    """Install the guard on ``app`` once (a second call returns the first guard)."""
    guard = app.findChild(WheelGuard)
    if guard is None:
        guard = WheelGuard(app)
        app.installEventFilter(guard)
    return guard
