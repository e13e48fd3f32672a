"""Quick sample grids while training: a few deterministic DDIM steps with the EMA model."""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from torch import nn

from .atomic import atomic_write
from .images import float_to_uint8
from .samplers import make_sampler
from .schedules import NoiseSchedule

__all__ = ["sample_images", "make_grid", "save_png"]


@torch.no_grad()
def sample_images(model: nn.Module, schedule: NoiseSchedule, *, prediction: str, num_images: int, image_size: int,
                  channels: int, device: torch.device, seed: int = 0, num_steps: int = 25,
                  batch_size: int = 64) -> torch.Tensor:
    """``num_images`` samples in [-1, 1], (N, C, S, S) float on the CPU, from the same noise every call.

    Deterministic DDIM (η = 0, "trailing" spacing so the chain starts at t = T-1) makes grids of
    successive checkpoints comparable: the same starting noise, only the model changes.
    """
    sampler = make_sampler("ddim", schedule, num_steps=min(num_steps, schedule.num_timesteps),
                           eta=0.0, spacing="trailing", prediction=prediction)
    generator = torch.Generator().manual_seed(int(seed))
    noise = torch.randn((num_images, channels, image_size, image_size), generator=generator)
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, num_images, batch_size):
            x = noise[start:start + batch_size].to(device)
            for t in sampler.timesteps:
                t_batch = torch.full((x.shape[0],), int(t), device=device, dtype=torch.long)
                x = sampler.step(model(x, t_batch).float(), int(t), x).prev_sample
            out.append(x.clamp(-1, 1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def make_grid(images: torch.Tensor | np.ndarray, columns: int | None = None, padding: int = 1,
              background: int = 0) -> np.ndarray:
    """(N, C, S, S) floats in [-1, 1] → one uint8 (H, W, C) image, ``columns`` per row (√N by default)."""
    tiles = float_to_uint8(images)  # (N, S, S, C)
    count, size, _, channels = tiles.shape
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    step = size + padding
    grid = np.full((rows * step + padding, columns * step + padding, channels), background, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[padding + r * step: padding + r * step + size, padding + c * step: padding + c * step + size] = tile
    return grid


def save_png(grid: np.ndarray, path: str | os.PathLike, scale: int = 1) -> None:
    """Write a uint8 (H, W, C) grid as PNG atomically, enlarged ``scale``× with nearest pixels."""
    from PIL import Image

    array = grid[:, :, 0] if grid.shape[2] == 1 else grid
    image = Image.fromarray(np.ascontiguousarray(array))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    with atomic_write(path, "wb") as handle:
        image.save(handle, format="PNG")
