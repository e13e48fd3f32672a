"""Help > Keyboard Shortcuts: every menu shortcut of the window plus the keys panels handle themselves."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

__all__ = ["ShortcutsDialog", "PANEL_KEYS", "collect_shortcuts"]

#: Keys handled inside panels (not menu actions): (where, keys, what).
PANEL_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Forward process", "← / →", "Previous / next timestep"),
    ("Forward process", "Shift+← / Shift+→", "Move t by 10% of T"),
    ("Forward process", "Home / End", "t = 0 / t = T−1"),
    ("Sampling player", "Space", "Play / pause"),
    ("Sampling player", "← / →", "Previous / next frame"),
    ("Sampling player", "Home / End", "First / last frame"),
)


def collect_shortcuts(window: QWidget) -> list[tuple[str, str, str]]:
    """(where, keys, what) for every action with a shortcut under ``window``, then the panel keys."""
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for action in window.findChildren(QAction):
        sequence = action.shortcut()
        if sequence.isEmpty():
            continue
        text = action.text().replace("&", "").rstrip(".…")
        keys = sequence.toString(QKeySequence.SequenceFormat.NativeText)
        if (text, keys) in seen:
            continue
        seen.add((text, keys))
        rows.append(("Menus", keys, text))
    rows.sort(key=lambda r: r[2].lower())
    return rows + list(PANEL_KEYS)


class ShortcutsDialog(QDialog):
    def __init__(self, window: QWidget, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(520, 480)
        rows = collect_shortcuts(window)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
