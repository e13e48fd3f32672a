"""Dialogs: About, Shortcuts, Tour, Preferences, errors, and Export (``ExportDialog``).

``from diffusion_studio.gui.dialogs import ExportDialog`` works; the import is lazy so opening
another dialog does not load the exporter.
"""

__all__ = ["ExportDialog"]


def __getattr__(name: str):
    if name == "ExportDialog":
        from .export_dialog import ExportDialog

        return ExportDialog
    raise AttributeError(name)
