"""What a Stable-Diffusion-layout pipeline folder holds, checked before anything is loaded (no torch here).

A text-to-image pipeline as diffusers saves it (``StableDiffusionPipeline.save_pretrained``, or a Hub
snapshot of one) is a folder of components::

    model_index.json              {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", ...], ...}
    tokenizer/                    vocab.json + merges.txt (CLIP's BPE) or tokenizer.json
    text_encoder/                 config.json + model.safetensors            (CLIPTextModel)
    unet/                         config.json + diffusion_pytorch_model.safetensors (UNet2DConditionModel)
    vae/                          config.json + diffusion_pytorch_model.safetensors (AutoencoderKL)
    scheduler/scheduler_config.json

:func:`read_layout` reads every config through :func:`core.validation.read_json_object`, checks that the
components fit together (latent channels, the text encoder's width against the U-Net's cross-attention,
sizes within caps so a hostile config cannot ask for terabytes), picks each component's weight file —
safetensors, or a pickle only when the caller allows it — and checks each safetensors header against
the file's size, so a truncated download is named before a library fails on it. Every problem is an
:class:`~core.errors.InputError` that names the folder, the component and what to do.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as validated_dataclass

from ...errors import InputError
from ...validation import read_json_object, validated

__all__ = [
    "COMPONENTS",
    "ComponentFiles",
    "LatentLayout",
    "check_safetensors_file",
    "looks_like_latent_pipeline",
    "read_layout",
]

#: The components a Stable Diffusion pipeline needs, with what each one is, for messages.
COMPONENTS: dict[str, str] = {
    "tokenizer": "the CLIP tokenizer that turns the prompt into tokens",
    "text_encoder": "the CLIPTextModel that turns tokens into the U-Net's conditioning",
    "unet": "the UNet2DConditionModel that denoises latents",
    "vae": "the AutoencoderKL that maps latents to pixels and back",
    "scheduler": "the noise schedule the model was trained with",
}
#: Pipelines of this family that are the same layout (image-to-image shares its weights).
SUPPORTED_PIPELINES = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")
#: Pipelines that look similar but are not this layout, with the reason shown to the user.
REFUSED_PIPELINES: dict[str, str] = {
    "StableDiffusionXLPipeline": "an SDXL model (two text encoders and size conditioning), which is not supported yet",
    "StableDiffusionXLImg2ImgPipeline": "an SDXL model (two text encoders and size conditioning), which is not "
                                        "supported yet",
    "StableDiffusionInpaintPipeline": "an inpainting model (its U-Net also takes a mask), which is not supported",
    "StableDiffusionUpscalePipeline": "an upscaler (its U-Net also takes a low-resolution image), which is not "
                                      "supported",
    "LatentConsistencyModelPipeline": "a latent consistency model (guidance is built into its U-Net), which is not "
                                      "supported",
    "StableDiffusion3Pipeline": "a Stable Diffusion 3 model (a transformer, not a U-Net), which is not supported",
    "FluxPipeline": "a Flux model (a transformer, not a U-Net), which is not supported",
    "DDPMPipeline": "a pixel-space model: open it in the Sample panel or with `diffusion-studio sample`",
    "DDIMPipeline": "a pixel-space model: open it in the Sample panel or with `diffusion-studio sample`",
}

_PICKLE_HINT = ("Diffusion Studio loads .safetensors weights, because a pickle can run any code when it is opened; "
                "convert it with diffusers (from_pretrained, then save_pretrained(…, safe_serialization=True)) or, "
                "if you trust the file, allow pickled weights (--allow-pickle)")
_MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on the JSON header

# ---------------------------------------------------------------------------- component configs
# Only what we read is declared; the rest of diffusers' many keys pass through (extra="ignore").
# Caps refuse absurd sizes before any allocation (SD 1.x: 320…1280 channels, 2 layers per block).

_CONFIG = ConfigDict(extra="ignore", allow_inf_nan=False)
_Width = Annotated[int, Field(ge=1, le=8192)]
_Small = Annotated[int, Field(ge=1, le=64)]


@validated_dataclass(frozen=True, config=_CONFIG)
class UNetConfigSummary:
    in_channels: Annotated[int, Field(ge=1, le=64)] = 4
    out_channels: Annotated[int, Field(ge=1, le=64)] = 4
    sample_size: Annotated[int, Field(ge=1, le=1024)] = 64
    block_out_channels: Annotated[tuple[_Width, ...], Field(min_length=1, max_length=8)] = (320, 640, 1280, 1280)
    layers_per_block: Union[_Small, tuple[_Small, ...]] = 2
    cross_attention_dim: Union[_Width, tuple[_Width, ...]] = 1280
    addition_embed_type: str | None = None
    time_cond_proj_dim: int | None = None
    class_embed_type: str | None = None


@validated_dataclass(frozen=True, config=_CONFIG)
class VAEConfigSummary:
    in_channels: Annotated[int, Field(ge=1, le=4)] = 3
    out_channels: Annotated[int, Field(ge=1, le=4)] = 3
    latent_channels: Annotated[int, Field(ge=1, le=64)] = 4
    block_out_channels: Annotated[tuple[_Width, ...], Field(min_length=1, max_length=8)] = (64,)
    scaling_factor: Annotated[float, Field(gt=0, le=1000)] = 0.18215
    shift_factor: Annotated[float, Field(ge=-1000, le=1000)] | None = None


@validated_dataclass(frozen=True, config=_CONFIG)
class TextEncoderConfigSummary:
    hidden_size: _Width = 512
    num_hidden_layers: Annotated[int, Field(ge=1, le=128)] = 12
    max_position_embeddings: Annotated[int, Field(ge=2, le=4096)] = 77
    vocab_size: Annotated[int, Field(ge=2, le=2_000_000)] = 49408
    model_type: str = "clip_text_model"


# ---------------------------------------------------------------------------- files


@dataclass(frozen=True)
class ComponentFiles:
    """One component's folder and, for the networks, the weight file chosen to load."""

    name: str
    folder: Path
    weights: Path | None = None  # a .safetensors file, a sharded index, or (when allowed) a pickle
    variant: str | None = None  # "fp16" when only the half-precision copy is there
    pickled: bool = False


#: Weight files each kind of component may have, most preferred first: (file name, variant, pickled).
_DIFFUSERS_WEIGHTS = (
    ("diffusion_pytorch_model.safetensors", None, False),
    ("diffusion_pytorch_model.safetensors.index.json", None, False),
    ("diffusion_pytorch_model.fp16.safetensors", "fp16", False),
    ("diffusion_pytorch_model.safetensors.index.fp16.json", "fp16", False),
    ("diffusion_pytorch_model.bin", None, True),
    ("diffusion_pytorch_model.bin.index.json", None, True),
    ("diffusion_pytorch_model.fp16.bin", "fp16", True),
)
_TRANSFORMERS_WEIGHTS = (
    ("model.safetensors", None, False),
    ("model.safetensors.index.json", None, False),
    ("model.fp16.safetensors", "fp16", False),
    ("model.safetensors.index.fp16.json", "fp16", False),
    ("pytorch_model.bin", None, True),
    ("pytorch_model.bin.index.json", None, True),
    ("pytorch_model.fp16.bin", "fp16", True),
)


def check_safetensors_file(path: Path, what: str) -> None:
    """InputError unless ``path`` is a whole safetensors file: an 8-byte header length, a JSON header
    whose tensors' byte ranges lie inside the file, and exactly as many bytes as the header says."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise InputError(f"{what} is empty or truncated ({size} bytes); download it again")
            (header_length,) = struct.unpack("<Q", prefix)
            if header_length > min(_MAX_HEADER_BYTES, size - 8):
                raise InputError(f"{what} is not a safetensors file, or it is truncated; download it again")
            raw = handle.read(header_length)
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InputError(f"{what} is not a safetensors file (its header is not JSON); download it again") from None
    if not isinstance(header, dict):
        raise InputError(f"{what} is not a safetensors file (its header is not a JSON object)")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(v) is int for v in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise InputError(f"{what} is damaged: tensor {str(name)[:60]!r} has no valid byte range")
        end = max(end, offsets[1])
    expected = 8 + header_length + end
    if size != expected:
        state = "truncated" if size < expected else "longer than its header says"
        raise InputError(f"{what} is {state} ({size:,} bytes, expected {expected:,}); download it again")


def _shards(index_path: Path, what: str) -> list[Path]:
    index = read_json_object(index_path, what=what)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise InputError(f"{what} lists no weight files")
    names = sorted({str(v) for v in weight_map.values()})
    shards = []
    for name in names:
        if Path(name).name != name:
            raise InputError(f"{what} names a weight file outside its folder: {name[:80]!r}")
        shard = index_path.parent / name
        if not shard.is_file():
            raise InputError(f"{what} names {name}, which is missing; download the model again")
        shards.append(shard)
    return shards


def _pick_weights(folder: Path, name: str, candidates, allow_pickle: bool, label: str) -> ComponentFiles:
    present = [(folder / file, variant, pickled) for file, variant, pickled in candidates if (folder / file).is_file()]
    safe = [entry for entry in present if not entry[2]]
    if safe:
        path, variant, _ = safe[0]
        shards = _shards(path, f"{label}/{path.name}") if path.name.endswith(".json") else [path]
        for shard in shards:
            check_safetensors_file(shard, f"{label}/{shard.name}")
        return ComponentFiles(name, folder, path, variant, pickled=False)
    if present:
        path, variant, _ = present[0]
        if not allow_pickle:
            raise InputError(f"{label} has only pickled weights ({path.name}). {_PICKLE_HINT}")
        return ComponentFiles(name, folder, path, variant, pickled=True)
    raise InputError(f"{label} has no weights (expected {candidates[0][0]}); the download may be incomplete")


def _tokenizer_files(folder: Path, label: str) -> ComponentFiles:
    has_bpe = (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    if not (has_bpe or (folder / "tokenizer.json").is_file()):
        raise InputError(f"{label} has neither vocab.json and merges.txt nor tokenizer.json; "
                         f"the download may be incomplete")
    for file in ("vocab.json", "tokenizer.json", "tokenizer_config.json"):
        if (folder / file).is_file():
            read_json_object(folder / file, what=f"{label}/{file}", max_bytes=64 * 2**20)
    return ComponentFiles("tokenizer", folder)


# ---------------------------------------------------------------------------- the layout


@dataclass(frozen=True)
class LatentLayout:
    """A checked Stable-Diffusion-layout folder: its configs (as read), summaries and weight files."""

    folder: Path
    pipeline_class: str
    unet: UNetConfigSummary
    vae: VAEConfigSummary
    text_encoder: TextEncoderConfigSummary
    scheduler_config: dict[str, Any]
    files: dict[str, ComponentFiles] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent pixel along each side: 2^(number of VAE blocks − 1), 8 for Stable Diffusion."""
        return 2 ** (len(self.vae.block_out_channels) - 1)

    @property
    def native_size(self) -> int:
        """The pixel size the U-Net was trained at (512 for SD 1.x, 768 for SD 2.x-v)."""
        return self.unet.sample_size * self.vae_scale_factor

    @property
    def prediction(self) -> str:
        return str(self.scheduler_config.get("prediction_type", "epsilon"))

    @property
    def family(self) -> str:
        """A name people know: SD 1.x-like for a 768-wide CLIP, SD 2.x-like for 1024, else the layout."""
        width = self.text_encoder.hidden_size
        base = {768: "SD 1.x family", 1024: "SD 2.x family"}.get(width, "Stable Diffusion layout")
        return base + (", v-prediction" if self.prediction == "v_prediction" else "")

    @property
    def any_pickled(self) -> bool:
        return any(files.pickled for files in self.files.values())


def _model_index(folder: Path) -> dict[str, Any]:
    path = folder / "model_index.json"
    return read_json_object(path, what=f"{folder}/model_index.json") if path.is_file() else {}


def looks_like_latent_pipeline(folder: str | os.PathLike) -> bool:
    """True for a folder that is (or claims to be) a text-to-image pipeline of the U-Net latent kind:
    its model_index.json names a text encoder or a UNet2DConditionModel, or it has unet/, vae/ and
    text_encoder/ folders. Cheap and never raises: :func:`read_layout` gives the reasons."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return False
        index_path = folder / "model_index.json"
        if index_path.is_file():
            index = _model_index(folder)
            unet = index.get("unet")
            return "text_encoder" in index or (isinstance(unet, list) and "UNet2DConditionModel" in unet)
        return all((folder / name).is_dir() for name in ("unet", "vae", "text_encoder"))
    except (OSError, InputError):
        return False


def _component_config(folder: Path, name: str, file: str) -> dict[str, Any]:
    sub = folder / name
    label = f"{folder.name}/{name}"
    if not sub.is_dir():
        raise InputError(f"{folder} has no {name}/ ({COMPONENTS[name]}); a Stable Diffusion pipeline folder has "
                         f"{', '.join(n + '/' for n in COMPONENTS)}")
    if name == "tokenizer":
        return {}
    config_path = sub / file
    if not config_path.is_file():
        raise InputError(f"{label} has no {file}; the download may be incomplete")
    return read_json_object(config_path, what=f"{label}/{file}")


def _expect_class(config: dict, expected: tuple[str, ...], label: str, key: str = "_class_name") -> None:
    found = config.get(key)
    if isinstance(found, list):  # transformers: "architectures": ["CLIPTextModel"]
        found = found[0] if found else None
    if found is not None and found not in expected:
        raise InputError(f"{label} is a {found}, not a {' or '.join(expected)}; this is not a Stable Diffusion "
                         f"text-to-image pipeline")


def read_layout(folder: str | os.PathLike, *, allow_pickle: bool = False) -> LatentLayout:
    """Check ``folder`` as a Stable Diffusion pipeline and return what it holds (InputError with the reason)."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise InputError(f"{folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; a text-to-image model is a diffusers pipeline folder")
    index = _model_index(folder)
    pipeline_class = str(index.get("_class_name", "StableDiffusionPipeline"))
    if pipeline_class in REFUSED_PIPELINES:
        raise InputError(f"{folder} is {REFUSED_PIPELINES[pipeline_class]}")
    if index and "text_encoder" not in index and "unet" not in index:
        raise InputError(f"{folder} is a {pipeline_class}, not a Stable Diffusion text-to-image pipeline")

    configs = {
        "unet": _component_config(folder, "unet", "config.json"),
        "vae": _component_config(folder, "vae", "config.json"),
        "text_encoder": _component_config(folder, "text_encoder", "config.json"),
        "scheduler": _component_config(folder, "scheduler", "scheduler_config.json"),
        "tokenizer": _component_config(folder, "tokenizer", ""),
    }
    name = folder.name
    _expect_class(configs["unet"], ("UNet2DConditionModel",), f"{name}/unet")
    _expect_class(configs["vae"], ("AutoencoderKL",), f"{name}/vae")
    _expect_class(configs["text_encoder"], ("CLIPTextModel",), f"{name}/text_encoder", key="architectures")
    unet = validated(UNetConfigSummary, configs["unet"], what=f"{name}/unet/config.json")
    vae = validated(VAEConfigSummary, configs["vae"], what=f"{name}/vae/config.json")
    text = validated(TextEncoderConfigSummary, configs["text_encoder"], what=f"{name}/text_encoder/config.json")
    _check_fit(folder, unet, vae, text)

    files = {
        "unet": _pick_weights(folder / "unet", "unet", _DIFFUSERS_WEIGHTS, allow_pickle, f"{name}/unet"),
        "vae": _pick_weights(folder / "vae", "vae", _DIFFUSERS_WEIGHTS, allow_pickle, f"{name}/vae"),
        "text_encoder": _pick_weights(folder / "text_encoder", "text_encoder", _TRANSFORMERS_WEIGHTS, allow_pickle,
                                      f"{name}/text_encoder"),
        "tokenizer": _tokenizer_files(folder / "tokenizer", f"{name}/tokenizer"),
    }
    return LatentLayout(folder, pipeline_class, unet, vae, text, configs["scheduler"], files, configs)


def _check_fit(folder: Path, unet: UNetConfigSummary, vae: VAEConfigSummary, text: TextEncoderConfigSummary) -> None:
    """The components must fit together: these are the mismatches a mixed-up folder has."""
    if unet.in_channels == unet.out_channels + 5:
        raise InputError(f"{folder} is an inpainting model (its U-Net also takes a mask), which is not supported")
    if unet.addition_embed_type is not None:
        raise InputError(f"{folder} has a U-Net with extra conditioning ({unet.addition_embed_type}, as SDXL), "
                         f"which is not supported yet")
    if unet.time_cond_proj_dim is not None:
        raise InputError(f"{folder} is a latent consistency model (guidance is built into its U-Net), "
                         f"which is not supported")
    if unet.class_embed_type is not None:
        raise InputError(f"{folder} has a U-Net with a class embedding ({unet.class_embed_type}), "
                         f"which this text-to-image view does not drive")
    if unet.in_channels != vae.latent_channels or unet.out_channels != unet.in_channels:
        raise InputError(f"{folder}: the U-Net takes {unet.in_channels} channels and gives {unet.out_channels}, "
                         f"but the VAE's latents have {vae.latent_channels}; the components do not belong together")
    cross = unet.cross_attention_dim
    widths = set(cross) if isinstance(cross, tuple) else {cross}
    if widths != {text.hidden_size}:
        raise InputError(f"{folder}: the U-Net attends to {'/'.join(map(str, sorted(widths)))}-wide text features "
                         f"but the text encoder gives {text.hidden_size}; the components do not belong together")
    if vae.in_channels != 3 or vae.out_channels != 3:
        raise InputError(f"{folder}: the VAE maps {vae.in_channels}-channel images, not RGB")
