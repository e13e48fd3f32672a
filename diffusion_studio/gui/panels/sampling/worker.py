"""Sampling off the GUI thread: load a model, run one or two chains, hand frames back at ≤ 20 Hz.

``sample_chains`` is a plain generator (no Qt) wrapped by superqt's ``GeneratorWorker`` in
:func:`make_sampling_worker`. Every captured frame is kept (the timeline needs them all); only
the hand-over is batched, so the GUI repaints at most ~20 times a second.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .settings import SamplerSettings

__all__ = [
    "ChainRequest",
    "ModelReady",
    "ChainStarted",
    "FrameBatch",
    "StopFlag",
    "sample_chains",
    "make_sampling_worker",
    "make_loading_worker",
    "LoadResult",
    "frame_stride",
    "prepare_start_image",
    "MIN_INTERVAL_S",
]

#: at most one hand-over to the GUI every 50 ms (20 Hz)
MIN_INTERVAL_S = 0.05
#: frames of one chain are thinned (a stride) so that all three views of the chain fit in this
FRAME_MEMORY_BUDGET_BYTES = 768 * 2**20


@dataclass(frozen=True)
class ChainRequest:
    """One chain to run. ``start_image`` (uint8 HWC) + ``start_t``: SDEdit from that image."""

    label: str
    settings: SamplerSettings
    start_image: np.ndarray | None = None
    start_t: int | None = None


@dataclass(frozen=True)
class ModelReady:
    loaded: Any  # core.checkpoint.LoadedModel
    device: str


@dataclass(frozen=True)
class ChainStarted:
    chain: int
    label: str
    timesteps: tuple[int, ...]  # the sampler's descending timesteps this chain visits
    stride: int
    alphas_cumprod: np.ndarray  # the model's schedule, for the plot


@dataclass
class FrameBatch:
    chain: int
    frames: list = field(default_factory=list)
    done: bool = False


class StopFlag:
    """Thread-safe stop request shared by the GUI and the generator."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


def frame_stride(num_steps: int, batch: int, image_size: int, channels: int,
                 budget_bytes: int = FRAME_MEMORY_BUDGET_BYTES) -> int:
    """Keep every k-th frame so x_t, x̂0 and ε̂ (uint8) of the whole chain fit in the budget."""
    from ....core.chain import stride_for_budget

    return int(stride_for_budget(num_steps, batch, image_size, channels, budget_bytes))


def prepare_start_image(image: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """The user's uint8 image as the model sees it: centre square, ``image_size``², gray or RGB.

    Returns float32 (C, S, S) in [−1, 1].
    """
    from PIL import Image

    from ....core.images import center_crop_resize, uint8_to_float

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    pil = Image.fromarray(array)
    pil = pil.convert("L" if channels == 1 else "RGB")
    square = np.asarray(center_crop_resize(pil, image_size))
    return uint8_to_float(square)


def _resolve_device(name: str):
    try:
        from ....core.device import pick_device
    except ImportError:
        import torch

        return torch.device("cpu" if name == "auto" else name)
    return pick_device(name)


def _leave_a_core_for_the_gui() -> None:
    import torch

    try:
        from ....core.device import cpu_threads_leaving_one_core

        threads = cpu_threads_leaving_one_core()
    except ImportError:
        threads = max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)


def load_for_sampling(path: str | Path, device: str = "auto"):
    """``core.checkpoint.load_model`` on the resolved device (raises InputError on bad files)."""
    from ....core.checkpoint import load_model

    resolved = _resolve_device(device)
    return load_model(path, device=str(resolved))


def build_sampler(loaded, settings: SamplerSettings):
    from ....core.samplers import make_sampler

    # Clip x̂0 to the data range for every sampler: the models here are trained on images in [−1, 1],
    # and at the start of a cosine chain (ᾱ_999 ≈ 2e-9) an unclipped x̂0 = (x − √(1−ᾱ)·ε̂)/√ᾱ explodes;
    # DPM-Solver++ (unclipped by default, as in diffusers) then ends in saturated noise.
    options: dict[str, Any] = {"prediction": loaded.prediction, "clip_sample": True}
    T = loaded.schedule.num_timesteps
    steps = min(int(settings.steps), T)
    if settings.sampler == "ddpm":
        options["num_steps"] = None if steps >= T else steps
    else:
        options["num_steps"] = steps
    if settings.sampler == "ddim":
        options["eta"] = float(settings.eta)
    return make_sampler(settings.sampler, loaded.schedule, **options)


def sample_chains(
    model: Any,
    requests: list[ChainRequest],
    should_stop: Callable[[], bool],
    *,
    device: str = "auto",
    min_interval_s: float = MIN_INTERVAL_S,
) -> Iterator[ModelReady | ChainStarted | FrameBatch]:
    """Load ``model`` (a path) unless it is already a LoadedModel, then run each request's chain."""
    from ....core.chain import chain_timesteps, run_chain

    _leave_a_core_for_the_gui()
    loaded = load_for_sampling(model, device) if isinstance(model, (str, Path)) else model
    torch_device = next(loaded.model.parameters()).device
    yield ModelReady(loaded, str(torch_device))
    for index, request in enumerate(requests):
        if should_stop():
            return
        sampler = build_sampler(loaded, request.settings)
        batch = request.settings.batch_size
        kwargs: dict[str, Any] = {}
        if request.start_image is not None:
            # SDEdit: the chain noises x0 to its first timestep ≤ start_t (q_sample, Ho et al. eq. 4).
            kwargs["start_image"] = prepare_start_image(request.start_image, loaded.image_size, loaded.channels)
            kwargs["start_t"] = int(request.start_t)
        timesteps = [int(t) for t in chain_timesteps(sampler, kwargs.get("start_t"))]
        stride = frame_stride(len(timesteps), batch, loaded.image_size, loaded.channels)
        yield ChainStarted(index, request.label, tuple(timesteps), stride,
                           np.asarray(loaded.schedule.alphas_cumprod))
        pending = FrameBatch(index)
        last_sent = time.monotonic()
        chain = run_chain(
            loaded.model,
            sampler,
            num_samples=batch,
            seed=int(request.settings.seed),
            image_size=loaded.image_size,
            channels=loaded.channels,
            device=torch_device,
            stride=stride,
            should_stop=should_stop,
            **kwargs,
        )
        # run_chain yields from inside torch.inference_mode(), a per-thread switch: the chain must end
        # (or be closed) in this thread, or the pooled thread stays in inference mode for the next
        # job (a training run would then fail with "does not require grad").
        try:
            for item in chain:
                if not hasattr(item, "x_t"):
                    continue  # progress records; frames carry all we show
                pending.frames.append(item)
                now = time.monotonic()
                if item.is_final or now - last_sent >= min_interval_s:
                    pending.done = bool(item.is_final)
                    yield pending
                    pending, last_sent = FrameBatch(index), now
        finally:
            chain.close()
        if pending.frames:
            yield pending
        if should_stop():
            return


def make_sampling_worker(model: Any, requests: list[ChainRequest], stop: StopFlag, *, device: str = "auto"):
    """A not-yet-started superqt GeneratorWorker over :func:`sample_chains`."""
    from superqt.utils import thread_worker

    factory = thread_worker(sample_chains, start_thread=False, ignore_errors=True)
    return factory(model, requests, stop, device=device)


@dataclass(frozen=True)
class LoadResult:
    """What a loading worker returns: the request, and the model or the error."""

    path: str
    device: str
    loaded: Any = None
    error: Exception | None = None


def load_with_result(path: str | Path, device: str = "auto") -> LoadResult:
    try:
        return LoadResult(str(path), device, loaded=load_for_sampling(path, device))
    except Exception as error:  # noqa: BLE001 - handed to the GUI, which shows it
        return LoadResult(str(path), device, error=error)


def make_loading_worker(path: str | Path, device: str = "auto"):
    """A not-yet-started superqt FunctionWorker returning a :class:`LoadResult` (never raising)."""
    from superqt.utils import thread_worker

    factory = thread_worker(load_with_result, start_thread=False, ignore_errors=True)
    return factory(path, device)
