"""The training loop: steps, logging, samples, checkpoints, stop/pause, the ways a run ends.

How problems surface (the GUI shows the message, the CLI prints it):

- unusable input (no usable images, bad settings, nothing to resume, a run already in
  ``--out``, a batch that cannot fit in memory, another process training in the folder) and
  running out of memory raise :class:`TrainingError` (an ``InputError``) before or instead of
  the next yield; the out-of-memory message names the batch size that failed. A run that fails
  before its first update leaves no folder it created behind.
- a NaN/inf loss or gradient skips that update, yields ``event="error"`` with the reason and
  ends the generator; nothing is saved after it, so the last checkpoint stays good. (With fp16
  an infinite gradient is an overflow: the gradient scaler skips that update, lowers its scale
  and training goes on; neither the EMA nor the step counter moves.)

``should_stop()`` / ``should_pause()`` are polled between steps; a pause yields ``event="paused"``
once and waits (its time is not training time: ``elapsed_s`` and the throughput leave it out); a
stop saves a checkpoint and yields ``event="stopped"``. EMA sample grids come when
:class:`~.cadence.PreviewCadence` says (early by the clock, then every ``sample_every`` steps).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Iterator

import numpy as np
import torch

from ..checkpoint import append_metrics
from ..device import tuned_backends
from ..distributed import DistContext
from .cadence import PreviewCadence
from .config import TrainConfig
from .progress import Progress, TrainingError
from .run_folder import RunFolder
from .setup import NoUsableImages, check_request, plan_run
from .trainer import CompileFailed, Trainer, Update

__all__ = ["train"]

_PAUSE_POLL_S = 0.1
#: fp16 updates the gradient scaler may skip in a row before the run is declared diverged
MAX_SKIPPED_UPDATES = 50


class _Clock:
    """Throughput of training only (sampling and saving excluded) over the last log window; the
    session's training time (pauses excluded)."""

    def __init__(self, start_step: int):
        self.started = time.perf_counter()
        self.paused_s = 0.0
        self.window_start, self.window_step, self.excluded = self.started, start_step, 0.0
        self.steps_per_s = 0.0
        self.busy_s_per_step = 0.0

    def exclude(self, seconds: float) -> None:
        self.excluded += seconds

    def resume_after_pause(self, step: int, paused_s: float) -> None:
        self.paused_s += paused_s
        self.window_start, self.window_step, self.excluded = time.perf_counter(), step, 0.0

    def tick(self, step: int) -> None:
        now = time.perf_counter()
        steps = step - self.window_step
        if steps > 0:
            train_s = max(now - self.window_start - self.excluded, 1e-9)
            self.steps_per_s = steps / train_s
            self.busy_s_per_step = (now - self.window_start) / steps
        self.window_start, self.window_step, self.excluded = now, step, 0.0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started - self.paused_s


def train(config: TrainConfig, should_stop: Callable[[], bool] | None = None,
          should_pause: Callable[[], bool] | None = None) -> Iterator[Progress]:
    """Train (or resume, or start over) the run described by ``config``; see the package docstring."""
    check_request(config)
    dist = DistContext.from_env(config.device)
    threads = torch.get_num_threads()
    folder = RunFolder(config.out, is_main=dist.is_main)
    trainer: Trainer | None = None
    first_step = None
    try:
        folder.open(create=not config.resume)
        dist.barrier()
        trainer = Trainer(plan_run(config, folder), folder, dist)
        first_step = trainer.step
        with tuned_backends(trainer.device):
            yield from _run(trainer, should_stop or (lambda: False), should_pause or (lambda: False))
    except BaseException as exc:
        if trainer is None or trainer.step == first_step:  # a failed start: leave nothing behind
            folder.abandon(keep_scan_report=isinstance(exc, NoUsableImages))
        raise
    finally:
        if trainer is not None:
            trainer.close()
        folder.close()
        torch.set_num_threads(threads)
        dist.close()


def _run(trainer: Trainer, should_stop: Callable[[], bool], should_pause: Callable[[], bool]) -> Iterator[Progress]:
    config, dist, device = trainer.config, trainer.dist, trainer.device
    images_per_step = config.batch_size * dist.world_size
    clock = _Clock(trainer.step)
    pending: list[Update] = []
    last_loss, last_lr = float("nan"), 0.0

    def progress(event: str, message: str = "", grid: np.ndarray | None = None) -> Progress:
        remaining = config.steps - trainer.step
        eta = remaining * clock.busy_s_per_step if clock.busy_s_per_step else float("nan")
        return Progress(trainer.step, config.steps, last_loss, last_lr, clock.steps_per_s * images_per_step, eta,
                        clock.elapsed, trainer.bucket_losses, grid, trainer.memory_in_use(), event, message,
                        str(trainer.run_dir), trainer.recent_loss)

    def timed(action):
        began = time.perf_counter()
        result = action()
        clock.exclude(time.perf_counter() - began)
        return result

    def sample_event() -> Progress:
        began = clock.elapsed
        grid = timed(trainer.sample_grid)
        cadence.taken(trainer.step, began, clock.elapsed - began)
        return progress("sample", f"samples at step {trainer.step}", grid)

    def checkpoint_event(event: str = "checkpoint", message: str = "") -> Progress | None:
        folder = timed(trainer.save)
        if folder is None and event == "checkpoint":
            return None
        return progress(event, message or (f"saved {folder}" if folder else ""))

    verb = f"continuing at step {trainer.step}" if trainer.step else "training"
    yield progress("start", f"{verb} on {trainer.data_summary}")
    stopped = out_of_time = False
    skipped_in_a_row = 0
    cadence = PreviewCadence(config.sample_every, config.first_samples_after, config.steps)
    time_limit_s = config.max_minutes * 60 if config.max_minutes else None  # of training time: pauses do not count
    while trainer.step < config.steps:
        if dist.any(should_stop(), device):
            stopped = True
            break
        if time_limit_s is not None and dist.any(clock.elapsed > time_limit_s, device):
            out_of_time = True
            break
        if should_pause():
            yield progress("paused", f"paused at step {trainer.step}")
            began = time.perf_counter()
            while should_pause() and not should_stop():
                time.sleep(_PAUSE_POLL_S)
            clock.resume_after_pause(trainer.step, time.perf_counter() - began)
            continue
        try:
            update = trainer.compute_update()
        except CompileFailed as failure:
            yield progress("step", str(failure))
            continue
        loss_value, norm_value = (float(v) for v in torch.stack([update.loss.float(),
                                                                 update.grad_norm.float()]).tolist())
        overflow = trainer.scales_loss and math.isfinite(loss_value)  # fp16: the scaler decides
        if not math.isfinite(loss_value) or (not math.isfinite(norm_value) and not overflow):
            trainer.discard_update()
            last_loss = loss_value
            yield progress("error", _diverged_message(trainer, loss_value, norm_value))
            return
        if not trainer.apply_update():
            skipped_in_a_row += 1
            if skipped_in_a_row >= MAX_SKIPPED_UPDATES:
                yield progress("error", f"the fp16 gradients overflowed {skipped_in_a_row} times in a row at step "
                                        f"{trainer.step + 1}; training stopped. The last checkpoint is untouched. "
                                        "Lower --lr or use --precision fp32, then --resume.")
                return
            continue
        skipped_in_a_row = 0
        last_loss, last_lr = loss_value, trainer.current_lr
        pending.append(update)
        step = trainer.step

        if step % config.log_every == 0 or step == config.steps:
            trainer.record_losses(pending)
            pending.clear()
            clock.tick(step)
            event = progress("step")
            if dist.is_main:
                _log(trainer, {"step": step, "loss": loss_value, "lr": last_lr, "images_per_s": event.images_per_s,
                               "time": time.time(), "elapsed_s": event.elapsed_s, "grad_norm": norm_value,
                               "bucket_losses": event.bucket_losses.tolist(), "recent_loss": event.recent_loss,
                               **{name: float(value) for name, value in update.terms.items()}})
            yield event
        if dist.is_main and cadence.due(step, clock.elapsed):
            yield sample_event()
        if step % config.checkpoint_every == 0 and step != config.steps:
            event = checkpoint_event()
            if event is not None:
                yield event

    if stopped:
        yield checkpoint_event("stopped", f"stopped at step {trainer.step}; continue with --resume")
        return
    if out_of_time:
        if dist.is_main and cadence.last_step != trainer.step:
            yield sample_event()
        yield checkpoint_event("done", f"time limit of {config.max_minutes:g} min reached at step {trainer.step}; "
                                       f"--resume continues it")
        return
    yield checkpoint_event("done", f"finished {trainer.step} steps")


def _log(trainer: Trainer, record: dict) -> None:
    try:
        append_metrics(trainer.run_dir, record)
    except OSError as exc:
        raise TrainingError(f"cannot write the metrics of {trainer.run_dir}: {exc.strerror or exc}; the last "
                            f"checkpoint (step {max(trainer.saved_step, 0)}) is kept") from exc


def _diverged_message(trainer: Trainer, loss_value: float, norm_value: float) -> str:
    what, value = ("loss", loss_value) if not math.isfinite(loss_value) else ("gradient", norm_value)
    kept = f"step {trainer.saved_step}" if trainer.saved_step >= 0 else "none yet"
    return (f"The {what} became {'NaN' if math.isnan(value) else 'infinite'} at step {trainer.step + 1} (learning "
            f"rate {trainer.current_lr:.3g}); that update was skipped and training stopped. The last checkpoint ({kept}) is "
            f"untouched. Lower --lr (e.g. {trainer.config.lr / 10:.3g}) or keep --grad-clip on, then --resume.")
