"""The schedule lab: plot, compare, edit and export noise schedules, linked to the forward view.

Modules: :mod:`.panel` (the dock widget), :mod:`.entries` (one schedule on the plots, Qt-free),
:mod:`.plots`, :mod:`.editor`, :mod:`.overlays` (the list) and :mod:`.readout` (values at t).
"""

from .panel import SchedulePanel

__all__ = ["SchedulePanel"]
