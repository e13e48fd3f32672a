"""The options half of the export dialog: widgets ↔ :class:`core.export.ExportOptions`."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ...core.export import AUTO_SHORT_SIDE, ExportOptions

__all__ = ["ExportOptionsForm", "VIEW_LABELS"]

#: view name → label in the combo (the chain's names; forward exports relabel them)
VIEW_LABELS = {"x_t": "x_t (the sample)", "pred_x0": "x̂0 (model's clean guess)",
               "pred_noise": "ε̂ (model's noise guess)", "side_by_side": "All three side by side"}
FORWARD_VIEW_LABELS = {"x_t": "x_t (noised image)", "pred_x0": "x0 (clean image)", "pred_noise": "ε (the noise)",
                       "side_by_side": "All three side by side"}


def _row(*widgets) -> QWidget:
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        layout.addWidget(w)
    layout.addStretch(1)
    return box


class ExportOptionsForm(QWidget):
    """Every export option as a form; ``changed`` fires on any edit, ``options()`` reads them."""

    changed = Signal()

    def __init__(self, views: tuple[str, ...], *, forward: bool = False, max_t: int = 999, parent=None):
        super().__init__(parent)
        labels = FORWARD_VIEW_LABELS if forward else VIEW_LABELS
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)

        self.view = QComboBox()
        for name in views:
            self.view.addItem(labels[name], name)
        form.addRow("View", self.view)

        self.frames = QSpinBox()
        self.frames.setRange(0, 10_000)
        self.frames.setSpecialValueText("All")
        self.frames.setToolTip("How many frames to keep; the first and the last are always kept")
        self.spacing = QComboBox()
        self.spacing.addItem("evenly in t", "even")
        self.spacing.addItem("denser near t = 0", "dense_near_0")
        self.spacing.setToolTip("Where the kept frames are taken: the image forms near t = 0")
        form.addRow("Frames", _row(self.frames, self.spacing))

        self.t_low, self.t_high = QSpinBox(), QSpinBox()
        for box in (self.t_low, self.t_high):
            box.setRange(0, max_t)
        self.t_high.setValue(max_t)
        form.addRow("t range", _row(self.t_low, QLabel("to"), self.t_high))

        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 60.0)
        self.fps.setDecimals(1)
        self.fps.setValue(12.0)
        self.fps.setSuffix(" fps")
        self.hold = QDoubleSpinBox()
        self.hold.setRange(0.0, 30.0)
        self.hold.setSingleStep(0.5)
        self.hold.setValue(1.0)
        self.hold.setSuffix(" s")
        self.hold.setToolTip("How long the last frame stays on screen")
        self.loop = QCheckBox("Loop")
        self.loop.setChecked(True)
        form.addRow("Speed", _row(self.fps, QLabel("hold last"), self.hold, self.loop))

        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.0, 16.0)  # 0 reads "Auto"
        self.scale.setSingleStep(1.0)
        self.scale.setSpecialValueText(f"Auto (at least {AUTO_SHORT_SIDE} px)")
        self.scale.setValue(0.0)
        self.scale.setPrefix("× ")
        self.scale.setToolTip(f"Auto enlarges small frames by a whole factor to at least {AUTO_SHORT_SIDE} px on the "
                              "short side. Enlarging uses nearest-neighbour, so small samples stay crisp.")
        form.addRow("Scale", self.scale)

        self.columns = QSpinBox()
        self.columns.setRange(0, 64)
        self.columns.setSpecialValueText("auto")
        self.padding = QSpinBox()
        self.padding.setRange(0, 32)
        self.padding.setValue(2)
        self.padding.setSuffix(" px")
        self._pad_color = QColor(255, 255, 255)
        self.pad_color = QPushButton()
        self.pad_color.setToolTip("Background of the grid and the caption")
        self.pad_color.clicked.connect(self._choose_pad_color)
        self._show_pad_color()
        form.addRow("Batch grid", _row(QLabel("columns"), self.columns, QLabel("padding"), self.padding, self.pad_color))

        self.caption = QCheckBox("Write t and ᾱ_t under each frame")
        self.caption.setChecked(True)
        self.column_labels = QCheckBox("Name the three pictures above them")
        self.column_labels.setChecked(True)
        self.column_labels.setToolTip("With all three side by side: x_t, x̂0 and ε̂ (or x0 and ε for the forward process)")
        form.addRow("Caption", self.caption)
        form.addRow("Labels", self.column_labels)

        self.palette = QComboBox()
        self.palette.addItem("High quality (adaptive, dithered when smooth)", "high")
        self.palette.addItem("Fast", "fast")
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(90)
        self.quality.setToolTip("WebP and MP4 quality; 100 makes a lossless WebP")
        form.addRow("GIF colours", self.palette)
        form.addRow("WebP/MP4 quality", self.quality)
        self.strip_frames = QSpinBox()
        self.strip_frames.setRange(1, 100)
        self.strip_frames.setValue(10)
        form.addRow("Strip frames", self.strip_frames)
        self.form = form

        for box in (self.frames, self.t_low, self.t_high, self.columns, self.padding, self.quality, self.strip_frames):
            box.valueChanged.connect(self.changed)
        for box in (self.fps, self.hold, self.scale):
            box.valueChanged.connect(self.changed)
        for combo in (self.view, self.spacing, self.palette):
            combo.currentIndexChanged.connect(self.changed)
        for check in (self.loop, self.caption, self.column_labels):
            check.toggled.connect(self.changed)
        self.view.currentIndexChanged.connect(self._sync_labels_row)
        self._sync_labels_row()

    def _sync_labels_row(self) -> None:
        self.column_labels.setEnabled(self.view.currentData() == "side_by_side")

    def set_max_t(self, max_t: int) -> None:
        at_end = self.t_high.value() == self.t_high.maximum()
        self.t_low.setMaximum(max_t)
        self.t_high.setMaximum(max_t)
        if at_end:
            self.t_high.setValue(max_t)

    def show_rows_for(self, kind: str) -> None:
        """Show only the options that matter for ``kind`` (gif, webp, apng, mp4, frames, strip)."""
        animated = kind in ("gif", "webp", "apng", "mp4")
        self.form.setRowVisible(self.palette, kind == "gif")
        self.form.setRowVisible(self.quality, kind in ("webp", "mp4"))
        self.form.setRowVisible(self.strip_frames, kind == "strip")
        for widget in (self.fps, self.hold, self.loop):
            widget.setEnabled(animated)
        self.loop.setEnabled(kind != "mp4" and animated)

    def _choose_pad_color(self) -> None:
        color = QColorDialog.getColor(self._pad_color, self, "Grid background")
        if color.isValid():
            self._pad_color = color
            self._show_pad_color()
            self.changed.emit()

    def set_pad_color(self, rgb: tuple[int, int, int]) -> None:
        self._pad_color = QColor(*rgb)
        self._show_pad_color()
        self.changed.emit()

    def _show_pad_color(self) -> None:
        name = self._pad_color.name()
        text = "#000" if self._pad_color.lightness() > 127 else "#fff"
        self.pad_color.setText(name)
        self.pad_color.setStyleSheet(f"background-color: {name}; color: {text}; padding: 2px 8px;")

    def options(self) -> ExportOptions:
        """The options as set (raises InputError for impossible combinations)."""
        low, high = self.t_low.value(), self.t_high.value()
        full = low == 0 and high == self.t_high.maximum()
        return ExportOptions(
            view=self.view.currentData(),
            t_range=None if full else (low, high),
            max_frames=self.frames.value() or None,
            spacing=self.spacing.currentData(),
            fps=self.fps.value(),
            hold_last_s=self.hold.value(),
            loop=self.loop.isChecked(),
            scale=self.scale.value() or None,
            grid_columns=self.columns.value() or None,
            padding=self.padding.value(),
            pad_color=(self._pad_color.red(), self._pad_color.green(), self._pad_color.blue()),
            caption=self.caption.isChecked(),
            column_labels=self.column_labels.isChecked(),
            palette=self.palette.currentData(),
            quality=self.quality.value(),
            strip_frames=self.strip_frames.value(),
        )
