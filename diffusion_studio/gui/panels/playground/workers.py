"""Training and sampling off the GUI thread: core generators wrapped for superqt, handed over at ≤ 20 Hz.

The functions here are plain generators (no Qt); :func:`start_worker` wraps one in a superqt
``GeneratorWorker``. Stop and pause travel as ``threading.Event``s. Everything handed to the GUI
is numpy (losses, an :class:`~diffusion_studio.core.playground.MLPSnapshot`, trajectory frames).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["TrainingUpdate", "SamplingStarted", "FrameBatch", "training_updates", "sampling_updates",
           "start_worker", "MIN_INTERVAL_S"]

#: at most one hand-over to the GUI every 50 ms
MIN_INTERVAL_S = 0.05


@dataclass(frozen=True)
class TrainingUpdate:
    steps: np.ndarray  # the steps since the last update
    losses: np.ndarray
    step: int
    steps_per_s: float
    elapsed_s: float
    event: str  # "step" | "done" | "stopped"
    snapshot: object = None  # MLPSnapshot of the EMA weights, when a new one was taken


@dataclass(frozen=True)
class SamplingStarted:
    planned_frames: int
    particles: int
    label: str


@dataclass
class FrameBatch:
    frames: list = field(default_factory=list)


def _leave_a_core_for_the_gui() -> None:
    import torch

    from ....core.device import cpu_threads_leaving_one_core

    threads = max(1, cpu_threads_leaving_one_core())
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)


def training_updates(points: np.ndarray, schedule, config, stop: threading.Event, pause: threading.Event,
                     min_interval_s: float = MIN_INTERVAL_S):
    """``core.playground.train_mlp`` with its progress gathered into :class:`TrainingUpdate` batches."""
    from ....core.playground.training import train_mlp

    _leave_a_core_for_the_gui()
    steps: list[int] = []
    losses: list[float] = []
    snapshot = None
    last_sent = time.monotonic()
    for progress in train_mlp(points, schedule, config, should_stop=stop.is_set, should_pause=pause.is_set):
        steps.append(progress.step)
        losses.append(progress.loss)
        snapshot = progress.snapshot or snapshot
        now = time.monotonic()
        if progress.event != "step" or now - last_sent >= min_interval_s:
            yield TrainingUpdate(np.asarray(steps), np.asarray(losses), progress.step, progress.steps_per_s,
                                 progress.elapsed_s, progress.event, snapshot)
            steps, losses, snapshot, last_sent = [], [], None, now


def sampling_updates(kind: str, points: np.ndarray, snapshot, schedule, config, stop: threading.Event,
                     min_interval_s: float = MIN_INTERVAL_S):
    """``core.playground.sample_trajectories`` with the ideal (``kind="ideal"``) or learned denoiser."""
    from ....core.playground.trajectories import planned_frames, sample_trajectories

    _leave_a_core_for_the_gui()
    if kind == "ideal":
        from ....core.playground.ideal import IdealDenoiser

        denoiser = IdealDenoiser(points, schedule)
    else:
        from ....core.playground.mlp import LearnedDenoiser

        denoiser = LearnedDenoiser.from_snapshot(snapshot, schedule)
    yield SamplingStarted(planned_frames(config, schedule), config.particles,
                          f"{denoiser.label} · {config.describe()}")
    pending = FrameBatch()
    last_sent = time.monotonic()
    for frame in sample_trajectories(denoiser, schedule, config, should_stop=stop.is_set):
        pending.frames.append(frame)
        now = time.monotonic()
        if frame.is_final or now - last_sent >= min_interval_s:
            yield pending
            pending, last_sent = FrameBatch(), now
    if pending.frames:
        yield pending


def start_worker(function: Callable, *args, on_yield, on_error, on_finished):
    """Run generator ``function(*args)`` in superqt's thread pool; returns the started worker."""
    from superqt.utils import thread_worker

    worker = thread_worker(function, start_thread=False, ignore_errors=True)(*args)
    worker.yielded.connect(on_yield)
    worker.errored.connect(on_error)
    worker.finished.connect(on_finished)
    worker.start()
    return worker
