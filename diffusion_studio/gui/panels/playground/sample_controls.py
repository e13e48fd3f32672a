"""Reverse runs: which denoiser, which sampler and how many particles; Sample / Stop; paths to draw."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ....core.samplers import SAMPLER_LABELS, SAMPLER_NAMES

__all__ = ["SampleControls", "DEFAULT_STEPS"]

DEFAULT_STEPS = {"ddpm": 100, "ddim": 50, "dpm_solver": 20}


class SampleControls(QWidget):
    startRequested = Signal()
    stopRequested = Signal()
    #: how many particles' paths to draw
    pathsChanged = Signal(int)
    #: draw the previous run's paths too (dashed)
    ghostToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.denoiser = QComboBox()
        self.denoiser.addItem("Ideal (exact E[x₀|xₜ])", "ideal")
        self.denoiser.addItem("Learned MLP", "learned")
        self.denoiser.setToolTip("The ideal denoiser of the data (it memorises) or the trained MLP")
        self.sampler = QComboBox()
        for name in SAMPLER_NAMES:
            self.sampler.addItem(SAMPLER_LABELS[name], name)
        self.sampler.setCurrentIndex(SAMPLER_NAMES.index("ddim"))
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000)
        self.steps.setValue(DEFAULT_STEPS["ddim"])
        self.steps.setToolTip("Sampler steps (DDPM: T or more runs the full chain)")
        self.eta = QDoubleSpinBox()
        self.eta.setRange(0.0, 1.0)
        self.eta.setSingleStep(0.1)
        self.eta.setToolTip("DDIM's η: 0 follows the probability-flow ODE (smooth paths), 1 is DDPM-like")
        self.particles = QSpinBox()
        self.particles.setRange(1, 20_000)
        self.particles.setValue(2000)
        self.particles.setSingleStep(500)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Seed of the starting noise: the same seed starts every sampler from the same points")
        self.paths = QSpinBox()
        self.paths.setRange(0, 200)
        self.paths.setValue(12)
        self.paths.setToolTip("Draw the paths of this many particles (click a particle to follow it)")
        self.ghost = QCheckBox("Keep previous paths", toolTip="Also draw the previous run's paths, dashed: "
                               "DDPM against DDIM from the same starting points")
        self.sample_button = QPushButton("Sample")
        self.sample_button.setToolTip("Run the particles from N(0, I) to the data")
        self.stop_button = QPushButton("Stop")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m frames")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Denoiser", self.denoiser)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", self.steps)
        form.addRow("η", self.eta)
        form.addRow("Particles", self.particles)
        form.addRow("Seed", self.seed)
        form.addRow("Paths", self.paths)
        buttons = QHBoxLayout()
        buttons.addWidget(self.sample_button, 1)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.ghost)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)

        self.sampler.currentIndexChanged.connect(self._on_sampler_changed)
        self.sample_button.clicked.connect(self.startRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        self.paths.valueChanged.connect(self.pathsChanged)
        self.ghost.toggled.connect(self.ghostToggled)
        self._on_sampler_changed()
        self.set_running(False)
        self.set_learned_available(False)

    def values(self) -> dict:
        """The settings as SampleConfig fields (validated by the panel)."""
        return {"sampler": self.sampler.currentData(), "steps": self.steps.value(),
                "particles": self.particles.value(), "eta": self.eta.value() if self.eta.isEnabled() else 0.0,
                "seed": self.seed.value()}

    @property
    def denoiser_kind(self) -> str:
        return self.denoiser.currentData()

    def set_learned_available(self, available: bool, reason: str = "Train the MLP first") -> None:
        item = self.denoiser.model().item(1)
        item.setEnabled(available)
        item.setToolTip("" if available else reason)
        if not available and self.denoiser.currentIndex() == 1:
            self.denoiser.setCurrentIndex(0)

    def set_running(self, running: bool) -> None:
        self.sample_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def _on_sampler_changed(self) -> None:
        name = self.sampler.currentData()
        self.steps.setValue(DEFAULT_STEPS[name])
        self.eta.setEnabled(name == "ddim")
