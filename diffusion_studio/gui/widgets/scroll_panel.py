"""A panel in a scroll area that scrolls only once the panel cannot shrink any further.

A plain ``QScrollArea`` with ``widgetResizable`` lays a panel with word-wrapped labels out at its
*preferred* height for the width (height-for-width), so a dock shorter than that shows a scroll
bar and hides the panel's lower part although the panel could have shrunk to fit. Here the
panel sits in a holder without a layout that asks only for the panel's minimum size: the panel
fills the dock, shrinks down to its minimum, and only below that does the dock scroll.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

__all__ = ["ScrollPanel"]


class _MinimumSizeHolder(QWidget):
    def __init__(self, panel: QWidget, area: QScrollArea):
        super().__init__()
        self._panel = panel
        self._area = area
        panel.setParent(self)
        panel.installEventFilter(self)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return self._panel.minimumSizeHint().expandedTo(self._panel.minimumSize())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return self._panel.sizeHint().expandedTo(self.minimumSizeHint())

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._panel.setGeometry(self.rect())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        # The panel's minimum changed (a row shown, a longer text): let the scroll area re-measure.
        if watched is self._panel and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
            QApplication.postEvent(self._area, QEvent(QEvent.Type.LayoutRequest))
        return False


class ScrollPanel(QScrollArea):
    """``ScrollPanel(panel)``: frameless; ``panel()`` is the widget it shows."""

    def __init__(self, panel: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self._panel = panel
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setWidget(_MinimumSizeHolder(panel, self))

    def panel(self) -> QWidget:
        return self._panel
