"""Run folders: safetensors weights, JSON config, resume state, metrics — written so a crash loses nothing.

Layout (fixed; see README "Run folders")::

    RUN_DIR/config.json              model / schedule / prediction / train / dataset description
    RUN_DIR/model.safetensors        raw weights (latest)     metadata {"step": "N"}
    RUN_DIR/model_ema.safetensors    EMA weights (latest)
    RUN_DIR/train_state.pt           optimizer, scaler, RNG, data order, "step"
    RUN_DIR/checkpoints/step_XXXXXX/ the same three files for the last K checkpoints
    RUN_DIR/metrics.jsonl            one JSON object per line
    RUN_DIR/samples/step_XXXXXX.png  EMA sample grids
    RUN_DIR/scan_report.json         which images were used and which were skipped, and why
    RUN_DIR/.training.lock           locked while a process trains in the folder (see :mod:`.lock`)

Write order: the step folder is built under a temporary name and renamed into
place complete, then the top-level files are replaced one by one, each atomically.
A process killed at any moment leaves at least one complete checkpoint, and
:func:`load_checkpoint` picks the newest complete one.

``train_state.pt`` holds only tensors, dicts, lists and numbers, and is read with
``torch.load(weights_only=True)``: nothing is ever unpickled from a user's file.
``config.json`` is validated on every load (:mod:`.run_config`); every file the loaders read must be
a regular file of a plausible size, so a damaged or hostile folder gives a reason, never a hang.
"""

from __future__ import annotations

from typing import Any

from .layout import (
    CHECKPOINTS_DIR,
    CONFIG_NAME,
    DEMO_MODEL_DIR,
    EMA_WEIGHTS_NAME,
    METRICS_NAME,
    SAMPLES_DIR,
    SCAN_REPORT_NAME,
    TRAIN_STATE_NAME,
    WEIGHTS_NAME,
    check_run_layout,
    is_regular_file,
    list_step_dirs,
    load_config,
    read_weights_step,
    save_config,
    step_dir_name,
    step_of_dir,
)
from .lock import LOCK_NAME, RunLock, RunLockedError, run_is_locked
from .runs import (
    RunInfo,
    append_metrics,
    is_run_dir,
    latest_step,
    list_runs,
    read_metrics,
    remove_samples_after,
    truncate_metrics,
)

__all__ = [
    "CHECKPOINTS_DIR", "CONFIG_NAME", "DEMO_MODEL_DIR", "EMA_WEIGHTS_NAME", "LOCK_NAME", "METRICS_NAME",
    "SAMPLES_DIR", "SCAN_REPORT_NAME", "TRAIN_STATE_NAME", "WEIGHTS_NAME",
    "Checkpoint", "LoadedModel", "RunInfo", "RunLock", "RunLockedError",
    "append_metrics", "check_run_layout", "is_regular_file", "is_run_dir", "latest_step", "list_runs",
    "list_step_dirs", "load_checkpoint", "load_config", "load_model", "read_metrics", "read_weights_step",
    "remove_samples_after", "resolve_model_path", "run_is_locked", "save_checkpoint", "save_config",
    "step_dir_name", "step_of_dir", "truncate_metrics",
]

# Saving and loading weights need torch; listing runs and reading configs and metrics do not,
# so the GUI can show runs without paying for the torch import.
_LAZY = {
    "save_checkpoint": "store",
    "Checkpoint": "loading",
    "LoadedModel": "loading",
    "load_checkpoint": "loading",
    "load_model": "loading",
    "resolve_model_path": "loading",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
