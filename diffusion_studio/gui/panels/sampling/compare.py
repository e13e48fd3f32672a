"""Compare two samplers from the same seed: the second sampler's settings and how chains are paired."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from .settings import SamplerSettings, SamplerSettingsForm, sampler_label

__all__ = ["CompareControls", "paired_index", "compare_requests_order", "chain_header", "compare_note"]


def paired_index(other_frames, alphas_cumprod: float) -> int:
    """The frame of the other chain at the same noise level, so both show equally noisy images.

    Compared in log SNR, which separates the nearly clean end of the chain (ᾱ ≈ 1) where the
    image forms; ᾱ itself would pair all of the last few percent with the same frame.
    """
    from ....core.chain import nearest_frame_index

    return int(nearest_frame_index(other_frames, alphas_cumprod, by="log_snr"))


def compare_requests_order(first: SamplerSettings, second: SamplerSettings) -> tuple[int, int]:
    """Order (first, second) so the chain with more steps drives the timeline (it has every level)."""
    return (0, 1) if first.steps >= second.steps else (1, 0)


def _eta(settings: SamplerSettings) -> float:
    """How much fresh noise a step draws, as DDIM's η: DDPM is η = 1, DPM-Solver++ (an ODE solver) η = 0."""
    return {"ddpm": 1.0, "ddim": float(settings.eta)}.get(settings.sampler, 0.0)


def chain_header(settings: SamplerSettings) -> str:
    """"DDIM · 100 steps · η = 0": what tells two compared chains apart (their seed is the same)."""
    return f"{sampler_label(settings.sampler)} · {settings.steps} steps · η = {_eta(settings):g}"


def _draws(settings: SamplerSettings) -> str:
    name = sampler_label(settings.sampler)
    if settings.sampler == "ddpm":
        return "DDPM draws fresh noise at every step"
    if settings.sampler == "ddim":
        return f"DDIM with η = {settings.eta:g} " + ("draws some at every step" if settings.eta > 0 else "draws none")
    return f"{name} draws none"


def compare_note(main: SamplerSettings, other: SamplerSettings) -> str:
    """One line on why two chains from the same seed end on the same images or on different ones."""
    start = f"Both chains start from the same noise (seed {main.seed})"
    if _eta(main) > 0 or _eta(other) > 0:
        return f"{start}, yet they end apart: {_draws(main)}; {_draws(other)}."
    return f"{start} and neither draws any after it: they end on nearly the same images."


class CompareControls(QWidget):
    """The second sampler (its own sampler, steps and η; seed, batch and device are shared)."""

    compareRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        note = QLabel("Same seed and model as above; the chains are shown side by side (this one on the "
                      "right), paired by noise level (ᾱ<sub>t</sub>), not by step number.")
        note.setWordWrap(True)
        note.setProperty("role", "muted")
        self.form = SamplerSettingsForm(with_batch_and_device=False, with_condition=False)
        # Deterministic against deterministic from the same noise: the same images in 5× fewer steps.
        self.form.set_settings(SamplerSettings(sampler="dpm_solver", steps=20))
        self.form.set_seed_visible(False)
        self.button = QPushButton("Compare side by side")
        self.button.setToolTip("Run the sampler above and this one from the same starting noise")
        self.button.clicked.connect(self.compareRequested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(note)
        layout.addWidget(self.form)
        layout.addWidget(self.button)

    def settings_against(self, first: SamplerSettings) -> SamplerSettings:
        """The second chain's settings: this form's sampler/steps/η, the first's seed/batch/device."""
        own = self.form.settings()
        return first.with_(sampler=own.sampler, steps=own.steps, eta=own.eta)
