"""The forward-process explorer: x_t over t with ε held fixed, the numbers at t, x_t's histogram.

Modules: :mod:`.panel` (the central view), :mod:`.numbers` (the per-t table), :mod:`.histogram`.
"""

from .panel import ForwardPanel

__all__ = ["ForwardPanel"]
