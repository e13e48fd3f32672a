"""The forward-process explorer: scrub x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε over t with ε held fixed.

A thin view over :class:`~diffusion_studio.core.forward.ForwardRenderer`. It reads and
writes the shared :class:`AppState` (image, schedule, t, seed), so every other panel
looking at the same state (the schedule lab's cursor, …) stays in step.

Scrubbing never queues stale frames: a change of t only marks a frame as wanted;
one render of the *latest* t runs on the next turn of the event loop.
"""

from __future__ import annotations

import random

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from ....core.errors import InputError
from ....core.forward import ForwardRenderer, timestep_stats
from ....core.schedules import NoiseSchedule, make_schedule
from ... import theme
from ....core.schedule_choices import SCHEDULE_CHOICES
from ...state import AppState
from ...widgets.image_view import ImageView
from ...widgets.timestep_slider import TimestepSlider
from .histogram import ForwardHistogram
from .numbers import TimestepNumbers

__all__ = ["ForwardPanel", "MAX_SEED"]

MAX_SEED = 2**31 - 1
MAX_TIMESTEPS_IN_SELECTOR = 10_000
#: the longest side x_t is rendered at; views scale it to their size
RENDER_MAX_SIDE = 512
SIDE_COLUMN_WIDTH = 300
#: below this height the controls move into the t slider's row, leaving the images more room
COMPACT_BELOW_HEIGHT = 420
#: the histogram's fastest rate while t is dragged (x_t and the numbers follow every t)
HISTOGRAM_INTERVAL_MS = 100


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setFont(theme.heading_font(0))
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


class ForwardPanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.renderer: ForwardRenderer | None = None
        self.histogram_t: int | None = None  # the t the histogram shows
        self._render_pending = False
        self.frames_rendered = 0  # for tests and the status of coalescing
        # A histogram costs about as much as x_t itself: while dragging it follows at up to
        # 10 Hz, and always ends on the last t.
        self._histogram_throttle = qthrottled(self._update_histogram, HISTOGRAM_INTERVAL_MS)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self._build_controls()
        self._build_views()
        self._build_layout()
        self._install_shortcuts()

        state.imageChanged.connect(self._on_image_changed)
        state.scheduleChanged.connect(self._on_schedule_changed)
        state.timestepChanged.connect(self._on_timestep_changed)
        state.seedChanged.connect(self._on_seed_changed)

        self._on_schedule_changed(state.schedule)
        self.seed_spin.setValue(state.seed)
        if state.image is not None:
            self._on_image_changed(state.image, state.image_name)

    # -- construction ----------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.schedule_combo = QComboBox()
        for label, name in SCHEDULE_CHOICES:
            self.schedule_combo.addItem(label, name)
        self.schedule_combo.setToolTip("The β schedule: how fast noise is added over t (diffusers' names)")
        self.schedule_combo.currentIndexChanged.connect(self._on_schedule_picked)

        self.timesteps_spin = QSpinBox()
        self.timesteps_spin.setRange(2, MAX_TIMESTEPS_IN_SELECTOR)
        self.timesteps_spin.setKeyboardTracking(False)
        self.timesteps_spin.setToolTip("T, the number of diffusion steps; t runs over 0 … T−1")
        self.timesteps_spin.valueChanged.connect(self._on_timesteps_picked)

        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED)
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.setToolTip("Seed of the fixed noise ε; the same seed gives the same ε")
        self.seed_spin.valueChanged.connect(self.state.set_seed)

        self.new_noise_button = QPushButton("New noise")
        self.new_noise_button.setToolTip("Draw a new ε (picks a new random seed)")
        self.new_noise_button.clicked.connect(self.new_noise)

        self.timestep_slider = TimestepSlider()
        self.timestep_slider.setToolTip("←/→ one step · Shift+←/→ 10 % · Home / End")
        self.timestep_slider.valueChanged.connect(self.state.set_timestep)

    def _build_views(self) -> None:
        self.x0_view = ImageView("x₀ — clean image", hover_readout=True,
                                 tooltip="The image you loaded, scaled to [−1, 1] for the model")
        self.xt_view = ImageView("x<sub>t</sub> = √ᾱ<sub>t</sub>·x₀ + √(1−ᾱ<sub>t</sub>)·ε", hover_readout=True,
                                 tooltip="The noised image at t (Ho et al. 2020, eq. 4), clipped to [−1, 1] for display")
        self.noise_view = ImageView("ε ~ N(0, I)", hover_readout=True,
                                    tooltip="The fixed Gaussian noise, shown with ±2.5σ mapped onto black … white")
        self.numbers = TimestepNumbers()
        self.histogram = ForwardHistogram()

    def _build_layout(self) -> None:
        self.controls_bar = QWidget()
        controls = QHBoxLayout(self.controls_bar)
        controls.setContentsMargins(0, 0, 0, 0)
        controls.setSpacing(theme.SPACING)
        for text, widget, tip in (
            ("Schedule", self.schedule_combo, self.schedule_combo.toolTip()),
            ("T", self.timesteps_spin, self.timesteps_spin.toolTip()),
            ("Seed", self.seed_spin, self.seed_spin.toolTip()),
        ):
            label = QLabel(text)
            label.setToolTip(tip)
            label.setBuddy(widget)
            controls.addWidget(label)
            controls.addWidget(widget)
            controls.addSpacing(theme.SPACING)
        controls.addWidget(self.new_noise_button)
        controls.addSpacing(theme.SPACING)
        self.image_info = QLabel()
        self.image_info.setProperty("role", "muted")
        self._top_row = QHBoxLayout()
        self._top_row.addWidget(self.controls_bar)
        self._top_row.addStretch(1)
        self._top_row.addWidget(self.image_info)
        self._bottom_row = QHBoxLayout()
        self._bottom_row.setSpacing(theme.SPACING)
        self._bottom_row.addWidget(self.timestep_slider, 1)

        views = QWidget()
        views_layout = QHBoxLayout(views)
        views_layout.setContentsMargins(0, 0, 0, 0)
        views_layout.setSpacing(theme.SPACING)
        for view in (self.x0_view, self.xt_view, self.noise_view):
            views_layout.addWidget(view, 1)

        # Beside the images: the numbers at t, then the histogram of x_t's pixels. A column that
        # scrolls, so a short window (a laptop) keeps the images as large as it can.
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(theme.SPACING, 0, theme.SPACING, 0)
        side_layout.setSpacing(theme.SPACING)
        side_layout.addWidget(_heading("At this t"))
        side_layout.addWidget(self.numbers)
        side_layout.addSpacing(theme.SPACING)
        side_layout.addWidget(_heading("Pixel values of x<sub>t</sub>"))
        side_layout.addWidget(self.histogram, 1)
        side_layout.addStretch(1)
        self.side_column = QScrollArea()
        self.side_column.setWidget(side)
        self.side_column.setWidgetResizable(True)
        self.side_column.setFrameShape(QScrollArea.Shape.NoFrame)
        self.side_column.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.side_column.setFixedWidth(SIDE_COLUMN_WIDTH)

        middle = QHBoxLayout()
        middle.setSpacing(theme.SPACING)
        middle.addWidget(views, 1)
        middle.addWidget(self.side_column, 0)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(theme.MARGIN, theme.MARGIN, theme.MARGIN, theme.MARGIN)
        layout.setSpacing(theme.SPACING + 2)
        layout.addLayout(self._top_row)
        layout.addLayout(middle, 1)
        layout.addLayout(self._bottom_row)

    def _install_shortcuts(self) -> None:
        ten_percent = lambda: max(1, round(self.state.schedule.num_timesteps / 10))  # noqa: E731
        shift = Qt.KeyboardModifier.ShiftModifier
        bindings = (  # (key, what it does — Help › Keyboard Shortcuts lists it, slot)
            (Qt.Key.Key_Right, "Next timestep", lambda: self.step_timestep(1)),
            (Qt.Key.Key_Left, "Previous timestep", lambda: self.step_timestep(-1)),
            (shift | Qt.Key.Key_Right, "t forward by 10 % of T", lambda: self.step_timestep(ten_percent())),
            (shift | Qt.Key.Key_Left, "t back by 10 % of T", lambda: self.step_timestep(-ten_percent())),
            (Qt.Key.Key_Home, "t = 0, the clean image", lambda: self.state.set_timestep(0)),
            (Qt.Key.Key_End, "t = T−1, pure noise", lambda: self.state.set_timestep(self.state.schedule.num_timesteps - 1)),
        )
        self._shortcuts = []
        for key, description, slot in bindings:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.setWhatsThis(description)
            shortcut.activated.connect(slot)
            self._shortcuts.append(shortcut)

    # -- compact layout --------------------------------------------------------------------
    @property
    def compact(self) -> bool:
        """Short panel (a laptop with a dock open): the controls share the t slider's row."""
        return self.controls_bar.parentWidget() is not None and self._bottom_row.indexOf(self.controls_bar) >= 0

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        # Two thresholds, so a height near one does not flip the layout back and forth.
        if not self.compact and self.height() < COMPACT_BELOW_HEIGHT:
            self._set_compact(True)
        elif self.compact and self.height() > COMPACT_BELOW_HEIGHT + 40:
            self._set_compact(False)

    def _set_compact(self, compact: bool) -> None:
        source, target = (self._top_row, self._bottom_row) if compact else (self._bottom_row, self._top_row)
        source.removeWidget(self.controls_bar)
        target.insertWidget(0, self.controls_bar)
        self.image_info.setVisible(not compact)  # the status bar names the image too

    # -- actions ---------------------------------------------------------------------------
    def step_timestep(self, delta: int) -> None:
        self.state.set_timestep(self.state.timestep + delta)

    def new_noise(self) -> None:
        seed = random.randrange(MAX_SEED)
        while seed == self.state.seed:
            seed = random.randrange(MAX_SEED)
        self.state.set_seed(seed)

    # -- state → view ----------------------------------------------------------------------
    def _on_image_changed(self, image: np.ndarray, name: str) -> None:
        self.renderer = ForwardRenderer(image, self.state.schedule, seed=self.state.seed, max_side=RENDER_MAX_SIDE)
        self.x0_view.set_image(self.renderer.x0_uint8)
        self.noise_view.set_image(self.renderer.noise_uint8)
        h, w = image.shape[:2]
        rh, rw = self.renderer.shape[:2]
        shown = f" (shown at {rw}×{rh})" if (rh, rw) != (h, w) else ""
        self.image_info.setText(f"{name} · {w}×{h}{shown}")
        self.image_info.setToolTip(str(self.state.image_path or name))
        self.request_render()

    def _on_schedule_changed(self, schedule: NoiseSchedule) -> None:
        with QSignalBlocker(self.schedule_combo), QSignalBlocker(self.timesteps_spin):
            index = self.schedule_combo.findData(schedule.name)
            self.schedule_combo.setCurrentIndex(max(index, 0))
            self.timesteps_spin.setValue(schedule.num_timesteps)
        self.timestep_slider.set_maximum(schedule.num_timesteps - 1)
        self.timestep_slider.set_value(self.state.timestep)
        if self.renderer is not None:
            self.renderer.set_schedule(schedule)
        self.request_render()

    def _on_timestep_changed(self, t: int) -> None:
        self.timestep_slider.set_value(t)
        self.request_render()

    def _on_seed_changed(self, seed: int) -> None:
        with QSignalBlocker(self.seed_spin):
            self.seed_spin.setValue(seed)
        if self.renderer is not None:
            self.renderer.reseed(seed)
            self.noise_view.set_image(self.renderer.noise_uint8)
        self.request_render()

    # -- view → state ----------------------------------------------------------------------
    def _on_schedule_picked(self, _index: int) -> None:
        self._change_schedule(self.schedule_combo.currentData(), self.timesteps_spin.value(), keep_params=False)

    def _on_timesteps_picked(self, T: int) -> None:
        self._change_schedule(self.state.schedule.name, T, keep_params=True)

    def _change_schedule(self, name: str, T: int, *, keep_params: bool) -> None:
        old = self.state.schedule
        params = dict(old.params) if keep_params else {}
        try:
            schedule = make_schedule(name, T, zero_terminal_snr=old.zero_terminal_snr, **params)
        except InputError as exc:
            self.state.report_error("Schedule not changed", str(exc))
            self._on_schedule_changed(old)
            return
        # Keep the slider at the same fraction of the way when T changes.
        fraction = self.state.timestep / max(1, old.num_timesteps - 1)
        self.state.set_schedule(schedule)
        self.state.set_timestep(round(fraction * (schedule.num_timesteps - 1)))

    # -- rendering -------------------------------------------------------------------------
    def request_render(self) -> None:
        """Ask for a frame of the current t; many requests in one event-loop turn give one frame."""
        if not self._render_pending:
            self._render_pending = True
            QTimer.singleShot(0, self._render_now)

    def _render_now(self) -> None:
        self._render_pending = False
        schedule, t = self.state.schedule, self.state.timestep
        self.numbers.set_stats(timestep_stats(schedule, t))
        if self.renderer is None:
            return
        self.xt_view.set_image(self.renderer.render(t).copy())
        self._histogram_throttle()
        self.frames_rendered += 1

    def _update_histogram(self) -> None:
        if self.renderer is not None:
            self.histogram_t = self.state.timestep
            self.histogram.set_histogram(*self.renderer.histogram(self.histogram_t))
