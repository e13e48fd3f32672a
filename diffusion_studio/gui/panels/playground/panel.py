"""The 2D playground dock: points, q(x_t), the ideal and learned fields, training and reverse runs.

Wiring only. The numbers come from ``core.playground`` (a :class:`PlaygroundScene` per data set);
training and sampling run in superqt workers (:mod:`.workers`); the canvas only receives arrays.
It follows the shared :class:`AppState` t and schedule, so scrubbing t anywhere moves it, and a
reverse run played in its player moves t for everyone.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal

from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ....core.errors import InputError
from ....core.forward import timestep_stats
from ....core.playground.configs import MLPTrainConfig, SampleConfig
from ....core.playground.datasets import MAX_POINTS, PointSet, check_points, load_points, make_dataset
from ....core.playground.drawing import erase_mask, spray
from ....core.playground.render import RenderStyle, density_levels
from ....core.playground.scene import PlaygroundScene
from ....core.playground.trajectories import build_sampler
from ....core.schedules import NoiseSchedule
from ... import theme
from ...state import AppState
from ...widgets.message_strip import MessageStrip
from ...widgets.timestep_slider import TimestepSlider
from ...widgets.player_keys import bind_player_keys
from ..forward.numbers import TimestepNumbers
from ..sampling.timeline import TimelinePlayer
from .canvas import PlaygroundCanvas
from .data_controls import DataControls
from ....core.playground.animations import export_frames
from ....core.playground.layers import difference_text, field_layers, follow_particle, follow_point, nearest
from ....core.playground.reverse_run import ReverseRun
from .sample_controls import SampleControls
from .train_controls import LossPlot, TrainControls, describe_progress
from .view_controls import ViewControls
from .workers import FrameBatch, SamplingStarted, sampling_updates, start_worker, training_updates

__all__ = ["PlaygroundPanel"]

CONTROLS_WIDTH = 290
SIDE_WIDTH = 270


def _group(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setSpacing(6)
    layout.addWidget(widget)
    return box


def _scroll(widget: QWidget, width: int) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setFixedWidth(width)
    return area


class PlaygroundPanel(QWidget):
    """Takes the app's ``AppState``; follows (and, while a reverse run plays, moves) its t and schedule."""

    #: a training run ended: "done", "stopped" or "error"
    trainingFinished = Signal(str)
    #: a reverse run ended: "done", "stopped" or "error"
    samplingFinished = Signal(str)
    #: the data set changed (its description)
    dataChanged = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.mode = "forward"
        self.frames_rendered = 0
        self._render_pending = False
        self._stale = True
        self._syncing_t = False
        self._train_worker = None
        self._train_stop = self._train_pause = None
        self._train_status = "done"
        self._train_schedule: NoiseSchedule | None = None
        self.snapshot = None  # the learned MLP as numpy (core.playground.MLPSnapshot)
        self.last_training_update = None  # the last workers.TrainingUpdate (steps/s, loss, …)
        self._sample_worker = None
        self._sample_stop = None
        self._sample_status = "done"
        self.run = ReverseRun()
        self.followed_point: int | None = None  # forward mode: a data point's path over t
        self._stroke_last: tuple[float, float] | None = None
        self._draw_rng = np.random.default_rng()
        self._export_dialog = None

        initial = make_dataset("moons", 1000, seed=0)
        self.data_name = initial.name
        self.scene = PlaygroundScene(initial.points, state.schedule, seed=0)

        self._build()
        self._connect()
        self._data_changed(initial.name, quiet=True)
        self._on_schedule_changed(state.schedule)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop_all)

    # -- construction ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.message = MessageStrip()
        self.data_controls = DataControls()
        self.view_controls = ViewControls()
        self.train_controls = TrainControls()
        self.sample_controls = SampleControls()
        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 6, 0)
        column_layout.setSpacing(theme.SPACING)
        for title, widget in (("Data", self.data_controls), ("Show", self.view_controls),
                              ("Learned denoiser (MLP)", self.train_controls), ("Reverse run", self.sample_controls)):
            column_layout.addWidget(_group(title, widget))
        column_layout.addStretch(1)

        self.canvas = PlaygroundCanvas()
        self.forward_button = QToolButton(text="Forward: data → noise", checkable=True, checked=True,
                                          toolTip="The data noised to t, with ε fixed per point")
        self.reverse_button = QToolButton(text="Reverse: noise → data", checkable=True,
                                          toolTip="The particles of the last reverse run, frame by frame")
        self._mode_group = QButtonGroup(self)
        for button in (self.forward_button, self.reverse_button):
            self._mode_group.addButton(button)
        self.export_button = QPushButton("Export…")
        export_menu = QMenu(self.export_button)
        self.export_forward_action = export_menu.addAction("Forward animation…", lambda: self.open_export("forward"))
        self.export_reverse_action = export_menu.addAction("Reverse animation…", lambda: self.open_export("reverse"))
        self.export_button.setMenu(export_menu)
        self.export_button.setToolTip("Save the forward process or the reverse run as GIF / WebP / APNG / MP4")
        reset = QPushButton("Reset view")
        reset.clicked.connect(self.canvas.reset_view)
        self.data_label = QLabel()
        self.data_label.setProperty("role", "muted")
        self.data_label.setMinimumWidth(40)  # a long file name must not widen the dock
        self.data_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        toolbar = QHBoxLayout()
        toolbar.setSpacing(4)
        toolbar.addWidget(self.forward_button)
        toolbar.addWidget(self.reverse_button)
        toolbar.addSpacing(theme.SPACING)
        toolbar.addWidget(self.data_label, 1)
        toolbar.addWidget(reset)
        toolbar.addWidget(self.export_button)
        self.timestep_slider = TimestepSlider()
        self.timestep_slider.setToolTip("The shared t: the forward explorer and this panel move together")
        self.player = TimelinePlayer()
        self.player.setToolTip("Play the reverse run frame by frame (Space)")
        middle = QVBoxLayout()
        middle.setSpacing(theme.SPACING // 2)
        middle.addLayout(toolbar)
        middle.addWidget(self.message)
        middle.addWidget(self.canvas, 1)
        middle.addWidget(self.timestep_slider)
        middle.addWidget(self.player)

        self.numbers = TimestepNumbers()
        self.loss_plot = LossPlot()
        self.follow_label = QLabel("Click a point or particle to follow it.")
        self.difference_label = QLabel()
        for label in (self.follow_label, self.difference_label):
            label.setWordWrap(True)
            label.setProperty("role", "muted")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(theme.SPACING, 0, 4, 0)
        side_layout.setSpacing(theme.SPACING)
        for title, widget in (("At this t", self.numbers), ("Training loss", self.loss_plot),
                              ("Followed", self.follow_label), ("Learned vs ideal", self.difference_label)):
            heading = QLabel(title)
            heading.setFont(theme.heading_font(0))
            side_layout.addWidget(heading)
            side_layout.addWidget(widget)
        side_layout.addStretch(1)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(theme.MARGIN, theme.MARGIN, theme.MARGIN, theme.MARGIN)
        layout.setSpacing(theme.SPACING + 4)
        layout.addWidget(_scroll(column, CONTROLS_WIDTH))
        layout.addLayout(middle, 1)
        layout.addWidget(_scroll(side, SIDE_WIDTH))
        bind_player_keys(self, self.player.toggle_play, self._step, what="the particles", ends=None)
        self._sync_controls()

    def _connect(self) -> None:
        state = self.state
        state.timestepChanged.connect(self._on_timestep_changed)
        state.scheduleChanged.connect(self._on_schedule_changed)
        self.timestep_slider.valueChanged.connect(state.set_timestep)
        self.player.indexChanged.connect(self._on_player_index)
        self._mode_group.buttonToggled.connect(self._on_mode_button)
        self.view_controls.changed.connect(self.request_render)
        dc = self.data_controls
        dc.datasetRequested.connect(self.load_dataset)
        dc.fileRequested.connect(self.load_file)
        dc.toolChanged.connect(self._on_tool_changed)
        dc.brushChanged.connect(self.canvas.set_brush_radius)
        dc.clearRequested.connect(self.clear_points)
        self.canvas.strokeMoved.connect(self._on_stroke)
        self.canvas.clicked.connect(self._on_canvas_clicked)
        self.train_controls.startRequested.connect(self.start_training)
        self.train_controls.pauseToggled.connect(self._on_pause_toggled)
        self.train_controls.stopRequested.connect(self.stop_training)
        self.sample_controls.startRequested.connect(self.start_sampling)
        self.sample_controls.stopRequested.connect(self.stop_sampling)
        self.sample_controls.pathsChanged.connect(self._on_paths_changed)
        self.sample_controls.ghostToggled.connect(self._on_ghost_toggled)

    # -- public API (buttons call these; so do tests and the benchmark) -----------------------------
    @property
    def training(self) -> bool:
        return self._train_worker is not None

    @property
    def sampling(self) -> bool:
        return self._sample_worker is not None

    @property
    def trajectories(self):
        return self.run.trajectories

    def show_message(self, text: str, kind: str = "error") -> None:
        self.message.show_message(text, kind)
        self.state.show_status(text, 6000)

    def load_dataset(self, name: str, num_points: int = 1000, seed: int = 0) -> bool:
        """A built-in set; on bad input say why and keep the current points. Returns success."""
        try:
            point_set = make_dataset(name, num_points, seed=seed)
        except InputError as error:
            self.show_message(f"{error}. The current points are kept.")
            return False
        self.set_points(point_set, seed=seed)
        return True

    def load_file(self, path: str, num_points: int = 2000, seed: int = 0) -> bool:
        """A CSV of x,y points or an image's dark pixels; on bad input say why and keep the current points."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            point_set = load_points(path, num_points, seed=seed)
        except InputError as error:
            self.show_message(f"{error}. The current points are kept.")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.set_points(point_set, seed=seed)
        return True

    def set_points(self, point_set: PointSet, *, seed: int = 0) -> None:
        self.scene = PlaygroundScene(point_set.points, self.state.schedule, seed=seed)
        self._data_changed(point_set.name)
        self.message.dismiss()

    def clear_points(self) -> None:
        """An empty canvas to draw on (training and sampling need at least 2 points)."""
        self.scene.edit(np.zeros(len(self.scene), bool), np.empty((0, 2)))
        self._data_changed("Drawn points")
        self.message.show_message("Empty canvas: paint points (drag on the plot) — at least 2.", "info")

    def stop_all(self) -> None:
        self.stop_training()
        self.stop_sampling()

    # -- training --------------------------------------------------------------------------------------
    def start_training(self) -> bool:
        if self._train_worker is not None:
            return False
        try:
            points = check_points(self.scene.points, "the points")
            config = MLPTrainConfig.from_dict(self.train_controls.values())
        except InputError as error:
            self.show_message(f"Cannot train: {error}.")
            return False
        self.message.dismiss()
        self._train_stop, self._train_pause = threading.Event(), threading.Event()
        self._train_status = "done"
        self._train_schedule = self.state.schedule
        self.loss_plot.clear_curve()
        self.train_controls.set_running(True)
        self.train_controls.status.setText("Starting…")
        self._train_worker = start_worker(
            training_updates, points.astype(np.float32), self.state.schedule, config, self._train_stop,
            self._train_pause, on_yield=self._on_training_update, on_error=self._on_training_error,
            on_finished=self._on_training_finished)
        return True

    def stop_training(self) -> None:
        if self._train_stop is not None:
            self._train_stop.set()

    def _on_pause_toggled(self, paused: bool) -> None:
        if self._train_pause is not None:
            self._train_pause.set() if paused else self._train_pause.clear()

    def _on_training_update(self, update) -> None:
        self.last_training_update = update
        self.loss_plot.add(update.steps, update.losses)
        state = {"step": "Paused" if self.train_controls.pause_button.isChecked() else "Training",
                 "done": "Trained", "stopped": "Stopped"}[update.event]
        self.train_controls.status.setText(describe_progress(update.step, update.steps_per_s,
                                                             float(update.losses[-1]), update.elapsed_s, state))
        if update.event == "stopped":
            self._train_status = "stopped"
        if update.snapshot is not None:
            self.snapshot = update.snapshot
            self._sync_controls()
            if self.view_controls.shown("learned") or self.view_controls.shown("difference"):
                self.request_render()

    def _on_training_error(self, error: Exception) -> None:
        self._train_status = "error"
        text = str(error) if isinstance(error, InputError) else f"Training failed: {type(error).__name__}: {error}"
        self.show_message(text)

    def _on_training_finished(self) -> None:
        self._train_worker = None
        self._train_stop = self._train_pause = None
        self.train_controls.set_running(False)
        self._sync_controls()
        self.trainingFinished.emit(self._train_status)

    def learned_usable(self) -> bool:
        """A trained MLP exists and was trained for the schedule the app has now."""
        return self.snapshot is not None and self._train_schedule == self.state.schedule

    # -- sampling --------------------------------------------------------------------------------------
    def start_sampling(self) -> bool:
        if self._sample_worker is not None:
            return False
        kind = self.sample_controls.denoiser_kind
        try:
            config = SampleConfig.from_dict(self.sample_controls.values())
            build_sampler(config, self.state.schedule, "epsilon")  # steps the schedule cannot take
            points = check_points(self.scene.points, "the points") if kind == "ideal" else None
            if kind == "learned" and not self.learned_usable():
                raise InputError("train the MLP for the current schedule first, or sample with the ideal denoiser")
        except InputError as error:
            self.show_message(f"Cannot sample: {error}.")
            return False
        self.message.dismiss()
        self.run.start_new(keep_ghost=self.sample_controls.ghost.isChecked())
        self._sample_stop = threading.Event()
        self._sample_status = "done"
        self.sample_controls.set_running(True)
        self.sample_controls.progress.setValue(0)
        self.player.set_count(0)
        self._sample_worker = start_worker(
            sampling_updates, kind, None if points is None else points.astype(np.float32), self.snapshot,
            self.state.schedule, config, self._sample_stop, on_yield=self._on_sampling_update,
            on_error=self._on_sampling_error, on_finished=self._on_sampling_finished)
        self._sample_started_at = time.monotonic()
        return True

    def stop_sampling(self) -> None:
        if self._sample_stop is not None:
            self._sample_stop.set()

    def _on_sampling_update(self, item) -> None:
        if isinstance(item, SamplingStarted):
            self.run.begin(item.planned_frames, item.particles, item.label, self.sample_controls.paths.value())
            self.sample_controls.progress.setRange(0, item.planned_frames)
            self.set_mode("reverse")
        elif isinstance(item, FrameBatch):
            for frame in item.frames:
                self.run.trajectories.append(frame)
            count = len(self.run.trajectories)
            self.sample_controls.progress.setValue(count)
            self.player.set_count(count, follow_end=True)

    def _on_sampling_error(self, error: Exception) -> None:
        self._sample_status = "error"
        text = str(error) if isinstance(error, InputError) else f"Sampling failed: {type(error).__name__}: {error}"
        self.show_message(text)

    def _on_sampling_finished(self) -> None:
        self._sample_worker, self._sample_stop = None, None
        trajectories = self.run.trajectories
        if self._sample_status == "done" and (trajectories is None or not trajectories.complete):
            self._sample_status = "stopped"
        elapsed = time.monotonic() - getattr(self, "_sample_started_at", time.monotonic())
        self.sample_controls.progress.setFormat(f"%v / %m frames · {elapsed:.1f} s")
        self.sample_controls.set_running(False)
        self._sync_controls()
        self.samplingFinished.emit(self._sample_status)

    # -- modes, t and the player -----------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode == "reverse" and self.run.trajectories is None:
            return
        self.mode = mode
        button = self.reverse_button if mode == "reverse" else self.forward_button
        if not button.isChecked():
            button.setChecked(True)
        self.player.setEnabled(mode == "reverse")
        self.canvas.set_particles(None)
        self.canvas.set_paths(None)
        self.canvas.set_paths(None, ghost=True)
        self._update_follow_label()
        if mode == "reverse" and len(self.run.trajectories or ()):
            self._on_player_index(self.player.index)
        self.request_render()

    def _on_mode_button(self, button, checked: bool) -> None:
        if checked:
            self.set_mode("reverse" if button is self.reverse_button else "forward")

    def _on_player_index(self, index: int) -> None:
        trajectories = self.run.trajectories
        if self._syncing_t or self.mode != "reverse" or trajectories is None or not len(trajectories):
            return
        t = int(trajectories.timesteps[min(index, len(trajectories) - 1)])
        self._syncing_t = True
        try:
            self.state.set_timestep(max(t, 0))  # the shared t follows the player
        finally:
            self._syncing_t = False
        self.request_render()

    def _on_timestep_changed(self, t: int) -> None:
        self.timestep_slider.set_value(t)
        trajectories = self.run.trajectories
        if self.mode == "reverse" and trajectories is not None and len(trajectories) and not self._syncing_t:
            self._syncing_t = True
            try:
                self.player.set_index(trajectories.nearest_frame(t))
            finally:
                self._syncing_t = False
        self.request_render()

    def _on_schedule_changed(self, schedule: NoiseSchedule) -> None:
        self.scene.set_schedule(schedule)
        self.timestep_slider.set_maximum(schedule.num_timesteps - 1)
        self.timestep_slider.set_value(self.state.timestep)
        if self.run.trajectories is not None:
            self.run.clear()
            self.player.set_count(0)
            self.set_mode("forward")
            self.message.show_message("The schedule changed: the reverse run was for the old one. Sample again.",
                                      "info")
        self._sync_controls()
        self.request_render()

    def _step(self, delta: int) -> None:
        if self.mode == "reverse":
            self.player.step(delta)
        else:
            self.state.set_timestep(self.state.timestep + delta)

    # -- drawing and following -------------------------------------------------------------------------
    def _on_tool_changed(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        if tool != "view" and self.mode != "forward":
            self.set_mode("forward")

    def _on_stroke(self, x: float, y: float, started: bool, finished: bool) -> None:
        """Paint or erase along the segment from the stroke's previous point to (x, y)."""
        radius = self.data_controls.brush.value()
        start = (x, y) if started or self._stroke_last is None else self._stroke_last
        if self.canvas.tool == "paint":
            added = spray(start, (x, y), radius, self._draw_rng)[: max(0, MAX_POINTS - len(self.scene))]
            if len(added):
                self.scene.edit(np.ones(len(self.scene), bool), added)
            else:
                self.show_message(f"The playground takes at most {MAX_POINTS:,} points.", "info")
        elif self.canvas.tool == "erase":
            kept = erase_mask(self.scene.points, start, (x, y), radius)
            if not kept.all():
                self.scene.edit(kept, np.empty((0, 2)))
        self._stroke_last = None if finished else (x, y)
        name = self.data_name if self.data_name.endswith("(edited)") or self.data_name == "Drawn points" \
            else f"{self.data_name} (edited)"
        self._data_changed(name, quiet=not finished)

    def _on_canvas_clicked(self, x: float, y: float, tolerance: float) -> None:
        if self.mode == "reverse" and self.run.trajectories is not None and len(self.run.trajectories):
            positions = self.run.trajectories.positions[self.player.index]
            self.run.followed = nearest(positions, x, y, tolerance)
        else:
            self.followed_point = nearest(self.scene.cloud(self.state.timestep), x, y, tolerance)
        self._update_follow_label()
        self.request_render()

    def follow(self, index: int | None) -> None:
        """Follow particle ``index`` of the reverse run (reverse mode) or data point ``index`` (forward)."""
        if self.mode == "reverse":
            self.run.followed = index
        else:
            self.followed_point = index
        self._update_follow_label()
        self.request_render()

    def _on_paths_changed(self, count: int) -> None:
        self.run.set_path_count(count)
        self.request_render()

    def _on_ghost_toggled(self, on: bool) -> None:
        self.run.show_ghost = on
        self.request_render()

    def _data_changed(self, name: str, *, quiet: bool = False) -> None:
        self.data_name = name
        self.followed_point = None
        self.data_label.setText(f"{name} · {len(self.scene):,} points")
        self._update_follow_label()
        self.request_render()
        if not quiet:
            self.dataChanged.emit(self.data_label.text())

    def _sync_controls(self) -> None:
        usable = self.learned_usable()
        reason = "Train the MLP first" if self.snapshot is None else "The MLP was trained for another schedule"
        self.sample_controls.set_learned_available(usable, reason)
        self.reverse_button.setEnabled(self.run.trajectories is not None)
        self.export_reverse_action.setEnabled(self.run.trajectories is not None and not self.sampling)
        self.player.setEnabled(self.mode == "reverse")

    # -- rendering -------------------------------------------------------------------------------------
    def request_render(self) -> None:
        """Ask for a frame at the current t; many requests in one event-loop turn give one frame."""
        if not self._render_pending:
            self._render_pending = True
            QTimer.singleShot(0, self.render_now)

    def render_now(self) -> None:
        """Draw everything for the current t and mode (also callable directly, e.g. by a benchmark)."""
        self._render_pending = False
        if not self.isVisible():
            self._stale = True  # behind another dock tab: catch up when shown
            return
        self._stale = False
        t = self.state.timestep
        self.numbers.set_stats(timestep_stats(self.state.schedule, t))
        show = self.view_controls.shown
        frame = self.run.frame_at(self.player.index) if self.mode == "reverse" else None
        density_t = frame.t if frame is not None else t
        self.canvas.set_density(density_levels(self.scene.density(density_t)) if show("density") and len(self.scene)
                                else None)
        if frame is None:
            self.canvas.set_cloud(self.scene.cloud(t) if show("points") else None)
        else:
            self.canvas.set_cloud(None)
            self.canvas.set_particles(frame.positions if show("points") else None)
            self.canvas.set_paths(self.run.paths_until(self.player.index))
            self.canvas.set_paths(self.run.ghost_paths(), ghost=True)
        self._render_fields(max(t, 0))
        self._render_follow(t, frame)
        self.frames_rendered += 1

    def _render_fields(self, t: int) -> None:
        layers = field_layers(self.scene, t, self.view_controls.field_kind, self.view_controls.shown,
                              self.snapshot if self.learned_usable() else None)
        for name, segments in layers.segments.items():
            self.canvas.set_arrows(name, segments)
        if layers.learned is not None:
            self.difference_label.setText(difference_text(self.scene, t, layers.ideal, layers.learned,
                                                          self.snapshot.step))
        elif self.snapshot is None or self.learned_usable():
            self.difference_label.setText("Train the MLP to compare its field with the ideal one.")
        else:
            self.difference_label.setText("The MLP was trained for another schedule: train again.")

    def _render_follow(self, t: int, frame) -> None:
        if frame is not None:
            followed = follow_particle(self.run.trajectories, self.run.followed, self.player.index)
        else:
            followed = follow_point(self.scene, self.followed_point, t)
        if followed is None:
            self.canvas.set_follow(None)
            return
        self.canvas.set_follow(followed.position, followed.pred_x0, followed.path)
        self.follow_label.setText(followed.text)

    def _update_follow_label(self) -> None:
        followed = self.run.followed if self.mode == "reverse" else self.followed_point
        if followed is None:
            self.follow_label.setText("Click a particle (reverse) or a point (forward) to follow it.")

    # -- export ----------------------------------------------------------------------------------------
    def export_frames(self, which: str):
        """The frames an export of ``which`` ("forward" or "reverse") writes, styled as the panel shows."""
        show = self.view_controls.shown
        field = "learned" if show("learned") and self.learned_usable() else ("ideal" if show("ideal") else None)
        style = RenderStyle(heatmap=show("density"), field=field, field_kind=self.view_controls.field_kind,
                            paths=self.sample_controls.paths.value())
        return export_frames(which, self.scene, self.run, style, self.snapshot)

    def open_export(self, which: str) -> None:
        from ...dialogs.export_dialog import ExportDialog

        try:
            frames = self.export_frames(which)
        except InputError as error:
            self.show_message(f"Cannot export: {error}.")
            return
        title = "Export the forward process (playground)" if which == "forward" else \
            f"Export the reverse run: {self.run.trajectories.label}"
        dialog = ExportDialog(frames, parent=self, title=title,
                              default_path=Path.home() / f"playground_{which}.gif")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.exportFinished.connect(lambda result: self.state.show_status(result.summary(), 8000))
        self._export_dialog = dialog
        dialog.open()

    # -- Qt --------------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self.request_render()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop_all()
        super().closeEvent(event)

