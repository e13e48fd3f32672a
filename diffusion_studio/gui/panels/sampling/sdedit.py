"""Noise and denoise your image (SDEdit, Meng et al. 2022): the forward view's image at its t, then
the model's reverse chain from there. What survives the noise is kept; the rest the model invents."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from ...state import AppState
from ...widgets.on_screen import OnScreenWatch, is_on_screen

__all__ = ["SDEditControls", "matching_timestep"]


def matching_timestep(source_alphas_cumprod: np.ndarray, t: int, target_alphas_cumprod: np.ndarray) -> int:
    """The model timestep whose noise level (ᾱ) is closest to ᾱ_t of the forward view's schedule.

    The forward view and the model may use different schedules or T; equal ᾱ means the image
    is exactly as noisy as the one the user looked at (x_t = √ᾱ·x0 + √(1−ᾱ)·ε).
    """
    source = np.asarray(source_alphas_cumprod, dtype=np.float64)
    target = np.asarray(target_alphas_cumprod, dtype=np.float64)
    t = int(min(max(t, 0), len(source) - 1))

    def log_snr(alpha_bar):
        alpha_bar = np.clip(alpha_bar, 1e-12, 1 - 1e-12)
        return np.log(alpha_bar) - np.log1p(-alpha_bar)

    return int(np.argmin(np.abs(log_snr(target) - log_snr(source[t]))))


class SDEditControls(QWidget):
    """Shows what will be noised (the forward view's image and t) and a button to run it."""

    sdeditRequested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self._state = state
        self._model_alphas_cumprod: np.ndarray | None = None
        note = QLabel("Noise the forward view's image to its t, then let the model denoise it: "
                      "see what it keeps and what it invents.")
        note.setWordWrap(True)
        note.setProperty("role", "muted")
        self._source = QLabel()
        self._source.setWordWrap(True)
        self.button = QPushButton("Noise and denoise my image")
        self.button.setToolTip("SDEdit: x_t = q_sample(your image, t), then the reverse chain from t")
        self.button.clicked.connect(self.sdeditRequested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(note)
        layout.addWidget(self._source)
        layout.addWidget(self.button)
        state.imageChanged.connect(self._update)
        self._stale = False  # a change of t arrived while off screen
        self._on_screen_watch = OnScreenWatch(self, self._on_shown)
        state.timestepChanged.connect(self._on_timestep_changed)
        state.scheduleChanged.connect(self._update)
        self._update()

    def set_model_schedule(self, alphas_cumprod: np.ndarray | None) -> None:
        self._model_alphas_cumprod = None if alphas_cumprod is None else np.asarray(alphas_cumprod)
        self._update()

    def model_start_t(self) -> int | None:
        """The model timestep to start from, or None before a model is loaded."""
        if self._model_alphas_cumprod is None:
            return None
        return matching_timestep(self._state.schedule.alphas_cumprod, self._state.timestep,
                                 self._model_alphas_cumprod)

    def source_text(self) -> str:
        """The line about the forward view's image and t, brought up to date first."""
        if self._stale:
            self._update()
        return self._source.text()

    def shown_text(self) -> str:
        """The line as it is on screen now (off screen it waits for the panel to be shown)."""
        return self._source.text()

    def _on_timestep_changed(self, _t: int) -> None:
        # The forward slider sends many t a second; the rich text (a document to lay out, and a
        # re-layout of its panel) waits for the panel to come on screen when it is off screen.
        if is_on_screen(self):
            self._update()
        else:
            self._stale = True

    def _on_shown(self) -> None:
        if self._stale:
            self._update()

    def _update(self, *_args) -> None:
        self._stale = False
        state = self._state
        if state.image is None:
            self._source.setText("No image yet: open one in the forward view (File ▸ Open, or drop it).")
            self.button.setEnabled(False)
            return
        alpha_bar = float(state.schedule.alphas_cumprod[state.timestep])
        name = html.escape(state.image_name or "image")
        text = f"<b>{name}</b> at t = {state.timestep} (ᾱ = {alpha_bar:.3f})"
        start = self.model_start_t()
        if start is not None:
            T = len(self._model_alphas_cumprod)
            text += f"<br>→ model t = {start} of {T}"
        self._source.setText(text)
        self.button.setEnabled(True)
