"""The player's keys for a panel that holds a timeline: Space plays, ←/→ step, Home/End jump to the ends.

Bound to the panel with ``WidgetWithChildrenShortcut``, so they work wherever the focus is inside it.
Every shortcut says what it does (``whatsThis``): Help › Keyboard Shortcuts lists them from there.
The Sample, Text to image and Playground panels use it.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

__all__ = ["bind_player_keys"]


def bind_player_keys(panel: QWidget, toggle_play: Callable[[], None], user_step: Callable[[int], None], *,
                     what: str = "the chain", ends: tuple[str, str] | None = ("pure noise", "the samples"),
                     frame_count: Callable[[], int] | None = None) -> list[QShortcut]:
    """Space → ``toggle_play()``; ←/→ → ``user_step(∓1)``; with ``ends``, Home/End → the first/last frame
    (``user_step(∓frame_count())``). ``what`` and ``ends`` name them in Help › Keyboard Shortcuts."""
    keys: list[tuple[Qt.Key, str, Callable[[], None]]] = [
        (Qt.Key.Key_Space, f"Play / pause {what}", toggle_play),
        (Qt.Key.Key_Left, "Previous frame", lambda: user_step(-1)),
        (Qt.Key.Key_Right, "Next frame", lambda: user_step(1)),
    ]
    if ends is not None and frame_count is not None:
        keys += [(Qt.Key.Key_Home, f"First frame ({ends[0]})", lambda: user_step(-frame_count())),
                 (Qt.Key.Key_End, f"Last frame ({ends[1]})", lambda: user_step(frame_count()))]
    shortcuts = []
    for key, description, slot in keys:
        shortcut = QShortcut(QKeySequence(key), panel)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.setWhatsThis(description)
        shortcut.activated.connect(slot)
        shortcuts.append(shortcut)
    panel.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return shortcuts
