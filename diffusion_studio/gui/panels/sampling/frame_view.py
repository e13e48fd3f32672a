"""One chain's current frame on an image canvas: the batch grid (or one sample large) and its t, ᾱ_t, SNR."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ... import theme
from ...widgets.image_view import ImageView
from ....core.frame_views import VIEW_PARTS, VIEW_SHORT_NAMES, FrameLayout, compose_frame, frame_stats, shown_parts

__all__ = ["FrameView"]


class FrameView(QWidget):
    """Shows ``compose_frame(frame, view, sample)``; a click on a grid tile emits ``sampleClicked(i)``.

    A click on the single large sample emits ``sampleClicked(-1)`` (back to the grid). A click that
    brings the keyboard focus into the view only does that (``focusClicked``): a person clicking
    to use Space and the arrows must not find one sample followed — and exported — instead of all.
    """

    sampleClicked = Signal(int)
    focusClicked = Signal()

    def __init__(self, title: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._frame = None
        self._view = "x_t"
        self._sample: int | None = None
        self._layout: FrameLayout | None = None
        self._title = title
        self._title_parts: tuple[str, ...] | None = None
        self._compact = False  # the title without the view's names (many views side by side)

        self.image_view = ImageView(title, tooltip="Click a sample to follow it large; click again for the grid")
        self.image_view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._stats = QLabel(" ")
        self._stats.setFont(theme.mono_font(0))
        self._stats.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Several views side by side (a guidance sweep) may be narrower than the line: it is cut, not the window
        self._stats.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.image_view, 1)
        layout.addWidget(self._stats)
        self._focus_came_with_press = False  # the last mouse press brought the keyboard focus in
        self.image_view.image_item.scene().sigMouseClicked.connect(self._on_scene_clicked)
        QApplication.instance().focusChanged.connect(self._on_focus_changed)
        theme.theme_manager().changed.connect(self._on_theme_changed)

    # -- public API ------------------------------------------------------------------------
    @property
    def frame(self):
        return self._frame

    @property
    def layout_info(self) -> FrameLayout | None:
        return self._layout

    def stats_text(self) -> str:
        return self._stats.text()

    def set_title(self, title: str) -> None:
        self._title = title
        self._update_title()

    def set_compact(self, compact: bool) -> None:
        """Titles of the chain's label alone, so that many views fit side by side (the view buttons say what
        is shown)."""
        self._compact = bool(compact)
        self._update_title()
        if self._frame is not None:
            self._show_stats()

    def _update_title(self) -> None:
        parts = VIEW_PARTS[self._view] if self._frame is None else shown_parts(self._frame, self._view)
        self._title_parts = parts
        if self._compact and self._title:
            self.image_view.set_title(f"{html.escape(self._title)}")
            return
        what = " │ ".join(VIEW_SHORT_NAMES[name] for name in parts)
        self.image_view.set_title(f"{html.escape(self._title)} <span style='font-weight:normal'>· {what}</span>"
                                  if self._title else what)

    def set_frame(self, frame, view: str | None = None, sample: int | None | str = "keep") -> None:
        self._frame = frame
        if view is not None and view != self._view:
            self._view = view
            self._update_title()
        if sample != "keep":
            self._sample = sample
        self._render()

    def set_view(self, view: str) -> None:
        self._view = view
        self._update_title()
        self._render()

    def set_sample(self, sample: int | None) -> None:
        self._sample = sample
        self._render()

    def clear(self) -> None:
        self._frame, self._layout = None, None
        self.image_view.clear()
        self._stats.setText(" ")

    def click_sample_at(self, x: float, y: float) -> None:
        """Act as if image pixel (x, y) was clicked (the scene handler and tests use this)."""
        if self._layout is None:
            return
        hit = self._layout.sample_at(x, y)
        if self._layout.single is not None:
            self.sampleClicked.emit(-1)
        elif hit is not None:
            self.sampleClicked.emit(hit)

    def tile_center(self, sample: int) -> tuple[float, float]:
        """Image pixel at the centre of ``sample``'s tile in the first view (for tests)."""
        info = self._layout
        row, column = divmod(sample, info.columns)
        return (column * (info.tile_width + info.pad) + info.tile_width / 2,
                row * (info.tile_height + info.pad) + info.tile_height / 2)

    # -- internals -------------------------------------------------------------------------
    def _render(self) -> None:
        if self._frame is None:
            return
        if shown_parts(self._frame, self._view) != self._title_parts:
            self._update_title()  # e.g. the guidance view of a chain that is not guided shows ε̂
        background = QColor(theme.colors().panel)
        image, self._layout = compose_frame(
            self._frame, self._view, self._sample, background=(background.red(), background.green(), background.blue())
        )
        self.image_view.set_image(image)
        self._show_stats()

    def _show_stats(self) -> None:
        stats = frame_stats(self._frame)
        self._stats.setText(stats.short_text() if self._compact else stats.text())  # compact: narrow views
        self._stats.setToolTip(stats.text())

    def _on_theme_changed(self, _colors) -> None:
        self._render()  # the gaps between tiles take the canvas colour

    def _holds(self, widget: QWidget | None) -> bool:
        return widget is not None and (widget is self or self.isAncestorOf(widget))

    def _on_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        # Qt moves the focus on a press before the press reaches the view: note that it came with one.
        pressed = QApplication.mouseButtons() != Qt.MouseButton.NoButton
        self._focus_came_with_press = pressed and self._holds(new) and not self._holds(old)

    def _on_scene_clicked(self, event) -> None:
        if self._layout is None or event.button() != Qt.MouseButton.LeftButton:
            return
        if self._focus_came_with_press or not self._holds(QApplication.focusWidget()):
            self._focus_came_with_press = False
            self.image_view.graphics.setFocus(Qt.FocusReason.MouseFocusReason)  # the keys come here now
            event.accept()
            self.focusClicked.emit()
            return
        pos: QPointF = self.image_view.image_item.mapFromScene(event.scenePos())
        if not self.image_view.image_item.boundingRect().contains(pos):
            return
        self.click_sample_at(float(np.floor(pos.x())), float(np.floor(pos.y())))
        event.accept()
