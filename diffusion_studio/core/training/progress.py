"""What :func:`~diffusion_studio.core.training.train` tells its caller: ``Progress`` items, or ``TrainingError``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["Progress", "TrainingError", "EVENTS", "NUM_LOSS_BUCKETS", "LOSS_WINDOW_STEPS"]

#: The loss is also tracked in this many equal slices of t = 0 … T-1 (which t are hard).
NUM_LOSS_BUCKETS = 10
#: … over an exponential window of about this many recent steps (``Progress.bucket_losses``, ``recent_loss``).
LOSS_WINDOW_STEPS = 100

#: ``Progress.event`` values, in the order a run produces them:
#: "start" once (the data and the step training starts from), then "step" every ``log_every``
#: steps, "sample" with a grid, "checkpoint" after a save, "paused" when the run begins to wait for
#: ``should_pause`` to clear; it ends with "done", "stopped" or "error".
EVENTS = ("start", "step", "sample", "checkpoint", "paused", "done", "stopped", "error")


class TrainingError(InputError):
    """Training cannot go on; ``str(error)`` tells the person why and what to change."""


@dataclass
class Progress:
    step: int
    total_steps: int
    loss: float
    lr: float
    images_per_s: float
    eta_s: float
    elapsed_s: float  # training time of this session, pauses excluded
    bucket_losses: np.ndarray  # recent mean loss per t-bucket (NaN where not seen yet): core.losses.BucketLosses
    sample_grid: np.ndarray | None  # uint8 (H, W, C) EMA samples, on "sample" events
    gpu_memory_bytes: int | None
    event: str  # one of EVENTS
    message: str = ""
    run_dir: str = ""
    recent_loss: float = float("nan")  # the same window's mean loss over all t (what bucket_losses average to)
