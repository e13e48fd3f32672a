"""The right half of the sampling panel: view switches, one or two chains, the schedule plot, the timeline.

Holds the chains' frames. Chain 0 drives the timeline; chain 1 (compare mode) shows its frame at
the same noise level as chain 0's current frame. Where each chain is shown is the panel's choice
(``reset(..., sides=...)``): in compare mode the main chain is on the left whichever one drives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from ... import theme
from ...widgets.image_view import ImageView
from ...widgets.message_strip import MessageStrip
from .compare import paired_index
from .frame_view import FrameView
from .frames import VIEW_LABELS, VIEW_SHORT_NAMES, VIEWS
from .schedule_marker import ScheduleMarkerPlot
from .timeline import TimelinePlayer

__all__ = ["ChainViewer", "Chain"]

_SIDE_WIDTH = 240


@dataclass
class Chain:
    label: str
    frames: list = field(default_factory=list)
    timesteps: tuple[int, ...] = ()
    expected_frames: int = 0


class ChainViewer(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.chains: list[Chain] = []
        self.view = "x_t"
        self.sample: int | None = None
        self.follow_live = True  # jump to the newest frame while a chain runs, until the user takes over
        self._programmatic = False

        self.message = MessageStrip()
        self._view_buttons: dict[str, QPushButton] = {}
        group = QButtonGroup(self)
        view_row = QHBoxLayout()
        view_row.setSpacing(2)
        show = QLabel("Show")
        show.setProperty("role", "muted")
        view_row.addWidget(show)
        view_row.addSpacing(4)
        for view in VIEWS:
            button = QPushButton(VIEW_SHORT_NAMES[view])
            button.setCheckable(True)
            button.setChecked(view == self.view)
            button.setToolTip(VIEW_LABELS[view])
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _checked=False, v=view: self.set_view(v))
            group.addButton(button)
            self._view_buttons[view] = button
            view_row.addWidget(button)
        view_row.addSpacing(12)
        self._follow_label = QLabel()
        self._follow_label.setProperty("role", "muted")
        self._grid_button = QPushButton("Back to grid")
        self._grid_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._grid_button.clicked.connect(lambda: self.follow_sample(None))
        view_row.addWidget(self._follow_label)
        view_row.addWidget(self._grid_button)
        view_row.addStretch(1)
        self._view_row = view_row

        self.views = [FrameView(), FrameView()]  # left, right
        for frame_view in self.views:
            frame_view.sampleClicked.connect(lambda i: self.follow_sample(None if i < 0 else i))
            frame_view.focusClicked.connect(self._on_focus_click)
        self.views[1].hide()
        self._sides = (0, 1)  # the view (0 left, 1 right) of chain 0 and of chain 1
        self.compare_note = QLabel()
        self.compare_note.setWordWrap(True)
        self.compare_note.setProperty("role", "muted")
        self.compare_note.hide()
        self.reference_view = ImageView("Your image, as the model sees it")
        self.reference_view.hide()
        self.schedule_plot = ScheduleMarkerPlot()
        self.schedule_plot.setFixedWidth(_SIDE_WIDTH)
        note = QLabel("ᾱ_t of the model's schedule. Dots: the chain's steps; marker: the frame shown.")
        note.setWordWrap(True)
        note.setProperty("role", "muted")
        note.setFont(theme.small_font())
        note.setFixedWidth(_SIDE_WIDTH)
        side = QVBoxLayout()
        side.setSpacing(4)
        side.addWidget(self.schedule_plot)
        side.addWidget(note)
        side.addStretch(1)

        images = QHBoxLayout()
        images.setSpacing(theme.SPACING)
        images.addWidget(self.reference_view, 1)
        for frame_view in self.views:
            images.addWidget(frame_view, 2)
        images.addLayout(side)

        self.timeline = TimelinePlayer()
        self.timeline.indexChanged.connect(self._on_index_changed)

        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(theme.SPACING)
        layout.addWidget(self.message)
        layout.addLayout(view_row)
        layout.addLayout(images, 1)
        layout.addWidget(self.compare_note)
        layout.addWidget(self.timeline)
        self._sync_follow_row()
        theme.theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed(theme.colors())

    def _on_theme_changed(self, colors: theme.ThemeColors) -> None:
        # The checked view reads as selected in both palettes (plain checkable buttons barely change).
        sheet = (f"QPushButton {{ padding: 3px 12px; }}"
                 f"QPushButton:checked {{ background: {colors.accent}; color: {colors.accent_text};"
                 f" border: 1px solid {colors.accent}; border-radius: 3px; }}")
        for button in self._view_buttons.values():
            button.setStyleSheet(sheet)

    def add_toolbar_widget(self, widget: QWidget) -> None:
        """Put ``widget`` at the right end of the row of view switches (the panel's Export…)."""
        self._view_row.addWidget(widget)

    # -- chains --------------------------------------------------------------------------------
    def reset(self, mode: str, *, sides: tuple[int, int] = (0, 1), note: str = "") -> None:
        """Forget the frames; show one chain ("sample"), two ("compare") or one plus the input ("sdedit").

        ``sides``: the view (0 left, 1 right) that shows chain 0 and chain 1; ``note``: a line under
        the views (what a comparison shows)."""
        self.chains = []
        self._sides = tuple(sides)
        self.compare_note.setText(note)
        self.compare_note.setVisible(bool(note))
        self.timeline.set_count(0)
        self.follow_live = True
        for frame_view in self.views:
            frame_view.clear()
        for chain in range(2):
            self.schedule_plot.clear_chain(chain)
        self.views[1].setVisible(mode == "compare")
        self.reference_view.setVisible(mode == "sdedit")
        self.reference_view.clear()

    def add_chain(self, index: int, label: str, timesteps, stride: int, alphas_cumprod: np.ndarray) -> Chain:
        expected = -(-(len(timesteps) + 1) // max(1, stride))
        chain = Chain(label, [], tuple(timesteps), expected)
        self.chains.append(chain)
        self.view_of_chain(index).set_title(label)
        self.schedule_plot.set_schedule(alphas_cumprod)
        ts = np.asarray(timesteps, dtype=np.int64)
        self.schedule_plot.set_visited(index, ts, np.asarray(alphas_cumprod)[ts] if ts.size else [])
        return chain

    def add_frames(self, index: int, frames: list) -> None:
        self.chains[index].frames.extend(frames)
        driver = self.chains[0]
        self._programmatic = True
        try:
            if index == 0:
                self.timeline.set_count(len(driver.frames), follow_end=self.follow_live)
            elif self.follow_live and driver.frames:
                # The second chain is live: move to the driver's frame at its newest frame's noise level.
                latest = self.chains[index].frames[-1]
                self.timeline.set_index(paired_index(driver.frames, latest.alphas_cumprod))
        finally:
            self._programmatic = False
        self.show_index(self.timeline.index)

    def view_of_chain(self, chain: int) -> FrameView:
        """The view (left or right) that shows ``chain``."""
        return self.views[self._sides[chain]]

    def show_reference(self, image: np.ndarray | None) -> None:
        if image is None:
            self.reference_view.hide()
            return
        self.reference_view.set_image(image)

    # -- what is shown -------------------------------------------------------------------------
    def set_view(self, view: str) -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
        self.view = view
        self._view_buttons[view].setChecked(True)
        for frame_view in self.views:
            frame_view.set_view(view)

    def follow_sample(self, sample: int | None) -> None:
        self.sample = sample
        for frame_view in self.views:
            frame_view.set_sample(sample)
        self._sync_follow_row()

    def user_step(self, delta: int) -> None:
        self.follow_live = False
        self.timeline.step(delta)

    def show_index(self, index: int) -> None:
        if not self.chains or not self.chains[0].frames:
            return
        driver = self.chains[0].frames
        frame = driver[min(index, len(driver) - 1)]
        self.view_of_chain(0).set_frame(frame, self.view, self.sample)
        self.schedule_plot.set_current(0, frame.t, frame.alphas_cumprod)
        if len(self.chains) > 1 and self.chains[1].frames:
            other = self.chains[1].frames
            paired = other[paired_index(other, frame.alphas_cumprod)]
            self.view_of_chain(1).set_frame(paired, self.view, self.sample)
            self.schedule_plot.set_current(1, paired.t, paired.alphas_cumprod)

    def _on_index_changed(self, index: int) -> None:
        if not self._programmatic:
            self.follow_live = False  # the user scrubbed or played: stop jumping to the newest frame
        self.show_index(index)

    def follow_text(self) -> str:
        """The line beside the view switches: which sample is followed, or how to follow one."""
        return self._follow_label.text()

    def _on_focus_click(self) -> None:
        if self.sample is None:
            self._follow_label.setText("The view has the keys now (Space, ←, →): click a sample to follow it")

    def _sync_follow_row(self) -> None:
        following = self.sample is not None
        self._follow_label.setText(f"Following sample {self.sample + 1}" if following
                                   else "Click a sample to follow it")
        self._grid_button.setVisible(following)
