"""The run folder's names and the files that need no torch: config.json, step folders, weight headers.

Kept free of torch so that listing runs or reading a config stays cheap for the GUI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import InputError
from ..paths import resource_path

__all__ = [
    "CONFIG_NAME", "WEIGHTS_NAME", "EMA_WEIGHTS_NAME", "TRAIN_STATE_NAME", "METRICS_NAME", "CHECKPOINTS_DIR",
    "SAMPLES_DIR", "SCAN_REPORT_NAME", "DEMO_MODEL_DIR", "PICKLE_HINT", "step_dir_name", "step_of_dir",
    "save_config", "load_config", "list_step_dirs", "looks_like_pickle", "read_weights_step",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
EMA_WEIGHTS_NAME = "model_ema.safetensors"
TRAIN_STATE_NAME = "train_state.pt"
METRICS_NAME = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
SAMPLES_DIR = "samples"
SCAN_REPORT_NAME = "scan_report.json"
DEMO_MODEL_DIR = resource_path("demo_model")

_STEP_PREFIX = "step_"
PICKLE_HINT = (
    "is a PyTorch pickle file; Diffusion Studio only loads .safetensors weights, "
    "because a pickle file can run any code when it is opened"
)


def step_dir_name(step: int) -> str:
    """``step_000123``: the name of a checkpoint step folder (and of a sample grid, plus ``.png``)."""
    return f"{_STEP_PREFIX}{int(step):06d}"


def step_of_dir(path: str | os.PathLike) -> int | None:
    """The step a ``step_XXXXXX`` folder or file name stands for, or None."""
    stem = Path(path).name.split(".")[0]
    digits = stem[len(_STEP_PREFIX):]
    return int(digits) if stem.startswith(_STEP_PREFIX) and digits.isdigit() else None


def save_config(run_dir: str | os.PathLike, config: dict) -> Path:
    path = Path(run_dir) / CONFIG_NAME
    atomic_write_text(path, json.dumps(config, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


def list_step_dirs(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoint step folders of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        step = step_of_dir(child)
        if step is not None and child.name == step_dir_name(step) and child.is_dir():
            found.append((step, child))
    return [path for _step, path in sorted(found)]


def looks_like_pickle(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    return head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def read_weights_step(path: str | os.PathLike) -> int | None:
    """The "step" in a safetensors file's metadata, read from its header only (None when absent)."""
    try:
        with open(path, "rb") as handle:
            header_len = int.from_bytes(handle.read(8), "little")
            if not 0 < header_len <= 100_000_000:
                return None
            header = json.loads(handle.read(header_len))
        return int(header.get("__metadata__", {}).get("step"))
    except (OSError, ValueError, TypeError, AttributeError, json.JSONDecodeError):
        return None


def load_config(run_dir: str | os.PathLike) -> dict:
    """Read and check ``config.json`` of a run folder (InputError with a clear reason)."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise InputError(f"No {CONFIG_NAME} in {path.parent}; a run folder needs it to describe the model")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{CONFIG_NAME} in {path.parent} is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{CONFIG_NAME} in {path.parent} is not a text file") from exc
    if not isinstance(config, dict):
        raise InputError(f"{CONFIG_NAME} in {path.parent} is not a JSON object")
    for key in ("model", "schedule"):
        if not isinstance(config.get(key), dict):
            raise InputError(f"{CONFIG_NAME} in {path.parent} has no {key!r} section")
    return config
