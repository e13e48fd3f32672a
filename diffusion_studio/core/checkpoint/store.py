"""Writing checkpoints atomically, and reading weights and training state back without unpickling."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

from ..atomic import atomic_write_bytes
from ..errors import InputError
from .layout import (
    CHECKPOINTS_DIR,
    EMA_WEIGHTS_NAME,
    PICKLE_HINT,
    TRAIN_STATE_NAME,
    WEIGHTS_NAME,
    check_run_layout,
    is_regular_file,
    list_step_dirs,
    looks_like_pickle,
    read_weights_step,
    save_config,
    step_dir_name,
)

__all__ = ["save_checkpoint", "read_weights", "read_train_state"]


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
    if isinstance(model, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)):
        model = model.module
    module = getattr(model, "_orig_mod", model)
    return {name: tensor.detach().to("cpu", copy=True).contiguous() for name, tensor in module.state_dict().items()}


def _weights_bytes(model: torch.nn.Module, step: int) -> bytes:
    return safetensors_save(_state_dict_for_file(model), metadata={"step": str(int(step))})


def _train_state_bytes(train_state: dict, step: int) -> bytes:
    state = {**train_state, "step": int(step)}
    _plain_check(state, "")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


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
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create the run folder {run_dir}: {exc.strerror or exc}") from exc
    check_run_layout(run_dir)
    files = {WEIGHTS_NAME: _weights_bytes(model, step), TRAIN_STATE_NAME: _train_state_bytes(train_state, step)}
    if ema_model is not None:
        files[EMA_WEIGHTS_NAME] = _weights_bytes(ema_model, step)
    save_config(run_dir, config)

    checkpoints = run_dir / CHECKPOINTS_DIR
    checkpoints.mkdir(exist_ok=True)
    _remove_leftovers(checkpoints)
    final = checkpoints / step_dir_name(step)
    staging = checkpoints / f".{final.name}.{os.getpid()}.tmp"
    try:
        staging.mkdir()
        for name, data in files.items():
            atomic_write_bytes(staging / name, data)
        if final.exists():  # saving the same step again: move the old one aside first
            old = checkpoints / f".{final.name}.{os.getpid()}.old"
            os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    if ema_model is None:  # an EMA file from an earlier step would not match the new weights
        (run_dir / EMA_WEIGHTS_NAME).unlink(missing_ok=True)
    # Train state last: while it still names the previous step, a loader sees the top level as torn.
    for name in (WEIGHTS_NAME, EMA_WEIGHTS_NAME, TRAIN_STATE_NAME):
        if name in files:
            _publish(final / name, run_dir / name, files[name])
    if keep_last is not None:
        for old_dir in list_step_dirs(run_dir)[: -max(1, int(keep_last))]:
            shutil.rmtree(old_dir, ignore_errors=True)
    return final


def _publish(source: Path, target: Path, data: bytes) -> None:
    """Make ``target`` the same file as ``source`` in one atomic step.

    A hard link shares the bytes already written (and fsynced) in the step folder, so a
    checkpoint costs its size once on disk; where links are not supported, write a copy.
    Files are only ever replaced, never changed in place, so sharing them is safe.
    """
    link = target.with_name(f".{target.name}.{os.getpid()}.link")
    try:
        link.unlink(missing_ok=True)
        os.link(source, link)
    except OSError:
        atomic_write_bytes(target, data)
        return
    try:
        os.replace(link, target)
    except BaseException:
        link.unlink(missing_ok=True)
        raise


def _remove_leftovers(checkpoints: Path) -> None:
    # Staging folders of a process that was killed mid-save (".step_000100.1234.tmp").
    for child in checkpoints.iterdir():
        if child.name.startswith(".step_") and child.name.endswith((".tmp", ".old")):
            shutil.rmtree(child, ignore_errors=True)


#: train_state.pt holds the optimiser's moments (2 per weight) and small things: never far larger
#: than the weights. A bigger file is not ours, and loading it could exhaust memory.
_TRAIN_STATE_SLACK = 64 * 2**20


def read_weights(path: Path, max_bytes: int | None = None) -> tuple[dict[str, torch.Tensor], int | None]:
    """Load a safetensors file: (state dict, step from its metadata).

    ``max_bytes``: refuse a larger file before reading it (what the model it should fit can hold).
    """
    if not path.exists():
        raise InputError(f"The weights file {path} is missing")
    if not is_regular_file(path):
        raise InputError(f"{path} is not a regular file")
    if looks_like_pickle(path):
        raise InputError(f"{path.name} {PICKLE_HINT}")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise InputError(f"{path.name} in {path.parent} is {path.stat().st_size / 2**20:.0f} MiB, larger than the "
                         "weights of the model its config.json describes can be; it was not loaded")
    try:
        # Read into memory (not memory-mapped): Windows cannot replace a file that is mapped.
        state = safetensors_load(path.read_bytes())
        step = read_weights_step(path)
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except (SafetensorError, ValueError, RuntimeError, KeyError, TypeError, OverflowError) as exc:
        raise InputError(f"{path.name} in {path.parent} is not a valid safetensors file (corrupt or truncated)") from exc
    return state, step


def read_train_state(path: Path, weights_bytes: int | None = None) -> dict:
    """``train_state.pt`` with ``torch.load(weights_only=True)``; larger than 3× ``weights_bytes`` (+ slack) is refused."""
    if not path.exists():
        raise InputError(f"The training state {path} is missing")
    if not is_regular_file(path):
        raise InputError(f"{path} is not a regular file")
    size = path.stat().st_size
    if weights_bytes is not None and size > 3 * weights_bytes + _TRAIN_STATE_SLACK:
        raise InputError(f"{path.name} in {path.parent} is {size / 2**20:.0f} MiB, far larger than a training "
                         "state of these weights can be; it was not loaded")
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
