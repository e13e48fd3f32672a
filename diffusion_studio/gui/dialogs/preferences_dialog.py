"""Edit > Preferences: theme, the default schedule and T, the default device."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.schedules import SCHEDULE_ALIASES, SCHEDULE_NAMES
from ...core.settings import Settings

__all__ = ["PreferencesDialog", "DEVICE_CHOICES"]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
_THEMES = (("system", "Follow the system"), ("dark", "Dark"), ("light", "Light"))


class PreferencesDialog(QDialog):
    """Shows the current settings; on OK writes them back into ``settings`` (the caller saves and applies)."""

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        self.theme = QComboBox()
        for key, label in _THEMES:
            self.theme.addItem(label, key)
        self.schedule = QComboBox()
        for name in SCHEDULE_NAMES:
            if name not in SCHEDULE_ALIASES.values():  # show "cosine", not its diffusers name twice
                self.schedule.addItem(name, name)
        self.timesteps = QSpinBox()
        self.timesteps.setRange(2, 10000)
        self.device = QComboBox()
        for name in DEVICE_CHOICES:
            self.device.addItem(name, name)
        self.show_tour = QCheckBox("Show the tour on the next start")
        form = QFormLayout()
        form.addRow("Theme", self.theme)
        form.addRow("Default schedule", self.schedule)
        form.addRow("Default T", self.timesteps)
        form.addRow("Default device", self.device)
        form.addRow("", self.show_tour)
        note = QLabel("The schedule and T apply to new images and new training runs.")
        note.setWordWrap(True)
        note.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        # Nothing in here grows: the dialog keeps its natural size (shrunk, the wrapped note squashed the rows).
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetFixedSize)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self._load()

    @staticmethod
    def _select(combo: QComboBox, value: str) -> None:
        index = combo.findData(value)
        combo.setCurrentIndex(index if index >= 0 else 0)

    def _load(self) -> None:
        self._select(self.theme, self.settings.get("theme"))
        self._select(self.schedule, self.settings.get("default_schedule"))
        self.timesteps.setValue(int(self.settings.get("default_timesteps")))
        self._select(self.device, self.settings.get("default_device"))
        self.show_tour.setChecked(not self.settings.get("tour_done"))

    def _on_accept(self) -> None:
        self.settings.set("theme", self.theme.currentData())
        self.settings.set("default_schedule", self.schedule.currentData())
        self.settings.set("default_timesteps", self.timesteps.value())
        self.settings.set("default_device", self.device.currentData())
        self.settings.set("tour_done", not self.show_tour.isChecked())
        self.accept()
