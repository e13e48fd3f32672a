"""The Qt-free core: schedules, the forward process, images, models, samplers, training, export.

Importing this package never loads Qt or torch; submodules import torch where they need it.
"""

from .errors import InputError
from .forward import q_sample
from .schedules import SCHEDULE_NAMES, NoiseSchedule, make_schedule

__all__ = ["InputError", "NoiseSchedule", "SCHEDULE_NAMES", "make_schedule", "q_sample"]
