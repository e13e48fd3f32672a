"""File > Export: write the forward process or a reverse chain as GIF / WebP / APNG / MP4 / PNGs / a strip.

``ExportDialog(frames, parent)`` exports a list of ChainFrames (or any frames core.export takes);
``ExportDialog.for_forward(state, parent)`` exports the forward process of the app's image, schedule
and seed, with a field for the timesteps. The export runs in a superqt worker over
``core.export.iter_export``; Cancel stops it between frames and nothing is written. Given the app's
``state``, the dialog starts in the folder of the last export and remembers where this one went.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import InputError
from ...core.export import ForwardFrameSource, mp4_backend, output_kind
from ...core.export.writers import MP4_MISSING
from .. import theme
from ..state import AppState
from .export_form import ExportOptionsForm
from ...core.export.jobs import ExportOutcome, export_job, preview_job

__all__ = ["ExportDialog", "FORMAT_CHOICES", "ExportOutcome"]

#: (label, kind, extension) in the format combo
FORMAT_CHOICES = (
    ("GIF", "gif", ".gif"),
    ("Animated WebP", "webp", ".webp"),
    ("APNG (animated PNG)", "apng", ".png"),
    ("MP4 video", "mp4", ".mp4"),
    ("PNG frames (a folder)", "frames", ""),
    ("Contact strip (one PNG)", "strip", ".png"),
)
_PREVIEW_WIDTH, _PREVIEW_HEIGHT = 260, 150


def _pixmap(image: np.ndarray, width: int, height: int) -> QPixmap:
    image = np.ascontiguousarray(image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1))
    h, w = image.shape[:2]
    qimage = QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    enlarging = w < width and h < height  # keep small samples crisp
    mode = Qt.TransformationMode.FastTransformation if enlarging else Qt.TransformationMode.SmoothTransformation
    return QPixmap.fromImage(qimage).scaled(width, height, Qt.AspectRatioMode.KeepAspectRatio, mode)


class ExportDialog(QDialog):
    """Choose a file, a format and options; see the first/last frame and the size; export in a worker."""

    #: the core ExportResult of a finished export (also when cancelled: ``result.cancelled``)
    exportFinished = Signal(object)
    #: an export failed: the message shown
    exportFailed = Signal(str)
    #: the preview and the size estimate were updated
    previewReady = Signal()

    def __init__(self, frames, parent: QWidget | None = None, *, title: str = "Export chain",
                 default_path: str | Path | None = None, file_name: str = "diffusion_chain.gif",
                 state: AppState | None = None, forward_state: AppState | None = None):
        """``default_path`` wins; else ``file_name`` in the folder of the app's last export (``state``)."""
        super().__init__(parent)
        self.setWindowTitle(title)
        self._frames = frames
        self._state = forward_state
        self._app_state = state if state is not None else forward_state
        if default_path is None:
            last = self._app_state.export_folder if self._app_state is not None else None
            default_path = (last if last is not None and last.is_dir() else Path.home()) / file_name
        self._worker = None
        self._preview_worker = None
        self._preview_pending = False
        self._stop_requested = False
        self._estimate_timer = QTimer(self, singleShot=True, interval=250)
        self._estimate_timer.timeout.connect(self._update_preview)

        views = self._available_views(frames)
        max_t = forward_state.schedule.num_timesteps - 1 if forward_state is not None else self._max_t(frames)
        self.form = ExportOptionsForm(views, forward=forward_state is not None, max_t=max_t)
        self.path_edit = QLineEdit(str(default_path))
        self.path_edit.setMinimumWidth(320)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.format_combo = QComboBox()
        for label, kind, _ in FORMAT_CHOICES:
            self.format_combo.addItem(label, kind)
        if mp4_backend() is None:
            item = self.format_combo.model().item(3)
            item.setEnabled(False)
            item.setToolTip(MP4_MISSING)

        top = QFormLayout()
        top.addRow("Save to", self._hbox(self.path_edit, browse))
        top.addRow("Format", self.format_combo)
        self.t_spec_edit = QLineEdit()
        self.max_side = QSpinBox()
        if forward_state is not None:
            T = forward_state.schedule.num_timesteps
            self.t_spec_edit.setText(f"0:{T}:{max(1, T // 40)}")
            self.t_spec_edit.setToolTip("START:STOP:STEP (a STOP ≥ T also adds T-1) or a list like 0,10,500,999")
            self.max_side.setRange(16, 2048)
            self.max_side.setValue(256)
            self.max_side.setSuffix(" px")
            top.addRow("Timesteps", self.t_spec_edit)
            top.addRow("Image size (longest side)", self.max_side)
            self.t_spec_edit.editingFinished.connect(self._rebuild_forward)
            self.max_side.valueChanged.connect(self._rebuild_forward)

        options_box = QGroupBox("Options")
        QVBoxLayout(options_box).addWidget(self.form)

        preview_box = QGroupBox("Preview")
        grid = QGridLayout(preview_box)
        self.first_preview, self.last_preview = QLabel(), QLabel()
        for row, (name, label) in enumerate((("First frame", self.first_preview), ("Last frame", self.last_preview))):
            label.setFixedSize(_PREVIEW_WIDTH, _PREVIEW_HEIGHT)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption = QLabel(name)
            caption.setProperty("role", "muted")
            caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            grid.addWidget(label, 2 * row, 0)
            grid.addWidget(caption, 2 * row + 1, 0)
        self.estimate_label = QLabel("…")
        self.estimate_label.setWordWrap(True)
        grid.addWidget(self.estimate_label, 4, 0)
        grid.setRowStretch(5, 1)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel export", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.cancel_button.setEnabled(False)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button.clicked.connect(self.cancel_export)
        self.close_button.clicked.connect(self.reject)

        body = QHBoxLayout()
        left = QVBoxLayout()
        left.addLayout(top)
        left.addWidget(options_box, 1)
        body.addLayout(left, 3)
        body.addWidget(preview_box, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(theme.MARGIN * 2, theme.MARGIN * 2, theme.MARGIN * 2, theme.MARGIN)
        layout.setSpacing(theme.SPACING)
        layout.addLayout(body, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

        self.format_combo.currentIndexChanged.connect(self._on_format_changed)
        self.path_edit.editingFinished.connect(self._on_path_edited)
        self.form.changed.connect(self._schedule_preview)
        self._on_path_edited()
        if forward_state is not None:
            self._rebuild_forward()
        self._schedule_preview()

    # -- construction helpers --------------------------------------------------------------
    @classmethod
    def for_forward(cls, state, parent: QWidget | None = None) -> "ExportDialog":
        """An export of the forward process of ``state``'s image, schedule and seed (InputError if no image)."""
        if state.image is None:
            raise InputError("Open an image first (File > Open Image…); the forward export noises it")
        stem = Path(state.image_name or "image").stem or "image"
        return cls(None, parent, title="Export forward animation", file_name=f"{stem}_forward.gif", forward_state=state)

    @staticmethod
    def _hbox(*widgets) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        for w in widgets:
            row.addWidget(w)
        return box

    @staticmethod
    def _available_views(frames) -> tuple[str, ...]:
        if frames is None:
            return ("x_t", "pred_x0", "pred_noise", "side_by_side")
        first = frames[0] if len(frames) else None
        names = [v for v in ("x_t", "pred_x0", "pred_noise") if getattr(first, v, None) is not None]
        return tuple(names) + (("side_by_side",) if len(names) > 1 else ())

    @staticmethod
    def _max_t(frames) -> int:
        ts = [getattr(f, "t", None) for f in frames]
        ts = [t for t in ts if t is not None]
        return max(ts) if ts else 0

    # -- options ---------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.format_combo.currentData()

    @property
    def frames(self):
        return self._frames

    def _rebuild_forward(self) -> None:
        from ...core.export import parse_t_spec

        state = self._state
        try:
            ts = parse_t_spec(self.t_spec_edit.text(), state.schedule.num_timesteps)
            self._frames = ForwardFrameSource(state.image, state.schedule, ts, seed=state.seed,
                                              max_side=self.max_side.value())
        except InputError as error:
            self._show_message(str(error), error=True)
            return
        self.form.set_max_t(state.schedule.num_timesteps - 1)
        self._show_message("")
        self._schedule_preview()

    def _on_format_changed(self) -> None:
        kind, ext = self.kind, FORMAT_CHOICES[self.format_combo.currentIndex()][2]
        path = Path(self.path_edit.text().strip() or "export")
        new = path.with_suffix(ext) if path.suffix or ext else path
        if kind == "frames":
            new = path.with_suffix("")
        self.path_edit.setText(str(new))
        self.form.show_rows_for(kind)
        self._schedule_preview()

    def _on_path_edited(self) -> None:
        text = self.path_edit.text().strip()
        if not text:
            return
        if self.kind == "strip" and Path(text).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
            return
        try:
            kind = output_kind(text)
        except InputError as error:
            self._show_message(str(error), error=True)
            return
        index = self.format_combo.findData(kind)
        if index >= 0 and index != self.format_combo.currentIndex():
            self.format_combo.blockSignals(True)
            self.format_combo.setCurrentIndex(index)
            self.format_combo.blockSignals(False)
        self.form.show_rows_for(kind)
        self._show_message("")
        self._schedule_preview()

    def _browse(self) -> None:
        if self.kind == "frames":
            folder = QFileDialog.getExistingDirectory(self, "Folder for the PNG frames", self.path_edit.text())
            if folder:
                self.path_edit.setText(folder)
            return
        filters = ";;".join(f"{label} (*{ext})" for label, kind, ext in FORMAT_CHOICES if ext)
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), filters)
        if path:
            self.path_edit.setText(path)
            self._on_path_edited()

    # -- preview and size --------------------------------------------------------------------
    def _schedule_preview(self) -> None:
        self._estimate_timer.start()

    def _update_preview(self) -> None:
        """First/last frame and the size estimate, computed in a worker (encoding a few frames takes a while)."""
        if self._frames is None:
            return
        try:
            options = self.form.options()
        except InputError as error:
            self.estimate_label.setText(f"<span style='color:{theme.colors().error}'>{error}</span>")
            return
        if self._preview_worker is not None:  # one at a time; redo when it is done
            self._preview_pending = True
            return
        from superqt.utils import thread_worker

        self._preview_pending = False
        self.estimate_label.setText("Estimating the size…")
        factory = thread_worker(preview_job, start_thread=False, ignore_errors=True)
        self._preview_worker = factory(self._frames, self.kind, options)
        self._preview_worker.returned.connect(self._on_preview)
        self._preview_worker.finished.connect(self._on_preview_finished)
        self._preview_worker.start()

    def _on_preview(self, outcome) -> None:
        first, last, estimate, error = outcome
        if self._preview_pending:
            return  # stale: the options changed meanwhile
        if error is not None:
            self.estimate_label.setText(f"<span style='color:{theme.colors().error}'>{error}</span>")
        else:
            self.first_preview.setPixmap(_pixmap(first, _PREVIEW_WIDTH, _PREVIEW_HEIGHT))
            self.last_preview.setPixmap(_pixmap(last, _PREVIEW_WIDTH, _PREVIEW_HEIGHT))
            self.estimate_label.setText(f"Estimated size: {estimate.summary()}")
        self.previewReady.emit()

    def _on_preview_finished(self) -> None:
        self._preview_worker = None
        if self._preview_pending:
            self._update_preview()

    # -- export --------------------------------------------------------------------------
    def start_export(self) -> None:
        if self._worker is not None or self._frames is None:
            return
        from superqt.utils import thread_worker

        path = self.path_edit.text().strip()
        try:
            if not path:
                raise InputError("Choose where to save the export")
            options = self.form.options()
            kind = self.kind if self.kind in ("frames", "strip") else output_kind(path)
        except InputError as error:
            self._fail(str(error))
            return
        self._stop_requested = False
        self._set_running(True)
        self._show_message("Exporting…")
        factory = thread_worker(export_job, start_thread=False, ignore_errors=True)
        self._worker = factory(self._frames, Path(path).expanduser(), options, kind, lambda: self._stop_requested)
        self._worker.yielded.connect(self._on_progress)
        self._worker.returned.connect(self._on_returned)
        self._worker.errored.connect(self._on_errored)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.start()

    def cancel_export(self) -> None:
        self._stop_requested = True
        self.cancel_button.setEnabled(False)
        self._show_message("Cancelling…")

    def is_exporting(self) -> bool:
        return self._worker is not None

    def _on_progress(self, progress) -> None:
        self.progress.setValue(int(progress.fraction * 1000))
        self._show_message(progress.message)

    def _on_returned(self, outcome: ExportOutcome) -> None:
        if outcome.error is not None:
            self._fail(str(outcome.error) or type(outcome.error).__name__)
            return
        result = outcome.result
        if not result.cancelled and self._app_state is not None:
            written = Path(self.path_edit.text().strip()).expanduser()
            self._app_state.set_export_folder(written if self.kind == "frames" else written.parent)
        self.progress.setValue(0 if result.cancelled else 1000)
        self._show_message(result.summary(), success=not result.cancelled)
        self.exportFinished.emit(result)

    def _on_errored(self, error: Exception) -> None:
        self._fail(str(error) or type(error).__name__)

    def _on_worker_finished(self) -> None:
        self._worker = None
        self._set_running(False)

    def _fail(self, message: str) -> None:
        self.progress.setValue(0)
        self._show_message(message, error=True)
        self.exportFailed.emit(message)

    def _set_running(self, running: bool) -> None:
        for widget in (self.form, self.path_edit, self.format_combo, self.export_button, self.t_spec_edit, self.max_side):
            widget.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _show_message(self, text: str, *, error: bool = False, success: bool = False) -> None:
        c = theme.colors()
        color = c.error if error else (c.success if success else c.muted_text)
        self.message.setStyleSheet(f"color: {color};")
        self.message.setText(text)

    def reject(self) -> None:
        if self._worker is not None:  # closing while exporting: stop, write nothing
            self.cancel_export()
        super().reject()
