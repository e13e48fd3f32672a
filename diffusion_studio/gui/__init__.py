"""The PySide6 desktop app. Thin views over :mod:`diffusion_studio.core`; no diffusion math here."""
