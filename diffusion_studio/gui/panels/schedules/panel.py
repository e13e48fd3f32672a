"""The schedule lab: plot, compare and export noise schedules, linked to the forward view.

The first schedule in the list *is* the app's ``AppState.schedule``: editing it changes
the forward view (``state.set_schedule``) and a change made in the forward view shows
up here. The vertical cursor is ``state.timestep`` both ways. Any number of overlays
can be added, edited live, hidden and removed.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from ....core.atomic import atomic_write_bytes, check_writable_dir
from ....core.errors import InputError
from ....core.schedule_table import write_schedule_csv
from ....core.schedules import SCHEDULE_PARAMS, NoiseSchedule, make_schedule
from ... import theme
from ...state import AppState
from ...widgets.message_strip import MessageStrip
from ...widgets.on_screen import OnScreenWatch, is_on_screen
from .editor import ScheduleEditor
from ....core.schedule_entries import ScheduleEntry
from .overlays import OverlayList
from .plots import QUANTITIES, X_MODES, SchedulePlots
from .readout import ScheduleReadout

__all__ = ["SchedulePanel", "READOUT_INTERVAL_MS"]

#: the readout's fastest rate while t changes (the cursor itself follows every t)
READOUT_INTERVAL_MS = 100

_TOGGLE_TEXT = {
    "beta": "β",
    "alphas_cumprod": "ᾱ",
    "log_snr": "log SNR",
    "sqrt_alphas_cumprod": "√ᾱ",
    "sqrt_one_minus_alphas_cumprod": "√(1−ᾱ)",
}


class SchedulePanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None, *, compare_with: tuple[str, ...] = ("linear",)):
        super().__init__(parent)
        self.state = state
        self.entries: list[ScheduleEntry] = []
        self._pushing_schedule = False
        self._hover_x = math.nan
        self._cursor_stale = False  # t changed while the panel was off screen
        self._on_screen_watch = OnScreenWatch(self, self._on_shown)
        # While t is dragged the table (rich text, slow to lay out) follows at up to 10 Hz.
        self._readout_throttle = qthrottled(self._refresh_readout, READOUT_INTERVAL_MS)

        self.message_strip = MessageStrip()
        self.overlays = OverlayList()
        self.editor = ScheduleEditor()
        self.plots = SchedulePlots()
        self.readout = ScheduleReadout()
        self._build_toolbar()
        self._build_layout()

        self.overlays.currentChanged.connect(self._on_current_changed)
        self.overlays.visibilityToggled.connect(self._on_visibility_toggled)
        self.overlays.addRequested.connect(self.add_overlay)
        self.overlays.removeRequested.connect(self.remove_overlay)
        self.editor.edited.connect(self._on_edited)
        self.plots.cursorDragged.connect(self._on_cursor_dragged)
        self.plots.hovered.connect(self._on_hovered)
        self.plots.legendToggled.connect(self._on_legend_toggled)
        state.scheduleChanged.connect(self._on_state_schedule_changed)
        state.timestepChanged.connect(self._on_state_timestep_changed)
        theme.theme_manager().changed.connect(self._on_theme_changed)

        self._append(ScheduleEntry(state.schedule, color_index=0, primary=True))
        for name in compare_with:
            if name != state.schedule.name:
                self._append(ScheduleEntry(make_schedule(name, state.schedule.num_timesteps), self._free_color()))
        self.overlays.set_entries(self.entries, 0)
        self.editor.load(self.entries[0])
        self._update_cursor()

    # -- building ----------------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        self.quantity_buttons: dict[str, QToolButton] = {}
        for quantity in QUANTITIES:
            button = QToolButton()
            button.setText(_TOGGLE_TEXT[quantity.key])
            button.setCheckable(True)
            button.setChecked(True)
            button.setToolTip(f"Show the plot of {quantity.title}")
            button.toggled.connect(self._on_quantities_toggled)
            self.quantity_buttons[quantity.key] = button
        self.x_mode_combo = QComboBox()
        for mode, label in X_MODES.items():
            self.x_mode_combo.addItem(label, mode)
        self.x_mode_combo.setToolTip(
            "t / (T − 1) lines up schedules of different T; timestep t shows each schedule's own steps"
        )
        self.x_mode_combo.currentIndexChanged.connect(self._on_x_mode_changed)

        self.export_button = QToolButton()
        self.export_button.setText("Export ▾")
        self.export_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        self.export_button.setToolTip("Save the plots (PNG, SVG) or the selected schedule's table (CSV)")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for label, handler in (
            ("Plots as PNG…", lambda: self._export_with_dialog("png")),
            ("Plots as SVG…", lambda: self._export_with_dialog("svg")),
            ("Table of the selected schedule as CSV…", lambda: self._export_with_dialog("csv")),
        ):
            action = QAction(label, menu)
            action.triggered.connect(handler)
            menu.addAction(action)
        self.export_button.setMenu(menu)

    def _build_layout(self) -> None:
        toolbar = QHBoxLayout()
        toolbar.setSpacing(theme.SPACING // 2)
        show = QLabel("Show")
        show.setProperty("role", "muted")
        toolbar.addWidget(show)
        for button in self.quantity_buttons.values():
            toolbar.addWidget(button)
        toolbar.addSpacing(theme.SPACING * 2)
        x_label = QLabel("x axis")
        x_label.setProperty("role", "muted")
        toolbar.addWidget(x_label)
        toolbar.addWidget(self.x_mode_combo)
        toolbar.addStretch(1)
        toolbar.addWidget(self.export_button)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(theme.SPACING, 0, 0, 0)
        right_layout.setSpacing(theme.SPACING // 2)
        right_layout.addLayout(toolbar)
        right_layout.addWidget(self.plots, 1)
        right_layout.addWidget(self.readout)

        left_inner = QWidget()
        left_layout = QVBoxLayout(left_inner)
        left_layout.setContentsMargins(0, 0, theme.SPACING, 0)
        left_layout.setSpacing(theme.SPACING)
        heading = QLabel("Schedules")
        heading.setFont(theme.heading_font(0))
        left_layout.addWidget(heading)
        left_layout.addWidget(self.overlays, 1)
        left_layout.addWidget(self.editor)
        left = QScrollArea()
        left.setWidget(left_inner)
        left.setWidgetResizable(True)
        left.setFrameShape(QScrollArea.Shape.NoFrame)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left.setMinimumWidth(300)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([340, 900])
        self.splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(theme.MARGIN, theme.MARGIN // 2, theme.MARGIN, theme.MARGIN // 2)
        layout.setSpacing(theme.SPACING // 2)
        layout.addWidget(self.message_strip)
        layout.addWidget(self.splitter, 1)

    # -- entries -----------------------------------------------------------------------------
    @property
    def primary(self) -> ScheduleEntry:
        return self.entries[0]

    def current_entry(self) -> ScheduleEntry:
        row = self.overlays.current_row()
        return self.entries[row if 0 <= row < len(self.entries) else 0]

    def _free_color(self) -> int:
        used = {entry.color_index for entry in self.entries}
        return next(i for i in range(len(self.entries) + 1) if i not in used)

    def _append(self, entry: ScheduleEntry) -> None:
        self.entries.append(entry)
        self.plots.add_entry(entry)

    def add_overlay(self, name: str = "") -> ScheduleEntry:
        """Add a schedule to compare: a copy of the selected one, or ``name`` with its defaults."""
        base = self.current_entry().schedule
        schedule = NoiseSchedule.from_config(base.to_config()) if not name else make_schedule(name, base.num_timesteps)
        entry = ScheduleEntry(schedule, self._free_color())
        self._append(entry)
        self.overlays.set_entries(self.entries, len(self.entries) - 1)
        self.editor.load(entry)
        self._refresh_readout()
        return entry

    def remove_overlay(self, row: int) -> None:
        if not 0 < row < len(self.entries):  # the forward view's schedule stays
            return
        self.plots.remove_entry(self.entries.pop(row))
        current = min(row, len(self.entries) - 1)
        self.overlays.set_entries(self.entries, current)
        self.editor.load(self.entries[current])
        self._refresh_readout()

    def set_entry_visible(self, row: int, visible: bool) -> None:
        entry = self.entries[row]
        entry.visible = bool(visible)
        self.plots.update_entry(entry)
        self.overlays.refresh_entry(row, entry)
        self._refresh_readout()

    # -- handlers ----------------------------------------------------------------------------
    def _on_current_changed(self, row: int) -> None:
        if 0 <= row < len(self.entries):
            self.editor.load(self.entries[row])

    def _on_visibility_toggled(self, row: int, visible: bool) -> None:
        if 0 <= row < len(self.entries):
            self.set_entry_visible(row, visible)

    def _on_legend_toggled(self, uid: int, visible: bool) -> None:
        for row, entry in enumerate(self.entries):
            if entry.uid == uid and entry.visible != visible:
                self.set_entry_visible(row, visible)

    def _on_edited(self, name: str, num_timesteps: int, zero_terminal_snr: bool, params: dict) -> None:
        row = max(self.overlays.current_row(), 0)
        entry = self.entries[row]
        changed = entry.request(name, num_timesteps, zero_terminal_snr, params)
        self.editor.set_error(entry.error)
        self.editor.show_heading(entry)
        self.overlays.refresh_entry(row, entry)
        if not changed:
            return
        self.plots.update_entry(entry)
        if entry.primary:
            self._pushing_schedule = True
            try:
                self.state.set_schedule(entry.schedule)
            finally:
                self._pushing_schedule = False
            self._update_cursor()
        self._refresh_readout()

    def _on_state_schedule_changed(self, schedule: NoiseSchedule) -> None:
        if self._pushing_schedule:
            return
        primary = self.primary
        if schedule == primary.schedule and not primary.error:
            return
        self._keep_edited_primary(schedule)
        primary.adopt(schedule)
        self.plots.update_entry(primary)
        self.overlays.refresh_entry(0, primary)
        if self.overlays.current_row() == 0:
            self.editor.load(primary)
        self._update_cursor()
        self._refresh_readout()

    def _keep_edited_primary(self, incoming: NoiseSchedule) -> None:
        """The forward view switches to another recipe while the lab's copy of its schedule holds the
        user's own parameters: keep those as an overlay instead of dropping them without a word."""
        old = self.primary.schedule
        edited = old.zero_terminal_snr or dict(old.params) != SCHEDULE_PARAMS[old.name]
        if not edited or incoming.name == old.name or any(e.schedule == old for e in self.entries[1:]):
            return
        current = self.overlays.current_row()
        self._append(ScheduleEntry(old, self._free_color()))
        self.overlays.set_entries(self.entries, max(current, 0))
        self.state.show_status(f"Your edited {old.describe()} stays on the plots as an overlay", 6000)

    def _on_state_timestep_changed(self, _t: int) -> None:
        # The forward slider sends many t a second: off screen the panel catches up when shown.
        if not is_on_screen(self):
            self._cursor_stale = True
            return
        self._update_cursor()
        self._readout_throttle()

    def _on_shown(self) -> None:
        if self._cursor_stale:
            self._cursor_stale = False
            self._update_cursor()
            self._refresh_readout()

    def _update_cursor(self) -> None:
        self.plots.set_cursor(self.state.timestep, self.state.schedule.num_timesteps)

    def _on_cursor_dragged(self, x: float) -> None:
        T = self.state.schedule.num_timesteps
        t = round(x * (T - 1)) if self.plots.x_mode == "fraction" else round(x)
        self.state.set_timestep(min(max(t, 0), T - 1))
        self._update_cursor()  # snap to the whole step the forward view shows

    def _on_hovered(self, x: float) -> None:
        self._hover_x = x
        self._refresh_readout()

    def _on_quantities_toggled(self, _checked: bool) -> None:
        keys = [key for key, button in self.quantity_buttons.items() if button.isChecked()]
        if not keys:  # at least one plot stays
            sender = self.sender()
            if isinstance(sender, QToolButton):
                sender.setChecked(True)
            return
        self.plots.set_visible_quantities(keys)

    def _on_x_mode_changed(self, _index: int) -> None:
        self.plots.set_x_mode(self.x_mode_combo.currentData())
        for entry in self.entries:
            self.plots.update_entry(entry)
        for plot in self.plots.plots.values():
            plot.enableAutoRange()
        self._update_cursor()

    def _on_theme_changed(self, *_args) -> None:
        self.plots.restyle()
        for row, entry in enumerate(self.entries):
            self.plots.update_entry(entry)
            self.overlays.refresh_entry(row, entry)
        self._refresh_readout()

    def _refresh_readout(self) -> None:
        hovering = not math.isnan(self._hover_x)
        if hovering:
            rows = [(e, self.plots.t_of(self._hover_x, e.schedule.num_timesteps)) for e in self.entries]
        else:
            cursor_x = self.plots.x_of(self.state.timestep, self.state.schedule.num_timesteps)
            rows = [(e, self.plots.t_of(cursor_x, e.schedule.num_timesteps)) for e in self.entries]
        self.readout.show_rows([(e, t) for e, t in rows if e.visible], hovering=hovering)

    # -- export ------------------------------------------------------------------------------
    def export_plots_png(self, path: str | Path) -> bool:
        return self._export(path, lambda p: atomic_write_bytes(p, self.plots.png_bytes()), "plots as PNG")

    def export_plots_svg(self, path: str | Path) -> bool:
        return self._export(path, lambda p: atomic_write_bytes(p, self.plots.svg_bytes()), "plots as SVG")

    def export_table_csv(self, path: str | Path, entry: ScheduleEntry | None = None) -> bool:
        schedule = (entry or self.current_entry()).schedule
        return self._export(path, lambda p: write_schedule_csv(schedule, p), f"the table of {schedule.describe()}")

    def _export(self, path: str | Path, write, what: str) -> bool:
        path = Path(path)
        try:
            check_writable_dir(path.parent)
            write(path)
        except (InputError, OSError) as exc:
            message = str(exc) if isinstance(exc, InputError) else f"Could not write {path.name}: {exc.strerror or exc}"
            self.message_strip.show_message(f"Export failed: {message}")
            return False
        self.message_strip.dismiss()
        self.state.set_export_folder(path.parent)
        self.state.show_status(f"Saved {what} to {path}")
        return True

    def _export_with_dialog(self, kind: str) -> None:
        filters = {"png": "PNG image (*.png)", "svg": "SVG drawing (*.svg)", "csv": "CSV table (*.csv)"}
        stem = "schedules" if kind != "csv" else self.current_entry().schedule.name
        folder = self.state.export_folder or Path.home()
        path, _ = QFileDialog.getSaveFileName(self, "Export", str(folder / f"{stem}.{kind}"), filters[kind])
        if not path:
            return
        if not path.lower().endswith(f".{kind}"):
            path += f".{kind}"
        {"png": self.export_plots_png, "svg": self.export_plots_svg, "csv": self.export_table_csv}[kind](path)
