"""A run as a diffusers ``DDPMPipeline`` folder (``diffusion-studio export-diffusers``).

Our U-Net is diffusers' ``UNet2DModel`` module for module, so exporting is writing files,
with no diffusers import here (JSON and safetensors only)::

    OUT_DIR/model_index.json                                DDPMPipeline: unet + scheduler
    OUT_DIR/unet/config.json                                UNet2DModel config (UNetConfig.to_diffusers)
    OUT_DIR/unet/diffusion_pytorch_model.safetensors        the run's weights, keys 1:1 (EMA by default)
    OUT_DIR/unet/class_names.json                           class-conditional runs only (below)
    OUT_DIR/scheduler/scheduler_config.json                 DDPMScheduler (schedules.to_diffusers_config)

A class-conditional run of K classes has ``num_class_embeds = K + 1``: ``class_labels = i``
asks for ``class_names[i]``, and ``class_labels = K`` is the null label ("no class"), the
unconditional half of classifier-free guidance. ``class_names.json`` records this.

The folder is built under a temporary name beside OUT_DIR and renamed into place complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes, check_writable_dir
from .checkpoint import EMA_WEIGHTS_NAME, WEIGHTS_NAME, load_model, resolve_model_path
from .errors import InputError
from .schedules import to_diffusers_config
from .unet import UNet, count_parameters

__all__ = ["CLASS_NAMES_FILE", "DIFFUSERS_FORMAT_VERSION", "DiffusersExport", "export_diffusers"]

#: Written beside ``unet/config.json`` for a class-conditional run.
CLASS_NAMES_FILE = "class_names.json"
#: The diffusers version whose folder format this writes (and the tests load it with).
DIFFUSERS_FORMAT_VERSION = "0.42.1"
UNET_WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"


@dataclass(frozen=True)
class DiffusersExport:
    """What :func:`export_diffusers` wrote."""

    path: Path
    weights: Path  # the run's weights file that was exported
    is_ema: bool
    step: int | None
    num_parameters: int
    num_classes: int | None
    variance_type: str


def export_diffusers(run: str | os.PathLike, out_dir: str | os.PathLike, *, use_ema: bool = True) -> DiffusersExport:
    """Write the run (a run folder, step folder or ``.safetensors`` beside its config) as a pipeline folder.

    InputError, with nothing written, when ``run`` is not a usable run (or one of the earlier
    U-Net layout), when ``out_dir`` exists and is not an empty folder, or cannot be written.
    """
    out_dir = Path(out_dir).expanduser()
    _check_destination(out_dir)
    _config_dir, weights = resolve_model_path(run, prefer_ema=use_ema)
    if not use_ema and weights.name == EMA_WEIGHTS_NAME:
        raise InputError(f"{run} has no raw weights ({WEIGHTS_NAME}), only EMA weights; export those without "
                         "--raw-weights")
    loaded = load_model(weights, device="cpu")
    model = loaded.model
    if not isinstance(model, UNet):
        raise InputError(f"{run} does not hold one of our U-Nets; only those export to diffusers")
    unet_config = model.unet_config
    variance = _variance_type(unet_config.in_channels, unet_config.out_channels)

    files: dict[str, bytes] = {
        "model_index.json": _json({
            "_class_name": "DDPMPipeline", "_diffusers_version": DIFFUSERS_FORMAT_VERSION,
            "scheduler": ["diffusers", "DDPMScheduler"], "unet": ["diffusers", "UNet2DModel"],
        }),
        "unet/config.json": _json({
            "_class_name": "UNet2DModel", "_diffusers_version": DIFFUSERS_FORMAT_VERSION, **unet_config.to_diffusers(),
        }),
        f"unet/{UNET_WEIGHTS_NAME}": _weights_bytes(model, loaded.step),
        "scheduler/scheduler_config.json": _json({
            "_class_name": "DDPMScheduler", "_diffusers_version": DIFFUSERS_FORMAT_VERSION,
            **to_diffusers_config(loaded.schedule, prediction=loaded.prediction, clip_sample=True, variance=variance),
        }),
    }
    if unet_config.num_classes is not None:
        files[f"unet/{CLASS_NAMES_FILE}"] = _json(_class_names(loaded.config, unet_config.num_classes))
    _write_folder(out_dir, files)
    return DiffusersExport(out_dir, weights, loaded.is_ema, loaded.step, count_parameters(model),
                           unet_config.num_classes, variance)


def _variance_type(in_channels: int, out_channels: int) -> str:
    if out_channels == in_channels:
        return "fixed_small"  # β̃_t, what our DDPM sampler uses by default
    if out_channels == 2 * in_channels:
        return "learned_range"  # Nichol & Dhariwal 2021: the second half interpolates log β_t … log β̃_t
    raise InputError(f"the model has {out_channels} output channels for {in_channels} input channels; "
                     "a diffusers DDPM pipeline needs the same number, or twice it for a learned variance")


def _class_names(run_config: dict[str, Any], num_classes: int) -> dict[str, Any]:
    names = run_config.get("class_names")
    if not (isinstance(names, list) and len(names) == num_classes and all(isinstance(n, str) for n in names)):
        names = [str(i) for i in range(num_classes)]
    return {
        "class_names": names,
        "null_class": num_classes,
        "num_class_embeds": num_classes + 1,
        "convention": f"class_labels=i asks for class_names[i]; class_labels={num_classes} is 'no class', "
                      "the unconditional model of classifier-free guidance",
    }


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _weights_bytes(model: UNet, step: int | None) -> bytes:
    from safetensors.torch import save

    state = {name: tensor.detach().to("cpu", copy=True).contiguous() for name, tensor in model.state_dict().items()}
    metadata = {"format": "pt"} if step is None else {"format": "pt", "step": str(int(step))}
    return save(state, metadata=metadata)


def _check_destination(out_dir: Path) -> None:
    """Refuse before any work: an existing file, a folder with something in it, a place we cannot write."""
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir():
            raise InputError(f"{out_dir} exists and is not a folder; choose a new folder to export to")
        if any(out_dir.iterdir()):
            raise InputError(f"{out_dir} is not empty; choose a new or empty folder to export to")
    ancestor = out_dir.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    check_writable_dir(ancestor)


def _write_folder(out_dir: Path, files: dict[str, bytes]) -> None:
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise InputError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
    try:
        for name, data in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(staging / name, data)
        if out_dir.is_dir():
            out_dir.rmdir()  # empty (checked before); replaced by the complete folder
        os.replace(staging, out_dir)
    except OSError as exc:
        raise InputError(f"cannot write {out_dir}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
