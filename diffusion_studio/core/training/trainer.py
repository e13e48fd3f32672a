"""One training run's state on its device — model, EMA, optimiser, data — and one update at a time.

Objective (Ho et al. 2020, Alg. 1): t ~ U{0…T-1}, ε ~ N(0, I), x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε,
minimise ‖f(x_t, t, c) − target‖² (or L1, Huber) with target ε, x0 or v, optionally min-SNR-γ weighted.
A class-conditional run feeds the image's class c, replaced by the null label with probability p
(classifier-free guidance, Ho & Salimans 2022, Alg. 1); with a learned variance the loss is
L_simple + λ·L_vlb (Nichol & Dhariwal 2021, eq. 16; :class:`core.losses.VLBTerms`).

The loop (:mod:`.loop`) drives a :class:`Trainer` through its public methods only:
``compute_update`` → ``apply_update`` (or ``discard_update``), ``record_losses``, ``save``,
``sample_grid``. Nothing outside edits its fields.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..checkpoint import SAMPLES_DIR, TRAIN_STATE_NAME, save_checkpoint, step_dir_name
from ..device import cpu_count, cpu_threads_leaving_one_core, out_of_memory_guard
from ..distributed import DistContext
from ..ema import EMA
from ..errors import InputError
from ..losses import BucketLosses, VLBTerms, denoising_loss, min_snr_weights
from ..prediction import prediction_target
from ..schedules import NoiseSchedule, make_schedule
from ..unet import UNet, validate_config
from .budget import check_training_fits, default_batch_size, estimate_training_memory
from .previews import preview_classes, preview_grid, sample_images, save_preview
from .progress import LOSS_WINDOW_STEPS, NUM_LOSS_BUCKETS, TrainingError
from .run_folder import RunFolder
from .setup import RunPlan, choose_precision, model_config_for, prepare_data, resume_run_folder, run_config

__all__ = ["Trainer", "Update", "CompileFailed"]


class CompileFailed(RuntimeError):
    """torch.compile failed on the first step; the trainer has gone back to the eager model."""


@dataclass
class Update:
    """One computed update, still on the device (no synchronisation yet)."""

    loss: torch.Tensor
    grad_norm: torch.Tensor
    t: torch.Tensor
    per_sample_loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # the parts of a hybrid loss, for the metrics


def step_seed(seed: int, rank: int, step: int) -> int:
    # Noise and timesteps of step k come from their own seed: resuming needs no generator state.
    return (seed * 1_000_003 + rank * 7919 + step * 0x9E3779B1) % (2**63 - 1)


def learning_rate(lr: float, schedule: str, warmup_steps: int, total_steps: int, step: int) -> float:
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    if schedule == "cosine":
        progress = min(1.0, step / max(1, total_steps))
        return float(lr * warm * (0.1 + 0.9 * 0.5 * (1.0 + np.cos(np.pi * progress))))  # decays to 10 %
    return float(lr * warm)


def match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give every restored optimiser tensor its parameter's strides.

    ``load_state_dict`` moves the moments to the parameter's device and dtype but keeps the
    strides they were saved with: moments saved from an NCHW model on the CPU and loaded for a
    channels_last model with fused AdamW on CUDA fail at the first step ("… must have same
    dtype, device, and layout").
    """
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            state = optimizer.state.get(parameter, {})
            for key, value in state.items():
                if (isinstance(value, torch.Tensor) and value.shape == parameter.shape
                        and value.stride() != parameter.stride()):
                    state[key] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


class Trainer:
    """Everything one run holds on its device; see the module docstring for how the loop uses it."""

    def __init__(self, plan: RunPlan, folder: RunFolder, dist: DistContext):
        config, checkpoint = plan.config, plan.checkpoint
        self.dist = dist
        self.run_dir: Path = folder.path
        self.device = dist.device(config.device)
        if self.device.type == "cpu":
            torch.set_num_threads(min(config.cpu_threads or cpu_threads_leaving_one_core(), cpu_count()))
        self.precision, self.amp_dtype = choose_precision(config.precision, self.device)

        # The model and its memory cost are checked before a single image is decoded.
        if checkpoint is not None:
            model_config = checkpoint.config["model"]
        else:
            model_config = model_config_for(config, config.channels or 3, self.device)
        validate_config(model_config)
        estimate = estimate_training_memory(model_config, image_size=config.image_size,
                                            channels=int(model_config.get("in_channels") or 3),
                                            precision=self.precision)
        if not plan.batch_size_given:
            config = config.replace(batch_size=default_batch_size(estimate, self.device, config.batch_size))
        check_training_fits(estimate, batch_size=config.batch_size, image_size=config.image_size, device=self.device)
        self.config = config

        recorded = None if checkpoint is None else tuple(checkpoint.config.get("class_names") or ())
        data = prepare_data(config, self.device, dist.rank, dist.world_size, write_report=dist.is_main,
                            recorded_classes=recorded)
        self.source, self.data_summary = data.source, data.summary
        self.class_names = data.class_names
        if checkpoint is not None:
            self.schedule = NoiseSchedule.from_config(checkpoint.config["schedule"])
            self.channels = int(model_config.get("in_channels") or 3)  # the UNet's default when left out
        else:
            self.schedule = make_schedule(config.schedule, config.timesteps)
            self.channels = data.channels
            model_config = model_config_for(config, self.channels, self.device, len(self.class_names))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)  # the same initial weights on every rank and every run
            model = UNet.from_config(model_config)
        if (model.num_classes or 0) != len(self.class_names):
            raise TrainingError(f"the run's model has {model.num_classes or 0} classes but its config.json names "
                                f"{len(self.class_names)}; the run folder is damaged")
        self.learned_variance = model.unet_config.out_channels == 2 * self.channels
        self.run_config = run_config(config, model.config, self.schedule, self.channels, data.info,
                                     self.class_names)
        use_channels_last = config.channels_last if config.channels_last is not None else self.device.type == "cuda"
        self.memory_format = torch.channels_last if use_channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=self.memory_format).train()
        self.ema = EMA(self.model, config.ema_decay)
        fused = self.device.type == "cuda"  # one kernel for all parameters; foreach batches them on the CPU
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                           fused=fused or None, foreach=None if fused else True)
        scaler_device = "cuda" if self.device.type == "cuda" else "cpu"  # fp16 (and so the scaler) is CUDA-only
        self.scaler = torch.amp.GradScaler(scaler_device, enabled=self.precision == "fp16")
        self.buckets = BucketLosses(self.schedule.num_timesteps, NUM_LOSS_BUCKETS, LOSS_WINDOW_STEPS)
        self._step = 0
        if checkpoint is not None:
            self._restore(checkpoint)
            resume_run_folder(folder, self._step)
        else:
            torch.manual_seed(step_seed(config.seed, dist.rank, 0))  # dropout's RNG
        self._saved_step = self._step if checkpoint is not None else -1
        self._forward = self.model
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._forward = DistributedDataParallel(self.model, device_ids=ids)
        self._eager_forward = self._forward
        self._compile_pending = bool(config.compile)  # compilation happens (or fails) on the first step
        if config.compile:
            self._forward = torch.compile(self._forward)
        # float32 already in numpy: no float64 tensor is ever made, let alone sent to a device (MPS has none)
        as_tensor = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32)).to(self.device)  # noqa: E731
        self._sqrt_ab = as_tensor(self.schedule.sqrt_alphas_cumprod)
        self._sqrt_1m_ab = as_tensor(self.schedule.sqrt_one_minus_alphas_cumprod)
        self._snr = as_tensor(self.schedule.snr)
        self._vlb = VLBTerms.for_schedule(self.schedule, self.device) if self.learned_variance else None
        self._noise_generator = torch.Generator(device=self.device)

    # -- what the loop reads ------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Optimiser updates applied so far (a skipped fp16 overflow step does not count)."""
        return self._step

    @property
    def saved_step(self) -> int:
        """Step of the last checkpoint this run has (-1: none yet)."""
        return self._saved_step

    @property
    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def bucket_losses(self) -> np.ndarray:
        """The recent loss per t-bucket (:class:`~diffusion_studio.core.losses.BucketLosses`)."""
        return self.buckets.values

    @property
    def recent_loss(self) -> float:
        """The same window's loss over all t: what the bucket losses average to."""
        return self.buckets.overall

    @property
    def scales_loss(self) -> bool:
        """fp16 with a gradient scaler: an infinite gradient is an overflow to skip, not a failure."""
        return self.scaler.is_enabled()

    def memory_in_use(self) -> int | None:
        return torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else None

    # -- state --------------------------------------------------------------------------------------
    def _restore(self, checkpoint) -> None:
        """Weights, EMA, optimiser, scaler, data order, loss curve and RNG of ``checkpoint``.

        ``train_state.pt`` was loaded without unpickling anything, but a damaged or hand-made one can
        still hold values of the wrong shape or type: any failure here is reported as a damaged file.
        """
        state = checkpoint.train_state
        try:
            self.model.load_state_dict(checkpoint.model_state)
            self.ema.model.load_state_dict(checkpoint.ema_state if checkpoint.ema_state is not None
                                           else checkpoint.model_state)
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise TrainingError(f"the checkpoint in {checkpoint.path} does not fit the run's model "
                                f"({str(exc).splitlines()[0][:200]})") from exc
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            match_parameter_layouts(self.optimizer)
            if isinstance(state.get("scaler"), dict) and state["scaler"] and self.scaler.is_enabled():
                self.scaler.load_state_dict(state["scaler"])
            for part, target in (("ema", self.ema), ("data", self.source), ("buckets", self.buckets)):
                value = state.get(part, {})
                target.load_state_dict(value if isinstance(value, dict) else {})
            same_process = self.dist.world_size == int(state.get("world_size", 1)) and self.dist.is_main
            if same_process and isinstance(state.get("torch_rng"), torch.Tensor):
                torch.set_rng_state(state["torch_rng"])
                if self.device.type == "cuda" and isinstance(state.get("cuda_rng"), torch.Tensor):
                    torch.cuda.set_rng_state(state["cuda_rng"], self.device)
            else:
                torch.manual_seed(step_seed(self.config.seed, self.dist.rank, int(checkpoint.step)))
        except Exception as exc:  # noqa: BLE001 - any inconsistency of a damaged state file
            name = checkpoint.path / TRAIN_STATE_NAME
            raise TrainingError(f"{name} is damaged and cannot be continued from ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:160] if str(exc) else 'bad value'})") from exc
        self._step = int(checkpoint.step)

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
        """A checkpoint of the current step (rank 0; once per step); its step folder, or None."""
        if not self.dist.is_main or self._saved_step == self._step:
            return None
        folder = save_checkpoint(self.run_dir, model=self.model, ema_model=self.ema.model,
                                 train_state=self._train_state(), config=self.run_config, step=self._step,
                                 keep_last=self.config.keep_last)
        self._saved_step = self._step
        return folder

    # -- one update -----------------------------------------------------------------------------------
    def _out_of_memory(self, batch_size: int, batch_flag: str = "--batch-size"):
        return out_of_memory_guard(self.device, batch_size=batch_size, image_size=self.config.image_size,
                                   batch_flag=batch_flag, error=TrainingError, cleanup=self.discard_update)

    def compute_update(self) -> Update:
        """Forward and backward for the next batch; raises TrainingError on out-of-memory, CompileFailed once."""
        try:
            with self._out_of_memory(self.config.batch_size):
                update = self._compute_update()
        except InputError:  # out of memory, unreadable images: not the compiler's fault
            raise
        except Exception as exc:  # noqa: BLE001 - only a failed torch.compile is recoverable
            if not self._compile_pending:
                raise
            self._compile_pending = False
            self._forward = self._eager_forward
            self.discard_update()
            raise CompileFailed(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); "
                                "training goes on without it") from exc
        self._compile_pending = False
        return update

    def _compute_update(self) -> Update:
        config = self.config
        x0, labels = self.source.next_labelled_batch()
        x0 = x0.contiguous(memory_format=self.memory_format)
        self._noise_generator.manual_seed(step_seed(config.seed, self.dist.rank, self._step))
        t = torch.randint(0, self.schedule.num_timesteps, (x0.shape[0],), generator=self._noise_generator,
                          device=self.device)
        noise = torch.randn(x0.shape, generator=self._noise_generator, device=self.device).contiguous(
            memory_format=self.memory_format)
        a, b = self._sqrt_ab[t].view(-1, 1, 1, 1), self._sqrt_1m_ab[t].view(-1, 1, 1, 1)
        x_t = a * x0 + b * noise  # Ho et al. eq. 4
        target = prediction_target(x0, noise, a, b, config.prediction)
        condition = {}
        if self.class_names:
            # Ho & Salimans 2022, Alg. 1: c ← ∅ with probability p_uncond (drawn after t and ε, from the step's seed)
            drop = torch.rand(labels.shape, generator=self._noise_generator, device=self.device) < config.label_dropout
            condition["class_labels"] = torch.where(drop, torch.full_like(labels, len(self.class_names)), labels)
        autocast = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            output = self._forward(x_t, t, **condition)
        prediction = output[:, :self.channels].float()
        per_sample = denoising_loss(prediction, target, config.loss)
        weights = min_snr_weights(self._snr[t], config.min_snr_gamma, config.prediction)
        if weights is not None:
            per_sample = per_sample * weights  # the loss is their mean; the buckets show the same terms
        loss = per_sample.mean()
        terms = {}
        if self._vlb is not None:  # L_hybrid = L_simple + λ·L_vlb, the mean detached in L_vlb
            vlb = self._vlb.loss(prediction, output[:, self.channels:], x0, x_t, t, config.prediction)
            terms = {"loss_simple": loss.detach(), "loss_vlb": vlb.mean().detach()}
            loss = loss + config.vlb_weight * vlb.mean()
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(config.lr, config.lr_schedule, config.warmup_steps, config.steps, self._step)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        return Update(loss.detach(), grad_norm.detach(), t, per_sample.detach(), terms)

    def apply_update(self) -> bool:
        """Step the optimiser; False when the fp16 scaler skipped it (then neither the EMA nor the step moves)."""
        with self._out_of_memory(self.config.batch_size):  # the first step allocates AdamW's moments
            scale = self.scaler.get_scale() if self.scaler.is_enabled() else None
            self.scaler.step(self.optimizer)
            self.scaler.update()
        if scale is not None and self.scaler.get_scale() < scale:
            return False  # inf/NaN gradients: GradScaler skipped optimizer.step() and lowered the scale
        self.ema.update(self.model)
        self._step += 1
        return True

    def discard_update(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def record_losses(self, updates: Sequence[Update]) -> None:
        """Fold the per-sample losses of these steps, in order, into the recent loss per t-bucket.

        They are copied to the CPU together (one synchronisation per log line, not per step).
        """
        if not updates:
            return
        t = torch.cat([u.t for u in updates]).cpu().numpy()
        losses = torch.cat([u.per_sample_loss for u in updates]).float().cpu().numpy().astype(np.float64)
        ends = np.cumsum([len(u.t) for u in updates])
        for step_t, step_losses in zip(np.split(t, ends[:-1]), np.split(losses, ends[:-1])):
            self.buckets.add_step(step_t, step_losses)

    def sample_grid(self) -> np.ndarray:
        """An EMA sample grid as uint8 (H, W, C), also written to ``samples/step_XXXXXX.png``."""
        config = self.config
        labels, columns = preview_classes(len(self.class_names), config.num_sample_images)
        with self._out_of_memory(len(labels) if labels is not None else config.num_sample_images,
                                 batch_flag="--num-samples"):
            images = sample_images(self.ema.model, self.schedule, prediction=config.prediction,
                                   num_images=config.num_sample_images if labels is None else len(labels),
                                   image_size=config.image_size, channels=self.channels, device=self.device,
                                   seed=config.seed, num_steps=config.sample_steps, class_labels=labels)
        grid = preview_grid(images, columns)
        path = self.run_dir / SAMPLES_DIR / f"{step_dir_name(self._step)}.png"
        path.parent.mkdir(exist_ok=True)
        save_preview(grid, path, scale=max(1, 128 // config.image_size))
        return grid

    def close(self) -> None:
        self.source.close()
