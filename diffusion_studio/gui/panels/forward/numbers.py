"""The numbers beside the forward view: t, β_t, ᾱ_t, √ᾱ_t, √(1−ᾱ_t), SNR — each with its formula."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QSizePolicy, QWidget

from ....core.forward import TimestepStats
from ... import theme

__all__ = ["TimestepNumbers"]

# (key, label, tooltip with the formula)
_ROWS = (
    ("t", "t", "The timestep, 0-based: t = 0 is one noising step from the clean image, t = T−1 the last."),
    ("beta", "β<sub>t</sub>", "β_t: the variance of the noise added in step t.\nq(x_t | x_{t−1}) = N(√(1−β_t)·x_{t−1}, β_t·I)"),
    ("alphas_cumprod", "ᾱ<sub>t</sub>", "ᾱ_t = ∏_{s=0}^{t} (1 − β_s)\nHow much of the clean image's variance survives at t."),
    ("sqrt_alphas_cumprod", "√ᾱ<sub>t</sub>", "√ᾱ_t: the weight of the clean image x₀ in\nx_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε   (Ho et al. 2020, eq. 4)"),
    ("sqrt_one_minus_alphas_cumprod", "√(1−ᾱ<sub>t</sub>)",
     "√(1−ᾱ_t): the weight of the noise ε in\nx_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε   (Ho et al. 2020, eq. 4)"),
    ("snr", "SNR", "Signal-to-noise ratio SNR(t) = ᾱ_t / (1 − ᾱ_t)   (Kingma et al. 2021)"),
    ("snr_db", "SNR (dB)", "SNR in decibels: 10·log₁₀(ᾱ_t / (1 − ᾱ_t)).\n0 dB: signal and noise equally strong."),
)


def _format(key: str, value: float) -> str:
    if key == "t":
        return f"{int(value)}"
    if key == "snr_db":
        return "−∞" if math.isinf(value) and value < 0 else f"{value:+.2f}"
    if key in ("snr", "beta") and value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        return "∞" if math.isinf(value) else f"{value:.3e}"
    return f"{value:.5f}"


class TimestepNumbers(QWidget):
    """A two-column table of the per-t quantities plus signal / noise mix bars."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(theme.SPACING * 2)
        grid.setVerticalSpacing(3)
        self._values: dict[str, QLabel] = {}
        value_font = theme.mono_font()
        for row, (key, label_text, tooltip) in enumerate(_ROWS):
            name = QLabel(label_text)
            name.setTextFormat(Qt.TextFormat.RichText)
            name.setProperty("role", "muted")
            value = QLabel("–")
            value.setFont(value_font)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # A fixed size: a new text then only repaints the label. A resizable label asks every
            # layout up to the main window to recompute on each setText (≈ 5 ms per frame).
            value.setFixedSize(value.fontMetrics().horizontalAdvance("+0.000e-00") + 4, value.sizeHint().height())
            for widget in (name, value):
                widget.setToolTip(tooltip)
            grid.addWidget(name, row, 0)
            grid.addWidget(value, row, 1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._values[key] = value
        row = len(_ROWS)
        self.signal_bar = self._mix_bar("Signal weight √ᾱ_t (share of x₀ in x_t)")
        self.noise_bar = self._mix_bar("Noise weight √(1−ᾱ_t) (share of ε in x_t)")
        signal_label, noise_label = QLabel("signal"), QLabel("noise")
        for label in (signal_label, noise_label):
            label.setProperty("role", "muted")
        grid.addWidget(signal_label, row, 0)
        grid.addWidget(self.signal_bar, row, 1)
        grid.addWidget(noise_label, row + 1, 0)
        grid.addWidget(self.noise_bar, row + 1, 1)
        grid.setColumnStretch(1, 1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        theme.theme_manager().changed.connect(self._on_theme_changed)
        self._on_theme_changed(theme.colors())

    @staticmethod
    def _mix_bar(tooltip: str) -> QProgressBar:
        bar = QProgressBar()
        bar.setRange(0, 1000)
        bar.setTextVisible(False)
        bar.setFixedHeight(8)
        bar.setToolTip(tooltip)
        return bar

    def _on_theme_changed(self, colors: theme.ThemeColors) -> None:
        for bar, color in ((self.signal_bar, colors.series[0]), (self.noise_bar, colors.series[1])):
            bar.setStyleSheet(
                f"QProgressBar {{ background: {colors.base}; border: 1px solid {colors.border}; border-radius: 3px; }}"
                f"QProgressBar::chunk {{ background: {color}; border-radius: 2px; }}"
            )

    def value_text(self, key: str) -> str:
        return self._values[key].text()

    def set_stats(self, stats: TimestepStats) -> None:
        for key, label in self._values.items():
            label.setText(_format(key, getattr(stats, key)))
        _set_bar_value(self.signal_bar, round(1000 * stats.sqrt_alphas_cumprod))
        _set_bar_value(self.noise_bar, round(1000 * stats.sqrt_one_minus_alphas_cumprod))


def _set_bar_value(bar: QProgressBar, value: int) -> None:
    """``bar.setValue`` without its synchronous ``repaint()``, which paints and flushes the whole
    window there and then; re-enabling updates schedules an ordinary ``update()`` instead."""
    if bar.value() == value:
        return
    bar.setUpdatesEnabled(False)
    bar.setValue(value)
    bar.setUpdatesEnabled(True)
