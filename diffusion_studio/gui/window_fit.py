"""Window geometry that fits the screen: the first size on a new screen, a saved one on a smaller screen.

Pure rectangle arithmetic (``QRect`` in, ``QRect`` out), so it is tested without a window manager.
"""

from __future__ import annotations

from PySide6.QtCore import QMargins, QRect, QSize

__all__ = ["fit_rect", "first_rect", "client_area", "PREFERRED_SIZE", "MINIMUM_SIZE", "FRAME_ALLOWANCE"]

#: the size the window opens at where the screen has room for it
PREFERRED_SIZE = QSize(1440, 900)
#: the smallest window every panel still works in (the docks and side columns scroll below that)
MINIMUM_SIZE = QSize(1024, 600)
#: room left for the window manager's frame and title bar, which a window cannot measure before it is shown
FRAME_ALLOWANCE = QMargins(4, 36, 4, 4)


def client_area(available: QRect) -> QRect:
    """The part of a screen's available area a window's contents can have once it wears a frame."""
    return available.marginsRemoved(FRAME_ALLOWANCE)


def fit_rect(rect: QRect, available: QRect) -> QRect:
    """``rect`` shrunk to fit ``available`` and moved inside it (unchanged when it already fits)."""
    width, height = min(rect.width(), available.width()), min(rect.height(), available.height())
    left = min(max(rect.left(), available.left()), available.right() + 1 - width)
    top = min(max(rect.top(), available.top()), available.bottom() + 1 - height)
    return QRect(left, top, width, height)


def first_rect(available: QRect, preferred: QSize = PREFERRED_SIZE) -> QRect:
    """The preferred size, never larger than ``available``, centred in it."""
    size = preferred.boundedTo(available.size())
    rect = QRect(0, 0, size.width(), size.height())
    rect.moveCenter(available.center())
    return fit_rect(rect, available)
