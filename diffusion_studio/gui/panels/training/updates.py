"""Drive :func:`diffusion_studio.core.training.train` and turn its progress into GUI updates.

Qt-free on purpose: :func:`updates_from_subprocess` runs the engine in a child process that
imports this module, and that child must not load Qt.

The engine is a generator that yields one ``Progress`` per step. The GUI must not
see every one of them (a tiny model on a GPU makes thousands per second), so
:func:`training_updates` batches them: losses of all steps are kept, everything
else is the latest value, and an update leaves at most ``max_rate_hz`` times a
second. Events that matter (a sample grid, a checkpoint, done, stopped, error)
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
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["ChildFailed", "TrainingControl", "TrainingUpdate", "training_updates", "updates_from_subprocess"]

log = logging.getLogger(__name__)
_SPAWN = multiprocessing.get_context("spawn")  # fork is unsafe in a process with Qt and torch threads

#: events that are sent to the GUI at once, whatever the throttle says
URGENT_EVENTS = frozenset({"sample", "checkpoint", "done", "stopped", "error"})


class TrainingControl:
    """Flags the GUI sets and the engine polls between steps; shared with a child process."""

    def __init__(self) -> None:
        self._stop = _SPAWN.Event()
        self._pause = _SPAWN.Event()
        self._paused_polls = _SPAWN.Value("i", 0)

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

    def should_stop(self) -> bool:
        return self._stop.is_set()

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


def _as_float(value: Any, default: float = float("nan")) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _detached(array: Any, dtype=None) -> np.ndarray | None:
    """A numpy copy the training thread will never touch again."""
    if array is None:
        return None
    if hasattr(array, "detach"):  # a torch tensor slipped through
        array = array.detach().cpu().numpy()
    return np.array(array, dtype=dtype, copy=True)


class _Batch:
    """Steps accumulated between two updates."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.lrs: list[float] = []
        self.sample_grid: np.ndarray | None = None

    def add(self, progress: Any) -> None:
        if getattr(progress, "event", "step") == "step":
            loss = _as_float(getattr(progress, "loss", None))
            if np.isfinite(loss):
                self.steps.append(int(progress.step))
                self.losses.append(loss)
                self.lrs.append(_as_float(getattr(progress, "lr", None)))
        grid = getattr(progress, "sample_grid", None)
        if grid is not None:
            self.sample_grid = _detached(grid, np.uint8)

    def update(self, progress: Any) -> TrainingUpdate:
        return TrainingUpdate(
            step=int(getattr(progress, "step", 0) or 0),
            total_steps=int(getattr(progress, "total_steps", 0) or 0),
            steps=np.asarray(self.steps, dtype=np.int64),
            losses=np.asarray(self.losses, dtype=np.float64),
            lrs=np.asarray(self.lrs, dtype=np.float64),
            lr=_as_float(getattr(progress, "lr", None)),
            images_per_s=_as_float(getattr(progress, "images_per_s", None), 0.0),
            eta_s=_as_float(getattr(progress, "eta_s", None)),
            elapsed_s=_as_float(getattr(progress, "elapsed_s", None), 0.0),
            bucket_losses=_detached(getattr(progress, "bucket_losses", None), np.float64),
            sample_grid=self.sample_grid,
            gpu_memory_bytes=int(getattr(progress, "gpu_memory_bytes", 0) or 0),
            event=str(getattr(progress, "event", "step") or "step"),
            message=str(getattr(progress, "message", "") or ""),
        )


def training_updates(
    config: Any,
    control: TrainingControl,
    *,
    max_rate_hz: float = 20.0,
    train_fn: Callable[..., Iterator[Any]] | None = None,
) -> Iterator[TrainingUpdate]:
    """Drive ``train_fn(config, should_stop=, should_pause=)`` and yield throttled updates.

    Exceptions of the engine (``TrainingError``, OOM, …) propagate: the worker's
    ``errored`` signal carries them to the panel.
    """
    if train_fn is None:
        from ....core.training import train as train_fn  # torch loads in this thread, not the GUI's
    min_interval = 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0
    batch = _Batch()
    last_emit = 0.0
    progress = None
    for progress in train_fn(config, should_stop=control.should_stop, should_pause=control.should_pause):
        batch.add(progress)
        now = time.monotonic()
        event = getattr(progress, "event", "step")
        if event in URGENT_EVENTS or batch.sample_grid is not None or now - last_emit >= min_interval:
            yield batch.update(progress)
            batch = _Batch()
            last_emit = now
    if progress is not None and batch.steps:
        yield batch.update(progress)


class ChildFailed(RuntimeError):
    """The training process raised something other than a user-facing InputError."""


def _child_main(config_dict: dict, control: TrainingControl, updates: Any, max_rate_hz: float) -> None:
    """Entry point of the training process: run the engine, send throttled updates back."""
    from ....core.errors import InputError
    from ....core.train_config import TrainConfig

    parent = os.getppid()
    stop = control.should_stop

    def should_stop() -> bool:
        # an app that died without stopping us: save a checkpoint and end rather than train on alone
        return stop() or os.getppid() != parent

    control.should_stop = should_stop
    try:
        for update in training_updates(TrainConfig.from_dict(config_dict), control, max_rate_hz=max_rate_hz):
            updates.put(("update", update))
        updates.put(("end", None))
    except InputError as exc:
        updates.put(("input_error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - everything must reach the GUI as a message
        updates.put(("error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))


def updates_from_subprocess(config: Any, control: TrainingControl, *, max_rate_hz: float = 20.0,
                            stop_timeout_s: float = 120.0) -> Iterator[TrainingUpdate]:
    """Like :func:`training_updates`, with the engine in a spawned child process."""
    from ....core.errors import InputError

    updates = _SPAWN.Queue()
    process = _SPAWN.Process(target=_child_main, args=(config.to_dict(), control, updates, max_rate_hz),
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

