"""Text-to-image latent models: a Stable-Diffusion-layout pipeline folder, or a Hub id in the local cache.

>>> loaded = open("path/to/stable-diffusion-v1-5", "cpu")   # or "owner/name" when cached, or "demo"
>>> parts = latent_parts(loaded)                                  # prompt encoder, VAE, preview
>>> loaded.model(x_t, t, encoder_hidden_states=parts.text.encode("a cat").embeddings)

SD 1.x, SD 2.x (ε- and v-prediction) and distilled models of the same layout (e.g. BK-SDM, small-sd)
open here; the folder is checked first (:mod:`.layout`), so a model of another kind, a missing
component, a corrupt file or pickled weights give a reason before anything is loaded. diffusers and
transformers (``pip install "diffusion-studio[latent]"``) are imported only when a model is opened.

Weights load from safetensors. Pickled ``.bin`` weights only with ``allow_pickle=True`` and then only
through the libraries' ``weights_only`` loaders on torch ≥ 2.6 (earlier torch has known bypasses).
Precision: float32 on the CPU; float16 (or bfloat16 where asked) on CUDA and MPS for the U-Net.
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ...errors import InputError
from .layout import LatentLayout, looks_like_latent_pipeline, read_layout

if TYPE_CHECKING:
    import torch

    from ...loaded_model import LoadedModel

__all__ = ["DEMO_SPEC", "INSTALL_HINT", "LATENT_PATTERNS", "PRECISIONS", "can_open", "demo_folder", "download",
           "needs_download", "open", "resolve_folder", "torch_dtype"]

INSTALL_HINT = 'pip install "diffusion-studio[latent]"'
#: What a Hub download of a latent pipeline fetches: configs, tokenizer files and the safetensors weights of the
#: five components — not a repository's single-file checkpoints, safety checker, EMA/fp16 duplicates or pickles.
LATENT_PATTERNS: tuple[str, ...] = (
    "model_index.json",
    "scheduler/*.json",
    "tokenizer/*.json", "tokenizer/*.txt",
    "text_encoder/*.json", "text_encoder/model.safetensors", "text_encoder/model-*.safetensors",
    "unet/*.json", "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model-*.safetensors",
    "vae/*.json", "vae/diffusion_pytorch_model.safetensors",
)
#: What ``generate`` and the Text to image panel call the bundled demo model.
DEMO_SPEC = "demo"
#: "auto": float16 on an accelerator, float32 on the CPU.
PRECISIONS = ("auto", "float32", "float16", "bfloat16")
_PICKLE_SAFE_TORCH = (2, 6)


def demo_folder() -> Path:
    """The bundled demo text-to-image model (``scripts/train_demo_latent_model.py``: coloured digits)."""
    from ...paths import resource_path

    return resource_path("demo_latent")


def resolve_folder(spec: str | Path) -> Path | None:
    """The local folder ``spec`` names: ``demo`` (the bundled demo model), a path, or the cached snapshot
    of a Hub id (None if none of these)."""
    from .. import hub

    if str(spec) == DEMO_SPEC:
        return demo_folder() if demo_folder().is_dir() else None
    if hub.looks_like_hub_id(spec):
        try:
            return hub.cached_snapshot(str(spec), allow_patterns=LATENT_PATTERNS)
        except InputError:  # huggingface_hub is not installed: then nothing is cached either
            return None
    path = Path(spec).expanduser()
    try:
        return path if path.is_dir() else None
    except OSError:  # a name too long for the file system, …: not a folder we can open
        return None


def needs_download(spec: str | Path) -> bool:
    """True for a Hub id that is not (completely) in the local cache."""
    from .. import hub

    return hub.looks_like_hub_id(spec) and resolve_folder(spec) is None


def download(spec: str, *, progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> Path:
    """Fetch the Hub model ``spec`` into the cache (only :data:`LATENT_PATTERNS`); progress in bytes, cancellable.

    InputError when offline, unknown or refused; :class:`~core.model_sources.hub.DownloadCancelled` on a stop.
    """
    from .. import hub

    return hub.download_snapshot(str(spec), allow_patterns=LATENT_PATTERNS, progress=progress,
                                 should_stop=should_stop)


def can_open(spec: str | Path) -> bool:
    if str(spec) == DEMO_SPEC:
        return False  # to open_model, "demo" is the bundled pixel-space model; generate and the panel ask here
    folder = resolve_folder(spec)
    return folder is not None and looks_like_latent_pipeline(folder)


def _require_libraries():
    try:
        import diffusers
        import transformers
    except ImportError:
        raise InputError(f"text-to-image models need diffusers and transformers: {INSTALL_HINT}") from None
    return diffusers, transformers


@contextmanager
def _quiet(diffusers, transformers):
    """The libraries' loading chatter (progress bars, accelerate advice, deprecation notes) off, then back."""
    loggers = (diffusers.utils.logging, transformers.utils.logging)
    levels = [logging.get_verbosity() for logging in loggers]
    bars = transformers.utils.logging.is_progress_bar_enabled()
    for logging in loggers:
        logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for logging, level in zip(loggers, levels):
            logging.set_verbosity(level)
        if bars:
            transformers.utils.logging.enable_progress_bar()


def torch_dtype(device: "torch.device", precision: str = "auto") -> "torch.dtype":
    """The U-Net's dtype for ``precision`` on ``device`` (InputError for a precision the device lacks)."""
    import torch

    key = str(precision).strip().lower()
    if key not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if key == "auto":
        return torch.float32 if device.type == "cpu" else torch.float16
    if key == "float16" and device.type == "cpu":
        raise InputError("float16 is for GPUs; on the CPU use float32 (or bfloat16 on CPUs that have it)")
    if key == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise InputError("this GPU has no bfloat16; use float16")
    return getattr(torch, key)


def _check_pickle_opt_in(layout: LatentLayout) -> None:
    import torch

    version = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
    if layout.any_pickled and version < _PICKLE_SAFE_TORCH:
        raise InputError(f"loading pickled weights needs torch ≥ 2.6 (this is {torch.__version__}, whose weights_only "
                         f"loader has known bypasses); upgrade torch or convert the weights to safetensors")


def _loaded_component(name: str, layout: LatentLayout, load: Callable):
    """``load()`` a component; a library's failure on a damaged or mismatched file becomes one InputError."""
    try:
        return load()
    except (InputError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - any library error on a user's file is a reason to show
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load the {name} of {layout.folder}: {reason}") from None


def _weight_kwargs(layout: LatentLayout, name: str) -> dict:
    files = layout.files[name]
    return {"use_safetensors": not files.pickled, "variant": files.variant}


def _sampler_options(layout: LatentLayout) -> dict[str, dict]:
    """What the model's scheduler config fixes for our samplers, with diffusers' per-scheduler defaults:
    DDIM's last step to ᾱ_0 rather than 1 (``set_alpha_to_one``: false for SD) and the timestep spacing.

    ``steps_offset`` (1 in SD's configs, and StableDiffusionPipeline sets it: with leading spacing DDIM then
    visits 981, 961, … rather than 980, 960, …) is passed on to the samplers, which shift their leading
    timesteps as diffusers does.
    """
    from ...samplers import SAMPLER_OPTIONS, SPACINGS

    config = layout.scheduler_config
    spacing = config.get("timestep_spacing")
    if spacing is not None and spacing not in SPACINGS:
        raise InputError(f"{layout.folder}/scheduler: unknown timestep_spacing {spacing!r}; "
                         f"known: {', '.join(SPACINGS)}")
    options = {
        "ddim": {"set_alpha_to_one": bool(config.get("set_alpha_to_one", True)), "spacing": spacing or "leading"},
        "dpm_solver": {"spacing": spacing or "linspace"},
    }
    offset = config.get("steps_offset")
    for name, chosen in options.items():
        if type(offset) is int and offset > 0 and "steps_offset" in SAMPLER_OPTIONS[name]:
            chosen["steps_offset"] = offset
    return options


def _load_components(layout: LatentLayout, device: "torch.device", dtype: "torch.dtype"):
    """tokenizer, text encoder (CPU, float32), U-Net (``device``, ``dtype``), VAE (CPU, float32), frozen."""
    import torch

    diffusers, transformers = _require_libraries()
    folder = layout.folder

    def tokenizer():
        try:
            return transformers.CLIPTokenizer.from_pretrained(folder / "tokenizer")
        except (OSError, ValueError, TypeError):  # transformers 4: the slow class needs vocab.json + merges.txt
            return transformers.CLIPTokenizerFast.from_pretrained(folder / "tokenizer")

    with _quiet(diffusers, transformers):
        tokenizer_ = _loaded_component("tokenizer", layout, tokenizer)
        text_encoder = _loaded_component("text encoder", layout, lambda: transformers.CLIPTextModel.from_pretrained(
            folder / "text_encoder", **_weight_kwargs(layout, "text_encoder")))
        unet = _loaded_component("U-Net", layout, lambda: diffusers.UNet2DConditionModel.from_pretrained(
            folder / "unet", torch_dtype=dtype, **_weight_kwargs(layout, "unet")))
        vae = _loaded_component("VAE", layout, lambda: diffusers.AutoencoderKL.from_pretrained(
            folder / "vae", torch_dtype=torch.float32, **_weight_kwargs(layout, "vae")))
    for module in (text_encoder, unet, vae):
        module.requires_grad_(False).eval()
    text_encoder.to("cpu", torch.float32)  # transformers 5 loads in the file's dtype
    unet.to(device)
    if len(tokenizer_) > text_encoder.config.vocab_size:
        raise InputError(f"{folder}: the tokenizer knows {len(tokenizer_)} tokens but the text encoder only "
                         f"{text_encoder.config.vocab_size}; the components do not belong together")
    return tokenizer_, text_encoder, unet, vae


def open(spec: str | Path, device: str, *, allow_pickle: bool = False, precision: str = "auto",  # noqa: A001
         prefer_ema: bool = True) -> "LoadedModel":
    """The latent model ``spec`` names on ``device``; InputError with the reason if it cannot be used.

    ``prefer_ema`` is accepted for the source API and ignored: a pipeline folder holds one set of weights.
    """
    from ...device import pick_device
    from ...loaded_model import LoadedModel
    from ...samplers import PREDICTION_TYPES
    from ...schedules import from_diffusers_config
    from .. import hub
    from .parts import ConditionedUNet, LatentAutoencoder, LatentParts
    from .preview import fit_preview
    from .text import PromptEncoder

    folder = resolve_folder(spec)
    if folder is None:
        if str(spec) == DEMO_SPEC:
            raise InputError(f"the bundled demo text-to-image model is missing from this installation ({demo_folder()})")
        if hub.looks_like_hub_id(spec):
            raise InputError(f"{spec} is not in the local Hugging Face cache; download it first (the Text to image "
                             f"panel's Open, or `diffusion-studio generate` when online)")
        raise InputError(f"{spec} does not exist" if not Path(spec).expanduser().exists()
                         else f"{spec} is not a folder; a text-to-image model is a diffusers pipeline folder")
    layout = read_layout(folder, allow_pickle=allow_pickle)
    if layout.any_pickled:
        _check_pickle_opt_in(layout)
    schedule = from_diffusers_config(layout.scheduler_config)
    if layout.prediction not in PREDICTION_TYPES:
        raise InputError(f"{folder}/scheduler: unknown prediction_type {layout.prediction!r}")
    sampler_options = _sampler_options(layout)
    device_ = pick_device(device)
    dtype = torch_dtype(device_, precision)
    started = time.perf_counter()
    tokenizer, text_encoder, unet, vae = _load_components(layout, device_, dtype)
    autoencoder = LatentAutoencoder(vae, scaling_factor=layout.vae.scaling_factor,
                                    shift_factor=layout.vae.shift_factor, device=device_,
                                    offload=device_.type != "cpu")
    preview = _loaded_component("VAE (fitting the preview)", layout,
                                lambda: fit_preview(autoencoder.encode, autoencoder.scale_factor,
                                                    decode=autoencoder.decode))
    counts = {name: sum(p.numel() for p in module.parameters())
              for name, module in (("U-Net", unet), ("text encoder", text_encoder), ("VAE", vae))}
    parts = LatentParts(PromptEncoder(tokenizer, text_encoder), autoencoder, preview, layout.family,
                        layout.native_size, str(dtype).removeprefix("torch."), layout.pipeline_class, counts)
    return LoadedModel(
        model=ConditionedUNet(unet),
        schedule=schedule,
        prediction=layout.prediction,
        image_size=layout.unet.sample_size,
        channels=layout.unet.in_channels,
        step=None,
        config={name: dict(config) for name, config in layout.configs.items()},
        path=folder,
        run_dir=folder,
        clip_sample=bool(layout.scheduler_config.get("clip_sample", False)),
        source="latent",
        decode=autoencoder.decode,
        extra={"latent": parts, "sampler_options": sampler_options, "load_seconds": time.perf_counter() - started,
               "spec": str(spec)},
    )
