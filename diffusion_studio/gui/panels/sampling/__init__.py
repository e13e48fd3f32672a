"""The sampling panel: the reverse chain frame by frame, two samplers compared, SDEdit, export."""

from .panel import SamplingPanel

__all__ = ["SamplingPanel"]
