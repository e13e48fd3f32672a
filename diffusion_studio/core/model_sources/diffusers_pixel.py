"""Pretrained pixel-space models from diffusers: a ``UNet2DModel`` and its scheduler config.

What opens here::

    PIPELINE/model_index.json              DDPMPipeline, DDIMPipeline … (as save_pretrained writes them)
    PIPELINE/unet/config.json              UNet2DModel config
    PIPELINE/unet/diffusion_pytorch_model.safetensors
    PIPELINE/scheduler/scheduler_config.json

    UNET/config.json + UNET/diffusion_pytorch_model.safetensors  [+ UNET/scheduler_config.json]

    owner/name                             a Hub id in the local Hugging Face cache (downloaded on request)

diffusers builds the network and nothing else: its ``UNet2DModel`` is wrapped (:class:`DiffusersUNet`) so that
``model(x_t, t, class_labels=None)`` returns the output tensor, and the scheduler config becomes our schedule,
prediction type and sampler options (:func:`core.schedules.from_diffusers_config`). Our samplers, chain,
player, compare, SDEdit and export run on it unchanged; the DDPM and DDIM chains give the samples of diffusers'
``DDPMPipeline`` / ``DDIMPipeline`` from the same seed, because :func:`core.chain.run_chain` draws x_T and each
step's noise from one CPU ``torch.Generator`` in the order the pipelines draw them.

Safety: weights are read from safetensors, after their header was checked against the network the config
describes (names and shapes), so a wrong or truncated file is refused before anything is built from it. A folder
with only pickled ``diffusion_pytorch_model.bin`` is refused with how to convert it, unless the caller passes
``allow_pickle=True``; then it is read with torch's ``weights_only`` loader (torch ≥ 2.6) and nothing else.
The config is validated (sizes bounded) and the network first built on the meta device, so an absurd config
costs no memory. diffusers is imported only here, when such a model is opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Union

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError
from ..validation import describe_errors, read_json_object
from . import hub

if TYPE_CHECKING:
    from ..loaded_model import LoadedModel

__all__ = [
    "DTYPES",
    "DiffusersUNet",
    "PixelModelFiles",
    "can_open",
    "download",
    "find_model_files",
    "open",
    "read_scheduler_config",
]

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
SHARD_INDEX_NAME = "diffusion_pytorch_model.safetensors.index.json"
PICKLED_WEIGHTS_NAME = "diffusion_pytorch_model.bin"
CONFIG_NAME = "config.json"
SCHEDULER_CONFIG_NAME = "scheduler_config.json"
PIPELINE_INDEX_NAME = "model_index.json"
CLASS_NAMES_NAME = "class_names.json"  # written by our export-diffusers for class-conditional runs
#: torch's weights_only loader has no known bypass from this version on (CVE-2025-32434 was fixed in 2.6).
MIN_TORCH_FOR_PICKLES = (2, 6)
#: Refused before allocation: more parameters than any pixel-space UNet2DModel published (ddpm-*-256: 114 M).
MAX_PARAMETERS = 2_000_000_000
#: ``dtype`` option → torch dtype name; ``auto`` is the weights' own dtype on a GPU and float32 on the CPU.
DTYPES = ("auto", "float32", "float16", "bfloat16")
PICKLE_ADVICE = (
    "pickled weights can run code when they are loaded, so Diffusion Studio opens safetensors only; convert them "
    "once with diffusers (UNet2DModel.from_pretrained(FOLDER).save_pretrained(FOLDER) writes "
    f"{WEIGHTS_NAME}), or, if you trust where the model comes from, allow pickled weights (--allow-pickle, or the "
    "Sample panel's checkbox): they are then read with torch's weights_only loader"
)
TEXT_TO_IMAGE_ADVICE = ("text-to-image models are opened in the Text to image tab or with "
                        "diffusion-studio generate MODEL \"PROMPT\"")
#: Schedulers whose config is a discrete β schedule over training timesteps (what our samplers run on).
BETA_SCHEDULERS = frozenset({
    "DDPMScheduler", "DDIMScheduler", "PNDMScheduler", "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler",
    "DEISMultistepScheduler", "UniPCMultistepScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
    "HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "LMSDiscreteScheduler",
    "DDPMParallelScheduler", "DDIMParallelScheduler", "DPMSolverSDEScheduler", "SASolverScheduler", "LCMScheduler",
    "TCDScheduler", "DDIMInverseScheduler",
})
#: diffusers' variance types → ours (the _log forms compute the same variance in log space).
VARIANCE_TYPES = {"fixed_small": "fixed_small", "fixed_small_log": "fixed_small", "fixed_large": "fixed_large",
                  "fixed_large_log": "fixed_large", "learned_range": "learned_range"}
#: The attention weights of diffusers' pre-0.12 layout (google/ddpm-* were saved so) → today's names.
_LEGACY_ATTENTION_NAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _require_diffusers():
    try:
        from diffusers import UNet2DModel
    except ImportError:
        raise InputError(f"opening a diffusers model needs the diffusers package: {hub.INSTALL_HINT}") from None
    return UNet2DModel


# ---------------------------------------------------------------------------- the network


class DiffusersUNet(torch.nn.Module):
    """diffusers' ``UNet2DModel`` as our network: ``model(x_t, t, class_labels=None) -> output``.

    The input is cast to the network's dtype (bf16/fp16 on a GPU when asked) and the output back to the
    input's, so samplers always compute in float32. A class-conditional model asked without a class gets
    its null label (our export's "no class"), if it has one.
    """

    def __init__(self, unet, null_class: int | None):
        super().__init__()
        self.unet = unet
        self.null_class = null_class

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        if class_labels is None and self.unet.config.num_class_embeds is not None:
            if self.null_class is None:
                raise InputError(f"this model is class-conditional ({self.unet.config.num_class_embeds} classes) "
                                 "and has no 'no class' label: choose a class to sample")
            class_labels = torch.full((x.shape[0],), self.null_class, dtype=torch.long, device=x.device)
        out = self.unet(x.to(self.unet.dtype), t, class_labels=class_labels, return_dict=False)[0]
        return out.to(x.dtype)


# ---------------------------------------------------------------------------- finding the files


@dataclass(frozen=True)
class PixelModelFiles:
    """Where a pixel model's parts are: the UNet folder, its scheduler config (or None), the pipeline class."""

    root: Path
    unet_dir: Path
    scheduler_config: Path | None
    pipeline: str | None = None
    notes: tuple[str, ...] = field(default=())


def _read_json(path: Path, what: str) -> dict:
    return read_json_object(path, what=what, max_bytes=4 * 2**20)


def _component(index: dict, name: str) -> tuple[str, str] | None:
    entry = index.get(name)
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and all(isinstance(e, (str, type(None))) for e in entry):
        return entry[0], entry[1]
    return None


def find_model_files(folder: str | Path) -> PixelModelFiles:
    """The parts of the pixel model in ``folder`` (a pipeline or a bare UNet2DModel folder); InputError if none."""
    folder = Path(folder).expanduser()
    if folder.is_file():
        folder = folder.parent
    if folder.name == "unet" and (folder.parent / PIPELINE_INDEX_NAME).is_file():
        folder = folder.parent  # the unet/ folder of a pipeline: its scheduler is one folder up
    index_path = folder / PIPELINE_INDEX_NAME
    if index_path.is_file() and not (folder / CONFIG_NAME).is_file():
        index = _read_json(index_path, f"{PIPELINE_INDEX_NAME} in {folder}")
        pipeline = index.get("_class_name")
        pipeline = _shown(pipeline) if isinstance(pipeline, str) else None
        unet = _component(index, "unet")
        if _component(index, "text_encoder") or (unet and unet[1] == "UNet2DConditionModel"):
            raise InputError(f"{folder.name} is a text-to-image pipeline ({pipeline or 'UNet2DConditionModel'}); "
                             f"{TEXT_TO_IMAGE_ADVICE}")
        if _component(index, "vae") or _component(index, "vqvae"):
            raise InputError(f"{folder.name} is a latent-space pipeline ({pipeline}); this opens pixel-space "
                             "UNet2DModel pipelines (DDPMPipeline, DDIMPipeline)")
        if unet is None:
            raise InputError(f"{folder.name} is a diffusers pipeline ({pipeline}) without a unet; this opens "
                             "UNet2DModel pipelines (DDPMPipeline, DDIMPipeline)")
        if unet[1] != "UNet2DModel":
            raise InputError(f"the unet of {folder.name} is a {_shown(str(unet[1]))}, not a UNet2DModel")
        if not (folder / "unet").is_dir():
            raise InputError(f"{folder.name} is a {pipeline} pipeline but has no unet/ folder")
        scheduler = folder / "scheduler" / SCHEDULER_CONFIG_NAME
        return PixelModelFiles(folder, folder / "unet", scheduler if scheduler.is_file() else None, pipeline)
    if (folder / CONFIG_NAME).is_file():
        scheduler = folder / SCHEDULER_CONFIG_NAME
        return PixelModelFiles(folder, folder, scheduler if scheduler.is_file() else None)
    raise InputError(f"{folder} is not a diffusers model folder (no {PIPELINE_INDEX_NAME} and no {CONFIG_NAME})")


def _looks_like_diffusers_folder(folder: Path) -> bool:
    if (folder / PIPELINE_INDEX_NAME).is_file():
        return True
    if any((folder / name).is_file() for name in (WEIGHTS_NAME, SHARD_INDEX_NAME, PICKLED_WEIGHTS_NAME)):
        return True
    try:
        config = _read_json(folder / CONFIG_NAME, CONFIG_NAME)
    except InputError:
        return False
    return "_class_name" in config or "_diffusers_version" in config


def can_open(spec: str | Path) -> bool:
    """A Hub id (``owner/name``, not a local path), or a folder/file laid out as diffusers saves models."""
    if hub.looks_like_hub_id(spec):
        return True
    path = Path(str(spec)).expanduser()
    if path.is_file():
        return path.name.startswith("diffusion_pytorch_model") or (
            path.name in (PIPELINE_INDEX_NAME, CONFIG_NAME) and _looks_like_diffusers_folder(path.parent))
    return path.is_dir() and _looks_like_diffusers_folder(path)


# ---------------------------------------------------------------------------- the UNet config

_Channels = Annotated[int, Field(ge=1, le=8192)]


class _UNetConfig(BaseModel):
    """The size-defining fields of a UNet2DModel config, bounded before diffusers builds anything."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    sample_size: Union[Annotated[int, Field(ge=1, le=4096)],
                       Annotated[list[Annotated[int, Field(ge=1, le=4096)]], Field(min_length=2, max_length=2)]]
    in_channels: Annotated[int, Field(ge=1, le=64)] = 3
    out_channels: Annotated[int, Field(ge=1, le=128)] = 3
    block_out_channels: Annotated[list[_Channels], Field(min_length=1, max_length=8)] = [224, 448, 672, 896]
    layers_per_block: Annotated[int, Field(ge=1, le=16)] = 2
    down_block_types: Annotated[list[str], Field(min_length=1, max_length=8)] | None = None
    up_block_types: Annotated[list[str], Field(min_length=1, max_length=8)] | None = None
    norm_num_groups: Annotated[int, Field(ge=1, le=8192)] = 32
    attention_head_dim: _Channels | None = 8
    time_embedding_dim: _Channels | None = None
    num_class_embeds: Annotated[int, Field(ge=1, le=100_000)] | None = None
    class_embed_type: str | None = None


def read_unet_config(unet_dir: Path) -> dict:
    """``unet_dir/config.json`` checked: a UNet2DModel (with a reason for anything else), sizes in bounds."""
    what = f"{CONFIG_NAME} in {unet_dir}"
    config = _read_json(unet_dir / CONFIG_NAME, what)
    kind = config.get("_class_name", "UNet2DModel")
    if kind == "UNet2DConditionModel":
        raise InputError(f"{unet_dir.name} holds a UNet2DConditionModel, a text-to-image network; "
                         f"{TEXT_TO_IMAGE_ADVICE}")
    if kind != "UNet2DModel":
        raise InputError(f"{what} describes a {_shown(str(kind))}, not a UNet2DModel (a pixel-space diffusion "
                         "network)")
    if "sample_size" not in config or config["sample_size"] is None:
        raise InputError(f"{what} does not say the model's sample_size (its image size)")
    try:
        checked = _UNetConfig.model_validate(config)
    except ValidationError as exc:
        raise InputError(f"{what}: {describe_errors(exc)}") from None
    if isinstance(checked.sample_size, list) and checked.sample_size[0] != checked.sample_size[1]:
        raise InputError(f"{what}: the model samples {checked.sample_size[0]}×{checked.sample_size[1]} images; "
                         "only square models are supported")
    if checked.class_embed_type is not None:
        raise InputError(f"{what}: class embeddings of type {checked.class_embed_type!r} are not supported "
                         "(class-conditional models with num_class_embeds are)")
    return {**config, **checked.model_dump(exclude_unset=True, include=set(_UNetConfig.model_fields))}


def _build_on_meta(config: dict, what: str):
    """The network the config describes, on the meta device (no memory), or an InputError saying why not."""
    unet_class = _require_diffusers()
    public = {k: v for k, v in config.items() if not k.startswith("_")}
    try:
        with torch.device("meta"):
            model = unet_class.from_config(public)
    except Exception as exc:  # noqa: BLE001 - diffusers' constructor trips on a bad config with anything
        # (ValueError, KeyError, even UnboundLocalError for an unknown time_embedding_type); the sizes were
        # bounded above, so whatever it raises means this config cannot be built
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InputError(f"{what} describes a UNet2DModel that diffusers cannot build: {detail}") from None
    params = sum(p.numel() for p in model.parameters())
    if params > MAX_PARAMETERS:
        raise InputError(f"{what} describes a network of {params / 1e9:.1f} billion parameters, more than "
                         f"{MAX_PARAMETERS / 1e9:.0f} billion; it is not a model this app can open")
    return model


# ---------------------------------------------------------------------------- the weights


def _weights_files(unet_dir: Path, allow_pickle: bool) -> tuple[list[Path], bool]:
    """(weights files, pickled?) — safetensors (one file or shards) first; a .bin only when allowed."""
    single = unet_dir / WEIGHTS_NAME
    if single.is_file():
        return [single], False
    index = unet_dir / SHARD_INDEX_NAME
    if index.is_file():
        weight_map = _read_json(index, f"{SHARD_INDEX_NAME} in {unet_dir}").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise InputError(f"{SHARD_INDEX_NAME} in {unet_dir} has no weight_map")
        names = sorted({str(v) for v in weight_map.values()})
        if any("/" in n or "\\" in n or not n.endswith(".safetensors") for n in names):
            raise InputError(f"{SHARD_INDEX_NAME} in {unet_dir} names files outside its folder or not safetensors")
        shards = [unet_dir / n for n in names]
        missing = [s.name for s in shards if not s.is_file()]
        if missing:
            raise InputError(f"{unet_dir} lacks the weight shards {', '.join(missing[:3])}")
        return shards, False
    pickled = unet_dir / PICKLED_WEIGHTS_NAME
    if pickled.is_file():
        if not allow_pickle:
            raise InputError(f"{unet_dir} has only pickled weights ({PICKLED_WEIGHTS_NAME}): {PICKLE_ADVICE}")
        return [pickled], True
    raise InputError(f"{unet_dir} has no weights ({WEIGHTS_NAME} is missing)")


def _header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str], dict[str, str]]:
    """(shapes, dtypes, metadata) from a safetensors header, without reading the tensors."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            shapes, dtypes = {}, {}
            for key in handle.keys():
                tensor = handle.get_slice(key)
                shapes[key], dtypes[key] = tuple(tensor.get_shape()), str(tensor.get_dtype())
            return shapes, dtypes, dict(handle.metadata() or {})
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (SafetensorError, ValueError, RuntimeError, OverflowError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} in {path.parent} is not a valid safetensors file (corrupt or truncated: "
                         f"{str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from None


def _rename_legacy_keys(names, expected: set[str]) -> dict[str, str]:
    """file name → model name, mapping diffusers' old attention names (``query``…) where the model has the new."""
    renamed = {}
    pattern = re.compile(r"^(.*)\.(query|key|value|proj_attn)\.(weight|bias)$")
    for name in names:
        match = pattern.match(name)
        if name not in expected and match:
            new = f"{match[1]}.{_LEGACY_ATTENTION_NAMES[match[2]]}.{match[3]}"
            if new in expected:
                renamed[name] = new
                continue
        renamed[name] = name
    return renamed


def _shown(name: str) -> str:
    """A tensor name for a one-line message: as it is when printable, else repr'd; at most 80 characters."""
    text = name if name.isprintable() else repr(name)
    return text if len(text) <= 80 else text[:77] + "…"


def _check_fits(model, shapes: dict[str, tuple[int, ...]], renamed: dict[str, str], where: str) -> None:
    """Every weight the network needs is there with its shape, and nothing else (before any tensor is read)."""
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {renamed[name]: shape for name, shape in shapes.items()}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(n for n in set(expected) & set(found) if expected[n] != found[n])
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {_shown(missing[0])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {_shown(unexpected[0])})")
    if wrong:
        problems.append(f"{len(wrong)} of another shape (e.g. {_shown(wrong[0])}: {list(found[wrong[0]])} in the file, "
                        f"{list(expected[wrong[0]])} in the network)")
    if problems:
        raise InputError(f"the weights in {where} do not fit the UNet2DModel its {CONFIG_NAME} describes: "
                         + "; ".join(problems))


def _torch_allows_pickles() -> bool:
    version = tuple(int(p) for p in re.findall(r"\d+", torch.__version__)[:2])
    return version >= MIN_TORCH_FOR_PICKLES


def _read_pickled_state(path: Path) -> dict:
    import pickle

    if not _torch_allows_pickles():
        raise InputError(f"pickled weights are only read with torch ≥ {'.'.join(map(str, MIN_TORCH_FOR_PICKLES))}, "
                         f"whose weights_only loader has no known bypass; this is torch {torch.__version__}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, TypeError) as exc:
        raise InputError(f"{path.name} in {path.parent} is damaged or holds more than plain tensors; it was not "
                         f"loaded ({type(exc).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise InputError(f"{path.name} in {path.parent} does not hold a state dict of tensors")
    return state


def _read_state(files: list[Path], pickled: bool, dtype: torch.dtype) -> tuple[dict, dict[str, str]]:
    """The weights as one state dict in ``dtype`` (floating tensors only) and the safetensors metadata."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    metadata: dict[str, str] = {}
    state: dict = {}
    for path in files:
        if pickled:
            part = _read_pickled_state(path)
        else:
            metadata.update(_header(path)[2])
            try:
                part = load_file(str(path), device="cpu")
            except OSError as exc:
                raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
            except (SafetensorError, ValueError, RuntimeError) as exc:
                detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
                raise InputError(f"{path.name} in {path.parent} is not a valid safetensors file ({detail})") from None
        state.update(part)
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, metadata


# ---------------------------------------------------------------------------- the scheduler


@dataclass(frozen=True)
class SchedulerFacts:
    """What a scheduler config says, in our terms."""

    schedule: Any  # core.schedules.NoiseSchedule
    prediction: str
    clip_sample: bool
    variance: str
    sampler_options: dict[str, dict[str, Any]]
    notes: tuple[str, ...]


def read_scheduler_config(config: dict | None, what: str) -> SchedulerFacts:
    """A diffusers scheduler config (None: DDPMScheduler's defaults, with a note) as our schedule and options."""
    from ..schedules import from_diffusers_config

    notes: list[str] = []
    if config is None:
        config = {}
        notes.append("no scheduler config: assumed diffusers' DDPMScheduler defaults (linear β 1e-4 … 0.02, "
                     "T = 1000, ε-prediction)")
    kind = config.get("_class_name")
    if kind is not None and kind not in BETA_SCHEDULERS:
        raise InputError(f"{what} is a {_shown(str(kind))}, not a discrete β-schedule scheduler (DDPM, DDIM, PNDM, "
                         "DPM-Solver …) that our samplers can run")
    try:
        schedule = from_diffusers_config(config)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
    prediction = config.get("prediction_type", "epsilon")
    if prediction not in ("epsilon", "sample", "v_prediction"):
        raise InputError(f"{what}: unknown prediction_type {prediction!r}")
    variance = VARIANCE_TYPES.get(config.get("variance_type") or "fixed_small")
    if variance is None:
        raise InputError(f"{what}: variance_type {config.get('variance_type')!r} is not supported "
                         f"(only {', '.join(VARIANCE_TYPES)})")
    clip_sample = config.get("clip_sample", True)
    if not isinstance(clip_sample, bool):
        raise InputError(f"{what}: clip_sample must be true or false")
    shared: dict[str, Any] = {}
    clip_range = config.get("clip_sample_range", 1.0)
    if not isinstance(clip_range, (int, float)) or isinstance(clip_range, bool) or not 0 < clip_range < 1e6:
        raise InputError(f"{what}: clip_sample_range must be a number > 0")
    if clip_range != 1.0:
        shared["clip_sample_range"] = float(clip_range)
    if config.get("thresholding") is True:
        shared.update(thresholding=True,
                      dynamic_thresholding_ratio=float(config.get("dynamic_thresholding_ratio", 0.995)),
                      sample_max_value=float(config.get("sample_max_value", 1.0)))
    # DDPM and DDIM space their steps as the model's scheduler does, so they reproduce its pipeline.
    spacing = config.get("timestep_spacing", "leading")
    if spacing not in ("leading", "trailing", "linspace"):
        raise InputError(f"{what}: unknown timestep_spacing {spacing!r}")
    ddim = {"spacing": spacing}
    if isinstance(config.get("set_alpha_to_one"), bool):
        ddim["set_alpha_to_one"] = config["set_alpha_to_one"]
    offset = config.get("steps_offset") or 0
    if type(offset) is not int or not 0 <= offset < 1000:
        raise InputError(f"{what}: steps_offset must be a small whole number, got {_shown(str(offset))}")
    if offset:
        shared["steps_offset"] = offset  # leading spacing shifted as diffusers' set_timesteps does
    options = {"ddpm": {**shared, "spacing": spacing}, "ddim": {**shared, **ddim}, "dpm_solver": dict(shared)}
    return SchedulerFacts(schedule, prediction, clip_sample, variance, options, tuple(notes))


# ---------------------------------------------------------------------------- opening


def _target_dtype(weights_dtype: str, device: str, dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    on_cpu = str(device).startswith("cpu")
    if on_cpu:
        if dtype in ("float16", "bfloat16"):
            raise InputError(f"{dtype} runs only on a GPU; on the CPU models run in float32 (choose dtype auto)")
        return torch.float32
    if dtype == "auto":
        return {"F16": torch.float16, "BF16": torch.bfloat16}.get(weights_dtype, torch.float32)
    return getattr(torch, dtype)


def _class_names(unet_dir: Path, num_class_embeds: int | None) -> tuple[tuple[str, ...], int | None]:
    """(class names, null label). Our export writes class_names.json (K names, null label K); others are 0 … K−1."""
    if num_class_embeds is None:
        return (), None
    path = unet_dir / CLASS_NAMES_NAME
    if path.is_file():
        info = _read_json(path, f"{CLASS_NAMES_NAME} in {unet_dir}")
        names, null = info.get("class_names"), info.get("null_class")
        if (isinstance(names, list) and all(isinstance(n, str) for n in names) and null == len(names)
                and num_class_embeds == len(names) + 1):
            return tuple(names), int(null)
    return tuple(str(i) for i in range(num_class_embeds)), None


def download(repo_id: str, *, allow_pickle: bool = False, progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> Path:
    """Fetch what the pixel model ``repo_id`` needs into the Hub cache and return its snapshot folder.

    The configs come first (a few kB), so that what is not a pixel model (a text-to-image pipeline …) is
    refused before any weights are fetched; then only the UNet's safetensors weights (its ``.bin`` too when
    ``allow_pickle``). Offline, cancelled or unknown: InputError (:class:`hub.DownloadCancelled` on cancel).
    """
    configs = hub.download_snapshot(repo_id, allow_patterns=("*.json",), progress=progress, should_stop=should_stop)
    files = find_model_files(configs)
    read_unet_config(files.unet_dir)
    prefix = "" if files.unet_dir == files.root else f"{files.unet_dir.name}/"
    remote = hub.repo_files(repo_id)
    if remote is not None and not allow_pickle and f"{prefix}{PICKLED_WEIGHTS_NAME}" in remote and not any(
            name.startswith(f"{prefix}diffusion_pytorch_model") and name.endswith(".safetensors") for name in remote):
        raise InputError(f"{repo_id} has only pickled weights on the Hub ({prefix}{PICKLED_WEIGHTS_NAME}): "
                         f"{PICKLE_ADVICE}")
    weights = (f"{prefix}{WEIGHTS_NAME}", f"{prefix}diffusion_pytorch_model-*.safetensors")
    if allow_pickle:
        weights += (f"{prefix}{PICKLED_WEIGHTS_NAME}",)
    return hub.download_snapshot(repo_id, allow_patterns=("*.json", *weights), progress=progress,
                                 should_stop=should_stop)


def _resolve(spec: str | Path, *, download_missing: bool, allow_pickle: bool, progress,
             should_stop) -> tuple[Path, str | None]:
    """(local folder, Hub id or None) for what the user named; downloads a Hub id when asked and needed."""
    if not hub.looks_like_hub_id(spec):
        return Path(str(spec)).expanduser(), None
    repo_id = str(spec)
    patterns = hub.SAFE_PATTERNS + ((f"*{PICKLED_WEIGHTS_NAME}",) if allow_pickle else ())
    folder = hub.cached_snapshot(repo_id, allow_patterns=patterns)
    if folder is not None:
        return folder, repo_id
    if not download_missing:
        raise hub.NotCachedError(repo_id)
    return download(repo_id, allow_pickle=allow_pickle, progress=progress, should_stop=should_stop), repo_id


def open(  # noqa: A001 - the source API
    spec: str | Path,
    device: str,
    *,
    download: bool = False,
    allow_pickle: bool = False,
    dtype: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> "LoadedModel":
    """The diffusers pixel model ``spec`` names, on ``device``, as a :class:`LoadedModel`.

    ``download``: fetch a Hub id that is not cached (``progress(done, total)`` bytes, ``should_stop()`` cancels).
    ``allow_pickle``: read a ``.bin`` when there is no safetensors (torch's weights_only loader).
    ``dtype``: ``auto`` (the weights' dtype on a GPU, float32 on the CPU), ``float32``, ``float16``, ``bfloat16``.
    """
    from ..loaded_model import LoadedModel

    folder, repo_id = _resolve(spec, download_missing=download, allow_pickle=allow_pickle, progress=progress,
                               should_stop=should_stop)
    if not folder.exists():
        raise InputError(f"{folder} does not exist")
    files = find_model_files(folder)
    unet_config = read_unet_config(files.unet_dir)
    where = f"{files.unet_dir}"
    model = _build_on_meta(unet_config, f"{CONFIG_NAME} in {where}")
    weights, pickled = _weights_files(files.unet_dir, allow_pickle)
    expected = set(model.state_dict())
    weights_dtype = "F32"
    if not pickled:  # check names and shapes from the headers before reading a single tensor
        shapes: dict[str, tuple[int, ...]] = {}
        for path in weights:
            part, dtypes, _ = _header(path)
            shapes.update(part)
            weights_dtype = next((d for d in dtypes.values() if d in ("F16", "BF16", "F32")), weights_dtype)
        _check_fits(model, shapes, _rename_legacy_keys(shapes, expected), where)
    scheduler_config = None
    if files.scheduler_config is not None:
        scheduler_config = _read_json(files.scheduler_config, f"{files.scheduler_config.name} in "
                                                              f"{files.scheduler_config.parent}")
    facts = read_scheduler_config(scheduler_config, str(files.scheduler_config or "the scheduler config"))
    channels, out_channels = int(unet_config.get("in_channels", 3)), int(unet_config.get("out_channels", 3))
    if facts.variance == "learned_range" and out_channels != 2 * channels:
        raise InputError(f"the scheduler says learned_range variance but the network gives {out_channels} channels "
                         f"for {channels}; it needs {2 * channels}")
    if facts.variance != "learned_range" and out_channels != channels:
        raise InputError(f"the network gives {out_channels} channels for {channels} input channels; a "
                         f"{facts.variance} model needs the same number")
    target = _target_dtype(weights_dtype, device, dtype)

    state, metadata = _read_state(weights, pickled, target)
    renamed = _rename_legacy_keys(state, expected)
    state = {renamed[k]: v for k, v in state.items()}
    if pickled:
        _check_fits(model, {k: tuple(v.shape) for k, v in state.items()}, {k: k for k in state}, where)
    model.load_state_dict(state, strict=True, assign=True)
    model.requires_grad_(False)
    class_names, null_class = _class_names(files.unet_dir, unet_config.get("num_class_embeds"))
    network = DiffusersUNet(model, null_class).to(device).eval()

    sample_size = unet_config["sample_size"]
    image_size = int(sample_size if isinstance(sample_size, int) else sample_size[0])
    step = metadata.get("step")
    notes = list(facts.notes)
    if pickled:
        notes.append(f"weights read from the pickled {PICKLED_WEIGHTS_NAME} (weights_only loader)")
    return LoadedModel(
        network, facts.schedule, facts.prediction, image_size, channels,
        int(step) if isinstance(step, str) and step.isdigit() else None,
        {"unet": unet_config, "scheduler": scheduler_config, "pipeline": files.pipeline},
        weights[0], run_dir=files.root, class_names=class_names, clip_sample=facts.clip_sample,
        variance=facts.variance, source="diffusers",
        extra={"sampler_options": facts.sampler_options, "notes": tuple(notes), "hub_id": repo_id,
               "dtype": str(target).removeprefix("torch."), "null_class": null_class},
    )

