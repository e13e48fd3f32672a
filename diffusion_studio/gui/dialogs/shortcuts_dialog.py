"""Help > Keyboard Shortcuts: read from the window's own actions, shortcuts and buttons, so it cannot drift.

Every ``QAction`` with a shortcut (listed under its menu), every ``QShortcut`` (its ``whatsThis``
says what it does) and every button with a shortcut (its text), each under the name of the panel
that holds it: a dock's title, or the window title of a panel such as the forward explorer.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QHeaderView,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = ["ShortcutsDialog", "collect_shortcuts", "key_text"]

_ARROWS = {"Left": "←", "Right": "→", "Up": "↑", "Down": "↓"}


def key_text(sequences: list[QKeySequence]) -> str:
    """"Ctrl+O", "Shift+→" …: the platform's names with arrows drawn as arrows; several joined by " or "."""
    texts = []
    for sequence in sequences:
        text = sequence.toString(QKeySequence.SequenceFormat.NativeText)
        texts.append("+".join(_ARROWS.get(part, part) for part in text.split("+")))
    return " or ".join(t for t in texts if t)


def _clean(text: str) -> str:
    return text.replace("&", "").rstrip(".…").strip()


def _menu_path(action: QAction) -> str:
    """"File", "View › Panels": where the action sits in the menu bar."""
    def menu_of(item: QAction) -> QMenu | None:  # (a menu bar's overflow menu has no title: skipped)
        return next((o for o in item.associatedObjects() if isinstance(o, QMenu) and o.title()), None)

    menu = menu_of(action)
    names = []
    while menu is not None:
        names.append(_clean(menu.title()))
        menu = menu_of(menu.menuAction())
    return " › ".join(reversed(names)) or "Window"


def _panel_name(widget: QWidget | None, window: QWidget) -> str:
    while widget is not None and widget is not window:
        if isinstance(widget, QDockWidget) or (widget.windowTitle() and not widget.isWindow()):
            return widget.windowTitle()
        widget = widget.parentWidget()
    return "Window"


def collect_shortcuts(window: QWidget) -> list[tuple[str, str, str]]:
    """(where, keys, what it does) for every shortcut under ``window``: menus first, then panels."""
    menus: list[tuple[str, str, str]] = []
    for action in window.findChildren(QAction):
        if action.shortcuts():
            menus.append((_menu_path(action), key_text(action.shortcuts()), _clean(action.text())))
    panels: list[tuple[QWidget, tuple[str, str, str]]] = []
    for shortcut in window.findChildren(QShortcut):
        keys = key_text(shortcut.keys())
        if keys:
            panels.append((shortcut.parent(), (_panel_name(shortcut.parent(), window), keys, shortcut.whatsThis() or "—")))
    for button in window.findChildren(QAbstractButton):
        if not button.shortcut().isEmpty():
            panels.append((button, (_panel_name(button, window), key_text([button.shortcut()]), _clean(button.text()))))
    central = window.centralWidget() if isinstance(window, QMainWindow) else None
    # The main view's keys first, then the docks' (a stable sort keeps each panel's own order).
    panels.sort(key=lambda item: not (central is not None and central.isAncestorOf(item[0])))
    return list(dict.fromkeys(menus)) + list(dict.fromkeys(row for _, row in panels))


class ShortcutsDialog(QDialog):
    def __init__(self, window: QWidget, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(560, 480)
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

    def rows(self) -> list[tuple[str, str, str]]:
        """What the table shows, row by row."""
        return [tuple(self.table.item(r, c).text() for c in range(3)) for r in range(self.table.rowCount())]
