"""Sampling a loaded model: the settings, the sampler they build, SDEdit's start image, and chains.

The command line (``diffusion-studio sample``) and the Sample panel both go through here, so a
setting means the same in both:

>>> settings = SamplerSettings(sampler="dpm_solver", steps=20, batch_size=4, seed=0)
>>> for event in sample_chains("demo", [ChainRequest("demo", settings)], StopFlag()):
...     ...   # ModelReady, then per chain ChainStarted and FrameBatch items of core.chain frames

:func:`sample_chains` is a plain generator (no Qt): the GUI runs it on a superqt worker and
receives frames batched at most every ``min_interval_s`` (20 Hz), so it repaints at a human
rate however fast the chain runs. Every captured frame is kept (the timeline needs them all);
the frames of one chain are thinned by a stride so that they fit
:data:`~diffusion_studio.core.chain.DEFAULT_FRAME_BUDGET_BYTES`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterator

import numpy as np
from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass as validated_dataclass

from .errors import InputError
from .samplers import SAMPLER_ALIASES, SAMPLER_LABELS, SAMPLER_NAMES, make_sampler
from .stopping import StopFlag
from .validation import STRICT, Seed

if TYPE_CHECKING:
    from .loaded_model import LoadedModel
    from .samplers import Sampler
    from .schedules import NoiseSchedule

__all__ = [
    "DEFAULT_STEPS",
    "MIN_INTERVAL_S",
    "ChainRequest",
    "ChainStarted",
    "FrameBatch",
    "ModelReady",
    "SamplerSettings",
    "StopFlag",
    "ACTIVATION_BUDGET_BYTES",
    "BIG_MODEL_IMAGE_SIZE",
    "BIG_MODEL_STEP_SECONDS",
    "activation_bytes_per_sample",
    "build_sampler",
    "chunk_size_for",
    "default_steps",
    "estimate_chain_seconds",
    "is_big_model",
    "load_for_sampling",
    "prepare_start_image",
    "sample_chains",
    "sample_in_chunks",
    "sampler_for",
    "sampler_label",
    "settings_for_big_model",
    "StepTime",
    "time_model_step",
]

#: At most one hand-over of frames to the GUI every 50 ms (20 Hz).
MIN_INTERVAL_S = 0.05
#: A good default step count per sampler (DDPM: the full chain of a T = 1000 model); others 20.
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 100, "dpm_solver": 20}
#: The largest batch one chain samples (the Sample panel's grid; the CLI chunks beyond it).
MAX_BATCH = 1024


def default_steps(sampler: str) -> int:
    return DEFAULT_STEPS.get(sampler, 20)


def sampler_label(name: str) -> str:
    """The sampler's name for menus and headers (``DPM-Solver++ 2M``)."""
    return SAMPLER_LABELS.get(SAMPLER_ALIASES.get(name, name), name)


@validated_dataclass(frozen=True, config=STRICT)
class SamplerSettings:
    """How to sample: the same fields in the Sample panel's form and the CLI's flags.

    DDIM 100 by default: a smooth 101-frame chain in seconds on a CPU (DDPM's 1000 take ~10× longer).
    ``steps`` are spread over the model's T ("leading", as diffusers); for DDPM, steps ≥ T run the
    full chain. ``eta`` is DDIM's noise (0 deterministic, 1 DDPM-like).
    """

    sampler: str = "ddim"
    steps: Annotated[int, Field(ge=1, le=100_000)] = 100
    eta: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 0.0
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 16
    seed: Seed = 0
    device: str = "auto"

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, name: str) -> str:
        key = SAMPLER_ALIASES.get(name.strip().lower(), name.strip().lower())
        if key not in SAMPLER_NAMES:
            raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLER_NAMES)}")
        return key

    def with_(self, **changes) -> "SamplerSettings":
        from dataclasses import replace

        return replace(self, **changes)

    def describe(self) -> str:
        eta = f", η = {self.eta:g}" if self.sampler == "ddim" else ""
        return f"{sampler_label(self.sampler)}, {self.steps} steps{eta}, seed {self.seed}"


def sampler_for(loaded: "LoadedModel", settings: SamplerSettings) -> "Sampler":
    """The sampler ``settings`` ask for, on ``loaded``'s schedule, prediction, data range and variance.

    A model may carry per-sampler options from its own scheduler config in
    ``loaded.extra["sampler_options"][name]`` (a diffusers model's timestep spacing, clip range …), so
    that our chains reproduce its pipeline.
    """
    return build_sampler(loaded.schedule, loaded.prediction, settings, clip_sample=loaded.clip_sample,
                         variance=loaded.variance, model_options=loaded.extra.get("sampler_options"))


def build_sampler(schedule: "NoiseSchedule", prediction: str, settings: SamplerSettings, *,
                  clip_sample: bool = True, variance: str = "fixed_small",
                  model_options: dict[str, dict[str, Any]] | None = None) -> "Sampler":
    """The sampler ``settings`` ask for, on a model's schedule and prediction type.

    ``model_options``: per sampler name, options the model's own scheduler config fixes (e.g. a Stable
    Diffusion model's ``{"ddim": {"set_alpha_to_one": False}}``); the settings' steps and η win.

    ``clip_sample`` clips x̂0 to [−1, 1] in every sampler: right for pixel models trained on images
    in [−1, 1] — at the start of a cosine chain (ᾱ_999 ≈ 2e-9) an unclipped
    x̂0 = (x − √(1−ᾱ)·ε̂)/√ᾱ explodes and DPM-Solver++ ends in saturated noise — and wrong for
    latents, whose range is wider (their models say ``clip_sample=False``).
    """
    T = schedule.num_timesteps
    steps = min(int(settings.steps), T)
    options: dict[str, Any] = {**(model_options or {}).get(settings.sampler, {}),
                               "prediction": prediction, "clip_sample": clip_sample}
    if settings.sampler == "ddpm":
        options["num_steps"] = None if steps >= T else steps
        options["variance"] = variance
    elif settings.sampler == "dpm_solver":
        options["num_steps"] = min(steps, T - 1)
    else:
        options["num_steps"] = steps
    if settings.sampler == "ddim":
        options["eta"] = float(settings.eta)
    return make_sampler(settings.sampler, schedule, **options)


def prepare_start_image(image: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """A uint8 image (H, W) or (H, W, C) as the model sees it: centre square, ``image_size``², gray or RGB.

    Returns float32 (C, S, S) in [−1, 1] — SDEdit's x0.
    """
    from PIL import Image

    from .images import center_crop_resize, uint8_to_float

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    pil = Image.fromarray(array).convert("L" if channels == 1 else "RGB")
    return uint8_to_float(np.asarray(center_crop_resize(pil, image_size)))


# ---------------------------------------------------------------------------- chains as events


@dataclass(frozen=True)
class ChainRequest:
    """One chain to run. ``start_image`` (uint8 HWC) + ``start_t``: SDEdit from that image."""

    label: str
    settings: SamplerSettings
    start_image: np.ndarray | None = None
    start_t: int | None = None


@dataclass(frozen=True)
class ModelReady:
    loaded: "LoadedModel"
    device: str


@dataclass(frozen=True)
class ChainStarted:
    chain: int
    label: str
    settings: SamplerSettings
    timesteps: tuple[int, ...]  # the sampler's descending timesteps this chain visits
    stride: int
    alphas_cumprod: np.ndarray  # the model's schedule, for the plot


@dataclass
class FrameBatch:
    """Frames of chain ``chain`` since the last batch (possibly none) and its steps done so far."""

    chain: int
    frames: list = field(default_factory=list)
    done: bool = False
    steps_done: int = 0  # model calls of this chain so far: progress per step, also between kept frames


def load_for_sampling(path: str | Path, device: str = "auto", *, prefer_ema: bool = True, **options) -> "LoadedModel":
    """The model ``path`` names ('demo', a run folder, a step folder, a .safetensors file, a diffusers folder or
    Hub id … — see :mod:`core.model_sources`) on ``device``; the EMA weights when it has them, unless
    ``prefer_ema=False``. ``options`` go to the source that opens it (``allow_pickle``, ``dtype``, ``download`` …).

    Pixel-space models only: the chains here show samples as pixels, and a latent (text-to-image) model's
    samples need its prompt and its VAE (core.text_to_image), so one is refused with where to open it."""
    from .model_sources import open_model

    loaded = open_model(path, device, prefer_ema=prefer_ema, **options)
    if loaded.decode is not None:
        raise InputError(f"{path} is a text-to-image (latent) model: open it in the Text to image tab or with "
                         f"`diffusion-studio generate`")
    return loaded


def _leave_a_core_for_the_gui() -> None:
    import torch

    from .device import cpu_threads_leaving_one_core

    threads = cpu_threads_leaving_one_core()
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)


def sample_chains(
    model: "str | Path | LoadedModel",
    requests: list[ChainRequest],
    should_stop: Callable[[], bool],
    *,
    device: str = "auto",
    min_interval_s: float = MIN_INTERVAL_S,
    model_options: dict[str, Any] | None = None,
) -> Iterator[ModelReady | ChainStarted | FrameBatch]:
    """Load ``model`` (a path, with ``model_options`` for its source) unless it is already loaded, then run each
    request's chain in turn."""
    from .chain import ChainProgress, chain_timesteps, run_chain, stride_for_budget

    _leave_a_core_for_the_gui()
    if isinstance(model, (str, Path)):
        loaded = load_for_sampling(model, device, **(model_options or {}))
    else:
        loaded = model
    torch_device = next(loaded.model.parameters()).device
    yield ModelReady(loaded, str(torch_device))
    for index, request in enumerate(requests):
        if should_stop():
            return
        settings = request.settings
        sampler = sampler_for(loaded, settings)
        kwargs: dict[str, Any] = {}
        if request.start_image is not None:
            # SDEdit: the chain noises x0 to its first timestep ≤ start_t (q_sample, Ho et al. eq. 4).
            kwargs["start_image"] = prepare_start_image(request.start_image, loaded.image_size, loaded.channels)
            kwargs["start_t"] = int(request.start_t)
        timesteps = [int(t) for t in chain_timesteps(sampler, kwargs.get("start_t"))]
        stride = stride_for_budget(len(timesteps), settings.batch_size, loaded.image_size, loaded.channels)
        yield ChainStarted(index, request.label, settings, tuple(timesteps), stride,
                           np.asarray(loaded.schedule.alphas_cumprod))
        pending = FrameBatch(index)
        last_sent = time.monotonic()
        chain = run_chain(loaded.model, sampler, num_samples=settings.batch_size, seed=settings.seed,
                          image_size=loaded.image_size, channels=loaded.channels, device=torch_device,
                          stride=stride, should_stop=should_stop, progress=True, **kwargs)
        # run_chain yields from inside torch.inference_mode(), a per-thread switch: the chain must end
        # (or be closed) in this thread, or a pooled thread stays in inference mode for its next job
        # (a training run would then fail with "does not require grad").
        try:
            for item in chain:
                if isinstance(item, ChainProgress):
                    pending.steps_done = item.step
                else:
                    pending.frames.append(item)
                    pending.steps_done = len(timesteps) if item.is_final else item.index + 1
                now = time.monotonic()
                final = not isinstance(item, ChainProgress) and item.is_final
                if final or now - last_sent >= min_interval_s:
                    pending.done = final
                    yield pending
                    pending, last_sent = FrameBatch(index, steps_done=pending.steps_done), now
        finally:
            chain.close()
        if pending.frames:
            yield pending
        if should_stop():
            return


# ---------------------------------------------------------------------------- how long a chain takes

#: A model that samples images this large, or whose step for one sample takes this long here, is "big":
#: the Sample panel says how long a chain will take before it starts and proposes a few samples with
#: DPM-Solver++ 20 (a 256² model takes one to several seconds per sample and step on a CPU).
BIG_MODEL_IMAGE_SIZE = 128
BIG_MODEL_STEP_SECONDS = 0.25
BIG_MODEL_BATCH = 4
BIG_MODEL_SETTINGS = {"sampler": "dpm_solver", "steps": 20}


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class StepTime:
    """Seconds one model call takes for a batch of N: ``fixed + per_sample·N`` (fitted from two batch sizes).

    Small models on a CPU spend most of a call on per-call overhead (a 16² model: 21 ms for one sample, 45 ms
    for 16), big ones on the samples (a 256² model: seconds per sample, linear in N).
    """

    fixed: float
    per_sample: float

    def for_batch(self, batch_size: int) -> float:
        return self.fixed + self.per_sample * int(batch_size)


def _time_calls(loaded: "LoadedModel", batch_size: int, max_calls: int, budget_s: float) -> float | None:
    """The fastest of up to ``max_calls`` calls (the first warms caches up and is used alone only if ≥ 1 s)."""
    import torch

    device = loaded.device
    x = torch.zeros((batch_size, loaded.channels, loaded.image_size, loaded.image_size), device=device)
    t = torch.full((batch_size,), loaded.schedule.num_timesteps // 2, dtype=torch.long, device=device)
    times: list[float] = []
    with torch.inference_mode():
        for _ in range(max(2, int(max_calls))):
            start = time.perf_counter()
            try:
                loaded.model(x, t)
            except InputError:
                return None
            _synchronize(device)
            times.append(time.perf_counter() - start)
            if times[0] >= 1.0 or (len(times) >= 2 and sum(times) >= budget_s):
                break
    return min(times[1:] or times)


def time_model_step(loaded: "LoadedModel", *, max_calls: int = 3, budget_s: float = 0.3) -> StepTime | None:
    """How long a model call takes on the model's device, for any batch size (see :class:`StepTime`).

    Timed at batch 1, and at batch 4 unless one sample already takes :data:`BIG_MODEL_STEP_SECONDS` (then
    the cost is the samples', linear in the batch). None if the model cannot be called without a condition
    (a class-conditional model with no "no class" label).
    """
    one = _time_calls(loaded, 1, max_calls, budget_s)
    if one is None:
        return None
    if one >= BIG_MODEL_STEP_SECONDS:
        return StepTime(0.0, one)
    four = _time_calls(loaded, 4, max_calls, budget_s)
    per_sample = max(0.0, ((four or one * 4) - one) / 3)
    return StepTime(max(0.0, one - per_sample), per_sample)


def estimate_chain_seconds(loaded: "LoadedModel", settings: SamplerSettings, step_time: StepTime) -> float:
    """The time a chain with ``settings`` takes: its model calls at its batch size."""
    return sampler_for(loaded, settings).num_steps * step_time.for_batch(settings.batch_size)


def is_big_model(loaded: "LoadedModel", step_time: StepTime | None) -> bool:
    slow = step_time is not None and step_time.for_batch(1) >= BIG_MODEL_STEP_SECONDS
    return loaded.image_size >= BIG_MODEL_IMAGE_SIZE or slow


def settings_for_big_model(settings: SamplerSettings) -> SamplerSettings:
    """A few samples with DPM-Solver++ 20 (close to DDIM 50's images in 2.5× fewer steps): a chain of a 256²
    model in a minute or two on a laptop's CPU."""
    return settings.with_(**BIG_MODEL_SETTINGS, batch_size=min(settings.batch_size, BIG_MODEL_BATCH))


# ---------------------------------------------------------------------------- many samples, in chunks

#: What one chunk's activations may add up to (the sum of every layer's output for the chunk, an
#: upper bound of the live peak). ``sample --num 200`` at 64 px took 2.7 GB as one batch.
ACTIVATION_BUDGET_BYTES = 1 << 30


def activation_bytes_per_sample(model: Callable, shape: tuple[int, int, int], device: Any) -> int:
    """An upper bound of one sample's activations in ``model``: every leaf module's output, summed.

    Measured by one forward pass at batch 1 (no gradients), so it holds for any network.
    """
    import torch

    total = 0

    def count(_module, _inputs, output) -> None:
        nonlocal total
        for tensor in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())] if hasattr(model, "modules") else []
    handles = [leaf.register_forward_hook(count) for leaf in leaves]
    try:
        with torch.inference_mode():
            x = torch.zeros((1, *shape), device=device)
            model(x, torch.zeros((1,), dtype=torch.long, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return max(total, int(np.prod(shape)) * 4)


def chunk_size_for(loaded: "LoadedModel", budget_bytes: int | None = None) -> int:
    """How many samples one chunk holds so its activations stay within ``budget_bytes``.

    Depends only on the model and its sample shape, never on the machine, so the same seed gives
    the same images everywhere.
    """
    budget_bytes = ACTIVATION_BUDGET_BYTES if budget_bytes is None else budget_bytes
    device = next(loaded.model.parameters()).device
    per_sample = activation_bytes_per_sample(loaded.model, (loaded.channels, loaded.image_size, loaded.image_size),
                                             device)
    return int(min(MAX_BATCH, max(1, budget_bytes // per_sample)))


def _merge(chunks: list[list]) -> list:
    """Frames of chunks run one after another → one frame per step holding every sample."""
    from dataclasses import replace

    merged = []
    for frames in zip(*chunks):
        first = frames[0]
        arrays = {name: np.concatenate([getattr(f, name) for f in frames]) for name in ("x_t", "pred_x0", "pred_noise")}
        extras = {name: np.concatenate([f.extras[name] for f in frames]) for name in first.extras}
        for array in (*arrays.values(), *extras.values()):
            array.setflags(write=False)
        merged.append(replace(first, **arrays, extras=extras))
    return merged


def sample_in_chunks(loaded: "LoadedModel", settings: SamplerSettings, num_samples: int, *, stride: int,
                     chunk_size: int | None = None, should_stop: Callable[[], bool] | None = None
                     ) -> Iterator[Any]:
    """``num_samples`` samples from ``loaded``, a chunk at a time: yields ``ChainProgress`` items, and
    last the merged chain frames (a list of ``ChainFrame``, every ``stride``-th step plus the final one).

    Chunk k uses seed ``settings.seed + k``, so a chunk is exactly a ``batch_size = chunk`` chain
    of the Sample panel with that seed; ``--num`` up to one chunk gives the panel's images.
    """
    from .chain import ChainFrame, ChainProgress, run_chain

    if int(num_samples) < 1:
        raise InputError(f"the number of samples must be at least 1, got {num_samples}")
    chunk_size = chunk_size or chunk_size_for(loaded)
    device = next(loaded.model.parameters()).device
    sampler = sampler_for(loaded, settings)
    starts = list(range(0, int(num_samples), chunk_size))
    chunks: list[list] = []
    for k, start in enumerate(starts):
        frames = []
        for item in run_chain(loaded.model, sampler, num_samples=min(chunk_size, num_samples - start),
                              seed=settings.seed + k, image_size=loaded.image_size, channels=loaded.channels,
                              device=device, stride=stride, should_stop=should_stop, progress=True):
            if isinstance(item, ChainFrame):
                frames.append(item)
                done = sampler.num_steps if item.is_final else item.index + 1  # a frame follows its model call
            else:
                done = item.step
            yield ChainProgress(k * sampler.num_steps + done, len(starts) * sampler.num_steps, item.t)
        if not frames or not frames[-1].is_final:
            return  # stopped
        chunks.append(frames)
    yield _merge(chunks)
