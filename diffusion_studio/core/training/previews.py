"""Sample grids while training: a few deterministic DDIM steps with the EMA model, from the same noise each time.

A class-conditional run's grid gives each class (the first :data:`MAX_PREVIEW_CLASSES`) a row, or a column when
it has fewer images than there are classes (16 images of 10 digits: two rows of 0–9, not ten rows of two), each
asked for its class without guidance (the conditional model alone, s = 1), so a row or column shows how well that
class is learned. ``num_sample_images`` is shared out over the classes (rounded up), so it still sets the grid's size.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..atomic import atomic_write
from ..device import to_device
from ..export.compose import tile_grid
from ..images import float_to_uint8
from ..samplers import make_sampler
from ..schedules import NoiseSchedule

__all__ = ["sample_images", "preview_classes", "preview_grid", "save_preview", "MAX_PREVIEW_CLASSES",
           "MAX_PER_CLASS"]

#: A preview shows the first classes only, one row each (a run of 1000 classes would be 1000 rows).
MAX_PREVIEW_CLASSES = 16
#: Samples per class row at most.
MAX_PER_CLASS = 16


def preview_classes(num_classes: int, num_images: int) -> tuple[np.ndarray | None, int | None]:
    """(class label of each preview image in grid order, images per grid row) for a run of ``num_classes``
    classes; (None, None) for an unconditional run. ``num_images`` are shared out: ⌈num_images / classes⌉ of
    each of the first min(classes, 16, num_images) classes, a row per class, or a column per class when that
    is fewer than the classes (the grid stays nearer square)."""
    if not num_classes:
        return None, None
    shown = min(int(num_classes), MAX_PREVIEW_CLASSES, max(1, int(num_images)))
    per_class = min(MAX_PER_CLASS, math.ceil(int(num_images) / shown))
    classes = np.arange(shown, dtype=np.int64)
    if per_class >= shown:
        return np.repeat(classes, per_class), per_class  # a row per class
    return np.tile(classes, per_class), shown  # a column per class


@torch.no_grad()
def sample_images(model: nn.Module, schedule: NoiseSchedule, *, prediction: str, num_images: int, image_size: int,
                  channels: int, device: torch.device, seed: int = 0, num_steps: int = 25,
                  batch_size: int = 64, class_labels: np.ndarray | None = None) -> torch.Tensor:
    """``num_images`` samples in [-1, 1], (N, C, S, S) float32 on the CPU, from the same noise every call.

    Deterministic DDIM (η = 0, "trailing" spacing so the chain starts at t = T-1) makes grids of
    successive checkpoints comparable: the same starting noise, only the model changes. The noise
    is drawn on the CPU in float32, so it is the same on every device and never float64 on one.
    ``class_labels`` (N,): the class each sample is asked for (a class-conditional model).
    """
    sampler = make_sampler("ddim", schedule, num_steps=min(num_steps, schedule.num_timesteps),
                           eta=0.0, spacing="trailing", prediction=prediction)
    generator = torch.Generator().manual_seed(int(seed))
    noise = torch.randn((num_images, channels, image_size, image_size), generator=generator, dtype=torch.float32)
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, num_images, batch_size):
            x = to_device(noise[start:start + batch_size], device)
            condition = {}
            if class_labels is not None:
                condition["class_labels"] = to_device(torch.as_tensor(class_labels[start:start + batch_size]), device)
            for t in sampler.timesteps:
                t_batch = torch.full((x.shape[0],), int(t), device=device, dtype=torch.long)
                x = sampler.step(model(x, t_batch, **condition).float(), int(t), x).prev_sample
            out.append(x.clamp(-1, 1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def preview_grid(images: torch.Tensor | np.ndarray, columns: int | None = None) -> np.ndarray:
    """(N, C, S, S) floats in [-1, 1] → one uint8 (H, W, C) grid, ``columns`` (default √N) per row, 1 px black
    lines between."""
    return tile_grid(float_to_uint8(images), columns=columns, padding=1, pad_color=(0, 0, 0))


def save_preview(grid: np.ndarray, path: str | os.PathLike, scale: int = 1) -> None:
    """Write a uint8 (H, W, C) grid as PNG atomically, enlarged ``scale``× with nearest pixels (crisp)."""
    image = Image.fromarray(np.ascontiguousarray(grid[:, :, 0] if grid.shape[2] == 1 else grid))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    with atomic_write(path, "wb") as handle:
        image.save(handle, format="PNG")
