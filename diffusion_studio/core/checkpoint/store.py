"""Writing checkpoints atomically and reading their files back without unpickling anything."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

from ..atomic import atomic_write_bytes, atomic_write_text
from ..errors import InputError
from ..paths import resource_path

__all__ = [
    "CONFIG_NAME", "WEIGHTS_NAME", "EMA_WEIGHTS_NAME", "TRAIN_STATE_NAME", "METRICS_NAME", "CHECKPOINTS_DIR",
    "SAMPLES_DIR", "SCAN_REPORT_NAME", "DEMO_MODEL_DIR", "save_checkpoint", "save_config", "load_config",
    "list_step_dirs", "step_dir_name", "read_weights", "read_weights_step", "read_train_state", "looks_like_pickle",
    "PICKLE_HINT",
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
    return f"{_STEP_PREFIX}{int(step):06d}"


# -- saving -----------------------------------------------------------------------------------------

def _plain_check(value: Any, where: str) -> None:
    # Only what torch.load(weights_only=True) accepts, so a resume never fails on a type.
    if isinstance(value, (torch.Tensor, bool, int, float, str, type(None), torch.Size)):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"train_state{where} has a key of type {type(key).__name__}")
            _plain_check(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _plain_check(item, f"{where}[{i}]")
        return
    raise TypeError(f"train_state{where} is a {type(value).__name__}; store tensors, dicts, lists and numbers")


def _state_dict_for_file(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Unwrap DDP / torch.compile wrappers; safetensors wants contiguous CPU tensors without shared storage.
    module = getattr(model, "module", model)
    module = getattr(module, "_orig_mod", module)
    return {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in module.state_dict().items()}


def _weights_bytes(model: torch.nn.Module, step: int) -> bytes:
    return safetensors_save(_state_dict_for_file(model), metadata={"step": str(int(step))})


def _train_state_bytes(train_state: dict, step: int) -> bytes:
    state = {**train_state, "step": int(step)}
    _plain_check(state, "")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def save_config(run_dir: str | os.PathLike, config: dict) -> Path:
    path = Path(run_dir) / CONFIG_NAME
    atomic_write_text(path, json.dumps(config, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


def save_checkpoint(
    run_dir: str | os.PathLike,
    *,
    model: torch.nn.Module,
    ema_model: torch.nn.Module | None,
    train_state: dict,
    config: dict,
    step: int,
    keep_last: int | None = 3,
) -> Path:
    """Write a checkpoint for ``step``; return its step folder.

    The step folder is complete before the top-level "latest" files are replaced;
    step folders beyond the newest ``keep_last`` are deleted (None keeps all).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    files = {WEIGHTS_NAME: _weights_bytes(model, step), TRAIN_STATE_NAME: _train_state_bytes(train_state, step)}
    if ema_model is not None:
        files[EMA_WEIGHTS_NAME] = _weights_bytes(ema_model, step)
    save_config(run_dir, config)

    checkpoints = run_dir / CHECKPOINTS_DIR
    checkpoints.mkdir(exist_ok=True)
    final = checkpoints / step_dir_name(step)
    staging = checkpoints / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name, data in files.items():
        atomic_write_bytes(staging / name, data)
    if final.exists():  # saving the same step again: move the old one aside first
        old = checkpoints / f".{final.name}.{os.getpid()}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)

    # Train state last: while it still names the previous step, a loader sees the top level as torn.
    for name in (WEIGHTS_NAME, EMA_WEIGHTS_NAME, TRAIN_STATE_NAME):
        if name in files:
            atomic_write_bytes(run_dir / name, files[name])
    if keep_last is not None:
        for old_dir in list_step_dirs(run_dir)[: -max(1, int(keep_last))]:
            shutil.rmtree(old_dir, ignore_errors=True)
    return final


def list_step_dirs(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoint step folders of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        digits = child.name[len(_STEP_PREFIX):]
        if child.name.startswith(_STEP_PREFIX) and digits.isdigit() and child.is_dir():
            found.append((int(digits), child))
    return [path for _step, path in sorted(found)]


# -- reading files --------------------------------------------------------------------------------

def looks_like_pickle(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    return head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], int | None]:
    """Load a safetensors file: (state dict, step from its metadata)."""
    if not path.is_file():
        raise InputError(f"The weights file {path} is missing")
    if looks_like_pickle(path):
        raise InputError(f"{path.name} {PICKLE_HINT}")
    try:
        data = path.read_bytes()
        state = safetensors_load(data)
        step = read_weights_step(path)
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except (SafetensorError, ValueError, RuntimeError, KeyError) as exc:
        raise InputError(f"{path.name} in {path.parent} is not a valid safetensors file (corrupt or truncated)") from exc
    return state, step


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


def read_train_state(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"The training state {path} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - UnpicklingError, RuntimeError (bad zip), EOFError …
        raise InputError(
            f"{path.name} in {path.parent} is damaged or holds more than plain tensors and numbers; "
            "it was not loaded"
        ) from exc
    if not isinstance(state, dict):
        raise InputError(f"{path.name} in {path.parent} does not hold a training state")
    return state


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
