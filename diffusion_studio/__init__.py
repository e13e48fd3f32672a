"""Diffusion Studio: see denoising diffusion models work.

The library lives in :mod:`diffusion_studio.core` (no Qt); the desktop app in
:mod:`diffusion_studio.gui`; the command line in :mod:`diffusion_studio.cli`.
"""

__version__ = "0.1.0"
