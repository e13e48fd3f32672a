"""The run folder's names and the files that need no torch: config.json, step folders, weight headers.

Kept free of torch so that listing runs or reading a config stays cheap for the GUI.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import InputError
from ..paths import resource_path
from ..validation import read_json_object, validated
from .run_config import RunConfigFile

__all__ = [
    "CONFIG_NAME", "WEIGHTS_NAME", "EMA_WEIGHTS_NAME", "TRAIN_STATE_NAME", "METRICS_NAME", "CHECKPOINTS_DIR",
    "SAMPLES_DIR", "SCAN_REPORT_NAME", "DEMO_MODEL_DIR", "PICKLE_HINT", "step_dir_name", "step_of_dir",
    "save_config", "load_config", "list_step_dirs", "looks_like_pickle", "read_weights_step", "is_regular_file",
    "check_run_layout",
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
    if not is_regular_file(path):
        return None  # a FIFO would block the read forever
    try:
        with open(path, "rb") as handle:
            header_len = int.from_bytes(handle.read(8), "little")
            if not 0 < header_len <= 100_000_000:
                return None
            header = json.loads(handle.read(header_len))
        step = int(header.get("__metadata__", {}).get("step"))
    except (OSError, ValueError, TypeError, AttributeError, RecursionError):
        return None
    return step if 0 <= step < 2**62 else None


def load_config(run_dir: str | os.PathLike) -> dict:
    """Read and check ``config.json`` of a run folder (InputError naming the key that cannot be used).

    Size, nesting and NaN limits of :func:`~diffusion_studio.core.validation.read_json_object`,
    then the section types and model size limits of :class:`.run_config.RunConfigFile`.
    """
    folder = Path(run_dir)
    path = folder / CONFIG_NAME
    if not path.exists():
        raise InputError(f"No {CONFIG_NAME} in {folder}; a run folder needs it to describe the model")
    config = read_json_object(path, what=f"{CONFIG_NAME} in {folder}")
    validated(RunConfigFile, config, what=f"{CONFIG_NAME} in {folder}")
    return config


def is_regular_file(path: str | os.PathLike) -> bool:
    """True for a regular file (or a link to one); False for folders, FIFOs, devices, sockets and missing paths."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


_KIND_NAMES = ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"),
               (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"), (stat.S_ISREG, "file"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KIND_NAMES if test(mode)), "special file")


#: what each name of a run folder must be, and what the run keeps there
_LAYOUT = (
    (CONFIG_NAME, "file", "its description"), (WEIGHTS_NAME, "file", "its weights"),
    (EMA_WEIGHTS_NAME, "file", "its EMA weights"), (TRAIN_STATE_NAME, "file", "its training state"),
    (METRICS_NAME, "file", "its metrics"), (SCAN_REPORT_NAME, "file", "its scan report"),
    (CHECKPOINTS_DIR, "folder", "its checkpoints"), (SAMPLES_DIR, "folder", "its sample grids"),
)


def check_run_layout(run_dir: str | os.PathLike) -> None:
    """InputError when a name the run writes to is taken by something of the wrong kind (a file where
    the samples folder goes, a folder or a FIFO named metrics.jsonl …), before training writes there."""
    folder = Path(run_dir)
    for name, expected, what in _LAYOUT:
        try:
            mode = os.stat(folder / name).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InputError(f"cannot use {folder / name}: {exc.strerror or exc}") from None
        found = _kind(mode)
        if found != expected:
            raise InputError(
                f"{folder / name} is a {found}, but a run keeps {what} there in a {expected}; "
                "move it away or choose another --out"
            )
