"""Text to image with our own samplers, frame by frame: one prompt, guidance scales compared, two prompts, SDEdit.

>>> loaded = open_model("path/to/stable-diffusion", "cpu")
>>> settings = GenerationSettings(prompt="a watercolour fox", guidance_scale=7.5, steps=20, width=256, height=256)
>>> for event in generate(loaded, [GenerationRequest("fox", settings)], StopFlag()):
...     ...   # ChainPlanned per chain, a TimeEstimate, then FrameBatch items of core.chain.LatentFrame

The loop is ``StableDiffusionPipeline.__call__`` written with the app's parts: the prompt and the
negative prompt are encoded (:class:`~core.model_sources.latent.text.PromptEncoder`), the starting latents are drawn
from a CPU generator seeded with ``seed`` (the pipeline's latents for ``generator=torch.Generator().
manual_seed(seed)``), and :func:`core.chain.run_chain` runs our DDIM or DPM-Solver++ sampler on the
model's own schedule over :class:`~core.guidance.GuidedModel` (unconditional and conditional in one
batched pass, diffusers' order). With the same components and scheduler settings it gives the
pipeline's images to float32 round-off (``tests/core/test_latent_exact.py``). One difference: at a
guidance scale s ≤ 1 diffusers switches guidance off (the conditional model alone); here the formula
holds for every s, so s = 0 is the unconditional model and s = 1 the conditional one.

Guidance convention (diffusers): ε̃ = ε̂(∅) + s·(ε̂(c) − ε̂(∅)); Ho & Salimans' weight is w = s − 1.

Several requests run **in lockstep** — one step of each chain in turn — so a guidance comparison or two
prompts side by side grow together, frame by frame. Image-to-image is SDEdit in latent space (Meng et al.
2022): the photo is encoded with the VAE, noised to the chain's first timestep with q_sample, and
denoised with the prompt; ``strength`` keeps the last ⌊steps·strength⌋ steps of the chain, as diffusers'
img2img pipeline does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Callable, Iterator, Sequence

import numpy as np
from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass as validated_dataclass

from ..errors import InputError
from ..guidance import MAX_GUIDANCE_SCALE, guidance_weight
from ..sampling import MIN_INTERVAL_S, FrameBatch, SamplerSettings, sampler_label
from ..samplers import SAMPLER_ALIASES
from ..validation import STRICT, Seed

if TYPE_CHECKING:
    import torch

    from ..loaded_model import LoadedModel
    from ..samplers import Sampler

__all__ = [
    "ChainPlanned",
    "DEFAULT_GUIDANCE_SCALES",
    "GENERATION_SAMPLERS",
    "GenerationRequest",
    "GenerationSettings",
    "TimeEstimate",
    "compare_guidance_requests",
    "compare_prompt_requests",
    "fit_image",
    "generate",
    "latent_size",
    "sdedit_start_t",
    "suggested_settings",
]

#: Our samplers for text-to-image: deterministic DDIM and DPM-Solver++ (2M), the ones SD is used with.
GENERATION_SAMPLERS: tuple[str, ...] = ("ddim", "dpm_solver")
#: The Diffusion Explainer comparison: no guidance, weak, SD's default, strong.
DEFAULT_GUIDANCE_SCALES: tuple[float, ...] = (1.0, 3.0, 7.5, 12.0)
MAX_PROMPT_CHARS = 10_000
MAX_SIDE = 4096
#: The frames of all chains of one run stay within this (latents are small: 64² × 4 × 4 B = 64 KiB a view).
FRAME_BUDGET_BYTES = 512 * 2**20
_VIEWS_PER_STEP = 6  # x_t, x̂0, ε̂ and the three guidance views


@validated_dataclass(frozen=True, config=STRICT)
class GenerationSettings:
    """One text-to-image run: the same fields in the Text to image panel and ``diffusion-studio generate``.

    ``guidance_scale`` is diffusers' s (1: no guidance). ``width``/``height`` are pixels, multiples of
    the VAE's factor (8 for SD). ``strength`` (0 < strength ≤ 1) applies to image-to-image only.
    """

    prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS)] = ""
    negative_prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS)] = ""
    guidance_scale: Annotated[float, Field(ge=0, le=MAX_GUIDANCE_SCALE, allow_inf_nan=False)] = 7.5
    steps: Annotated[int, Field(ge=1, le=1000)] = 20
    seed: Seed = 0
    sampler: str = "dpm_solver"
    eta: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 0.0
    width: Annotated[int, Field(ge=8, le=MAX_SIDE)] = 512
    height: Annotated[int, Field(ge=8, le=MAX_SIDE)] = 512
    strength: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.6

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, name: str) -> str:
        key = SAMPLER_ALIASES.get(name.strip().lower(), name.strip().lower())
        if key not in GENERATION_SAMPLERS:
            raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(GENERATION_SAMPLERS)}")
        return key

    @property
    def guidance_weight(self) -> float:
        """Ho & Salimans' w = s − 1."""
        return guidance_weight(self.guidance_scale)

    def with_(self, **changes) -> "GenerationSettings":
        return replace(self, **changes)

    def sampler_settings(self) -> SamplerSettings:
        return SamplerSettings(sampler=self.sampler, steps=self.steps, eta=self.eta, batch_size=1, seed=self.seed)

    def describe(self, guidance: bool = True) -> str:
        """One line for people; ``guidance=False`` leaves the scale out (a guidance comparison names its own)."""
        eta = f", η = {self.eta:g}" if self.sampler == "ddim" and self.eta else ""
        scale = f"s = {self.guidance_scale:g} (w = {self.guidance_weight:g}), " if guidance else ""
        return f"{sampler_label(self.sampler)}, {self.steps} steps{eta}, {scale}seed {self.seed}, {self.width}×{self.height}"


def suggested_settings(native_size: int, device_type: str) -> GenerationSettings:
    """Defaults for a model and a device: on a CPU a small image and few steps (a minute, not an hour),
    on an accelerator the model's own size and SD's usual 25 steps."""
    if device_type == "cpu":
        side = min(native_size, 256)
        return GenerationSettings(width=side, height=side, steps=10)
    return GenerationSettings(width=native_size, height=native_size, steps=25)


@dataclass(frozen=True)
class GenerationRequest:
    """One chain to run. ``init_image`` (uint8 (H, W) or (H, W, C)): image-to-image from that photo."""

    label: str
    settings: GenerationSettings
    init_image: np.ndarray | None = None


def compare_guidance_requests(settings: GenerationSettings,
                              scales: Sequence[float] = DEFAULT_GUIDANCE_SCALES) -> list[GenerationRequest]:
    """Same prompt, seed and sampler at several guidance scales (the Diffusion Explainer comparison)."""
    scales = [float(s) for s in scales]
    if not 1 <= len(scales) <= 8:
        raise InputError(f"compare 1 to 8 guidance scales, not {len(scales)}")
    return [GenerationRequest(f"s = {s:g}  (w = {guidance_weight(s):g})", settings.with_(guidance_scale=s))
            for s in scales]


def compare_prompt_requests(settings: GenerationSettings, prompts: Sequence[str]) -> list[GenerationRequest]:
    """Several prompts from the same seed, guidance and sampler, side by side."""
    if not 1 <= len(prompts) <= 8:
        raise InputError(f"compare 1 to 8 prompts, not {len(prompts)}")
    return [GenerationRequest(_short(prompt) or "(empty prompt)", settings.with_(prompt=prompt)) for prompt in prompts]


def _short(text: str, limit: int = 48) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ChainPlanned:
    """A chain is about to run: what it visits, for the schedule plot and the player."""

    chain: int
    label: str
    settings: GenerationSettings
    timesteps: tuple[int, ...]
    stride: int
    alphas_cumprod: np.ndarray
    latent_shape: tuple[int, int, int]  # (C, h, w)
    notices: tuple[str, ...] = ()  # e.g. a prompt that was truncated
    start_t: int | None = None  # image-to-image: the timestep the photo is noised to
    start_image: np.ndarray | None = None  # image-to-image: the photo as the model sees it (uint8 H, W, 3)


@dataclass(frozen=True)
class TimeEstimate:
    """One model call timed before the chains start (the U-Net at the run's size, guided: batch 2)."""

    seconds_per_step: float
    model_calls: int
    device: str

    @property
    def total_seconds(self) -> float:
        return self.seconds_per_step * self.model_calls

    def describe(self) -> str:
        return (f"about {_duration(self.total_seconds)} ({_duration(self.seconds_per_step)} per step × "
                f"{self.model_calls} steps on {self.device})")


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


# ---------------------------------------------------------------------------- preparing a chain


def latent_size(settings: GenerationSettings, scale_factor: int) -> tuple[int, int]:
    """(h, w) of the latents for ``settings``' pixel size; InputError unless both are multiples of the factor."""
    f = int(scale_factor)
    if settings.width % f or settings.height % f:
        raise InputError(f"width and height must be multiples of {f} for this model (its VAE maps {f}×{f} pixels "
                         f"to one latent pixel), got {settings.width}×{settings.height}")
    return settings.height // f, settings.width // f


def sdedit_start_t(sampler: "Sampler", strength: float) -> int:
    """The timestep image-to-image starts from: the chain keeps its last ⌊steps·strength⌋ steps (diffusers'
    img2img rule), so strength 1 starts from pure noise and strength → 0 from the photo itself."""
    steps = sampler.num_steps
    keep = min(int(steps * float(strength)), steps)
    if keep < 1:
        raise InputError(f"a strength of {strength:g} keeps no step of {steps}; raise the strength or the steps "
                         f"(at least {math.ceil(1 / max(float(strength), 1e-9))} steps)")
    return int(sampler.timesteps[steps - keep])


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A uint8 photo as the model sees it: centre-cropped to the aspect ratio, resized to width × height, RGB."""
    from PIL import Image, ImageOps

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise InputError(f"the photo must be a uint8 image (H, W) or (H, W, C), got {array.dtype} {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    pil = Image.fromarray(array).convert("RGB")
    return np.asarray(ImageOps.fit(pil, (int(width), int(height)), Image.Resampling.LANCZOS))


@dataclass
class _Prepared:
    plan: ChainPlanned
    guided: object
    sampler: "Sampler"
    start: dict


def _prepare(loaded: "LoadedModel", index: int, request: GenerationRequest, encode: Callable,
             num_chains: int) -> _Prepared:
    import torch

    from ..chain import chain_timesteps, stride_for_budget
    from ..guidance import GuidedModel
    from ..images import uint8_to_float
    from ..sampling import sampler_for
    from ..model_sources.latent.parts import latent_parts

    parts = latent_parts(loaded)
    settings = request.settings
    height, width = latent_size(settings, parts.scale_factor)
    device = loaded.device
    condition, unconditional = encode(settings.prompt), encode(settings.negative_prompt)
    guided = GuidedModel(loaded.model, {"encoder_hidden_states": condition.embeddings.to(device)},
                         {"encoder_hidden_states": unconditional.embeddings.to(device)}, settings.guidance_scale,
                         record=True)
    sampler = sampler_for(loaded, settings.sampler_settings())
    start: dict = {}
    start_image = None
    if request.init_image is not None:
        start_image = fit_image(request.init_image, settings.width, settings.height)
        pixels = torch.from_numpy(uint8_to_float(start_image))[None]
        start["start_image"] = parts.autoencoder.encode(pixels)[0]  # (C, h, w): SDEdit's x0, in latent space
        start["start_t"] = sdedit_start_t(sampler, settings.strength)
    timesteps = tuple(int(t) for t in chain_timesteps(sampler, start.get("start_t")))
    stride = stride_for_budget(len(timesteps), 1, (height, width), loaded.channels,
                               FRAME_BUDGET_BYTES // num_chains, extra_views=_VIEWS_PER_STEP - 3, bytes_per_value=4)
    notices = tuple(n for n in (condition.notice("prompt"), unconditional.notice("negative prompt")) if n)
    plan = ChainPlanned(index, request.label, settings, timesteps, stride, np.asarray(loaded.schedule.alphas_cumprod),
                        (loaded.channels, height, width), notices, start.get("start_t"), start_image)
    return _Prepared(plan, guided, sampler, start)


def _time_one_step(prepared: _Prepared, device: "torch.device") -> float:
    import torch

    channels, height, width = prepared.plan.latent_shape
    x = torch.zeros((1, channels, height, width), device=device)
    t = torch.full((1,), prepared.plan.timesteps[0], dtype=torch.long, device=device)
    with torch.inference_mode():
        started = time.perf_counter()
        prepared.guided(x, t)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started


# ---------------------------------------------------------------------------- running


def generate(
    loaded: "LoadedModel",
    requests: Sequence[GenerationRequest],
    should_stop: Callable[[], bool],
    *,
    min_interval_s: float = MIN_INTERVAL_S,
    estimate_time: bool = True,
) -> Iterator[ChainPlanned | TimeEstimate | FrameBatch]:
    """Run ``requests`` on the latent model ``loaded``, in lockstep, and yield what happens.

    First a :class:`ChainPlanned` per request (prompts encoded, sizes checked: an InputError comes before
    any step runs), then with ``estimate_time`` a :class:`TimeEstimate` from one timed model call, then
    :class:`~core.sampling.FrameBatch` es of :class:`~core.chain.LatentFrame` s — for every chain at most
    every ``min_interval_s`` and always with its final frame. ``should_stop()`` is checked before every
    step; a stopped run keeps the frames it yielded (no final frame).
    """
    import torch

    from ..chain import run_chain

    if not requests:
        raise InputError("nothing to generate: no request was given")
    from ..model_sources.latent.parts import latent_parts

    encoded: dict[str, object] = {}
    text = latent_parts(loaded).text

    def encode(prompt: str):
        if prompt not in encoded:
            encoded[prompt] = text.encode(prompt)
        return encoded[prompt]

    prepared = [_prepare(loaded, i, request, encode, len(requests)) for i, request in enumerate(requests)]
    for item in prepared:
        yield item.plan
    device = loaded.device
    if estimate_time and not should_stop():
        calls = sum(len(item.plan.timesteps) for item in prepared)
        yield TimeEstimate(_time_one_step(prepared[0], device), calls, str(device))

    chains = [run_chain(item.guided, item.sampler, num_samples=1, seed=item.plan.settings.seed,
                        image_size=item.plan.latent_shape[1:], channels=item.plan.latent_shape[0], device=device,
                        stride=item.plan.stride, should_stop=should_stop, extra_views=item.guided.views,
                        keep_latents=True, **item.start)
              for item in prepared]
    pending = [FrameBatch(i) for i in range(len(chains))]
    active = list(range(len(chains)))
    last_sent = time.monotonic()
    # One inference-mode scope around all chains: each run_chain enters and leaves its own as it is resumed,
    # and interleaved they would otherwise switch it off under each other.
    try:
        with torch.inference_mode():
            while active:
                for i in list(active):
                    frame = next(chains[i], None)
                    if frame is None:
                        active.remove(i)
                        continue
                    pending[i].frames.append(frame)
                    pending[i].done = frame.is_final
                now = time.monotonic()
                if not active or any(batch.done for batch in pending) or now - last_sent >= min_interval_s:
                    for batch in pending:
                        if batch.frames:
                            yield batch
                    pending, last_sent = [FrameBatch(i) for i in range(len(chains))], now
    finally:
        for chain in chains:
            chain.close()
