"""Drive :func:`diffusion_studio.core.training.train` for a GUI: throttled updates, in a child process.

Qt-free (it is core): the GUI wraps :func:`updates_from_subprocess` or :func:`training_updates`
in a worker thread of its own, and the child process that runs the engine never loads Qt.

The engine is a generator that yields one ``Progress`` per step. The GUI must not
see every one of them (a tiny model on a GPU makes thousands per second), so
:func:`training_updates` batches them: losses of all steps are kept, everything
else is the latest value, and an update leaves at most ``max_rate_hz`` times a
second. Events that matter (the start, a sample grid, a checkpoint, done, stopped, error)
go out at once. Every array that crosses the thread boundary is a detached
numpy copy, never a live tensor.

Pause and stop go through the engine's own ``should_pause`` / ``should_stop``
callables (so stopping saves a checkpoint first), read from a
:class:`TrainingControl` the GUI thread writes to (process-shared flags).

Why a child process: the GUI thread runs a lot of Python (pyqtgraph paints in Python) and a
training thread in the same process competes with it for the GIL, so scrubbing the forward
view while training slowed training to half its headless speed and made the GUI stall.
In its own process training runs as fast as the CLI and never holds the GUI's GIL.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import InputError
from .config import TrainConfig
from .progress import Progress

__all__ = ["ChildFailed", "TrainingControl", "TrainingUpdate", "can_spawn", "training_updates",
           "updates_from_subprocess"]

log = logging.getLogger(__name__)
_SPAWN = multiprocessing.get_context("spawn")  # fork is unsafe in a process with Qt and torch threads

#: events that are sent to the GUI at once, whatever the throttle says
URGENT_EVENTS = frozenset({"start", "sample", "checkpoint", "paused", "done", "stopped", "error"})


class TrainingControl:
    """Flags the GUI sets and the engine polls between steps; shared with a child process."""

    def __init__(self) -> None:
        self._stop = _SPAWN.Event()
        self._pause = _SPAWN.Event()
        self._paused_polls = _SPAWN.Value("i", 0)
        self._stop_conditions: list[Callable[[], bool]] = []

    @property
    def paused_polls(self) -> int:
        """How often the engine found itself paused (it polls while it waits): proof that it waits."""
        return int(self._paused_polls.value)

    def request_stop(self) -> None:
        self._stop.set()
        self._pause.clear()  # a paused run must wake up to save and stop

    def request_pause(self) -> None:
        self._pause.set()

    def request_resume(self) -> None:
        self._pause.clear()

    def add_stop_condition(self, condition: Callable[[], bool]) -> None:
        """Also stop when ``condition()`` is true; added in the process that trains (it is not sent across)."""
        self._stop_conditions.append(condition)

    def should_stop(self) -> bool:
        return self._stop.is_set() or any(condition() for condition in self._stop_conditions)

    def should_pause(self) -> bool:
        paused = self._pause.is_set() and not self._stop.is_set()
        if paused:
            with self._paused_polls.get_lock():
                self._paused_polls.value += 1
        return paused


@dataclass(frozen=True)
class TrainingUpdate:
    """What the panel draws: detached CPU copies of one or more engine ``Progress`` values."""

    step: int
    total_steps: int
    #: every step (and its loss) since the previous update, so the loss curve has no gaps
    steps: np.ndarray
    losses: np.ndarray
    lr: float
    #: learning rate at each entry of ``steps``
    lrs: np.ndarray
    images_per_s: float
    eta_s: float
    elapsed_s: float
    bucket_losses: np.ndarray | None
    sample_grid: np.ndarray | None
    gpu_memory_bytes: int
    event: str
    message: str
    #: the recent loss over all t, the same window as ``bucket_losses`` (their weighted mean)
    recent_loss: float = float("nan")


def _detached(array: Any, dtype) -> np.ndarray | None:
    """A numpy copy the training side will never touch again."""
    return None if array is None else np.array(array, dtype=dtype, copy=True)


class _Batch:
    """Steps accumulated between two updates."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.lrs: list[float] = []
        self.sample_grid: np.ndarray | None = None

    def add(self, progress: Progress) -> None:
        if progress.event == "step" and np.isfinite(progress.loss):
            self.steps.append(int(progress.step))
            self.losses.append(float(progress.loss))
            self.lrs.append(float(progress.lr))
        if progress.sample_grid is not None:
            self.sample_grid = _detached(progress.sample_grid, np.uint8)

    def update(self, progress: Progress) -> TrainingUpdate:
        return TrainingUpdate(
            step=int(progress.step),
            total_steps=int(progress.total_steps),
            steps=np.asarray(self.steps, dtype=np.int64),
            losses=np.asarray(self.losses, dtype=np.float64),
            lrs=np.asarray(self.lrs, dtype=np.float64),
            lr=float(progress.lr),
            images_per_s=float(progress.images_per_s),
            eta_s=float(progress.eta_s),
            elapsed_s=float(progress.elapsed_s),
            bucket_losses=_detached(progress.bucket_losses, np.float64),
            sample_grid=self.sample_grid,
            gpu_memory_bytes=int(progress.gpu_memory_bytes or 0),
            event=progress.event,
            message=progress.message,
            recent_loss=float(progress.recent_loss),
        )


def training_updates(
    config: TrainConfig | None,
    control: TrainingControl,
    *,
    max_rate_hz: float = 20.0,
    train_fn: Callable[..., Iterator[Progress]] | None = None,
) -> Iterator[TrainingUpdate]:
    """Drive ``train_fn(config, should_stop=, should_pause=)`` (default: :func:`train`) and yield throttled updates.

    Exceptions of the engine (``TrainingError``, OOM, …) propagate: the worker's
    ``errored`` signal carries them to the panel.
    """
    if train_fn is None:
        from . import train as train_fn  # looked up at call time (torch loads in this thread, not the GUI's)
    min_interval = 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0
    batch = _Batch()
    last_emit = 0.0
    progress = None
    for progress in train_fn(config, should_stop=control.should_stop, should_pause=control.should_pause):
        batch.add(progress)
        now = time.monotonic()
        event = progress.event
        if event in URGENT_EVENTS or batch.sample_grid is not None or now - last_emit >= min_interval:
            yield batch.update(progress)
            batch = _Batch()
            last_emit = now
    if progress is not None and batch.steps:
        yield batch.update(progress)


class ChildFailed(RuntimeError):
    """The training process raised something other than a user-facing InputError."""


def can_spawn() -> bool:
    """A frozen app (PyInstaller) cannot spawn a Python child without freeze_support: it trains in a thread."""
    return not getattr(sys, "frozen", False)


def _child_main(config: TrainConfig, control: TrainingControl, updates: Any, max_rate_hz: float) -> None:
    """Entry point of the training process: run the engine, send throttled updates back."""
    parent = os.getppid()
    signals: list[int] = []
    # SIGTERM (a session manager logging out, ``Process.terminate``) and a Ctrl-C in the terminal the app
    # was started from stop like the Stop button: with a checkpoint. The handler only records the signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: signals.append(number))
    control.add_stop_condition(lambda: bool(signals))
    # an app that died without stopping us: save a checkpoint and end rather than train on alone
    control.add_stop_condition(lambda: os.getppid() != parent)
    try:
        for update in training_updates(config, control, max_rate_hz=max_rate_hz):
            updates.put(("update", update))
        updates.put(("end", None))
    except InputError as exc:
        updates.put(("input_error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - everything must reach the GUI as a message
        updates.put(("error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))


def updates_from_subprocess(config: TrainConfig, control: TrainingControl, *, max_rate_hz: float = 20.0,
                            stop_timeout_s: float = 120.0) -> Iterator[TrainingUpdate]:
    """Like :func:`training_updates`, with the engine in a spawned child process.

    The config travels pickled, so it keeps which fields were given (a resume changes only those).
    """
    updates = _SPAWN.Queue()
    process = _SPAWN.Process(target=_child_main, args=(config, control, updates, max_rate_hz),
                             name="diffusion-studio-training", daemon=True)
    process.start()
    try:
        while True:
            try:
                kind, payload = updates.get(timeout=0.25)
            except queue_module.Empty:
                if not process.is_alive():
                    raise ChildFailed(
                        f"the training process ended unexpectedly (exit code {process.exitcode})") from None
                continue
            if kind == "update":
                yield payload
            elif kind == "end":
                return
            elif kind == "input_error":
                raise InputError(payload)
            else:
                summary, details = payload
                log.error("the training process failed:\n%s", details)
                raise ChildFailed(summary)
    finally:
        if process.is_alive():
            control.request_stop()  # e.g. the worker was abandoned: let the child save and leave
            process.join(stop_timeout_s)
        if process.is_alive():
            process.terminate()
        process.join(5)
        updates.close()

