"""The training loop, written as a generator that yields :class:`Progress` between steps.

>>> for progress in train(TrainConfig(out="runs/digits", demo=True, image_size=16, steps=2000)):
...     print(progress.step, progress.loss)

Objective (Ho et al. 2020, Alg. 1): t ~ U{0…T-1}, ε ~ N(0, I), x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε,
minimise ‖f(x_t, t) − target‖² with target ε, x0 or v, optionally min-SNR-γ weighted.

How problems surface (the GUI shows the message, the CLI prints it):

- unusable input (no usable images, bad settings, nothing to resume, a run already in
  ``--out``) and CUDA out-of-memory raise :class:`TrainingError` (an ``InputError``) before
  or instead of the next yield; the OOM message names the batch size that failed;
- a NaN/inf loss or gradient skips that update, yields ``event="error"`` with the reason and
  ends the generator; nothing is saved after it, so the last checkpoint stays good.

``should_stop()`` / ``should_pause()`` are polled between steps; a stop saves a checkpoint and
yields ``event="stopped"``. Resume (``TrainConfig(resume=True)``) restores weights, EMA,
optimiser, scaler, RNG and data order: the continued run equals an uninterrupted one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .checkpoint import SAMPLES_DIR, save_checkpoint, step_dir_name, truncate_metrics
from .device import cpu_threads_leaving_one_core
from .distributed import DistContext
from .ema import EMA
from .losses import BucketLosses, min_snr_weights, prediction_target
from .schedules import NoiseSchedule, make_schedule
from .train_config import TrainConfig
from .train_preview import make_grid, sample_images, save_png
from .train_setup import TrainingError, choose_precision, model_config_for, prepare_data, resolve_config, run_config
from .unet import UNet, validate_config

__all__ = ["TrainConfig", "Progress", "TrainingError", "train", "NUM_LOSS_BUCKETS"]

NUM_LOSS_BUCKETS = 10
_PAUSE_POLL_S = 0.1


@dataclass
class Progress:
    step: int
    total_steps: int
    loss: float
    lr: float
    images_per_s: float
    eta_s: float
    elapsed_s: float
    bucket_losses: np.ndarray  # running mean loss per t-bucket (NaN where not seen yet)
    sample_grid: np.ndarray | None  # uint8 (H, W, C) EMA samples, on "sample" events
    gpu_memory_bytes: int | None
    event: str  # "step" | "sample" | "checkpoint" | "done" | "stopped" | "error"
    message: str = ""
    run_dir: str = ""


def _step_seed(seed: int, rank: int, step: int) -> int:
    # Noise and timesteps of step k come from their own seed: resuming needs no generator state.
    return (seed * 1_000_003 + rank * 7919 + step * 0x9E3779B1) % (2**63 - 1)


def _lr_at(config: TrainConfig, step: int) -> float:
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    if config.lr_schedule == "cosine":
        progress = min(1.0, step / max(1, config.steps))
        return config.lr * warm * (0.1 + 0.9 * 0.5 * (1.0 + np.cos(np.pi * progress)))  # decays to 10 %
    return config.lr * warm


def train(config: TrainConfig, should_stop: Callable[[], bool] | None = None,
          should_pause: Callable[[], bool] | None = None) -> Iterator[Progress]:
    """Train (or resume) the run described by ``config``; see the module docstring."""
    dist = DistContext.from_env(config.device)
    threads = torch.get_num_threads()
    try:
        yield from _Trainer(config, dist).run(should_stop or (lambda: False), should_pause or (lambda: False))
    finally:
        torch.set_num_threads(threads)
        dist.close()


class _Trainer:
    def __init__(self, config: TrainConfig, dist: DistContext):
        self.dist = dist
        config, checkpoint = resolve_config(config)
        self.config = config
        self.run_dir = Path(config.out).expanduser()
        self.device = dist.device(config.device)
        if self.device.type == "cpu":
            torch.set_num_threads(config.cpu_threads or cpu_threads_leaving_one_core())
        self.precision, self.amp_dtype = choose_precision(config.precision, self.device)
        if checkpoint is None:  # refuse an impossible model before a long folder scan
            validate_config(model_config_for(config, config.channels or 3, self.device))
        if dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        dist.barrier()

        data = prepare_data(config, self.device, dist.rank, dist.world_size, write_report=dist.is_main)
        self.source, self.channels = data.source, data.channels
        if checkpoint is not None:
            self.schedule = NoiseSchedule.from_config(checkpoint.config["schedule"])
            model_config = checkpoint.config["model"]
            self.channels = int(model_config["in_channels"])
        else:
            self.schedule = make_schedule(config.schedule, config.timesteps)
            model_config = model_config_for(config, self.channels, self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)  # the same initial weights on every rank and every run
            model = UNet.from_config(model_config)
        self.model_config = model.config
        self.run_config = run_config(config, model.config, self.schedule, self.channels, data.info)
        use_channels_last = config.channels_last if config.channels_last is not None else self.device.type == "cuda"
        self.memory_format = torch.channels_last if use_channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=self.memory_format).train()
        self.ema = EMA(self.model, config.ema_decay)
        fused = self.device.type == "cuda"  # one kernel for all parameters; foreach batches them on the CPU
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                           fused=fused or None, foreach=None if fused else True)
        scaler_device = "cuda" if self.device.type == "cuda" else "cpu"  # fp16 (and so the scaler) is CUDA-only
        self.scaler = torch.amp.GradScaler(scaler_device, enabled=self.precision == "fp16")
        self.buckets = BucketLosses(self.schedule.num_timesteps, NUM_LOSS_BUCKETS)
        self.step = 0
        if checkpoint is not None:
            self._restore(checkpoint)
        else:
            torch.manual_seed(_step_seed(config.seed, dist.rank, 0))  # dropout's RNG
        self.forward = self.model
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward = DistributedDataParallel(self.model, device_ids=ids)
        self.eager_forward = self.forward
        self.compile_pending = bool(config.compile)  # compilation happens (or fails) on the first step
        if config.compile:
            self.forward = torch.compile(self.forward)
        tables = self.schedule
        as_tensor = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32, device=self.device)  # noqa: E731
        self.sqrt_ab, self.sqrt_1m_ab = as_tensor(tables.sqrt_alphas_cumprod), as_tensor(tables.sqrt_one_minus_alphas_cumprod)
        self.snr = as_tensor(tables.snr)
        self.noise_generator = torch.Generator(device=self.device)
        self.saved_step = self.step if checkpoint is not None else -1

    # -- state ----------------------------------------------------------------------------------
    def _restore(self, checkpoint) -> None:
        state = checkpoint.train_state
        self.model.load_state_dict(checkpoint.model_state)
        self.ema.model.load_state_dict(checkpoint.ema_state if checkpoint.ema_state is not None else checkpoint.model_state)
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.ema.load_state_dict(state.get("ema", {}))
        self.source.load_state_dict(state.get("data", {}))
        self.buckets.load_state_dict(state.get("buckets", {}))
        self.step = int(checkpoint.step)
        same_process = self.dist.world_size == int(state.get("world_size", 1)) and self.dist.is_main
        if same_process and isinstance(state.get("torch_rng"), torch.Tensor):
            torch.set_rng_state(state["torch_rng"])
            if self.device.type == "cuda" and isinstance(state.get("cuda_rng"), torch.Tensor):
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        else:
            torch.manual_seed(_step_seed(self.config.seed, self.dist.rank, self.step))
        if self.dist.is_main:
            truncate_metrics(self.run_dir, self.step)  # records a killed run logged after its checkpoint

    def _train_state(self) -> dict:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "ema": self.ema.state_dict(),
            "data": self.source.state_dict(),
            "buckets": self.buckets.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "world_size": self.dist.world_size,
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def save(self) -> Path | None:
        if not self.dist.is_main or self.saved_step == self.step:
            return None
        folder = save_checkpoint(self.run_dir, model=self.model, ema_model=self.ema.model,
                                 train_state=self._train_state(), config=self.run_config, step=self.step,
                                 keep_last=self.config.keep_last)
        self.saved_step = self.step
        return folder

    # -- one update -----------------------------------------------------------------------------
    def train_step(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One optimiser update; returns (loss, grad norm, t, per-sample loss) without syncing."""
        config = self.config
        x0 = self.source.next_batch().contiguous(memory_format=self.memory_format)
        self.noise_generator.manual_seed(_step_seed(config.seed, self.dist.rank, self.step))
        t = torch.randint(0, self.schedule.num_timesteps, (x0.shape[0],), generator=self.noise_generator,
                          device=self.device)
        noise = torch.randn(x0.shape, generator=self.noise_generator, device=self.device).contiguous(
            memory_format=self.memory_format)
        a, b = self.sqrt_ab[t].view(-1, 1, 1, 1), self.sqrt_1m_ab[t].view(-1, 1, 1, 1)
        x_t = a * x0 + b * noise  # Ho et al. eq. 4
        target = prediction_target(x0, noise, a, b, config.prediction)
        autocast = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            output = self.forward(x_t, t)
        per_sample = (output.float() - target).pow(2).mean(dim=(1, 2, 3))
        weights = min_snr_weights(self.snr[t], config.min_snr_gamma, config.prediction)
        loss = (per_sample * weights).mean() if weights is not None else per_sample.mean()
        for group in self.optimizer.param_groups:
            group["lr"] = _lr_at(config, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        return loss.detach(), grad_norm.detach(), t, per_sample.detach()

    def apply_update(self) -> None:
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.ema.update(self.model)
        self.step += 1

    def sample_grid(self) -> np.ndarray:
        images = sample_images(self.ema.model, self.schedule, prediction=self.config.prediction,
                               num_images=self.config.num_sample_images, image_size=self.config.image_size,
                               channels=self.channels, device=self.device, seed=self.config.seed,
                               num_steps=self.config.sample_steps)
        grid = make_grid(images)
        path = self.run_dir / SAMPLES_DIR / f"{step_dir_name(self.step)}.png"
        path.parent.mkdir(exist_ok=True)
        save_png(grid, path, scale=max(1, 128 // self.config.image_size))
        return grid

    # -- the loop -------------------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool], should_pause: Callable[[], bool]) -> Iterator[Progress]:
        from .train_loop import run_loop

        yield from run_loop(self, should_stop, should_pause)
