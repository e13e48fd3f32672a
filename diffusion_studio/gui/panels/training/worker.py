"""Run the training engine off the GUI thread in a superqt ``GeneratorWorker``.

By default the engine runs in a child process (see :mod:`.updates` for why); the worker
thread only relays its throttled updates, so the GUI receives at most ~20 a second.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterator

from superqt.utils import GeneratorWorker

from .updates import TrainingControl, TrainingUpdate, training_updates, updates_from_subprocess

__all__ = ["TrainingControl", "TrainingUpdate", "make_training_worker", "use_subprocess"]


def use_subprocess() -> bool:
    """A frozen app (PyInstaller) cannot spawn a Python child without freeze_support: use a thread there."""
    return not getattr(sys, "frozen", False)


def make_training_worker(config: Any, control: TrainingControl, *, in_subprocess: bool | None = None,
                         train_fn: Callable[..., Iterator[Any]] | None = None,
                         max_rate_hz: float = 20.0) -> GeneratorWorker:
    """A superqt worker (not started): connect ``yielded``, ``errored``, ``finished``, then ``start()``.

    ``train_fn`` (tests) replaces ``core.training.train`` and implies the in-thread path.
    """
    if in_subprocess is None:
        in_subprocess = use_subprocess() and train_fn is None
    if in_subprocess:
        return GeneratorWorker(updates_from_subprocess, config, control, max_rate_hz=max_rate_hz)
    return GeneratorWorker(training_updates, config, control, train_fn=train_fn, max_rate_hz=max_rate_hz)
