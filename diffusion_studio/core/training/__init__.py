"""Training a diffusion model: one entry point, a generator that yields :class:`Progress` between steps.

>>> for progress in train(TrainConfig(out="runs/digits", demo=True, image_size=16, steps=2000)):
...     print(progress.event, progress.step, progress.loss)

Modules, one idea each:

- :mod:`.config` — ``TrainConfig``: every setting, with its type, range, default and help; the CLI
  flags and the app's form are generated from it;
- :mod:`.setup` — what runs: a new run, a resume (the saved settings plus the allowed changes) or a
  restart; the data, the model, the precision;
- :mod:`.budget` — the memory a run needs, estimated on the meta device and checked before allocating;
- :mod:`.run_folder` — the folder's life cycle: create, lock, start over, clean up a failed start;
- :mod:`.trainer` — the run's state on its device and one optimiser update at a time;
- :mod:`.loop` — :func:`train`: steps, logging, samples, checkpoints, stop/pause, errors;
- :mod:`.previews` — the EMA sample grids;
- :mod:`.progress` — ``Progress`` and ``TrainingError``, what a caller receives;
- :mod:`.relay` — running :func:`train` in a child process and throttling its progress for a GUI.

Resume (``TrainConfig(resume=True)``) restores weights, EMA, optimiser, scaler, RNG and data order:
the continued run equals an uninterrupted one. Importing this package does not import torch;
calling :func:`train` does.
"""

from __future__ import annotations

from typing import Callable, Iterator

from .config import RESUME_OVERRIDABLE, SETTINGS, TrainConfig
from .progress import NUM_LOSS_BUCKETS, Progress, TrainingError

__all__ = ["TrainConfig", "Progress", "TrainingError", "train", "NUM_LOSS_BUCKETS", "RESUME_OVERRIDABLE", "SETTINGS"]


def train(config: TrainConfig, should_stop: Callable[[], bool] | None = None,
          should_pause: Callable[[], bool] | None = None) -> Iterator[Progress]:
    """Train (or resume) the run described by ``config``, yielding :class:`Progress` (see :mod:`.loop`).

    ``should_stop()`` / ``should_pause()`` are polled between steps; a stop saves a checkpoint first.
    """
    from .loop import train as run  # torch is imported here, not when the package is

    return run(config, should_stop, should_pause)
