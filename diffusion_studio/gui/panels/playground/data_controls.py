"""Where the points come from: a built-in set, a CSV or an image, and the tools to draw them by hand."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ....core.images import IMAGE_EXTENSIONS
from ....core.playground.datasets import DATASET_LABELS, DATASET_NAMES, MAX_POINTS, MIN_POINTS

__all__ = ["DataControls", "EMPTY_CANVAS"]

#: the source entry that starts an empty drawing
EMPTY_CANVAS = "empty"
_IMAGE_FILTER = "Images ({});;All files (*)".format(" ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS)))


class DataControls(QWidget):
    #: a built-in set: name, number of points, seed
    datasetRequested = Signal(str, int, int)
    #: a CSV or image file to load (with the number of points and seed for images)
    fileRequested = Signal(str, int, int)
    #: "view", "paint" or "erase"
    toolChanged = Signal(str)
    brushChanged = Signal(float)
    clearRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source = QComboBox()
        for name in DATASET_NAMES:
            self.source.addItem(DATASET_LABELS[name], name)
        self.source.addItem("Empty canvas (draw)", EMPTY_CANVAS)
        self.source.setToolTip("A built-in 2D data set, or an empty canvas to draw on")
        self.points = QSpinBox()
        self.points.setRange(MIN_POINTS, MAX_POINTS)
        self.points.setValue(1000)
        self.points.setSingleStep(250)
        self.points.setKeyboardTracking(False)
        self.points.setToolTip(f"Points in a built-in set or drawn from an image ({MIN_POINTS} … {MAX_POINTS:,})")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setKeyboardTracking(False)
        self.seed.setToolTip("Seed of the points and of their fixed noise ε")
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("Points from a CSV of x,y rows (scaled to zero mean, unit RMS)")
        self.image_button = QPushButton("Image…")
        self.image_button.setToolTip("Points drawn from an image's dark pixels: darker = denser")

        self._tool_buttons = QButtonGroup(self)
        tools = QHBoxLayout()
        tools.setSpacing(2)
        for tool, text, tip in (("view", "Move", "Pan and zoom; click a particle to follow it"),
                                ("paint", "Paint", "Drag to spray points (data coordinates)"),
                                ("erase", "Erase", "Drag to remove the points under the brush")):
            button = QToolButton(text=text, toolTip=tip, checkable=True)
            button.setProperty("tool", tool)
            self._tool_buttons.addButton(button)
            tools.addWidget(button, 1)
            if tool == "view":
                button.setChecked(True)
        self._tool_buttons.buttonToggled.connect(self._on_tool_toggled)
        self.brush = QDoubleSpinBox()
        self.brush.setRange(0.05, 2.0)
        self.brush.setSingleStep(0.05)
        self.brush.setValue(0.25)
        self.brush.setToolTip("Brush radius in data units")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove every point, to draw from scratch")

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Set", self.source)
        form.addRow("Points", self.points)
        form.addRow("Seed", self.seed)
        files = QHBoxLayout()
        files.addWidget(self.csv_button)
        files.addWidget(self.image_button)
        form.addRow("Open", files)
        form.addRow("Tool", tools)
        brush_row = QHBoxLayout()
        brush_row.addWidget(self.brush, 1)
        brush_row.addWidget(self.clear_button)
        form.addRow("Brush", brush_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)

        self.source.currentIndexChanged.connect(self._on_source_changed)
        self.points.valueChanged.connect(self._on_source_changed)
        self.seed.valueChanged.connect(self._on_source_changed)
        self.csv_button.clicked.connect(lambda: self._open_file("Open a CSV of x,y points",
                                                                "CSV or text (*.csv *.txt *.tsv);;All files (*)"))
        self.image_button.clicked.connect(lambda: self._open_file("Open an image", _IMAGE_FILTER))
        self.brush.valueChanged.connect(self.brushChanged)
        self.clear_button.clicked.connect(self.clearRequested)
        self._last_folder = str(Path.home())

    @property
    def tool(self) -> str:
        button = self._tool_buttons.checkedButton()
        return button.property("tool") if button is not None else "view"

    def set_tool(self, tool: str) -> None:
        for button in self._tool_buttons.buttons():
            if button.property("tool") == tool:
                button.setChecked(True)

    def request_current(self) -> None:
        """Ask for the set the controls show (a built-in set, or the empty canvas)."""
        self._on_source_changed()

    def _on_source_changed(self, *_args) -> None:
        name = self.source.currentData()
        if name == EMPTY_CANVAS:
            self.clearRequested.emit()
            self.set_tool("paint")
            return
        self.datasetRequested.emit(name, self.points.value(), self.seed.value())

    def _on_tool_toggled(self, button, checked: bool) -> None:
        if checked:
            self.toolChanged.emit(button.property("tool"))

    def _open_file(self, title: str, filters: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, self._last_folder, filters)
        if path:
            self._last_folder = str(Path(path).parent)
            self.fileRequested.emit(path, self.points.value(), self.seed.value())
