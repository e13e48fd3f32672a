"""Setting up a training run: the data, the model, the precision, the run folder's config.

Split from :mod:`training` so the loop there reads as the algorithm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import SCAN_REPORT_NAME, Checkpoint, is_run_dir, load_checkpoint
from .data import DEMO_SOURCE, choose_batch_source, demo_dataset_tensor, scan_folder
from .atomic import atomic_write_text
from .errors import InputError
from .train_config import RESUME_OVERRIDABLE, TrainConfig
from .unet import preset_config

__all__ = ["TrainingError", "Dataset", "resolve_config", "prepare_data", "model_config_for", "choose_precision",
           "run_config"]


class TrainingError(InputError):
    """Training cannot go on; ``str(error)`` tells the person why and what to change."""


@dataclass
class Dataset:
    source: Any  # a core.data.BatchSource
    channels: int
    info: dict[str, Any]  # for config.json "dataset"


def resolve_config(config: TrainConfig) -> tuple[TrainConfig, Checkpoint | None]:
    """The effective config: as given, or for ``--resume`` the saved one with the allowed overrides."""
    run_dir = Path(config.out).expanduser()
    if not config.resume:
        config.validate()
        if config.demo:
            config = config.replace(hflip=False)  # a mirrored 2 is not a digit
        if is_run_dir(run_dir) or (run_dir / "config.json").exists():
            raise TrainingError(
                f"{run_dir} already holds a training run; add --resume to continue it, or choose another --out"
            )
        return config, None
    if not config.out:
        raise InputError("choose the run folder to resume (--out RUN_DIR)")
    checkpoint = load_checkpoint(run_dir)
    saved = TrainConfig.from_dict(checkpoint.config.get("train", {}))
    merged = saved.replace(out=str(run_dir), **{k: getattr(config, k) for k in RESUME_OVERRIDABLE})
    if config.folder and not saved.demo and Path(config.folder).expanduser().resolve() != Path(saved.folder or "").resolve():
        merged = merged.replace(folder=config.folder)  # the images moved: train on the new place
    # The model fixes the channels: a grayscale run stays grayscale even if colour images were added since.
    merged = merged.replace(channels=int(checkpoint.config.get("channels") or checkpoint.config["model"]["in_channels"]))
    merged.validate()
    if merged.steps <= checkpoint.step:
        raise TrainingError(
            f"the run is already at step {checkpoint.step}; ask for more steps (--steps {checkpoint.step * 2})"
        )
    return merged, checkpoint


def prepare_data(config: TrainConfig, device: torch.device, rank: int, world_size: int,
                 write_report: bool) -> Dataset:
    """Scan the folder (or take the demo digits) and build the resumable batch source."""
    run_dir = Path(config.out)
    common = dict(batch_size=config.batch_size, device=device, seed=config.seed, rank=rank,
                  world_size=world_size, hflip=config.hflip, workers=config.workers)
    if config.demo:
        from .data import BatchSource

        data = demo_dataset_tensor(config.image_size)
        source = BatchSource(data, **{**common, "hflip": False})  # a mirrored 2 is not a digit
        report = {"root": DEMO_SOURCE, "summary": f"{len(data)} built-in handwritten digits, grayscale",
                  "channels": 1, "num_usable": len(data), "num_skipped": 0, "usable": [], "skipped": []}
        if write_report:
            atomic_write_text(run_dir / SCAN_REPORT_NAME, json.dumps(report, indent=1) + "\n")
        return Dataset(source, 1, {"source": DEMO_SOURCE, "num_images": len(data), "summary": report["summary"]})

    report = scan_folder(config.folder)
    if not report.usable:
        reasons = "; ".join(f"{Path(e['path']).name}: {e['reason']}" for e in report.skipped[:3])
        if write_report:
            report.save(run_dir / SCAN_REPORT_NAME)
        raise TrainingError(
            f"none of the {len(report.skipped)} image files in {report.root} can be used ({reasons}); "
            f"see {run_dir / SCAN_REPORT_NAME}"
        )
    channels = config.channels or report.channels
    source = choose_batch_source(report.usable, image_size=config.image_size, channels=channels, **common)
    if source.skipped:  # failed at full decode although the scan passed them
        bad = {e["path"] for e in source.skipped}
        report.usable = [p for p in report.usable if p not in bad]
        report.skipped.extend(source.skipped)
    if write_report:
        report.save(run_dir / SCAN_REPORT_NAME)
    info = {"source": report.root, "num_images": len(report.usable), "num_skipped": len(report.skipped),
            "summary": report.summary()}
    return Dataset(source, channels, info)


def model_config_for(config: TrainConfig, channels: int, device: torch.device) -> dict[str, Any]:
    preset = config.preset
    if preset == "auto":
        preset = "cpu-tiny" if device.type == "cpu" else "gpu-small"
    return preset_config(
        preset, config.image_size, channels,
        base_channels=config.base_channels, channel_mults=config.channel_mults,
        num_res_blocks=config.num_res_blocks, attention_resolutions=config.attention_resolutions,
        dropout=config.dropout,
    )


def choose_precision(requested: str, device: torch.device) -> tuple[str, torch.dtype | None]:
    """("fp32"|"bf16"|"fp16", autocast dtype or None). Auto: bf16 on CUDA where supported, else fp16; fp32 elsewhere."""
    if requested == "auto":
        if device.type == "cuda":
            requested = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            requested = "fp32"
    if requested == "fp16" and device.type != "cuda":
        raise InputError("fp16 training needs a CUDA GPU; use --precision fp32 (or bf16) on this device")
    if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise InputError("this GPU has no bfloat16 support; use --precision fp16 or fp32")
    return requested, {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[requested]


def run_config(config: TrainConfig, model_config: dict, schedule, channels: int, dataset_info: dict) -> dict:
    """The run folder's config.json (format in the interfaces file)."""
    return {
        "version": 1,
        "model": model_config,
        "schedule": schedule.to_config(),
        "prediction": config.prediction,
        "image_size": config.image_size,
        "channels": channels,
        "train": config.to_dict(),
        "dataset": dataset_info,
    }
