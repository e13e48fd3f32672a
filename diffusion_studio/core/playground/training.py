"""Train the playground MLP live: a generator that yields progress and polls stop / pause, like core.training.

>>> from diffusion_studio.core.schedules import make_schedule
>>> from diffusion_studio.core.playground import make_dataset
>>> config = MLPTrainConfig(max_steps=20, seed=0)
>>> last = list(train_mlp(make_dataset("moons", 500).points, make_schedule("cosine", 1000), config))[-1]
>>> last.event, last.step
('done', 20)

The objective is the image trainer's (Ho et al. 2020, Alg. 1): t ~ U{0 … T−1}, ε ~ N(0, I),
x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε, minimise ‖f(x_t, t) − target‖² with target ε, x0 or v
(``core.prediction.prediction_target``), optionally min-SNR-γ weighted (``core.losses.min_snr_weights``).
Samples and the field come from an exponential moving average of the weights (``core.ema.EMA``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from ..ema import EMA
from ..losses import min_snr_weights
from ..prediction import prediction_target
from ..schedules import NoiseSchedule
from .configs import MAX_TRAIN_SECONDS, MLPTrainConfig
from .datasets import check_points
from .mlp import DenoiserMLP, LearnedDenoiser
from .snapshot import MLPSnapshot

__all__ = ["MLPTrainConfig", "MLPProgress", "train_mlp", "fit_mlp", "MAX_TRAIN_SECONDS"]

_PAUSE_POLL_S = 0.05


@dataclass(frozen=True)
class MLPProgress:
    step: int
    loss: float  # this step's (weighted) loss
    steps_per_s: float
    elapsed_s: float
    event: str  # "step" | "done" | "stopped"
    snapshot: MLPSnapshot | None = None  # EMA weights, every snapshot_every_s and at the end


def train_mlp(
    points: np.ndarray,
    schedule: NoiseSchedule,
    config: MLPTrainConfig | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
    should_pause: Callable[[], bool] | None = None,
) -> Iterator[MLPProgress]:
    """Yield :class:`MLPProgress` after every step; the last item (``done`` or ``stopped``) has the snapshot.

    The generator *returns* the trained :class:`LearnedDenoiser` (EMA weights), which :func:`fit_mlp`
    hands back directly. Pause time does not count towards ``max_seconds``.
    """
    config = config or MLPTrainConfig()
    data = torch.as_tensor(check_points(points, "the training points"), dtype=torch.float32)
    stop = should_stop or (lambda: False)
    pause = should_pause or (lambda: False)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # the initial weights
    model = DenoiserMLP(schedule.num_timesteps, hidden=config.hidden, layers=config.layers,
                        prediction=config.prediction)
    ema = EMA(model, decay=config.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0, fused=True)
    sqrt_ab = torch.tensor(schedule.sqrt_alphas_cumprod, dtype=torch.float32)
    sqrt_1m_ab = torch.tensor(schedule.sqrt_one_minus_alphas_cumprod, dtype=torch.float32)
    snr = torch.tensor(schedule.snr, dtype=torch.float32)
    batch = min(config.batch_size, max(len(data), 1))

    started = time.monotonic()
    paused_s = 0.0
    last_snapshot = started
    step = 0
    event, last_loss = "done", float("nan")
    while step < config.max_steps:
        if pause() and not stop():
            paused_from = time.monotonic()
            while pause() and not stop():
                time.sleep(_PAUSE_POLL_S)
            paused_s += time.monotonic() - paused_from
        if stop():
            event = "stopped"
            break
        # 1. a batch of data points, timesteps and noise (Ho et al. 2020, Alg. 1, lines 2–4)
        index = torch.randint(0, len(data), (batch,), generator=generator)
        x0 = data[index]
        t = torch.randint(0, schedule.num_timesteps, (batch,), generator=generator)
        noise = torch.randn(batch, 2, generator=generator)
        a, b = sqrt_ab[t].unsqueeze(1), sqrt_1m_ab[t].unsqueeze(1)
        x_t = a * x0 + b * noise
        # 2. the same objective as image training: ε / x0 / v target, min-SNR-γ weights
        target = prediction_target(x0, noise, a, b, config.prediction)
        per_sample = ((model(x_t, t) - target) ** 2).mean(dim=1)
        weights = min_snr_weights(snr[t], config.min_snr_gamma, config.prediction)
        loss = (per_sample * weights).mean() if weights is not None else per_sample.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update(model)
        step += 1
        last_loss = loss.item()

        now = time.monotonic()
        elapsed = now - started - paused_s
        finished = step >= config.max_steps or (config.max_seconds is not None and elapsed >= config.max_seconds)
        snapshot = None
        if finished or now - last_snapshot >= config.snapshot_every_s:
            snapshot, last_snapshot = ema.model.snapshot(step), now
        yield MLPProgress(step, last_loss, step / max(elapsed, 1e-9), elapsed, "done" if finished else "step",
                          snapshot)
        if finished:
            return LearnedDenoiser(ema.model, schedule)
    elapsed = time.monotonic() - started - paused_s
    yield MLPProgress(step, last_loss, step / max(elapsed, 1e-9), elapsed, event, ema.model.snapshot(step))
    return LearnedDenoiser(ema.model, schedule)


def fit_mlp(points: np.ndarray, schedule: NoiseSchedule, config: MLPTrainConfig | None = None) -> LearnedDenoiser:
    """Train to the end (no progress) and return the :class:`LearnedDenoiser` — for notebooks and scripts."""
    gen = train_mlp(points, schedule, config)
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value
