"""A media-player style timeline over a list of frames: play/pause, step, scrub, speed, loop/bounce."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QStyle,
    QToolButton,
    QWidget,
)

__all__ = ["TimelinePlayer", "PLAY_MODES", "SPEEDS_FPS"]

PLAY_MODES = ("Once", "Loop", "Bounce")
SPEEDS_FPS = (2, 5, 10, 20, 30, 60, 120)
#: the timer never ticks faster than this; higher speeds advance several frames per tick
_MAX_TICK_HZ = 60


class TimelinePlayer(QWidget):
    """Owns the current frame index of ``count`` frames and plays through them on a timer.

    Keyboard handling (Space, ←, →) lives with the panel that holds the player, so the keys work
    wherever the focus is inside that panel; it calls :meth:`toggle_play` and :meth:`step`.
    """

    indexChanged = Signal(int)
    playingChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._count = 0
        self._index = 0
        self._direction = 1
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._on_tick)

        style = self.style()
        self._play_button = QToolButton(toolTip="Play / pause (Space)")
        self._play_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self._play_button.setAutoRaise(True)
        self._play_button.clicked.connect(self.toggle_play)
        self._back_button = QToolButton(toolTip="Previous frame (←)")
        self._back_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self._back_button.setAutoRaise(True)
        self._back_button.clicked.connect(lambda: self.step(-1))
        self._forward_button = QToolButton(toolTip="Next frame (→)")
        self._forward_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self._forward_button.setAutoRaise(True)
        self._forward_button.clicked.connect(lambda: self.step(1))
        for button in (self._play_button, self._back_button, self._forward_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        self._slider = QSlider(Qt.Orientation.Horizontal, toolTip="Scrub through the chain")
        self._slider.setRange(0, 0)
        self._slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._slider.valueChanged.connect(self.set_index)

        self._position_label = QLabel("0 / 0")
        self._position_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("0000 / 0000") + 4)
        self._position_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self._speed_box = QComboBox(toolTip="Playback speed in frames per second")
        for fps in SPEEDS_FPS:
            self._speed_box.addItem(f"{fps} fps", fps)
        self._speed_box.setCurrentIndex(SPEEDS_FPS.index(30))
        self._speed_box.currentIndexChanged.connect(self._on_speed_changed)
        self._mode_box = QComboBox(toolTip="At the end: stop, start again, or play backwards")
        self._mode_box.addItems(PLAY_MODES)
        self._mode_box.setCurrentText("Loop")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self._back_button)
        layout.addWidget(self._play_button)
        layout.addWidget(self._forward_button)
        layout.addWidget(self._slider, 1)
        layout.addWidget(self._position_label)
        layout.addSpacing(6)
        layout.addWidget(self._speed_box)
        layout.addWidget(self._mode_box)
        self._update_enabled()

    # -- queries ---------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return self._count

    @property
    def index(self) -> int:
        return self._index

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    @property
    def fps(self) -> int:
        return int(self._speed_box.currentData())

    @property
    def mode(self) -> str:
        return self._mode_box.currentText()

    # -- commands --------------------------------------------------------------------------
    def position_text(self) -> str:
        """"7 / 20": the frame shown and how many there are."""
        return self._position_label.text()

    def set_count(self, count: int, follow_end: bool = False) -> None:
        """Frames available: 0 … count-1. ``follow_end`` jumps to the newest (live view)."""
        count = max(0, int(count))
        self._count = count
        with QSignalBlocker(self._slider):
            self._slider.setRange(0, max(0, count - 1))
        if count == 0:
            self.pause()
            self._index = 0
        target = count - 1 if follow_end else min(self._index, max(0, count - 1))
        self._index = -1  # force the emit even when the number is unchanged
        self.set_index(max(0, target))
        self._update_enabled()

    def set_index(self, index: int) -> None:
        if self._count == 0:
            self._update_label()
            return
        index = min(max(int(index), 0), self._count - 1)
        if index == self._index:
            return
        self._index = index
        with QSignalBlocker(self._slider):
            self._slider.setValue(index)
        self._update_label()
        self.indexChanged.emit(index)

    def step(self, delta: int) -> None:
        self.pause()
        self.set_index(self._index + int(delta))

    def set_fps(self, fps: int) -> None:
        nearest = min(SPEEDS_FPS, key=lambda value: abs(value - fps))
        self._speed_box.setCurrentIndex(SPEEDS_FPS.index(nearest))

    def set_mode(self, mode: str) -> None:
        if mode not in PLAY_MODES:
            raise ValueError(f"unknown play mode {mode!r}")
        self._mode_box.setCurrentText(mode)

    def play(self) -> None:
        if self._count < 2 or self.playing:
            return
        if self.mode == "Once" and self._index >= self._count - 1:
            self.set_index(0)  # "play" at the end of a one-shot replay starts over
        self._direction = 1 if self.mode != "Bounce" or self._index < self._count - 1 else -1
        self._timer.start(self._interval_ms())
        self._sync_play_button()

    def pause(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self._sync_play_button()

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    # -- internals -------------------------------------------------------------------------
    def _frames_per_tick(self) -> int:
        return max(1, round(self.fps / _MAX_TICK_HZ))

    def _interval_ms(self) -> int:
        return max(1000 // _MAX_TICK_HZ, round(1000 * self._frames_per_tick() / self.fps))

    def _on_speed_changed(self) -> None:
        if self.playing:
            self._timer.start(self._interval_ms())

    def _on_tick(self) -> None:
        if self._count < 2:
            self.pause()
            return
        last = self._count - 1
        target = self._index + self._direction * self._frames_per_tick()
        mode = self.mode
        if mode == "Once" and target >= last:
            self.set_index(last)
            self.pause()
            return
        if mode == "Loop":
            target = target % self._count if target > last else target
        elif mode == "Bounce":
            if target >= last:
                target, self._direction = last, -1
            elif target <= 0:
                target, self._direction = 0, 1
        self.set_index(target)

    def _sync_play_button(self) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if self.playing else QStyle.StandardPixmap.SP_MediaPlay
        self._play_button.setIcon(self.style().standardIcon(icon))
        self.playingChanged.emit(self.playing)

    def _update_label(self) -> None:
        shown = self._index + 1 if self._count else 0
        self._position_label.setText(f"{shown} / {self._count}")

    def _update_enabled(self) -> None:
        has_frames = self._count > 0
        for widget in (self._play_button, self._back_button, self._forward_button, self._slider):
            widget.setEnabled(has_frames)
        self._update_label()
