"""A run folder's life cycle around one training process: create, lock, start over, clean up a failed start.

- The folder is **locked** while a process trains in it (:class:`~diffusion_studio.core.checkpoint.RunLock`);
  a second trainer gets a clear message instead of interleaving checkpoints.
- A folder whose run stopped before its first checkpoint (a full disk, a crash, a NaN at step 5)
  can be **started over** (``--restart``); one with a checkpoint never is, it can only be resumed.
- A **failed start** (bad data, no memory, a second trainer) leaves no folder behind that it created,
  except the scan report when no image could be used (it is the explanation).
- The names the run writes to must be of the right kind (a file where the samples folder goes is refused).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from ..checkpoint import (
    CHECKPOINTS_DIR,
    CONFIG_NAME,
    EMA_WEIGHTS_NAME,
    LOCK_NAME,
    METRICS_NAME,
    SAMPLES_DIR,
    SCAN_REPORT_NAME,
    TRAIN_STATE_NAME,
    WEIGHTS_NAME,
    RunLock,
    check_run_layout,
    list_step_dirs,
    step_of_dir,
)
from ..errors import InputError
from .progress import TrainingError

__all__ = ["RunFolder"]

#: Files a run writes before its first checkpoint; their presence means "a run was here".
_RUN_FILES = (CONFIG_NAME, METRICS_NAME, TRAIN_STATE_NAME, EMA_WEIGHTS_NAME)


class RunFolder:
    """``RUN_DIR`` of one training process. Only the main process (rank 0) creates, locks and deletes."""

    def __init__(self, run_dir: str | os.PathLike, *, is_main: bool = True):
        self.path = Path(run_dir).expanduser()
        self.is_main = is_main
        self.created: list[Path] = []  # folders this process made, innermost first (a failed start removes them)
        self._lock = RunLock(self.path)

    # -- opening and closing ----------------------------------------------------------------------
    def open(self, *, create: bool) -> "RunFolder":
        """Create the folder (new runs) and lock it; checks the kinds of the names the run uses."""
        if not self.is_main:
            return self
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"{self.path} is a file, not a folder; choose another --out")
        if not self.path.exists():
            if not create:
                raise InputError(f"The run folder {self.path} does not exist")
            missing = [self.path, *(p for p in self.path.parents if not p.exists())]
            try:
                self.path.mkdir(parents=True)
            except OSError as exc:
                raise InputError(f"Cannot create the run folder {self.path}: {exc.strerror or exc}") from None
            self.created = missing
        self._lock.acquire()
        check_run_layout(self.path)
        return self

    def close(self) -> None:
        self._lock.release()

    def abandon(self, *, keep_scan_report: bool = False) -> None:
        """After a failed start: remove what this start wrote into a folder it created (the folder too)."""
        if not self.is_main:
            return
        self.close()
        if not self.created:
            return
        for name in (LOCK_NAME, METRICS_NAME, CONFIG_NAME) + (() if keep_scan_report else (SCAN_REPORT_NAME,)):
            with contextlib.suppress(OSError):
                (self.path / name).unlink()
        for folder in (self.path / SAMPLES_DIR, self.path / CHECKPOINTS_DIR, *self.created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty

    # -- what is in it ----------------------------------------------------------------------------
    def has_checkpoint(self) -> bool:
        return (self.path / WEIGHTS_NAME).exists() or bool(list_step_dirs(self.path))

    def has_run(self) -> bool:
        """Some run was started here (it may or may not have reached its first checkpoint)."""
        if self.has_checkpoint() or any((self.path / name).exists() for name in _RUN_FILES):
            return True
        return any(self._sample_grids())

    def _sample_grids(self) -> list[Path]:
        samples = self.path / SAMPLES_DIR
        if not samples.is_dir():
            return []
        return [p for p in samples.glob("step_*.png") if step_of_dir(p) is not None]

    def start_over(self) -> None:
        """Delete the files of a run that has no checkpoint (never a checkpoint, never a file not ours)."""
        if not self.is_main:
            return
        if self.has_checkpoint():
            raise TrainingError(f"{self.path} has a checkpoint, so it is not started over; continue it with "
                                "--resume, or choose another --out")
        for name in (*_RUN_FILES, SCAN_REPORT_NAME):
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()
        for grid in self._sample_grids():
            grid.unlink(missing_ok=True)
        checkpoints = self.path / CHECKPOINTS_DIR
        if checkpoints.is_dir():  # only staging folders of a killed first save can be in it
            for child in checkpoints.iterdir():
                if child.name.startswith(".step_"):
                    shutil.rmtree(child, ignore_errors=True)
