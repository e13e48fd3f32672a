"""Finding runs and reading/writing their metrics log."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..errors import InputError
from ..paths import runs_dir
from ..validation import read_json_object
from .layout import (
    CHECKPOINTS_DIR,
    CONFIG_NAME,
    METRICS_NAME,
    SAMPLES_DIR,
    TRAIN_STATE_NAME,
    WEIGHTS_NAME,
    is_regular_file,
    list_step_dirs,
    read_weights_step,
    step_of_dir,
)

__all__ = ["RunInfo", "is_run_dir", "latest_step", "list_runs", "append_metrics", "read_metrics", "truncate_metrics",
           "remove_samples_after"]


@dataclass(frozen=True)
class RunInfo:
    path: Path
    name: str
    step: int  # step of the latest checkpoint; 0 before the first one
    last_sample_png: Path | None
    updated: float  # seconds since the epoch of the newest file that matters


def is_run_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder with a ``config.json`` that describes a model."""
    try:
        data = read_json_object(Path(path) / CONFIG_NAME)
    except InputError:
        return False
    return isinstance(data.get("model"), dict)


def latest_step(run_dir: str | os.PathLike) -> int:
    """Step of the run's latest checkpoint (from the weights header; cheap), 0 before the first one."""
    run = Path(run_dir)
    step = read_weights_step(run / WEIGHTS_NAME)
    if step is not None:
        return step
    steps = list_step_dirs(run)
    return step_of_dir(steps[-1]) or 0 if steps else 0


def _last_sample(run: Path) -> Path | None:
    samples = run / SAMPLES_DIR
    if not samples.is_dir():
        return None
    pngs = sorted(p for p in samples.glob("step_*.png") if step_of_dir(p) is not None)
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


def _metric_lines(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    if not is_regular_file(path):  # reading a FIFO would wait forever
        raise InputError(f"{path} is not a regular file; the run's metrics cannot be read")
    try:
        return path.read_bytes().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _record(line: bytes) -> dict | None:
    """One line as a metrics record: a JSON object with a whole-number ``step``; None for anything else."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    step = record.get("step") if isinstance(record, dict) else None
    return record if isinstance(step, int) and not isinstance(step, bool) else None


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """All records of ``metrics.jsonl``; a torn or damaged line is skipped, a missing file gives [].

    InputError when the name is taken by something that is not a file (a folder, a FIFO).
    """
    records = (_record(line) for line in _metric_lines(Path(run_dir) / METRICS_NAME))
    return [record for record in records if record is not None]


def truncate_metrics(run_dir: str | os.PathLike, max_step: int) -> int:
    """Keep only the records up to ``max_step``: a resume redoes the steps after its checkpoint.

    Lines logged after that checkpoint — by a run that was stopped, killed or that ended on an
    error — are dropped, and so are torn or damaged lines, so the file holds one record per
    logged step and the loss curve never doubles back. Rewrites the file atomically (only when
    something changes); returns how many lines were dropped.
    """
    path = Path(run_dir) / METRICS_NAME
    lines = _metric_lines(path)
    kept = [record for record in map(_record, lines) if record is not None and record["step"] <= max_step]
    dropped = len(lines) - len(kept)
    if dropped or (lines and not path.read_bytes().endswith(b"\n")):
        atomic_write_text(path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in kept))
    return dropped


def remove_samples_after(run_dir: str | os.PathLike, max_step: int) -> int:
    """Delete sample grids of steps after ``max_step`` (drawn by weights a resume does not continue)."""
    samples = Path(run_dir) / SAMPLES_DIR
    if not samples.is_dir():
        return 0
    removed = 0
    for png in samples.glob("step_*.png"):
        step = step_of_dir(png)
        if step is not None and step > max_step and png.is_file():
            png.unlink(missing_ok=True)
            removed += 1
    return removed
