"""The outer loop of :func:`training.train`: steps, logging, samples, checkpoints, stop/pause, errors."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
import torch

from .checkpoint import append_metrics
from .train_setup import TrainingError

if TYPE_CHECKING:
    from .training import Progress, _Trainer

__all__ = ["run_loop", "oom_message"]


def oom_message(batch_size: int, image_size: int, device: torch.device) -> str:
    smaller = max(1, batch_size // 2)
    return (
        f"The GPU ({device}) ran out of memory with batch size {batch_size} at {image_size} px. "
        f"Try --batch-size {smaller}"
        + (" or a smaller model (--preset cpu-tiny / gpu-small) or --image-size" if batch_size <= 1 else "")
        + "; close other programs using the GPU; or continue with --resume and a smaller batch."
    )


class _Clock:
    """Throughput of training only (sampling and saving excluded) over the last log window."""

    def __init__(self, start_step: int):
        self.started = time.perf_counter()
        self.window_start, self.window_step, self.excluded = self.started, start_step, 0.0
        self.steps_per_s = 0.0
        self.busy_s_per_step = 0.0

    def exclude(self, seconds: float) -> None:
        self.excluded += seconds

    def restart(self, step: int) -> None:
        self.window_start, self.window_step, self.excluded = time.perf_counter(), step, 0.0

    def tick(self, step: int) -> float:
        now = time.perf_counter()
        steps = step - self.window_step
        if steps > 0:
            train_s = max(now - self.window_start - self.excluded, 1e-9)
            self.steps_per_s = steps / train_s
            self.busy_s_per_step = (now - self.window_start) / steps
        self.window_start, self.window_step, self.excluded = now, step, 0.0
        return self.steps_per_s

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def run_loop(trainer: "_Trainer", should_stop: Callable[[], bool],
             should_pause: Callable[[], bool]) -> Iterator["Progress"]:
    from .training import Progress

    config, dist, device = trainer.config, trainer.dist, trainer.device
    images_per_step = config.batch_size * dist.world_size
    clock = _Clock(trainer.step)
    pending: list[tuple[torch.Tensor, torch.Tensor]] = []
    last_loss, last_lr = float("nan"), 0.0

    def progress(event: str, message: str = "", grid: np.ndarray | None = None) -> Progress:
        remaining = config.steps - trainer.step
        eta = remaining * clock.busy_s_per_step if clock.busy_s_per_step else float("nan")
        memory = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
        return Progress(trainer.step, config.steps, last_loss, last_lr, clock.steps_per_s * images_per_step, eta,
                        clock.elapsed, trainer.buckets.values.copy(), grid, memory, event, message,
                        str(trainer.run_dir))

    def timed(action):
        began = time.perf_counter()
        result = action()
        clock.exclude(time.perf_counter() - began)
        return result

    def checkpoint_event(event: str = "checkpoint", message: str = "") -> Progress | None:
        folder = timed(trainer.save)
        if folder is None and event == "checkpoint":
            return None
        return progress(event, message or (f"saved {folder}" if folder else ""))

    stopped = out_of_time = False
    deadline = clock.started + config.max_minutes * 60 if config.max_minutes else None
    while trainer.step < config.steps:
        if dist.any(should_stop(), device):
            stopped = True
            break
        if deadline is not None and dist.any(time.perf_counter() > deadline, device):
            out_of_time = True
            break
        if should_pause():
            while should_pause() and not should_stop():
                time.sleep(0.1)
            clock.restart(trainer.step)
            continue
        try:
            loss, grad_norm, t, per_sample = trainer.train_step()
            loss_value, norm_value = (float(v) for v in torch.stack([loss.float(), grad_norm.float()]).tolist())
        except torch.OutOfMemoryError as exc:
            trainer.optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            raise TrainingError(oom_message(config.batch_size, config.image_size, device)) from exc
        except Exception as exc:  # noqa: BLE001 - only a failed torch.compile is recoverable
            if not trainer.compile_pending:
                raise
            trainer.compile_pending = False
            trainer.forward = trainer.eager_forward
            trainer.optimizer.zero_grad(set_to_none=True)
            yield progress("step", f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); "
                                   "training goes on without it")
            continue
        trainer.compile_pending = False
        fp16_overflow = trainer.scaler.is_enabled() and math.isfinite(loss_value)
        if not math.isfinite(loss_value) or (not math.isfinite(norm_value) and not fp16_overflow):
            trainer.optimizer.zero_grad(set_to_none=True)
            what = "loss" if not math.isfinite(loss_value) else "gradient"
            kept = f"step {trainer.saved_step}" if trainer.saved_step >= 0 else "none yet"
            last_loss = loss_value
            yield progress("error", (
                f"The {what} became {'NaN' if math.isnan(loss_value if what == 'loss' else norm_value) else 'infinite'} "
                f"at step {trainer.step + 1} (learning rate {trainer.optimizer.param_groups[0]['lr']:.3g}); that "
                f"update was skipped and training stopped. The last checkpoint ({kept}) is untouched. Lower --lr "
                f"(e.g. {config.lr / 10:.3g}) or keep --grad-clip on, then --resume."))
            return
        trainer.apply_update()
        last_loss, last_lr = loss_value, trainer.optimizer.param_groups[0]["lr"]
        pending.append((t, per_sample))
        step = trainer.step

        if step % config.log_every == 0 or step == config.steps:
            ts, losses = zip(*pending)
            trainer.buckets.update(torch.cat(ts).cpu().numpy(), torch.cat(losses).double().cpu().numpy())
            pending.clear()
            clock.tick(step)
            event = progress("step")
            if dist.is_main:
                append_metrics(trainer.run_dir, {
                    "step": step, "loss": loss_value, "lr": last_lr, "images_per_s": event.images_per_s,
                    "time": time.time(), "elapsed_s": event.elapsed_s, "grad_norm": norm_value,
                    "bucket_losses": trainer.buckets.values.tolist(),
                })
            yield event
        if dist.is_main and (step % config.sample_every == 0 or step == config.steps):
            grid = timed(trainer.sample_grid)
            yield progress("sample", f"samples at step {step}", grid)
        if step % config.checkpoint_every == 0 and step != config.steps:
            event = checkpoint_event()
            if event is not None:
                yield event

    if stopped:
        yield checkpoint_event("stopped", f"stopped at step {trainer.step}; continue with --resume")
        return
    if out_of_time:
        if dist.is_main and trainer.step % config.sample_every:
            yield progress("sample", f"samples at step {trainer.step}", timed(trainer.sample_grid))
        yield checkpoint_event("done", f"time limit of {config.max_minutes:g} min reached at step {trainer.step}; "
                                       f"--resume continues it")
        return
    yield checkpoint_event("done", f"finished {trainer.step} steps")
