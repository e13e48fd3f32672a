"""The main window's dialogs: export of the forward process, preferences, shortcuts, tour, about.

A mixin of :class:`~diffusion_studio.gui.main_window.MainWindow` (it uses the window's
``state``, ``settings``, ``show_error``, ``set_theme`` and ``_save_settings``); each dialog
module is imported when first opened, so none of them is on the start-up path.
"""

from __future__ import annotations

from ..core.errors import InputError

__all__ = ["WindowDialogsMixin"]


class WindowDialogsMixin:
    def export_forward_animation(self) -> None:
        """File > Export Forward Animation…: the export dialog over the current image, schedule and seed."""
        from .dialogs.export_dialog import ExportDialog

        if getattr(self, "_export_dialog", None) is not None and self._export_dialog.is_exporting():
            self._export_dialog.show()
            self._export_dialog.raise_()
            return
        try:
            self._export_dialog = ExportDialog.for_forward(self.state, self)
        except InputError as error:
            self.show_error("Export", str(error))
            return
        self._export_dialog.exportFinished.connect(
            lambda result: self.state.show_status(result.summary(), 8000))
        self._export_dialog.show()


    def show_preferences(self) -> None:
        from .dialogs.preferences_dialog import PreferencesDialog

        if PreferencesDialog(self.settings, self).exec():
            self.set_theme(self.settings.get("theme"))  # also saves

    def show_shortcuts(self) -> None:
        from .dialogs.shortcuts_dialog import ShortcutsDialog

        ShortcutsDialog(self, self).exec()

    def show_tour(self):
        """Open the tour (non-modal); finishing or skipping it marks it as seen."""
        from .dialogs.tour_dialog import TourDialog

        self._tour = TourDialog(self)
        self._tour.done.connect(self._on_tour_done)
        self._tour.open()
        return self._tour

    def show_tour_if_first_run(self) -> None:
        if not self.settings.get("tour_done"):
            self.show_tour()

    def _on_tour_done(self) -> None:
        self.settings.set("tour_done", True)
        self._save_settings()

    def show_about(self) -> None:
        from .dialogs.about_dialog import AboutDialog  # lazy: it asks torch for the devices

        AboutDialog(self).exec()
