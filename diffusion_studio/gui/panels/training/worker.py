"""Run the training engine off the GUI thread in a superqt ``GeneratorWorker``.

The Qt-free side — throttling, the child process, pause/stop flags — is
:mod:`diffusion_studio.core.training.relay`; this module only wraps it in a worker, so the
GUI receives at most ~20 updates a second.
"""

from __future__ import annotations

from typing import Callable, Iterator

from superqt.utils import GeneratorWorker

from ....core.training import Progress, TrainConfig
from ....core.training.relay import TrainingControl, can_spawn, training_updates, updates_from_subprocess

__all__ = ["make_training_worker"]


def make_training_worker(config: TrainConfig, control: TrainingControl, *, in_subprocess: bool | None = None,
                         train_fn: Callable[..., Iterator[Progress]] | None = None,
                         max_rate_hz: float = 20.0) -> GeneratorWorker:
    """A superqt worker (not started): connect ``yielded``, ``errored``, ``finished``, then ``start()``.

    ``train_fn`` (tests) replaces ``core.training.train`` and implies the in-thread path.
    """
    if in_subprocess is None:
        in_subprocess = can_spawn() and train_fn is None
    if in_subprocess:
        return GeneratorWorker(updates_from_subprocess, config, control, max_rate_hz=max_rate_hz)
    return GeneratorWorker(training_updates, config, control, train_fn=train_fn, max_rate_hz=max_rate_hz)
