"""The schedule lab's editor: name, T, the schedule's own parameters and the zero-SNR toggle.

Every control emits while it is dragged; the panel rebuilds the schedule (a few
microseconds to a millisecond) and calls ``setData`` on curves created once.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from ....core.schedules import SCHEDULE_PARAMS
from ... import theme
from ...widgets.param_control import ParamControl
from ....core.schedule_choices import SCHEDULE_CHOICES
from ....core.schedule_entries import ScheduleEntry

__all__ = ["ScheduleEditor", "ParamSpec", "PARAM_SPECS", "GUI_MAX_TIMESTEPS"]

GUI_MAX_TIMESTEPS = 10_000


@dataclass(frozen=True)
class ParamSpec:
    label: str
    slider_range: tuple[float, float]
    box_range: tuple[float, float]
    log: bool
    tooltip: str


# The box ranges are wider than the valid ranges on purpose: a typed β = 1 is refused
# with the model's own message instead of being clamped without a word.
PARAM_SPECS: dict[str, ParamSpec] = {
    "beta_start": ParamSpec("β start", (1e-6, 0.5), (0.0, 1.0), True, "β at t = 0; must be > 0 and ≤ β end"),
    "beta_end": ParamSpec("β end", (1e-5, 0.999), (0.0, 1.0), True, "β at t = T−1; must be < 1"),
    "s": ParamSpec("offset s", (0.0, 0.2), (0.0, 1.0), False,
                   "Nichol & Dhariwal's offset: keeps β tiny near t = 0 from vanishing (0.008)"),
    "start": ParamSpec("start", (-10.0, 10.0), (-100.0, 100.0), False, "Chen 2023: left end of the sigmoid's input range"),
    "end": ParamSpec("end", (-10.0, 10.0), (-100.0, 100.0), False, "Chen 2023: right end of the sigmoid's input range"),
    "tau": ParamSpec("τ", (0.05, 5.0), (0.0, 100.0), True, "Chen 2023: temperature; small τ = sharper sigmoid"),
    "mu": ParamSpec("μ", (-5.0, 5.0), (-50.0, 50.0), False, "Laplace location of log-SNR"),
    "b": ParamSpec("b", (0.05, 5.0), (0.0, 100.0), True, "Laplace scale of log-SNR"),
    "max_beta": ParamSpec("max β", (0.5, 0.9999), (0.0, 1.0), False, "β is clipped here near the end (0.999)"),
}


class ScheduleEditor(QWidget):
    """Edits one :class:`ScheduleEntry`; emits ``edited(name, T, zero_terminal_snr, params)``."""

    edited = Signal(str, int, bool, dict)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.heading = QLabel()
        self.heading.setFont(theme.heading_font(0))
        self.heading.setWordWrap(True)
        self.name_combo = QComboBox()
        for label, name in SCHEDULE_CHOICES:
            self.name_combo.addItem(label, name)
        self.name_combo.setToolTip("The recipe for β_t (diffusers' formula where diffusers has the name)")
        self.timesteps = ParamControl(
            "T", slider_range=(2, GUI_MAX_TIMESTEPS), box_range=(2, GUI_MAX_TIMESTEPS), log=True, integer=True,
            tooltip=f"Number of diffusion steps, 2 … {GUI_MAX_TIMESTEPS}", label_in_layout=False,
        )
        self.param_controls: dict[str, ParamControl] = {
            key: ParamControl(spec.label, slider_range=spec.slider_range, box_range=spec.box_range,
                              log=spec.log, tooltip=spec.tooltip, label_in_layout=False)
            for key, spec in PARAM_SPECS.items()
        }
        self.zero_snr = QCheckBox("Zero terminal SNR (Lin et al. 2024)")
        self.zero_snr.setToolTip(
            "Rescale √ᾱ so that ᾱ at the last step is exactly 0: the model sees pure noise at t = T−1 "
            "(diffusers' rescale_betas_zero_snr)"
        )
        self.error_label = QLabel()
        self.error_label.setObjectName("scheduleError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.hide()

        self._form = form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(theme.SPACING)
        form.setVerticalSpacing(theme.SPACING // 2 + 2)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Schedule", self.name_combo)
        for control in (self.timesteps, *self.param_controls.values()):
            form.addRow(control.label, control)
        form.addRow(self.zero_snr)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(theme.SPACING)
        layout.addWidget(self.heading)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        self._style_error()
        theme.theme_manager().changed.connect(self._style_error)

        self.name_combo.currentIndexChanged.connect(self._on_name_picked)
        self.timesteps.valueChanged.connect(self._emit)
        for control in self.param_controls.values():
            control.valueChanged.connect(self._emit)
        self.zero_snr.toggled.connect(self._emit)

    # -- API -------------------------------------------------------------------------------
    def load(self, entry: ScheduleEntry) -> None:
        """Show ``entry``'s requested values (and its error, if any) without emitting."""
        with QSignalBlocker(self.name_combo), QSignalBlocker(self.zero_snr):
            index = self.name_combo.findData(entry.name)
            self.name_combo.setCurrentIndex(max(index, 0))
            self.zero_snr.setChecked(entry.zero_terminal_snr)
        self.timesteps.set_value(entry.num_timesteps)
        self._show_params_of(entry.name, entry.params)
        self.show_heading(entry)
        self.set_error(entry.error)

    def show_heading(self, entry: ScheduleEntry) -> None:
        role = "forward view" if entry.primary else "overlay"
        self.heading.setText(f"Edit: {entry.title()}  —  {role}")

    def set_error(self, message: str) -> None:
        self.error_label.setText(f"⚠ {message} — the plots keep the last valid curve." if message else "")
        self.error_label.setVisible(bool(message))

    def error_text(self) -> str:
        return self.error_label.text() if self.error_label.isVisibleTo(self) else ""

    def current_name(self) -> str:
        return str(self.name_combo.currentData())

    def values(self) -> tuple[str, int, bool, dict[str, float]]:
        name = self.current_name()
        params = {key: self.param_controls[key].value() for key in SCHEDULE_PARAMS[name]}
        return name, int(round(self.timesteps.value())), self.zero_snr.isChecked(), params

    # -- internals -------------------------------------------------------------------------
    def _show_params_of(self, name: str, params: dict[str, float]) -> None:
        wanted = SCHEDULE_PARAMS[name]
        for key, control in self.param_controls.items():
            self._form.setRowVisible(control, key in wanted)
            if key in wanted:
                control.set_value(params.get(key, wanted[key]))

    def _on_name_picked(self, _index: int) -> None:
        name = self.current_name()
        self._show_params_of(name, SCHEDULE_PARAMS[name])  # a new recipe starts from its defaults
        self._emit()

    def _emit(self, *_args) -> None:
        self.edited.emit(*self.values())

    def _style_error(self, *_args) -> None:
        c = theme.colors()
        self.error_label.setStyleSheet(
            f"QLabel#scheduleError {{ color: {c.text}; background: {c.error_background}; "
            f"border: 1px solid {c.error}; border-radius: 4px; padding: 6px; }}"
        )
