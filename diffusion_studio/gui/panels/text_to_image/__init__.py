"""The Text to image dock: a Stable Diffusion model turning a prompt into an image, step by step."""

from .panel import TextToImagePanel

__all__ = ["TextToImagePanel"]
