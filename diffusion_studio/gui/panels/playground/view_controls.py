"""Which layers the playground draws: the points, q(x_t), the ideal and learned fields and their difference."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QVBoxLayout, QWidget

from ....core.playground.grid_fields import FIELD_KINDS

__all__ = ["ViewControls", "LAYERS"]

#: (key, label, tooltip, on by default)
LAYERS = (
    ("points", "Points", "The data noised to t (forward) or the particles (reverse)", True),
    ("density", "Density q(xₜ)", "The exact density of the noised data: a mixture of N Gaussians "
                                  "N(√ᾱₜ·xᵢ, (1−ᾱₜ)·I), averaged over each cell", True),
    ("ideal", "Ideal field", "The optimal denoiser E[x0 | xₜ], a softmax-weighted mean of the data (white)", True),
    ("learned", "Learned field", "The trained MLP's field (orange)", True),
    ("difference", "Learned − ideal", "Where the network differs from the ideal denoiser (pink)", False),
)
_KIND_LABELS = {"score": "score ∇log q (to the data)", "epsilon": "ε̂ (the noise seen)", "x0": "x̂0 − xₜ (the step)"}


class ViewControls(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.boxes: dict[str, QCheckBox] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for key, label, tip, on in LAYERS:
            box = QCheckBox(label, toolTip=tip, checked=on)
            box.toggled.connect(self.changed)
            self.boxes[key] = box
            layout.addWidget(box)
        self.kind = QComboBox()
        for kind in FIELD_KINDS:
            self.kind.addItem(_KIND_LABELS[kind], kind)
            self.kind.setItemData(self.kind.count() - 1, FIELD_KINDS[kind], Qt.ItemDataRole.ToolTipRole)
        self.kind.setToolTip("What each arrow shows")
        self.kind.currentIndexChanged.connect(self.changed)
        form = QFormLayout()
        form.setContentsMargins(0, 4, 0, 0)
        form.addRow("Arrows", self.kind)
        layout.addLayout(form)

    def shown(self, layer: str) -> bool:
        return self.boxes[layer].isChecked()

    def set_shown(self, layer: str, on: bool) -> None:
        self.boxes[layer].setChecked(on)

    @property
    def field_kind(self) -> str:
        return self.kind.currentData()
