"""The player's keys for a panel that holds a timeline: Space plays, ←/→ step, Home/End jump to the ends.

Bound to the panel with ``WidgetWithChildrenShortcut``, so they work wherever the focus is inside it.
The Text to image panel uses it; the Sample panel binds the same keys by hand (one place for both at merge).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

__all__ = ["bind_player_keys"]


def bind_player_keys(panel: QWidget, timeline, user_step: Callable[[int], None]) -> list[QShortcut]:
    """Space → ``timeline.toggle_play()``; ←/→ → ``user_step(∓1)``; Home/End → to the first/last frame."""
    shortcuts = []
    for key, slot in ((Qt.Key.Key_Space, timeline.toggle_play),
                      (Qt.Key.Key_Left, lambda: user_step(-1)),
                      (Qt.Key.Key_Right, lambda: user_step(1)),
                      (Qt.Key.Key_Home, lambda: user_step(-timeline.count)),
                      (Qt.Key.Key_End, lambda: user_step(timeline.count))):
        shortcut = QShortcut(QKeySequence(key), panel)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)
        shortcuts.append(shortcut)
    panel.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return shortcuts
