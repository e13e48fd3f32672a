from PySide6.QtWidgets import QDialogButtonBox

from diffusion_studio.core.settings import Settings
from diffusion_studio.gui.dialogs.preferences_dialog import PreferencesDialog


def test_preferences_show_current_values_and_write_them_back(qtbot, tmp_path):
    settings = Settings(tmp_path / "settings.json")
    settings["theme"] = "light"
    settings["default_timesteps"] = 500
    dialog = PreferencesDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.theme.currentData() == "light"
    assert dialog.timesteps.value() == 500
    assert dialog.show_tour.isChecked()  # tour not done yet
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.schedule.setCurrentIndex(dialog.schedule.findData("linear"))
    dialog.timesteps.setValue(64)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.show_tour.setChecked(False)
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    assert settings["theme"] == "dark" and settings["default_schedule"] == "linear"
    assert settings["default_timesteps"] == 64 and settings["default_device"] == "cpu"
    assert settings["tour_done"] is True


def test_cancel_leaves_settings_untouched(qtbot, tmp_path):
    settings = Settings(tmp_path / "settings.json")
    before = settings.as_dict()
    dialog = PreferencesDialog(settings)
    qtbot.addWidget(dialog)
    dialog.timesteps.setValue(10)
    dialog.reject()
    assert settings.as_dict() == before
