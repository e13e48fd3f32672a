"""The 2D playground dock (issue 17): see :mod:`.panel`."""

from .panel import PlaygroundPanel

__all__ = ["PlaygroundPanel"]
