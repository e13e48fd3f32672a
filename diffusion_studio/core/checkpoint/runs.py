"""Finding runs and reading/writing their metrics log."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..paths import runs_dir
from .layout import (
    CHECKPOINTS_DIR,
    CONFIG_NAME,
    METRICS_NAME,
    SAMPLES_DIR,
    TRAIN_STATE_NAME,
    WEIGHTS_NAME,
    list_step_dirs,
    read_weights_step,
    step_of_dir,
)

__all__ = ["RunInfo", "is_run_dir", "latest_step", "list_runs", "append_metrics", "read_metrics", "truncate_metrics"]


@dataclass(frozen=True)
class RunInfo:
    path: Path
    name: str
    step: int  # step of the latest checkpoint; 0 before the first one
    last_sample_png: Path | None
    updated: float  # seconds since the epoch of the newest file that matters


def is_run_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder with a ``config.json`` that describes a model."""
    config = Path(path) / CONFIG_NAME
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("model"), dict)


def latest_step(run_dir: str | os.PathLike) -> int:
    """Step of the run's latest checkpoint (from the weights header; cheap), 0 before the first one."""
    run = Path(run_dir)
    step = read_weights_step(run / WEIGHTS_NAME)
    if step is not None:
        return step
    steps = list_step_dirs(run)
    return step_of_dir(steps[-1]) or 0 if steps else 0


_latest_step = latest_step  # kept for callers written against the first version


def _last_sample(run: Path) -> Path | None:
    samples = run / SAMPLES_DIR
    if not samples.is_dir():
        return None
    pngs = sorted(p for p in samples.glob("step_*.png") if not p.name.startswith("."))
    return pngs[-1] if pngs else None


def _updated(run: Path) -> float:
    times = []
    for name in (CONFIG_NAME, WEIGHTS_NAME, TRAIN_STATE_NAME, METRICS_NAME, CHECKPOINTS_DIR):
        try:
            times.append((run / name).stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Runs directly inside ``root`` (default: the user's runs folder), most recently updated first."""
    root = Path(root) if root is not None else runs_dir()
    if not root.is_dir():
        return []
    runs = []
    for child in root.iterdir():
        if child.is_dir() and not child.name.startswith(".") and is_run_dir(child):
            runs.append(RunInfo(child, child.name, latest_step(child), _last_sample(child), _updated(child)))
    return sorted(runs, key=lambda run: (run.updated, run.name), reverse=True)


def _json_ready(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()  # numpy / torch scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/inf are not JSON; the record's other fields still tell what happened
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if hasattr(value, "tolist"):
        return _json_ready(value.tolist())
    return value


def append_metrics(run_dir: str | os.PathLike, record: dict) -> None:
    """Append one JSON object as a line of ``metrics.jsonl`` and flush it."""
    path = Path(run_dir) / METRICS_NAME
    line = json.dumps(_json_ready(record), allow_nan=False, separators=(",", ":")) + "\n"
    with open(path, "a+b") as handle:
        # A previous run killed mid-line left no newline: start on a fresh line.
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        handle.write(line.encode("utf-8"))
        handle.flush()


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """All records of ``metrics.jsonl``; a torn or damaged line is skipped, a missing file gives []."""
    path = Path(run_dir) / METRICS_NAME
    try:
        raw = path.read_bytes()
    except OSError:
        return []
    records = []
    for line in raw.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def truncate_metrics(run_dir: str | os.PathLike, max_step: int) -> int:
    """Drop records after ``max_step`` (logged after the checkpoint a resume starts from).

    Rewrites the file atomically; returns how many records were dropped.
    """
    path = Path(run_dir) / METRICS_NAME
    records = read_metrics(run_dir)
    kept = [r for r in records if not isinstance(r.get("step"), (int, float)) or r["step"] <= max_step]
    if len(kept) != len(records) or (path.exists() and not path.read_bytes().endswith(b"\n")):
        atomic_write_text(path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in kept))
    return len(records) - len(kept)
