"""The list of schedules on the lab's plots: a colour swatch, a show/hide box, add and remove.

A view only: the panel owns the entries and calls :meth:`OverlayList.set_entries` /
:meth:`OverlayList.refresh_entry`; user actions come back as signals.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ... import theme
from ....core.schedule_choices import SCHEDULE_CHOICES
from ....core.schedule_entries import ScheduleEntry

__all__ = ["OverlayList"]


def _swatch(color: QColor, size: int = 14) -> QIcon:
    pixmap = QPixmap(size * 2, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = painter.pen()
    pen.setColor(color)
    pen.setWidthF(3.0)
    painter.setPen(pen)
    painter.drawLine(2, size // 2, size * 2 - 2, size // 2)
    painter.end()
    return QIcon(pixmap)


class OverlayList(QWidget):
    #: the row the editor should show
    currentChanged = Signal(int)
    #: (row, visible)
    visibilityToggled = Signal(int, bool)
    #: a canonical schedule name, or "" for "a copy of the selected schedule"
    addRequested = Signal(str)
    removeRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setIconSize(QSize(28, 14))
        self.list.setUniformItemSizes(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)  # the full text is in the tooltip
        self.list.setToolTip("Tick to show, untick to hide; select one to edit it")

        self.add_button = QToolButton()
        self.add_button.setText("＋ Add")
        self.add_button.setToolTip("Add a copy of the selected schedule to compare against (menu: pick a recipe)")
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(self.add_button)
        copy_action = QAction("Copy of the selected schedule", menu)
        copy_action.triggered.connect(lambda: self.addRequested.emit(""))
        menu.addAction(copy_action)
        menu.addSeparator()
        for label, name in SCHEDULE_CHOICES:
            action = QAction(label, menu)
            action.triggered.connect(lambda _=False, n=name: self.addRequested.emit(n))
            menu.addAction(action)
        self.add_button.setMenu(menu)
        self.add_button.clicked.connect(lambda: self.addRequested.emit(""))

        self.remove_button = QToolButton()
        self.remove_button.setText("－ Remove")
        self.remove_button.setToolTip("Remove the selected overlay (the forward view's schedule stays)")
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self.list.currentRow()))

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(theme.SPACING // 2)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(theme.SPACING // 2)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

        self.list.currentRowChanged.connect(self._on_current_row_changed)
        self.list.itemChanged.connect(self._on_item_changed)

    # -- API -------------------------------------------------------------------------------
    def set_entries(self, entries: list[ScheduleEntry], current: int) -> None:
        with QSignalBlocker(self.list):
            self.list.clear()
            for entry in entries:
                item = QListWidgetItem()
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                self.list.addItem(item)
                self._fill(item, entry)
            self.list.setCurrentRow(current)
        self._update_buttons(entries[current] if 0 <= current < len(entries) else None)

    def refresh_entry(self, row: int, entry: ScheduleEntry) -> None:
        item = self.list.item(row)
        if item is not None:
            with QSignalBlocker(self.list):
                self._fill(item, entry)

    def current_row(self) -> int:
        return self.list.currentRow()

    def set_current_row(self, row: int) -> None:
        self.list.setCurrentRow(row)

    # -- internals -------------------------------------------------------------------------
    def _fill(self, item: QListWidgetItem, entry: ScheduleEntry) -> None:
        prefix = "Forward view: " if entry.primary else ""
        warning = "  ⚠" if entry.error else ""
        item.setText(f"{prefix}{entry.title()}{warning}")
        item.setIcon(_swatch(theme.plot_color(entry.color_index)))
        item.setCheckState(Qt.CheckState.Checked if entry.visible else Qt.CheckState.Unchecked)
        tip = entry.schedule.describe()
        if entry.error:
            tip += f"\nLast change refused: {entry.error}"
        item.setToolTip(tip)
        font = QFont(item.font())
        font.setBold(entry.primary)
        item.setFont(font)
        item.setData(Qt.ItemDataRole.UserRole, entry.primary)

    def _update_buttons(self, entry: ScheduleEntry | None) -> None:
        self.remove_button.setEnabled(entry is not None and not entry.primary)

    def _on_current_row_changed(self, row: int) -> None:
        if row < 0:
            return
        item = self.list.item(row)
        self.remove_button.setEnabled(not bool(item.data(Qt.ItemDataRole.UserRole)))
        self.currentChanged.emit(row)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        self.visibilityToggled.emit(self.list.row(item), item.checkState() == Qt.CheckState.Checked)
