"""One trainer per run folder: an operating-system lock that dies with the process holding it.

Two ``train --resume`` on one folder would interleave their checkpoints and metrics. The
trainer holds an exclusive lock on ``RUN_DIR/.training.lock`` while it runs: ``flock`` on
POSIX, ``msvcrt.locking`` on Windows. The operating system releases it when the process ends
in any way (even ``kill -9``), so a crash never leaves a folder locked; the file itself stays
(removing it would race with a process that just opened it) and is hidden.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InputError

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError", "run_is_locked"]

LOCK_NAME = ".training.lock"


class RunLockedError(InputError):
    """Another process is training in this run folder."""


class RunLock:
    """``with RunLock(run_dir):`` — held while a process trains in ``run_dir``; RunLockedError if taken."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        if self._fd is not None:
            return self
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise InputError(f"cannot lock the run folder {self.run_dir}: {exc.strerror or exc}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError(f"{self.path} is not a regular file; remove it, then try again")
            if not _try_lock(fd):
                owner = _read_owner(fd)
                raise RunLockedError(
                    f"another process{owner} is training in {self.run_dir}; wait for it to finish or stop it "
                    "(a stop saves a checkpoint), then try again"
                )
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _unlock(fd)
        os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def run_is_locked(run_dir: str | os.PathLike) -> bool:
    """True while some process trains in ``run_dir`` (for listing runs as "training")."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        if _try_lock(fd):
            _unlock(fd)
            return False
        return True
    finally:
        os.close(fd)


def _read_owner(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip() if hasattr(os, "pread") else ""
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:  # e.g. a file system without locks: train, but unguarded
            return exc.errno in (getattr(os, "ENOLCK", -1), getattr(os, "EOPNOTSUPP", -1))
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
