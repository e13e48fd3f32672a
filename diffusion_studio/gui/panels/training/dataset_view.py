"""Choose what to train on: a folder of images (dialog or drag and drop) or the built-in digits.

A folder is scanned in the background (``core.data.iter_scan`` in a superqt worker):
thumbnails appear as files are checked, then a summary (usable count, colour or
grayscale, sizes, Pillow modes) and the skipped files with the reason for each.
A labelled folder (a subfolder per class, ``core.data.labels``) and the demo digits also show their
classes: each with its count and a few thumbnails, and warnings about classes with too few images or
none usable (training with classes is then refused), or images outside the class folders.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import GeneratorWorker

from ...theme import muted_label
from ....core.data import DEMO_DIGITS_COUNT as DEMO_COUNT
from ....core.data import DEMO_SOURCE, class_of
from ....core.errors import InputError
from ....core.paths import resource_path

__all__ = ["DEMO_SOURCE", "DatasetChoice", "DatasetView", "scan_batches", "demo_thumbnails", "folder_from_mime",
           "class_strip"]

#: thumbnails shown at most; the counts always cover the whole folder
MAX_THUMBNAILS = 400
THUMB_SIZE = 64
#: thumbnails per class in the class table, and their side there
CLASS_EXAMPLES, CLASS_THUMB = 4, 28


@dataclass(frozen=True)
class DatasetChoice:
    """The dataset the next run trains on: ``source`` is a folder path or :data:`DEMO_SOURCE`."""

    source: str
    num_usable: int
    channels: int
    report: object | None = None  # a core.data ScanReport for folders

    @property
    def is_demo(self) -> bool:
        return self.source == DEMO_SOURCE


def scan_batches(folder: str, interval_s: float = 0.05) -> Iterator[list]:
    """``iter_scan`` grouped into lists of ScanProgress, one list per ``interval_s`` (GUI-friendly)."""
    from ....core.data import iter_scan

    pending: list = []
    last = time.monotonic()
    for item in iter_scan(folder, thumb_size=THUMB_SIZE):
        pending.append(item)
        if time.monotonic() - last >= interval_s:
            yield pending
            pending, last = [], time.monotonic()
    if pending:
        yield pending


def demo_thumbnails(count: int = 120, scale: int = 4) -> list[np.ndarray]:
    """The first digits of the shipped 8×8 sheet, enlarged (nearest) for the thumbnail grid."""
    from ....core.images import load_image

    sheet = load_image(resource_path("demo", "digits_8x8_sheet.png"), mode="L")
    per_row = sheet.shape[1] // 8
    tiles = []
    for index in range(min(count, DEMO_COUNT)):
        row, col = divmod(index, per_row)
        tile = sheet[row * 8:(row + 1) * 8, col * 8:(col + 1) * 8]
        tiles.append(np.ascontiguousarray(np.kron(tile, np.ones((scale, scale), dtype=np.uint8))))
    return tiles


def class_strip(thumbnails: list[np.ndarray], side: int = CLASS_THUMB, gap: int = 2) -> np.ndarray:
    """A few thumbnails (uint8 (h, w, C)) side by side, each fitted into ``side``² (RGB, transparent-free)."""
    from PIL import Image

    strip = np.full((side, CLASS_EXAMPLES * (side + gap) - gap, 3), 0, np.uint8)
    for k, thumb in enumerate(thumbnails[:CLASS_EXAMPLES]):
        pixels = np.asarray(thumb)
        pixels = pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
        image = Image.fromarray(pixels).convert("RGB")
        image.thumbnail((side, side), Image.Resampling.NEAREST if image.width < side else Image.Resampling.BILINEAR)
        if image.width < side and image.height < side:  # tiny digits: enlarge with crisp pixels
            factor = max(1, side // max(image.width, image.height))
            image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
        tile = np.asarray(image)
        y, x = (side - tile.shape[0]) // 2, k * (side + gap) + (side - tile.shape[1]) // 2
        strip[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    return strip


def folder_from_mime(mime) -> str | None:
    """The first local folder in a drag's URLs (files are left to the main window)."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
            return url.toLocalFile()
    return None


def _icon(thumbnail: np.ndarray) -> QIcon:
    pixels = np.ascontiguousarray(thumbnail)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = np.ascontiguousarray(pixels[:, :, 0])
    height, width = pixels.shape[:2]
    if pixels.ndim == 2:
        image = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QIcon(QPixmap.fromImage(image.copy()))  # copy: the QImage must not outlive numpy's buffer



class DatasetView(QWidget):
    """Source choice, background scan, thumbnails and the skip report."""

    #: a usable dataset was chosen (DatasetChoice), or None while scanning / after a failed scan
    datasetChanged = Signal(object)
    #: a scan failed or found nothing usable: a message for the user
    scanFailed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._choice: DatasetChoice | None = None
        self._folder: str | None = None
        self._worker: GeneratorWorker | None = None
        self._scan_id = 0
        self._items: list = []
        self._thumbnails_shown = 0

        self.demo_button = QRadioButton("Demo digits")
        self.demo_button.setToolTip(f"{DEMO_COUNT:,} handwritten digits, 8×8 grayscale (shipped with the app)")
        self.folder_button = QRadioButton("Image folder")
        self.folder_button.setToolTip("Any folder of PNG/JPEG/WebP/BMP/TIFF/GIF files, searched recursively")
        group = QButtonGroup(self)
        group.addButton(self.demo_button)
        group.addButton(self.folder_button)
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.setToolTip("Or drag a folder onto this panel")
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setEnabled(False)
        source_row = QHBoxLayout()
        source_row.setContentsMargins(0, 0, 0, 0)
        source_row.addWidget(self.demo_button)
        source_row.addWidget(self.folder_button)
        source_row.addStretch(1)
        folder_row = QHBoxLayout()
        folder_row.setContentsMargins(0, 0, 0, 0)
        folder_row.addWidget(self.choose_button)
        folder_row.addWidget(self.rescan_button)
        folder_row.addStretch(1)

        self.path_label = muted_label("Drag a folder of images here, or use the demo digits.")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.scan_progress = QProgressBar()
        self.scan_progress.setTextVisible(True)
        self.scan_progress.setFormat("Scanning %v / %m")
        self.scan_progress.setVisible(False)
        self.summary_label = QLabel("")
        self.summary_label.setWordWrap(True)
        self.details_label = muted_label("")

        self.thumbnails = QListWidget()
        self.thumbnails.setViewMode(QListWidget.ViewMode.IconMode)
        self.thumbnails.setIconSize(QSize(48, 48))
        self.thumbnails.setGridSize(QSize(54, 54))
        self.thumbnails.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.thumbnails.setMovement(QListWidget.Movement.Static)
        self.thumbnails.setUniformItemSizes(True)
        self.thumbnails.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.thumbnails.setMinimumHeight(120)
        self.thumbnails.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        self.classes_label = QLabel("")
        self.classes_label.setWordWrap(True)
        self.classes_label.setTextFormat(Qt.TextFormat.RichText)
        self.classes_label.setVisible(False)
        self.classes = QTreeWidget()
        self.classes.setHeaderLabels(["Class", "Images", "Examples"])
        self.classes.setRootIsDecorated(False)
        self.classes.setIconSize(QSize(CLASS_EXAMPLES * (CLASS_THUMB + 2), CLASS_THUMB))
        self.classes.setColumnWidth(0, 110)
        self.classes.setColumnWidth(1, 60)
        self.classes.setMaximumHeight(170)
        self.classes.setVisible(False)

        self.skipped = QTreeWidget()
        self.skipped.setHeaderLabels(["Skipped file", "Reason"])
        self.skipped.setRootIsDecorated(False)
        self.skipped.setAlternatingRowColors(True)
        self.skipped.setColumnWidth(0, 180)
        self.skipped.setMaximumHeight(130)
        self.skipped.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(source_row)
        layout.addLayout(folder_row)
        layout.addWidget(self.path_label)
        layout.addWidget(self.scan_progress)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.details_label)
        layout.addWidget(self.classes_label)
        layout.addWidget(self.classes)
        layout.addWidget(self.thumbnails, 1)
        layout.addWidget(self.skipped)

        self.demo_button.toggled.connect(self._on_demo_toggled)
        self.folder_button.toggled.connect(self._on_folder_toggled)
        self.choose_button.clicked.connect(self._on_choose_clicked)
        self.rescan_button.clicked.connect(self._on_rescan_clicked)

    # -- public ----------------------------------------------------------------------------
    @property
    def choice(self) -> DatasetChoice | None:
        return self._choice

    @property
    def is_scanning(self) -> bool:
        return self._worker is not None

    def use_demo(self) -> None:
        if self.demo_button.isChecked():
            self._show_demo()
        else:
            self.demo_button.setChecked(True)

    def set_folder(self, folder: str | os.PathLike) -> None:
        """Scan ``folder`` in the background (replacing any scan in progress)."""
        self._folder = str(folder)
        self.folder_button.blockSignals(True)
        self.folder_button.setChecked(True)
        self.folder_button.blockSignals(False)
        self._start_scan(self._folder)

    def cancel_scan(self) -> None:
        if self._worker is not None:
            self._worker.quit()
            self._worker = None
        self.scan_progress.setVisible(False)

    # -- demo --------------------------------------------------------------------------------
    def _show_demo(self) -> None:
        self.cancel_scan()
        self._reset_report()
        self.path_label.setText("Built-in dataset: handwritten digits (UCI / scikit-learn, CC BY 4.0)")
        for tile in demo_thumbnails():
            self._add_thumbnail(tile, "digit")
        self.summary_label.setText(f"<b>{DEMO_COUNT:,} usable images in 10 classes</b>, grayscale")
        self.details_label.setText("All 8×8 px, mode L. Train at 8 or 16 px (upscaled).")
        from ....core.data import demo_labels

        labels = demo_labels()
        tiles = demo_thumbnails(count=DEMO_COUNT, scale=1)
        examples = {name: [tiles[i] for i in np.flatnonzero(labels.labels == k)[:CLASS_EXAMPLES]]
                    for k, name in enumerate(labels.names)}
        self._show_classes(labels, examples, "the digits 0–9")
        self._set_choice(DatasetChoice(DEMO_SOURCE, DEMO_COUNT, 1))

    # -- folder scan ----------------------------------------------------------------------------
    def _start_scan(self, folder: str) -> None:
        self.cancel_scan()
        self._reset_report()
        self._set_choice(None)
        self._scan_id += 1
        scan_id = self._scan_id
        self.path_label.setText(folder)
        self.path_label.setToolTip(folder)
        self.summary_label.setText("Scanning…")
        self.scan_progress.setRange(0, 0)
        self.scan_progress.setVisible(True)
        self.rescan_button.setEnabled(True)
        worker = GeneratorWorker(scan_batches, folder)
        worker.yielded.connect(lambda batch: self._on_scan_batch(scan_id, batch))
        worker.errored.connect(lambda exc: self._on_scan_error(scan_id, exc))
        worker.returned.connect(lambda _result: self._on_scan_done(scan_id, folder))
        self._worker = worker
        worker.start()

    def _on_scan_batch(self, scan_id: int, batch: list) -> None:
        if scan_id != self._scan_id:
            return
        self._items.extend(batch)
        last = batch[-1]
        self.scan_progress.setRange(0, last.total)
        self.scan_progress.setValue(last.done)
        for item in batch:
            if item.usable and item.thumbnail is not None:
                self._add_thumbnail(item.thumbnail, item.path)
            elif not item.usable:
                self._add_skipped(item.path, item.reason)
        usable = sum(1 for item in self._items if item.usable)
        self.summary_label.setText(f"Scanning… {usable:,} usable of {last.done:,} checked ({last.total:,} files)")

    def _on_scan_error(self, scan_id: int, exc: Exception) -> None:
        if scan_id != self._scan_id:
            return
        self._worker = None
        self.scan_progress.setVisible(False)
        message = str(exc) if isinstance(exc, InputError) else f"The scan failed: {exc}"
        self.summary_label.setText("<b>No usable images.</b>")
        self.details_label.setText(message)
        self.scanFailed.emit(message)

    def _on_scan_done(self, scan_id: int, folder: str) -> None:
        if scan_id != self._scan_id:
            return
        from ....core.data import ScanReport

        self._worker = None
        self.scan_progress.setVisible(False)
        report = ScanReport.from_progress(folder, self._items)
        self.summary_label.setText(f"<b>{report.summary()}</b>")
        self.details_label.setText(self._describe(report))
        classes = report.classes
        if classes is not None:
            examples: dict[str, list] = {}
            for item in self._items:
                name = class_of(item.path, report.root) if item.usable and item.thumbnail is not None else None
                if name is not None and len(examples.setdefault(name, [])) < CLASS_EXAMPLES:
                    examples[name].append(item.thumbnail)
            self._show_classes(classes, examples, "one per subfolder")
        if report.num_usable == 0:
            message = f"None of the {len(report.skipped)} image files in {folder} can be read; see the reasons below."
            self.scanFailed.emit(message)
            return
        self._set_choice(DatasetChoice(folder, report.num_usable, report.channels, report))

    @staticmethod
    def _describe(report) -> str:
        parts = []
        sizes = report.sizes or {}
        if sizes:
            parts.append(
                f"Shortest side {sizes.get('min_side')}–{sizes.get('max_side')} px "
                f"(median {sizes.get('median_side')})"
            )
            common = sizes.get("most_common") or []
            if common:
                parts.append("most common " + ", ".join(f"{s} ×{n}" for s, n in common[:3]))
        if report.modes:
            parts.append("modes " + ", ".join(f"{mode} ×{count}" for mode, count in report.modes.items()))
        if report.num_usable > MAX_THUMBNAILS:
            parts.append(f"first {MAX_THUMBNAILS} shown")
        return "; ".join(parts)

    def _show_classes(self, classes, examples: dict[str, list], where: str) -> None:
        """The class table (name, count, a few thumbnails) and what to watch out for, in the theme's warning colour."""
        import html

        from ... import theme

        self.classes.clear()
        few = set(classes.few_images())
        for name, count in zip(classes.names, classes.counts):
            item = QTreeWidgetItem([name, f"{count:,}", ""])
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if examples.get(name):
                item.setIcon(2, _icon(class_strip(examples[name])))
            if count == 0 or name in few:
                item.setToolTip(0, "no usable image" if count == 0 else "few images: the model can hardly learn it")
                item.setForeground(1, theme.plot_color(1))
            self.classes.addTopLevelItem(item)
        self.classes.setVisible(classes.complete)
        head = (f"<b>{classes.num_classes} classes</b> ({where}): the run learns to draw the class asked for, "
                "unless Classes is set to none." if classes.complete else "")
        warnings = "".join(f"<br><span style='color:{theme.colors().warning}'>⚠ {html.escape(text)}</span>"
                           for text in classes.warnings())
        self.classes_label.setText((head + warnings).removeprefix("<br>"))
        self.classes_label.setVisible(bool(head or warnings))

    # -- widgets -------------------------------------------------------------------------------
    def _reset_report(self) -> None:
        self._items = []
        self._thumbnails_shown = 0
        self.thumbnails.clear()
        self.classes.clear()
        self.classes.setVisible(False)
        self.classes_label.setVisible(False)
        self.skipped.clear()
        self.skipped.setVisible(False)
        self.summary_label.setText("")
        self.details_label.setText("")

    def _add_thumbnail(self, thumbnail: np.ndarray, tooltip: str) -> None:
        if self._thumbnails_shown >= MAX_THUMBNAILS:
            return
        item = QListWidgetItem(_icon(thumbnail), "")
        item.setToolTip(tooltip)
        self.thumbnails.addItem(item)
        self._thumbnails_shown += 1

    def _add_skipped(self, path: str, reason: str) -> None:
        item = QTreeWidgetItem([Path(path).name, reason])
        item.setToolTip(0, path)
        item.setToolTip(1, reason)
        self.skipped.addTopLevelItem(item)
        self.skipped.setVisible(True)

    def _set_choice(self, choice: DatasetChoice | None) -> None:
        self._choice = choice
        self.datasetChanged.emit(choice)

    # -- handlers ------------------------------------------------------------------------------
    def _on_demo_toggled(self, checked: bool) -> None:
        if checked:
            self._show_demo()

    def _on_folder_toggled(self, checked: bool) -> None:
        if not checked:
            return
        if self._folder:
            self._start_scan(self._folder)
        else:
            self._reset_report()
            self._set_choice(None)
            self.path_label.setText("Choose a folder of images, or drag one onto this panel.")
            self._on_choose_clicked()

    def _on_choose_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of training images", self._folder or str(Path.home()))
        if folder:
            self.set_folder(folder)

    def _on_rescan_clicked(self) -> None:
        if self._folder:
            self._start_scan(self._folder)
