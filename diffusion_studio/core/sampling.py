"""Sampling a loaded model: the settings, the sampler they build, SDEdit's start image, and chains.

Settings name the class to sample (``class_name``; None: any, the unconditional model) and the guidance
scale s of diffusers' convention (ε̃ = ε̂(∅) + s·(ε̂(c) − ε̂(∅)), Ho & Salimans' w = s − 1); a guided chain
runs the conditional and the unconditional input in one batched pass (:mod:`core.conditioning`) and shows
ε̂(c), ε̂(∅) and what guidance adds in each frame's extras. A guidance sweep (:func:`guidance_sweep_requests`)
runs the same seed and class at several scales in lockstep, so the chains grow together and pair by
timestep; a model trained on the demo digits gets the digits judge's scores of every finished chain.

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

from .chain import DEFAULT_FRAME_BUDGET_BYTES
from .conditioning import describe_guidance, guided_network, is_guided, model_rows_per_sample, resolve_class
from .errors import InputError
from .guidance import MAX_GUIDANCE_SCALE
from .samplers import SAMPLER_ALIASES, SAMPLER_LABELS, SAMPLER_NAMES, make_sampler
from .stopping import StopFlag
from .validation import STRICT, Seed

if TYPE_CHECKING:
    from .loaded_model import LoadedModel
    from .samplers import Sampler
    from .schedules import NoiseSchedule

__all__ = [
    "DEFAULT_STEPS",
    "DEFAULT_SWEEP_SCALES",
    "MIN_INTERVAL_S",
    "ChainRequest",
    "ChainScores",
    "ChainStarted",
    "FrameBatch",
    "ModelReady",
    "guidance_sweep_requests",
    "merge_chains",
    "network_for",
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
#: A guidance sweep's scales s: w = 0 (the conditional model alone), 1, 3 and 7.
DEFAULT_SWEEP_SCALES: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
MAX_SWEEP_CHAINS = 8


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
    full chain. ``eta`` is DDIM's noise (0 deterministic, 1 DDPM-like). ``class_name``: the class of a
    class-conditional model to sample (its name, or its 0-based index as text; None: any class, the
    unconditional model); ``guidance_scale``: diffusers' s = 1 + w (1: no guidance), checked against the
    model by :func:`network_for`.
    """

    sampler: str = "ddim"
    steps: Annotated[int, Field(ge=1, le=100_000)] = 100
    eta: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 0.0
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 16
    seed: Seed = 0
    device: str = "auto"
    class_name: Annotated[str, Field(max_length=200)] | None = None
    guidance_scale: Annotated[float, Field(ge=0, le=MAX_GUIDANCE_SCALE, allow_inf_nan=False)] = 1.0

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
        return f"{sampler_label(self.sampler)}, {self.steps} steps{eta}, {self.describe_condition()}seed {self.seed}"

    def describe_condition(self) -> str:
        """"class 7, s = 4 (w = 3), " — empty when no class is asked for and nothing is guided."""
        if self.class_name is None:
            return "" if self.guidance_scale == 1.0 else f"{describe_guidance(self.guidance_scale)}, "
        guidance = "" if self.guidance_scale == 1.0 else f", {describe_guidance(self.guidance_scale)}"
        return f"class {self.class_name}{guidance}, "


def network_for(loaded: "LoadedModel", settings: SamplerSettings, *, record: bool = False,
                record_unguided: bool = False):
    """(``model(x, t)`` a chain calls, the :class:`~core.guidance.GuidedModel` inside or None) for the class and
    guidance of ``settings``; InputError for a class the model lacks or guidance it cannot do. ``record``: the
    guidance views (see :func:`core.conditioning.guided_network`)."""
    return guided_network(loaded, settings.class_name, settings.guidance_scale, record=record,
                          record_unguided=record_unguided)


def guidance_sweep_requests(settings: SamplerSettings, scales=DEFAULT_SWEEP_SCALES) -> list["ChainRequest"]:
    """The same seed, class and sampler at several guidance scales s: Ho & Salimans' Figure 1, step by step."""
    scales = [float(s) for s in scales]
    if not 2 <= len(scales) <= MAX_SWEEP_CHAINS:
        raise InputError(f"a guidance sweep compares 2 to {MAX_SWEEP_CHAINS} scales, not {len(scales)}")
    if settings.class_name is None:
        raise InputError("a guidance sweep steers towards a class: choose one first")
    return [ChainRequest(describe_guidance(s), settings.with_(guidance_scale=s)) for s in scales]


def sampler_for(loaded: "LoadedModel", settings: SamplerSettings) -> "Sampler":
    """The sampler ``settings`` ask for, on ``loaded``'s schedule, prediction, data range and variance.

    A model may carry per-sampler options from its own scheduler config in
    ``loaded.extra["sampler_options"][name]`` (a diffusers model's timestep spacing, clip range …), so
    that our chains reproduce its pipeline.

    A guided DDIM chain of a pixel model recomputes ε̂ from the clipped x̂0 (diffusers'
    ``use_clipped_model_output``): guidance pushes x̂0 far past [−1, 1] early in the chain, and a step
    that mixes the clipped x̂0 with the unclipped guided ε̂ adds too much of ε̂ at every step — the
    samples fall apart (the demo model at w = 3: 6 % of "7"s read as 7, against 100 % with the clipped
    ε̂; DDPM and DPM-Solver++ step from x̂0 alone and need nothing).
    """
    options = dict(loaded.extra.get("sampler_options") or {})
    if settings.sampler == "ddim" and loaded.clip_sample and is_guided(
            settings.guidance_scale, resolve_class(loaded, settings.class_name)):
        options["ddim"] = {**options.get("ddim", {}), "use_clipped_model_output": True}
    return build_sampler(loaded.schedule, loaded.prediction, settings, clip_sample=loaded.clip_sample,
                         variance=loaded.variance, model_options=options)


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
    #: a learned-variance model: Σ at each step since the last batch (core.learned_variance.VarianceStep)
    variances: list = field(default_factory=list)


@dataclass(frozen=True)
class ChainScores:
    """What the digits judge makes of chain ``chain``'s samples (a model trained on the demo digits).

    ``scores`` is a :class:`~core.digits_judge.SampleScores`: mean confidence (fidelity), the digits it reads,
    the accuracy for the asked class (None: no class asked) and the pixel spread across samples (diversity).
    """

    chain: int
    settings: SamplerSettings
    scores: Any


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


@dataclass
class _PreparedChain:
    """One request ready to run: its sampler, network (guided, recording the variance) and frame stride."""

    index: int
    request: ChainRequest
    sampler: "Sampler"
    network: Callable
    views: Callable | None  # GuidedModel.views when the chain is guided
    recorder: Any  # core.learned_variance.VarianceRecorder for a learned-variance model, else None
    start: dict
    timesteps: tuple[int, ...]
    stride: int

    def started(self, loaded: "LoadedModel") -> ChainStarted:
        return ChainStarted(self.index, self.request.label, self.request.settings, self.timesteps, self.stride,
                            np.asarray(loaded.schedule.alphas_cumprod))

    def run(self, loaded: "LoadedModel", device, should_stop: Callable[[], bool]):
        from .chain import run_chain

        settings = self.request.settings
        return run_chain(self.network, self.sampler, num_samples=settings.batch_size, seed=settings.seed,
                         image_size=loaded.image_size, channels=loaded.channels, device=device, stride=self.stride,
                         should_stop=should_stop, progress=True, extra_views=self.views, **self.start)


def _prepare_chain(loaded: "LoadedModel", index: int, request: ChainRequest, budget_bytes: int,
                   all_views: bool = False) -> _PreparedChain:
    from .chain import chain_timesteps, stride_for_budget
    from .learned_variance import VarianceRecorder

    settings = request.settings
    sampler = sampler_for(loaded, settings)
    network, guided = network_for(loaded, settings, record=True, record_unguided=all_views)
    views = guided.views if guided is not None and guided.record else None
    recorder = None
    if loaded.variance == "learned_range":
        recorder = network = VarianceRecorder(network, sampler)
    start: dict[str, Any] = {}
    if request.start_image is not None:
        # SDEdit: the chain noises x0 to its first timestep ≤ start_t (q_sample, Ho et al. eq. 4).
        start["start_image"] = prepare_start_image(request.start_image, loaded.image_size, loaded.channels)
        start["start_t"] = int(request.start_t)
    timesteps = tuple(int(t) for t in chain_timesteps(sampler, start.get("start_t")))
    stride = stride_for_budget(len(timesteps), settings.batch_size, loaded.image_size, loaded.channels,
                               budget_bytes or DEFAULT_FRAME_BUDGET_BYTES, extra_views=3 if views else 0)
    return _PreparedChain(index, request, sampler, network, views, recorder, start, timesteps, stride)


class _Batcher:
    """Collects one chain's items into :class:`FrameBatch` es, handed over at most every ``min_interval_s``."""

    def __init__(self, chain: _PreparedChain, min_interval_s: float):
        self.chain, self.min_interval_s = chain, min_interval_s
        self.pending = FrameBatch(chain.index)
        self.last_sent = time.monotonic()

    def add(self, item) -> FrameBatch | None:
        """Take one item of ``run_chain``; the batch to hand over when it is due (always with the final frame)."""
        from .chain import ChainProgress

        pending = self.pending
        if isinstance(item, ChainProgress):
            pending.steps_done = item.step
        else:
            pending.frames.append(item)
            pending.steps_done = len(self.chain.timesteps) if item.is_final else item.index + 1
        if self.chain.recorder is not None:
            pending.variances.extend(self.chain.recorder.drain())
        now = time.monotonic()
        final = not isinstance(item, ChainProgress) and item.is_final
        if not (final or now - self.last_sent >= self.min_interval_s):
            return None
        pending.done = final
        self.pending, self.last_sent = FrameBatch(self.chain.index, steps_done=pending.steps_done), now
        return pending

    def rest(self) -> FrameBatch | None:
        return self.pending if self.pending.frames or self.pending.variances else None


def _scores(loaded: "LoadedModel", chain: _PreparedChain, judge, batch: FrameBatch) -> ChainScores | None:
    """The judge's scores of a chain that just finished (its final frame is in ``batch``)."""
    if judge is None or not batch.done:
        return None
    settings = chain.request.settings
    asked = resolve_class(loaded, settings.class_name)
    return ChainScores(chain.index, settings, judge.score(batch.frames[-1].x_t, asked))


def sample_chains(
    model: "str | Path | LoadedModel",
    requests: list[ChainRequest],
    should_stop: Callable[[], bool],
    *,
    device: str = "auto",
    min_interval_s: float = MIN_INTERVAL_S,
    model_options: dict[str, Any] | None = None,
    lockstep: bool = False,
) -> Iterator[ModelReady | ChainStarted | FrameBatch | ChainScores]:
    """Load ``model`` (a path, with ``model_options`` for its source) unless it is already loaded, then run each
    request's chain: in turn, or with ``lockstep`` one step of each in turn (a guidance sweep grows together;
    its chains then share the frame budget). Every request is checked (class, guidance, SDEdit start) before
    the first step. A model trained on the demo digits adds a :class:`ChainScores` after each finished chain.
    """
    from .conditioning import judge_for

    _leave_a_core_for_the_gui()
    if isinstance(model, (str, Path)):
        loaded = load_for_sampling(model, device, **(model_options or {}))
    else:
        loaded = model
    torch_device = next(loaded.model.parameters()).device
    yield ModelReady(loaded, str(torch_device))
    budget = DEFAULT_FRAME_BUDGET_BYTES // len(requests) if lockstep and requests else DEFAULT_FRAME_BUDGET_BYTES
    # A lockstep run (a sweep) shows the guidance views of every chain, the unguided s = 1 one too.
    prepared = [_prepare_chain(loaded, index, request, budget, all_views=lockstep)
                for index, request in enumerate(requests)]
    judge = judge_for(loaded)
    # Out of memory on the GPU is a message (the batch and half of it), not a traceback; the model stays loaded.
    with _out_of_memory_says_so(torch_device, max(r.settings.batch_size for r in requests) if requests else 1,
                                loaded.image_size, "a batch size of"):
        if lockstep:
            yield from _run_in_lockstep(loaded, prepared, torch_device, should_stop, min_interval_s, judge)
        else:
            yield from _run_in_turn(loaded, prepared, torch_device, should_stop, min_interval_s, judge)


def _out_of_memory_says_so(device, batch_size: int, image_size: int, batch_flag: str):
    from .device import out_of_memory_guard

    return out_of_memory_guard(device, batch_size=batch_size, image_size=image_size, batch_flag=batch_flag,
                               resume_hint=False)


def _run_in_turn(loaded, prepared: list[_PreparedChain], torch_device, should_stop, min_interval_s, judge):
    for chain in prepared:
        if should_stop():
            return
        yield chain.started(loaded)
        batcher = _Batcher(chain, min_interval_s)
        items = chain.run(loaded, torch_device, should_stop)
        # run_chain yields from inside torch.inference_mode(), a per-thread switch: the chain must end
        # (or be closed) in this thread, or a pooled thread stays in inference mode for its next job
        # (a training run would then fail with "does not require grad").
        try:
            for item in items:
                batch = batcher.add(item)
                if batch is not None:
                    yield batch
                    scores = _scores(loaded, chain, judge, batch)
                    if scores is not None:
                        yield scores
        finally:
            items.close()
        rest = batcher.rest()
        if rest is not None:
            yield rest
        if should_stop():
            return


def _run_in_lockstep(loaded, prepared: list[_PreparedChain], device, should_stop, min_interval_s, judge):
    import torch

    for chain in prepared:
        yield chain.started(loaded)
    batchers = [_Batcher(chain, min_interval_s) for chain in prepared]
    runs = [chain.run(loaded, device, should_stop) for chain in prepared]
    active = list(range(len(runs)))
    # One inference-mode scope around all chains: each run_chain enters and leaves its own as it is
    # resumed, and interleaved they would otherwise switch it off under each other.
    try:
        with torch.inference_mode():
            while active:
                for i in list(active):
                    item = next(runs[i], None)
                    if item is None:
                        active.remove(i)
                        continue
                    batch = batchers[i].add(item)
                    if batch is not None:
                        yield batch
                        scores = _scores(loaded, prepared[i], judge, batch)
                        if scores is not None:
                            yield scores
    finally:
        for run in runs:
            run.close()
    for batcher in batchers:
        rest = batcher.rest()
        if rest is not None:
            yield rest


def merge_chains(chains: list[list]) -> list:
    """Frames of several chains that visit the same timesteps (chunks of one run, a guidance sweep) → one frame
    per step holding every chain's samples, chain after chain (the export of a sweep: a row per chain)."""
    return _merge(chains)


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
    """The fastest of up to ``max_calls`` calls. The first warms caches up (a cold first call of even a tiny model
    can take seconds while torch sets its kernels up: the demo model's took 6.6 s once, against 5 ms after), so it
    is used alone only when it took ≥ 10 s, where a second call would cost as much again."""
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
            if times[0] >= 10.0 or (len(times) >= 2 and (sum(times[1:]) >= budget_s or times[-1] >= 1.0)):
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
    """The time a chain with ``settings`` takes: its model calls at its batch size (twice the rows when guided)."""
    rows = model_rows_per_sample(settings.guidance_scale, resolve_class(loaded, settings.class_name))
    return sampler_for(loaded, settings).num_steps * step_time.for_batch(settings.batch_size * rows)


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
    """``num_samples`` samples from ``loaded`` (of the class and guidance in ``settings``), a chunk at a time: yields ``ChainProgress`` items, and
    last the merged chain frames (a list of ``ChainFrame``, every ``stride``-th step plus the final one).

    Chunk k uses seed ``settings.seed + k``, so a chunk is exactly a ``batch_size = chunk`` chain
    of the Sample panel with that seed; ``--num`` up to one chunk gives the panel's images.
    """
    from .chain import ChainFrame, ChainProgress, run_chain

    if int(num_samples) < 1:
        raise InputError(f"the number of samples must be at least 1, got {num_samples}")
    network, _guided = network_for(loaded, settings)
    rows = model_rows_per_sample(settings.guidance_scale, resolve_class(loaded, settings.class_name))
    chunk_size = chunk_size or max(1, chunk_size_for(loaded) // rows)  # a guided pass doubles the batch
    device = next(loaded.model.parameters()).device
    sampler = sampler_for(loaded, settings)
    starts = list(range(0, int(num_samples), chunk_size))
    chunks: list[list] = []
    for k, start in enumerate(starts):
        frames = []
        size = min(chunk_size, num_samples - start)
        with _out_of_memory_says_so(device, size, loaded.image_size, "--num"):
            for item in run_chain(network, sampler, num_samples=size,
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
