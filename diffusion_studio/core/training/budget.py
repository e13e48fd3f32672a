"""Will a training run fit in memory? Estimated before a byte is allocated, checked against the machine.

The model is built on torch's meta device (shapes only, no memory) from its validated config:
that gives the parameters exactly, and one forward pass of a single image on meta gives the
activations backpropagation keeps. The total for a batch is compared with what the device can
still give (available RAM on the CPU, free memory on the GPU), so ``--batch-size 100000`` on a
laptop is refused with the estimate and a batch that fits, instead of swapping the machine to a
halt. On a GPU the default batch size grows with its free memory.

Calibration: on the CPU the measured peak of one forward + backward pass was 1.4–1.7× the sum of
the module outputs at batch 32–128 (``cpu-tiny`` and ``gpu-small`` at 32 px); the estimate uses
1.5× of them plus 24 bytes per parameter (weights, gradients, two AdamW moments, EMA, a resume copy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .. import device as devices
from ..device import format_bytes
from ..unet import UNet
from .progress import TrainingError

__all__ = ["MemoryEstimate", "estimate_training_memory", "check_training_fits", "default_batch_size"]

_BYTES_PER_PARAMETER = 24
_ACTIVATION_OVERHEAD = 1.5  # backward temporaries and the allocator, measured (see the module docstring)
_USABLE_FRACTION = 0.85  # of the available memory; the rest is for the data, the preview grid, the system
_DEFAULT_BATCH_FRACTION = 0.5  # a default batch leaves half the GPU's free memory untouched
MAX_DEFAULT_BATCH = 512


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int
    model_bytes: int  # weights, gradients, optimiser moments, EMA
    per_image_bytes: int  # activations of one image (kept for the backward pass)

    def total(self, batch_size: int) -> int:
        return self.model_bytes + batch_size * self.per_image_bytes

    def largest_batch(self, budget_bytes: float) -> int:
        """The largest batch whose total stays within ``budget_bytes`` (0 when the model alone does not fit)."""
        return max(0, int((budget_bytes - self.model_bytes) // max(1, self.per_image_bytes)))


def _activation_elements(model: torch.nn.Module, image_size: int, channels: int) -> int:
    """Elements of every leaf module's output for one image, from a forward pass on the meta device."""
    total = 0

    def count(_module, _inputs, output) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel()

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    hooks = [leaf.register_forward_hook(count) for leaf in leaves]
    try:
        with torch.no_grad():
            model(torch.empty(1, channels, image_size, image_size, device="meta"),
                  torch.zeros(1, dtype=torch.long, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def estimate_training_memory(model_config: dict[str, Any], *, image_size: int, channels: int,
                             precision: str) -> MemoryEstimate:
    """Memory one training step needs, from the model's (already validated) config; nothing is allocated."""
    with torch.device("meta"):
        model = UNet.from_config(model_config)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    try:
        elements = _activation_elements(model, image_size, channels)
    except Exception:  # noqa: BLE001 - a model the meta device cannot run: a coarse bound instead
        width = int(model_config.get("base_channels") or 64)
        elements = 60 * width * image_size * image_size
    bytes_per_element = 4 if precision == "fp32" else 3  # autocast keeps norms and the loss in float32
    per_image = int(elements * bytes_per_element * _ACTIVATION_OVERHEAD)
    return MemoryEstimate(parameters, parameters * _BYTES_PER_PARAMETER, per_image)


def _budget(device: torch.device) -> tuple[float | None, str, int | None]:
    free, what = devices.available_memory(device)
    return (None if free is None else free * _USABLE_FRACTION), what, free


def check_training_fits(estimate: MemoryEstimate, *, batch_size: int, image_size: int,
                        device: torch.device) -> None:
    """TrainingError with the estimate and a batch size that fits, when this batch cannot fit on ``device``."""
    budget, what, free = _budget(device)
    needed = estimate.total(batch_size)
    if budget is None or needed <= budget:
        return
    model = (f"the model: {estimate.parameters / 1e6:.1f} M parameters, {format_bytes(estimate.model_bytes)} with "
             f"its gradients, AdamW moments and EMA; about {format_bytes(estimate.per_image_bytes)} of activations "
             "per image")
    fits = estimate.largest_batch(budget)
    if fits < 1:
        advice = "the model alone does not fit; choose a smaller --preset, --base-channels or --image-size"
    else:
        advice = f"try --batch-size {2 ** int(math.log2(fits))}" if fits > 1 else "try --batch-size 1"
    raise TrainingError(
        f"batch size {batch_size} at {image_size} px needs about {format_bytes(needed)} ({model}), but there is "
        f"{format_bytes(free)} of {what}; {advice}"
    )


def default_batch_size(estimate: MemoryEstimate, device: torch.device, fallback: int) -> int:
    """On CUDA, the largest power of two (≤ 512) that fills at most half the free memory; elsewhere ``fallback``."""
    if device.type != "cuda":
        return fallback
    free, _what = devices.available_memory(device)
    if free is None:
        return fallback
    fits = estimate.largest_batch(free * _DEFAULT_BATCH_FRACTION)
    if fits < 1:
        return 1
    return int(min(MAX_DEFAULT_BATCH, 2 ** int(math.log2(fits))))
