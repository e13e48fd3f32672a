"""The right half of the Text to image panel: the views of one or several latent chains, step by step.

It holds the chains' :class:`~core.chain.LatentFrame` s (latents, small) and makes pixels only for what is
on screen: the linear preview of x_t or x̂0 at once, the VAE decode on demand in a worker (cached), the
latent's channels and histogram, ε̂, and the guidance views. Reuses the Sample panel's player widgets:
the timeline, the schedule plot and the image canvas. Chain 0 drives the timeline; the others show their
frame at the same noise level (all chains of one run share the sampler's timesteps).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ... import theme
from ...widgets.image_view import ImageView
from ...widgets.message_strip import MessageStrip
from ...widgets.view_grid import arrange_views
from ..sampling.compare import paired_index
from ....core.frame_views import frame_stats
from ..sampling.schedule_marker import ScheduleMarkerPlot
from ..sampling.timeline import TimelinePlayer
from ....core.text_to_image import views as latent_views
from .workers import make_decode_worker

__all__ = ["LatentChain", "LatentViewer", "VIEWS", "PIXEL_MODES"]

VIEWS = ("x_t", "pred_x0", "latent", "pred_noise", "guidance")
VIEW_BUTTONS = {"x_t": "x_t", "pred_x0": "x₀ guess", "latent": "Latent", "pred_noise": "ε guess",
                "guidance": "Guidance"}
VIEW_TIPS = {
    "x_t": "x_t, the sample at this step, as pixels",
    "pred_x0": "x₀ guess (x̂0), the model's guess of the clean image at this step, as pixels",
    "latent": "the latents themselves: the channels of x_t and of the x₀ guess as images, and x_t's histogram "
              "against N(0, 1)",
    "pred_noise": "ε̂, the noise the model sees in x_t, channel by channel (±2.5σ)",
    "guidance": "ε̂ without the prompt, with the prompt, and what classifier-free guidance adds: w·(ε̂(c) − ε̂(∅))",
}
VIEW_NOTES = {
    "x_t": "",
    "pred_x0": "",
    "latent": "The latents themselves, channel by channel (grey = 0, ±2.5σ): x_t on top, the model's x₀ guess "
              "below. The plot: x_t's values against N(0, 1) — where the chain starts — becoming the image's.",
    "pred_noise": "ε̂ channel by channel, ±2.5σ: the noise the U-Net sees (guided).",
    "guidance": "Rows: ε̂(x_t, ∅) without the prompt · ε̂(x_t, c) with it · w·(ε̂(c) − ε̂(∅)), what guidance "
                "adds (w = s − 1). Channels left to right, all on one ±2.5σ scale.",
}
#: x_t and x̂0 as pixels: the fitted linear preview, or the VAE decode of the frame looked at
PIXEL_MODES = {"preview": "Preview", "vae": "VAE decode"}
MAX_CHAINS = 8
_SIDE_WIDTH = 240


@dataclass
class LatentChain:
    label: str
    timesteps: tuple[int, ...] = ()
    frames: list = field(default_factory=list)


def _checkable_row(parent: QWidget, names: dict[str, str], tips: dict[str, str], chosen: str,
                   on_pick) -> tuple[QHBoxLayout, dict]:
    group = QButtonGroup(parent)  # exclusive: one checked
    row = QHBoxLayout()
    row.setSpacing(2)
    buttons = {}
    for name, label in names.items():
        button = QPushButton(label)
        button.setCheckable(True)
        button.setChecked(name == chosen)
        button.setToolTip(tips.get(name, ""))
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(lambda _checked=False, n=name: on_pick(n))
        group.addButton(button)
        buttons[name] = button
        row.addWidget(button)
    return row, buttons


class LatentViewer(QWidget):
    #: the current frame's pixels were decoded by the VAE (key) — for tests and status
    decoded = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.chains: list[LatentChain] = []
        self.view = "x_t"
        self.pixels = "preview"
        self.follow_live = True
        self.preview = None  # the model's LatentPreview
        self.decoder: latent_views.DecodedPixels | None = None
        self.run_id = 0
        self._programmatic = False
        self._decode_worker = None
        self._decode_pending = None  # (key, latents) asked while a decode ran

        self.message = MessageStrip()
        view_row, self._view_buttons = _checkable_row(self, VIEW_BUTTONS, VIEW_TIPS, self.view, self.set_view)
        pixel_row, self._pixel_buttons = _checkable_row(
            self, PIXEL_MODES, {"preview": "A linear map from the latent's channels to RGB, fitted to this model's VAE: "
                                     "instant, at latent resolution",
                          "vae": "The VAE's decoder on the frame you look at: the real image, computed on demand "
                                 "(seconds on a CPU) and kept"}, self.pixels, self.set_pixels)
        show = QLabel("Show")
        show.setProperty("role", "muted")
        pixels = QLabel("Pixels")
        pixels.setProperty("role", "muted")
        toolbar = QHBoxLayout()
        toolbar.addWidget(show)
        toolbar.addLayout(view_row)
        toolbar.addSpacing(12)
        toolbar.addWidget(pixels)
        toolbar.addLayout(pixel_row)
        toolbar.addStretch(1)
        self._toolbar = toolbar

        self.image_views = [ImageView() for _ in range(MAX_CHAINS)]
        self._grid = QGridLayout()
        self._grid.setSpacing(theme.SPACING)
        for view in self.image_views:
            view.hide()
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setProperty("role", "muted")
        self.stats = QLabel(" ")
        self.stats.setFont(theme.mono_font(0))
        self.stats.setAlignment(Qt.AlignmentFlag.AlignHCenter)

        self.schedule_plot = ScheduleMarkerPlot()
        self.schedule_plot.setFixedWidth(_SIDE_WIDTH)
        schedule_note = QLabel("ᾱ_t of the model's schedule. Dots: the chain's steps; marker: the frame shown; "
                               "the second marker: where image-to-image starts.")
        schedule_note.setWordWrap(True)
        schedule_note.setProperty("role", "muted")
        schedule_note.setFont(theme.small_font())
        schedule_note.setFixedWidth(_SIDE_WIDTH)
        self.histogram = pg.PlotWidget()
        self.histogram.setFixedWidth(_SIDE_WIDTH)
        self.histogram.setMinimumHeight(120)
        self.histogram.setMenuEnabled(False)
        self.histogram.setMouseEnabled(x=False, y=False)
        self.histogram.hideButtons()
        plot = self.histogram.getPlotItem()
        plot.setLabel("bottom", "latent value")
        plot.setLabel("left", "density")
        plot.getAxis("left").enableAutoSIPrefix(False)
        self._normal_curve = plot.plot([], [])
        self._histogram_curves = [plot.plot([], [], stepMode="center") for _ in range(MAX_CHAINS)]
        self.histogram.hide()
        side = QVBoxLayout()
        side.setSpacing(4)
        side.addWidget(self.schedule_plot)
        side.addWidget(schedule_note)
        side.addWidget(self.histogram)
        side.addStretch(1)

        images = QHBoxLayout()
        images.addLayout(self._grid, 1)
        images.addLayout(side)
        self.timeline = TimelinePlayer()
        self.timeline.indexChanged.connect(self._on_index_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(theme.SPACING)
        layout.addWidget(self.message)
        layout.addLayout(toolbar)
        layout.addLayout(images, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.stats)
        layout.addWidget(self.timeline)
        theme.theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed(theme.colors())
        self._layout_chains(1)

    def add_toolbar_widget(self, widget: QWidget) -> None:
        self._toolbar.addWidget(widget)

    # -- model and chains ------------------------------------------------------------------
    def set_model(self, loaded) -> None:
        """A newly loaded model: its preview, its VAE (for decodes) and its schedule."""
        from ....core.model_sources.latent.parts import latent_parts

        self.preview = latent_parts(loaded).preview
        self.decoder = latent_views.DecodedPixels(loaded.decode)
        self.schedule_plot.set_schedule(loaded.schedule.alphas_cumprod)

    def reset(self) -> None:
        self.chains = []
        self.run_id += 1
        self.follow_live = True
        self._decode_pending = None
        self.timeline.set_count(0)
        for view in self.image_views:
            view.clear()
        self.schedule_plot.clear_chain(0)
        self.stats.setText(" ")

    def add_chain(self, plan) -> LatentChain:
        chain = LatentChain(plan.label, tuple(plan.timesteps))
        self.chains.append(chain)
        self._layout_chains(len(self.chains))
        if len(self.chains) == 1:
            ts = np.asarray(plan.timesteps, dtype=np.int64)
            self.schedule_plot.set_schedule(plan.alphas_cumprod)
            self.schedule_plot.set_visited(0, ts, np.asarray(plan.alphas_cumprod)[ts] if ts.size else [])
        return chain

    def add_frames(self, index: int, frames: list) -> None:
        self.chains[index].frames.extend(frames)
        if index == 0:
            self._programmatic = True
            try:
                self.timeline.set_count(len(self.chains[0].frames), follow_end=self.follow_live)
            finally:
                self._programmatic = False
        self.show_index(self.timeline.index)

    def show_start(self, t: int | None, alpha_bar: float | None = None) -> None:
        """Mark where image-to-image starts on the schedule plot (None hides it)."""
        self.schedule_plot.set_current(1, t, alpha_bar)

    # -- what is shown ---------------------------------------------------------------------
    def set_view(self, view: str) -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
        self.view = view
        self._view_buttons[view].setChecked(True)
        self.histogram.setVisible(view == "latent")
        self.note.setText(VIEW_NOTES[view])
        self.note.setVisible(bool(VIEW_NOTES[view]))
        self.show_index(self.timeline.index)

    def set_pixels(self, mode: str) -> None:
        if mode not in PIXEL_MODES:
            raise ValueError(f"unknown pixel mode {mode!r}; expected one of {', '.join(PIXEL_MODES)}")
        self.pixels = mode
        self._pixel_buttons[mode].setChecked(True)
        self.show_index(self.timeline.index)

    def user_step(self, delta: int) -> None:
        self.follow_live = False
        self.timeline.step(delta)

    def current_frames(self) -> list:
        """The frame each chain shows now (chain 0's at the timeline index, the others' paired by noise level)."""
        if not self.chains or not self.chains[0].frames:
            return []
        driver = self.chains[0].frames
        frame = driver[min(self.timeline.index, len(driver) - 1)]
        shown = [frame]
        for chain in self.chains[1:]:
            other = chain.frames
            if not other:
                shown.append(None)
            elif frame.is_final and other[-1].is_final:
                shown.append(other[-1])
            else:
                shown.append(other[paired_index(other, frame.alphas_cumprod)])
        return shown

    def show_index(self, _index: int | None = None) -> None:
        frames = self.current_frames()
        if not frames:
            return
        for k, frame in enumerate(frames):
            if frame is None:
                continue
            image, suffix = self.render(k, frame)
            view = self.image_views[k]
            view.set_image(image)
            label = html.escape(self.chains[k].label)
            # Three or more side by side: the chain's label alone, so they fit a laptop's width (the view
            # buttons and the note under the views say what is shown), as the Sample tab's sweep does.
            compact = len(self.chains) > 2
            view.set_title(label if compact else f"{label} <span style='font-weight:normal'>· {suffix}</span>")
        self.stats.setText(frame_stats(frames[0]).text())
        self.schedule_plot.set_current(0, frames[0].t, frames[0].alphas_cumprod)
        if self.view == "latent":
            self._update_histogram(frames)

    def render(self, chain: int, frame) -> tuple[np.ndarray, str]:
        """The uint8 picture of ``frame`` for the current view, and what it is (for the title)."""
        view = self.view
        if view in ("x_t", "pred_x0"):
            which = "pred_x0" if frame.is_final else view  # the final x_t is the image: x̂0's decode
            name = VIEW_BUTTONS[view]
            if self.pixels == "vae" and self.decoder is not None:
                key = (self.run_id, chain, frame.index, which)
                decoded = self.decoder.cached(key)
                if decoded is not None:
                    return decoded[0], f"{name} (VAE decode)"
                self._want_decode(key, getattr(frame, which))
                return latent_views.preview_pixels(frame, which, self.preview)[0], f"{name} (preview; decoding…)"
            return latent_views.preview_pixels(frame, which, self.preview)[0], f"{name} (linear preview)"
        gaps = self._gap_colour
        if view == "latent":
            strips = latent_views.stacked_strips([frame.x_t[0], frame.pred_x0[0]], background=gaps)
            return strips, "x_t over the x₀ guess"
        if view == "pred_noise":
            return latent_views.channel_strip(frame.pred_noise[0], background=gaps), "ε̂, channels"
        image, _labels = latent_views.guidance_strips(frame, background=gaps)
        if image is None:
            return latent_views.channel_strip(frame.pred_noise[0], background=gaps), "no guidance views"
        return image, "ε̂(∅) | ε̂(c) | w·Δ"

    # -- decoding --------------------------------------------------------------------------
    @property
    def decoding(self) -> bool:
        return self._decode_worker is not None

    def _want_decode(self, key, latents) -> None:
        if self._decode_worker is not None:
            self._decode_pending = (key, latents)  # the newest request wins
            return
        worker = make_decode_worker(self.decoder, key, latents)
        worker.returned.connect(self._on_decoded)
        worker.errored.connect(self._on_decode_failed)
        worker.finished.connect(self._on_decode_finished)
        self._decode_worker = worker
        worker.start()

    def _on_decoded(self, result) -> None:
        key, _pixels = result
        self.decoded.emit(key)
        self.show_index()

    def _on_decode_failed(self, error: Exception) -> None:
        self.message.show_message(f"The VAE could not decode this frame: {error}", "error")

    def _on_decode_finished(self) -> None:
        self._decode_worker = None
        pending, self._decode_pending = self._decode_pending, None
        if pending is not None and pending[0][0] == self.run_id and self.decoder.cached(pending[0]) is None:
            self._want_decode(*pending)

    # -- internals -------------------------------------------------------------------------
    def _layout_chains(self, count: int) -> None:
        arrange_views(self._grid, self.image_views, count)

    def _update_histogram(self, frames) -> None:
        for k, curve in enumerate(self._histogram_curves):
            frame = frames[k] if k < len(frames) else None
            if frame is None:
                curve.setData([], [])
                curve.setVisible(False)
                continue
            centres, density = latent_views.latent_histogram(frame.x_t)
            width = centres[1] - centres[0]
            edges = np.append(centres - width / 2, centres[-1] + width / 2)
            curve.setData(edges, density)
            curve.setVisible(True)
        x = np.linspace(-4, 4, 161)
        self._normal_curve.setData(x, latent_views.normal_density(x))

    def _on_index_changed(self, index: int) -> None:
        if not self._programmatic:
            self.follow_live = False
        self.show_index(index)

    def _on_theme_changed(self, colors: theme.ThemeColors) -> None:
        canvas = QColor(colors.canvas)
        self._gap_colour = (canvas.red(), canvas.green(), canvas.blue())  # strips' gaps in the canvas colour
        self.show_index()
        sheet = (f"QPushButton {{ padding: 3px 10px; }}"
                 f"QPushButton:checked {{ background: {colors.accent}; color: {colors.accent_text};"
                 f" border: 1px solid {colors.accent}; border-radius: 3px; }}")
        for button in (*self._view_buttons.values(), *self._pixel_buttons.values()):
            button.setStyleSheet(sheet)
        theme.style_plot(self.histogram)
        normal = pg.mkPen(colors.muted_text, width=1.5, style=Qt.PenStyle.DashLine)
        normal.setCosmetic(True)
        self._normal_curve.setPen(normal)
        for k, curve in enumerate(self._histogram_curves):
            curve.setPen(theme.plot_pen(k, width=1.5))
