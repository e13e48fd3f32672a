"""Before the first step: the effective settings (new run, resume or restart), the data, the model, the precision.

Everything here runs before any real work, so every refusal comes before a minute is spent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write_text
from ..checkpoint import CONFIG_NAME, SCAN_REPORT_NAME, Checkpoint, load_checkpoint, remove_samples_after
from ..checkpoint import truncate_metrics
from ..data import (
    DEMO_SOURCE,
    BatchSource,
    ClassLabels,
    choose_batch_source,
    choose_classes,
    demo_dataset_tensor,
    demo_labels,
    scan_folder,
)
from ..device import supports_bf16
from ..errors import InputError
from ..unet import preset_config
from .config import RESUME_OVERRIDABLE, SETTINGS, TrainConfig
from .progress import TrainingError
from .run_folder import RunFolder

__all__ = ["RunPlan", "NoUsableImages", "Dataset", "check_request", "plan_run", "resume_run_folder", "prepare_data",
           "model_config_for", "choose_precision", "run_config"]

_FLAGS = {spec.name: spec.flag for spec in SETTINGS}


class NoUsableImages(TrainingError):
    """Not one image of the folder can be used; the scan report says why for each."""


@dataclass
class RunPlan:
    """What will run: the effective settings, and the checkpoint a resume continues (None for a new run)."""

    config: TrainConfig
    checkpoint: Checkpoint | None
    batch_size_given: bool  # False: a new run left --batch-size at its default (a GPU may choose a larger one)


@dataclass
class Dataset:
    source: BatchSource
    channels: int
    info: dict[str, Any]  # for config.json "dataset"
    summary: str  # one line for the person: "412 usable images, 3 skipped (…)"
    class_names: tuple[str, ...] = ()  # the classes it is labelled with (empty: trains unconditionally)


def check_request(config: TrainConfig) -> None:
    """What can be refused from the settings alone, before the run folder is touched."""
    if not config.out:
        raise TrainingError("choose a run folder to write to (--out RUN_DIR)")
    if config.resume and config.restart:
        raise TrainingError("--resume continues a run and --restart starts it over; choose one")
    if not config.resume:
        _check_data(config)


def _check_data(config: TrainConfig, where: str = "") -> None:
    if config.demo and config.folder:
        raise TrainingError(f"give either an image folder or --demo, not both{where}")
    if not config.demo and not config.folder:
        raise TrainingError(f"give a folder of images to train on, or --demo for the built-in digits{where}")
    if config.folder:
        images = Path(config.folder).expanduser().resolve()
        out = Path(config.out).expanduser().resolve()
        if out == images or images in out.parents:
            raise TrainingError(
                f"the run folder {out} is inside the image folder {images}: its sample grids would be read as "
                "training images next time; choose an --out outside it"
            )


def plan_run(config: TrainConfig, folder: RunFolder) -> RunPlan:
    """The effective settings: as given for a new run; for ``--resume`` the saved ones plus the allowed changes.

    ``config`` passed :func:`check_request`; ``folder`` is open (locked) already; ``--restart`` clears it here.
    """
    if not config.resume:
        if folder.has_run():
            if config.restart:
                folder.start_over()
            elif folder.has_checkpoint():
                raise TrainingError(f"{folder.path} already holds a training run; add --resume to continue it, "
                                    "or choose another --out")
            else:
                raise TrainingError(
                    f"{folder.path} holds a run that stopped before its first checkpoint, so there is nothing to "
                    "resume; start it over with --restart (its metrics and samples are deleted), or choose "
                    "another --out")
        if config.demo:
            config = config.replace(hflip=False)  # a mirrored 2 is not a digit
        return RunPlan(config, None, batch_size_given="batch_size" in config.given)

    if not folder.has_checkpoint():
        if folder.has_run():
            raise TrainingError(f"{folder.path} has no checkpoint yet (the run stopped before its first one), so "
                                "there is nothing to resume; start it over with --restart")
        raise TrainingError(f"{folder.path} holds no training run; nothing to resume")
    checkpoint = load_checkpoint(folder.path)
    where = f"{CONFIG_NAME} in {folder.path}"
    if "train" not in checkpoint.config:
        raise TrainingError(f"{where} has no 'train' section, so the run cannot be continued")
    saved = TrainConfig.from_saved(checkpoint.config["train"], what=f"the 'train' section of {where}")
    merged = _merge_resume(saved, config, folder.path)
    _check_data(merged, f"; the 'train' section of {where} does not say which images the run trained on")
    # The model fixes the channels: a grayscale run stays grayscale even if colour images were added since.
    model = checkpoint.config["model"]
    merged = merged.replace(channels=int(checkpoint.config.get("channels") or model.get("in_channels") or 3))
    if merged.steps <= checkpoint.step:
        raise TrainingError(
            f"the run is already at step {checkpoint.step}; ask for more steps (--steps {checkpoint.step * 2})"
        )
    return RunPlan(merged, checkpoint, batch_size_given=True)


def _merge_resume(saved: TrainConfig, given: TrainConfig, run_dir: Path) -> TrainConfig:
    """The saved settings, changed only where ``given`` sets a field explicitly and a resume may change it."""
    changes: dict[str, Any] = {"out": str(run_dir), "resume": True}
    for name in sorted(given.given - {"out", "resume", "restart"}):
        value, recorded = getattr(given, name), getattr(saved, name)
        if name in RESUME_OVERRIDABLE:
            changes[name] = value
        elif name == "folder" and value and not saved.demo:
            if Path(value).expanduser().resolve() != Path(saved.folder or "").expanduser().resolve():
                changes[name] = value  # the images moved: train on the new place
        elif value != recorded:
            allowed = ", ".join(_FLAGS[n] for n in RESUME_OVERRIDABLE if n != "resume")
            raise TrainingError(
                f"{_FLAGS[name]} {_shown(value)} differs from the run's {_shown(recorded)}; a resume keeps the "
                f"run's model, data and optimiser settings (it may change {allowed})"
            )
    return saved.replace(**changes)


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return "none" if value is None else str(value)


def resume_run_folder(folder: RunFolder, step: int) -> None:
    """Forget what a stopped, killed or failed run logged after the checkpoint it restarts from."""
    if folder.is_main:
        truncate_metrics(folder.path, step)
        remove_samples_after(folder.path, step)


def _classes(config: TrainConfig, found: ClassLabels | None, where: str,
             recorded: tuple[str, ...] | None) -> ClassLabels | None:
    """The classes to train with: as ``config.conditioning`` says for a new run; a resumed run keeps the classes
    it recorded (``recorded``; empty: it trains unconditionally), in their recorded order."""
    if recorded is None:
        return choose_classes(config.conditioning, found, where)
    if not recorded:
        return None
    if found is None:
        raise TrainingError(f"{where} has no class subfolders any more, but the run was trained with the classes "
                            f"{', '.join(recorded[:8])}{' …' if len(recorded) > 8 else ''}; restore them to continue")
    return choose_classes("classes", found.renumbered(recorded, where), where)


def _with_classes(summary: str, classes: ClassLabels | None) -> str:
    return summary if classes is None else f"{summary}; {classes.describe()}"


def prepare_data(config: TrainConfig, device: torch.device, rank: int, world_size: int,
                 write_report: bool, recorded_classes: tuple[str, ...] | None = None) -> Dataset:
    """Scan the folder (or take the demo digits) and build the resumable batch source, labelled when the run
    trains with classes. ``recorded_classes``: a resumed run's class names (see :func:`_classes`)."""
    run_dir = Path(config.out).expanduser()
    common = dict(batch_size=config.batch_size, device=device, seed=config.seed, rank=rank,
                  world_size=world_size, hflip=config.hflip, workers=config.workers)
    if config.demo:
        data = demo_dataset_tensor(config.image_size)
        classes = _classes(config, demo_labels(), "the demo digits", recorded_classes)
        labels = None if classes is None else classes.labels
        source = BatchSource(data, **{**common, "hflip": False}, labels=labels)  # a mirrored 2 is not a digit
        summary = _with_classes(f"{len(data)} built-in handwritten digits, grayscale", classes)
        report = {"root": DEMO_SOURCE, "summary": summary, "channels": 1, "num_usable": len(data),
                  "num_skipped": 0, "usable": [], "skipped": [], "classes": demo_labels().to_dict()}
        if write_report:
            atomic_write_text(run_dir / SCAN_REPORT_NAME, json.dumps(report, indent=1) + "\n")
        info = {"source": DEMO_SOURCE, "num_images": len(data), "summary": summary}
        return Dataset(source, 1, info, summary, () if classes is None else classes.names)

    report = scan_folder(config.folder)
    if not report.usable:
        reasons = "; ".join(f"{Path(e['path']).name}: {e['reason']}" for e in report.skipped[:3])
        if write_report:
            report.save(run_dir / SCAN_REPORT_NAME)
        raise NoUsableImages(
            f"none of the {len(report.skipped)} image files in {report.root} can be used ({reasons}); "
            f"see {run_dir / SCAN_REPORT_NAME}"
        )
    channels = config.channels or report.channels
    classes = _classes(config, report.classes, report.root, recorded_classes)
    source = choose_batch_source(report.usable, image_size=config.image_size, channels=channels,
                                 labels=None if classes is None else classes.labels, **common)
    if source.skipped:  # failed at full decode although the scan passed them
        bad = {e["path"] for e in source.skipped}
        report.usable = [p for p in report.usable if p not in bad]
        report.skipped.extend(source.skipped)
    if write_report:
        report.save(run_dir / SCAN_REPORT_NAME)
    if classes is not None and source.skipped:  # a class may have lost its last image at the full decode
        classes = choose_classes("classes", classes.relabelled(source.labels.numpy()), report.root)
    summary = report.summary()
    if classes is not None:
        summary += f" ({classes.describe(count=False)})"
    elif report.classes is not None and report.classes.complete:
        summary += "; trained without its classes (conditioning none)"
    if report.skipped:
        summary += f"; the skipped files and why are listed in {run_dir / SCAN_REPORT_NAME}"
    info = {"source": report.root, "num_images": len(report.usable), "num_skipped": len(report.skipped),
            "summary": report.summary()}
    if classes is not None:
        info["classes"] = classes.to_dict()
    return Dataset(source, channels, info, summary, () if classes is None else classes.names)


def model_config_for(config: TrainConfig, channels: int, device: torch.device,
                     num_classes: int | None = None) -> dict[str, Any]:
    """The U-Net's config: the preset and the size fields, a class embedding for ``num_classes`` classes (+ the
    null label), and twice the output channels when the variance is learned."""
    preset = config.preset
    if preset == "auto":
        preset = "cpu-tiny" if device.type == "cpu" else "gpu-small"
    return preset_config(
        preset, config.image_size, channels,
        base_channels=config.base_channels, channel_mults=config.channel_mults,
        num_res_blocks=config.num_res_blocks, attention_resolutions=config.attention_resolutions,
        dropout=config.dropout, num_classes=num_classes or None,
        out_channels=2 * channels if config.learned_variance else None,
    )


def choose_precision(requested: str, device: torch.device) -> tuple[str, torch.dtype | None]:
    """("fp32"|"bf16"|"fp16", autocast dtype or None).

    Auto: bf16 on a GPU with bf16 units (compute capability ≥ 8 of *this* GPU), fp16 with a
    gradient scaler on older GPUs, fp32 on the CPU and on Apple's GPU.
    """
    if device.type != "cuda":
        if requested == "fp16":
            raise InputError("fp16 training needs a CUDA GPU; use --precision fp32 (or bf16) on this device")
        requested = "fp32" if requested == "auto" else requested
    elif requested in ("auto", "bf16"):
        bf16_units = supports_bf16(device)
        if requested == "bf16" and not bf16_units:
            major, minor = torch.cuda.get_device_capability(device)
            raise InputError(f"{device} (compute capability {major}.{minor}) has no bfloat16 units, so bf16 would be "
                             "emulated and slow; use --precision fp16 or fp32")
        requested = "bf16" if bf16_units else "fp16"
    return requested, {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[requested]


def run_config(config: TrainConfig, model_config: dict, schedule, channels: int, dataset_info: dict,
               class_names: tuple[str, ...] = ()) -> dict:
    """The run folder's config.json (sections: model, schedule, prediction, train, dataset; ``class_names``
    for a class-conditional run: class i of the model is ``class_names[i]``, and i = K is "no class")."""
    return {
        "version": 1,
        "model": model_config,
        "schedule": schedule.to_config(),
        "prediction": config.prediction,
        "image_size": config.image_size,
        "channels": channels,
        **({"class_names": list(class_names)} if class_names else {}),
        "train": config.to_dict(),
        "dataset": dataset_info,
    }
