"""The right half of the sampling panel: view switches, one chain or several, the schedule plot, the timeline.

Holds the chains' frames. Chain 0 drives the timeline; the other chains (two samplers compared, a guidance
sweep) show their frame at the same noise level as chain 0's current frame. Where each chain is shown is the
panel's choice (``reset(..., sides=...)``): in compare mode the main chain is on the left whichever one
drives; a sweep shows its chains left to right (two rows beyond four). Under the views: what the digits
judge reads in each finished chain (a model trained on the demo digits); beside them, a learned-variance
model's Σ per step against β_t and β̃_t.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ... import theme
from ...widgets.image_view import ImageView
from ...widgets.message_strip import MessageStrip
from ...widgets.view_grid import arrange_views
from .compare import paired_index
from .frame_view import FrameView
from ....core.frame_views import VIEW_LABELS, VIEW_SHORT_NAMES, VIEWS
from .schedule_marker import ScheduleMarkerPlot
from .timeline import TimelinePlayer
from .variance_plot import VariancePlot

__all__ = ["ChainViewer", "Chain", "MAX_CHAINS"]

_SIDE_WIDTH = 240
#: chains shown at once (a guidance sweep of up to 8 scales)
MAX_CHAINS = 8


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
        self._view_buttons["guidance"].setVisible(False)  # shown for guided chains (set_guidance_available)
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

        self.views = [FrameView() for _ in range(MAX_CHAINS)]  # left to right (compare: left, right)
        for frame_view in self.views:
            frame_view.sampleClicked.connect(lambda i: self.follow_sample(None if i < 0 else i))
            frame_view.focusClicked.connect(self._on_focus_click)
        for frame_view in self.views[1:]:
            frame_view.hide()
        self._sides: tuple[int, ...] = tuple(range(MAX_CHAINS))  # the view of chain k
        self.scores = QLabel()
        self.scores.setWordWrap(True)
        self.scores.setTextFormat(Qt.TextFormat.RichText)
        self.scores.hide()
        self._score_lines: dict[int, str] = {}
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
        self.variance_plot = VariancePlot()
        self.variance_plot.setFixedWidth(_SIDE_WIDTH)
        self.variance_note = QLabel("This model learned its variance: Σ per step (dots, 10–90 % band) between "
                                    "β̃_t and β_t (Nichol & Dhariwal 2021). DDPM draws with it.")
        self.variance_note.setWordWrap(True)
        self.variance_note.setProperty("role", "muted")
        self.variance_note.setFont(theme.small_font())
        self.variance_note.setFixedWidth(_SIDE_WIDTH)
        side = QVBoxLayout()
        side.setSpacing(4)
        side.addWidget(self.schedule_plot)
        side.addWidget(note)
        side.addWidget(self.variance_plot)
        side.addWidget(self.variance_note)
        side.addStretch(1)
        self.set_variance_visible(False)

        self._grid = QGridLayout()
        self._grid.setSpacing(theme.SPACING)
        images = QHBoxLayout()
        images.setSpacing(theme.SPACING)
        images.addWidget(self.reference_view, 1)
        images.addLayout(self._grid, 2)
        images.addLayout(side)
        self._layout_views(1)

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
        layout.addWidget(self.scores)
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
    def reset(self, mode: str, *, sides: tuple[int, ...] | None = None, note: str = "", count: int = 1) -> None:
        """Forget the frames; show one chain ("sample"), two ("compare"), ``count`` ("sweep") or one plus the
        input ("sdedit").

        ``sides``: the view (0 left, 1 right, …) that shows chain 0, chain 1, …; ``note``: a line under
        the views (what a comparison shows)."""
        self.chains = []
        count = 2 if mode == "compare" else (min(max(1, int(count)), MAX_CHAINS) if mode == "sweep" else 1)
        self._sides = tuple(sides) if sides is not None else tuple(range(MAX_CHAINS))
        self.compare_note.setText(note)
        self.compare_note.setVisible(bool(note))
        self.timeline.set_count(0)
        self.follow_live = True
        for frame_view in self.views:
            frame_view.clear()
        for chain in range(2):
            self.schedule_plot.clear_chain(chain)
        self._layout_views(count)
        self.reference_view.setVisible(mode == "sdedit")
        self.reference_view.clear()
        self._score_lines = {}
        self.scores.clear()
        self.scores.hide()
        self.variance_plot.clear()

    def _layout_views(self, count: int) -> None:
        arrange_views(self._grid, self.views, count)
        for frame_view in self.views:
            frame_view.set_compact(count > 2)

    def add_chain(self, index: int, label: str, timesteps, stride: int, alphas_cumprod: np.ndarray) -> Chain:
        expected = -(-(len(timesteps) + 1) // max(1, stride))
        chain = Chain(label, [], tuple(timesteps), expected)
        self.chains.append(chain)
        self.view_of_chain(index).set_title(label)
        self.schedule_plot.set_schedule(alphas_cumprod)
        if index < 2:  # the plot marks two chains; a sweep's chains all visit the same steps
            ts = np.asarray(timesteps, dtype=np.int64)
            self.schedule_plot.set_visited(index, ts, np.asarray(alphas_cumprod)[ts] if ts.size else [])
        return chain

    def add_variances(self, index: int, steps: list) -> None:
        """A learned-variance model's Σ at the steps chain ``index`` just ran (the plot follows chain 0)."""
        if index == 0:
            self.variance_plot.add_steps(steps)

    def set_variance_visible(self, visible: bool) -> None:
        self.variance_plot.setVisible(visible)
        self.variance_note.setVisible(visible)

    def set_guidance_available(self, available: bool) -> None:
        """The guidance view's button is shown for guided chains only (back to x_t if it was on)."""
        self._view_buttons["guidance"].setVisible(available)
        if not available and self.view == "guidance":
            self.set_view("x_t")

    def view_offered(self, view: str) -> bool:
        """Whether the view's button is on screen (the guidance view only for guided chains)."""
        return self._view_buttons[view].isVisibleTo(self)

    def show_scores(self, chain: int, text: str) -> None:
        """A line under the views on chain ``chain``'s samples (the digits judge's reading)."""
        self._score_lines[chain] = text
        lines = [self._score_lines[k] for k in sorted(self._score_lines)]
        self.scores.setText("<br>".join(lines))
        self.scores.show()

    def scores_text(self) -> str:
        return self.scores.text()

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
        self.variance_plot.set_current(frame.t)
        for k, chain in enumerate(self.chains[1:], start=1):
            if not chain.frames:
                continue
            other = chain.frames
            paired = other[-1] if frame.is_final and other[-1].is_final else other[
                paired_index(other, frame.alphas_cumprod)]
            self.view_of_chain(k).set_frame(paired, self.view, self.sample)
            if k == 1:
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
