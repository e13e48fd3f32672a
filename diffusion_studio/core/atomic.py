"""Atomic file writes: a temp file in the same folder, flush, fsync, ``os.replace``.

A crash, a kill or a full disk mid-write leaves either the old file or the new
one, never half of one. What else holds for every write made here:

- Only a regular file or a missing path is ever replaced. A symbolic link, a folder,
  a FIFO, a device (``--csv /dev/full`` as root) or a socket at the target is refused
  with an :class:`~diffusion_studio.core.errors.InputError` before anything is written.
- A new file gets the usual permissions (``0o666`` less the umask: 0644 under 022);
  a replaced file keeps its own.
- Temp files are named ``.<name>.<random>.tmp`` beside the target and hold an
  exclusive ``flock`` while they are written. One left behind by a crash (older than
  this process and locked by no one) is removed by the next write to the same target.
- A full disk, a quota, a read-only folder or file system each give one sentence.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import IO, Iterator

from .errors import InputError, printable

try:  # POSIX: a live writer holds a lock on its temp file, so cleaning up never races it
    import fcntl
except ImportError:  # pragma: no cover - Windows: only the age rule below applies
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "TEMP_SUFFIX",
    "atomic_folder",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_replaceable",
    "check_writable_dir",
    "file_kind",
    "new_file_mode",
    "remove_stale_temps",
    "write_error",
]

TEMP_SUFFIX = ".tmp"
#: Temp files older than this moment were not made by this process (a conservative stand-in
#: for its start time: nothing here writes before this module is imported).
_STARTED = time.time()
# mkstemp / mkdtemp names: the prefix, 8 characters from [a-z0-9_], the suffix.
_RANDOM_PART = r"[a-z0-9_]{8}"

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What an ``st_mode`` is, in words ("a FIFO (named pipe)", "a folder" …; "a file" for a regular file)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a file" if stat.S_ISREG(mode) else "not a regular file"


def check_writable_dir(folder: str | os.PathLike) -> Path:
    """Raise InputError with a clear sentence unless ``folder`` exists and can be written to."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"The folder {printable(folder)} does not exist")
    if not folder.is_dir():
        raise InputError(f"{printable(folder)} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"The folder {printable(folder)} is read-only; choose another place to save")
    probe_name = ".write-test-"
    try:  # permission bits do not tell everything (root, /proc, some network mounts): try a file there
        handle, probe = tempfile.mkstemp(dir=folder, prefix=probe_name)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM):
            raise write_error(exc, folder / probe_name) from None  # the usual sentences for these
        raise InputError(f"Nothing can be written in the folder {printable(folder)} "
                         f"({exc.strerror or exc}); choose another place to save") from None
    return folder


def check_replaceable(path: str | os.PathLike) -> os.stat_result | None:
    """The target's ``lstat`` if it is a regular file, None if it does not exist; else InputError.

    Links are not followed: a symbolic link is refused like a device or a FIFO, so a write
    never lands somewhere other than the path the user named.
    """
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise write_error(exc, path) from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{printable(path)} is {file_kind(info.st_mode)}, not a regular file; it was left as it is. "
            "Choose a file name to write to"
        )
    return info


def write_error(exc: OSError, path: str | os.PathLike) -> InputError:
    """The sentence for an OSError met while writing ``path`` (disk full, read-only, …).

    Any errno gets a sentence ("Could not write …: <strerror>"); :func:`_user_fixable` tells the
    ones a person can act on from those that may be a bug or a failing disk.
    """
    path = Path(path)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return InputError(f"The disk is full; {printable(path.name)} was not written")
    if exc.errno == errno.EROFS:
        return InputError(f"{printable(path.parent)} is on a read-only disk; choose another place to save")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return InputError(f"Cannot write to {printable(path.parent)}: it is read-only; choose another place to save")
    if exc.errno == errno.EFBIG:
        return InputError(f"{printable(path.name)} is larger than this file system allows; it was not written")
    if exc.errno == errno.ENAMETOOLONG:
        return InputError(f"The file name {printable(path.name)[:80]}… is too long")
    return InputError(f"Could not write {printable(path.name)}: {exc.strerror or exc}")


_USER_FIXABLE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS, errno.EACCES, errno.EPERM,
                 errno.EFBIG, errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.ENOENT}


def _raise_for_person(exc: OSError, path: Path) -> None:
    # A full disk or a read-only folder is the user's to fix (InputError, exit 2); any other
    # OSError (an I/O error, a crash in a test) stays what it is.
    if exc.errno in _USER_FIXABLE:
        raise write_error(exc, path) from exc
    raise exc


def new_file_mode() -> int:
    """Permissions of a newly created file: ``0o666`` less the process umask (0644 under 022)."""
    return 0o666 & ~_umask()


def _umask() -> int:
    # /proc tells it without changing it; os.umask() can only be read by setting it, which
    # races with other threads creating files, so it is the fallback only.
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _lock(fd: int, blocking: bool = True) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def _temp_pattern(name: str) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(name)}\.{_RANDOM_PART}{re.escape(TEMP_SUFFIX)}$")


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove what an interrupted write of ``path`` left beside it; return what was removed.

    A leftover is named like our temp files for ``path``, is a regular file or a folder (not
    a link), is older than this process, and is locked by no live writer. Anything else is
    left alone, so two programs writing the same file never delete each other's work.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    pattern = _temp_pattern(path.name)
    removed = []
    try:
        names = [entry.name for entry in os.scandir(folder) if pattern.match(entry.name)]
    except OSError:
        return removed
    for name in names:
        candidate = folder / name
        with contextlib.suppress(OSError):
            info = os.lstat(candidate)
            if info.st_mtime >= _STARTED or not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                continue
            fd = os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
            try:
                same = os.fstat(fd)
                if (same.st_dev, same.st_ino) != (info.st_dev, info.st_ino) or not _lock(fd, blocking=False):
                    continue
                if stat.S_ISDIR(info.st_mode):
                    shutil.rmtree(candidate)
                else:
                    os.unlink(candidate)
                removed.append(candidate)
            finally:
                os.close(fd)
    return removed


def _folder_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[tuple[int, str]]:
    """A locked temp file beside ``path`` with the final permissions, as (descriptor, name).

    When the block ends cleanly the file is fsynced and renamed over ``path``; otherwise it is
    removed. A full disk, a read-only folder … become one sentence (:func:`write_error`).
    """
    info = check_replaceable(path)
    folder = check_writable_dir(_folder_of(path))
    remove_stale_temps(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        _raise_for_person(exc, path)
    try:
        _lock(fd)  # held until the descriptor closes, after the rename
        with contextlib.suppress(OSError):  # e.g. a file system without permissions (FAT)
            os.fchmod(fd, stat.S_IMODE(info.st_mode) if info is not None else new_file_mode())
        yield fd, tmp_name
        os.fsync(fd)
        check_replaceable(path)  # something may have appeared at the target while we wrote
        os.replace(tmp_name, path)
        _fsync_dir(_folder_of(path))
    except OSError as exc:
        _raise_for_person(exc, path)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)  # gone already when the write succeeded


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temp file beside ``path``; on a clean exit it replaces ``path`` in one step.

    Raises InputError (before writing anything) when ``path`` is not a regular file or a
    missing one, or its folder is missing or read-only; and when the disk fills up.
    """
    with _replacing(Path(path)) as (fd, _):
        # closefd=False: the lock lives on this descriptor until the rename is done
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None, closefd=False) as handle:
            yield handle


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path beside ``path`` for a writer that needs a file name (ffmpeg); renamed on a clean exit.

    The same rules as :func:`atomic_write`; the writer must have closed the file before the
    ``with`` block ends (it writes to the same file through its own descriptor). An empty
    result is refused rather than put in place.
    """
    path = Path(path)
    with _replacing(path) as (fd, tmp_name):
        yield Path(tmp_name)
        if os.fstat(fd).st_size == 0:
            raise InputError(f"Nothing was written to {printable(path.name)}")


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A temp folder beside ``path`` to fill; on a clean exit its files land in ``path``.

    A missing ``path`` becomes the temp folder in one rename; an existing folder gets the
    files moved in one by one (each rename atomic), replacing files of the same name.
    """
    path = Path(path)
    parent = check_writable_dir(_folder_of(path))
    try:
        existing = os.lstat(path)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISDIR(existing.st_mode):
        raise InputError(f"{printable(path)} is {file_kind(existing.st_mode)}, not a folder")
    remove_stale_temps(path)
    try:
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=parent))
    except OSError as exc:
        _raise_for_person(exc, path)
    fd = os.open(tmp_dir, os.O_RDONLY)
    try:
        _lock(fd)
        with contextlib.suppress(OSError):
            os.chmod(tmp_dir, 0o777 & ~_umask())  # mkdtemp makes 0700
        yield tmp_dir
        if existing is None:
            os.replace(tmp_dir, path)
        else:
            check_writable_dir(path)
            for entry in os.scandir(tmp_dir):
                target = path / entry.name
                check_replaceable(target)
                os.replace(entry.path, target)
        _fsync_dir(path)
        _fsync_dir(parent)
    except OSError as exc:
        _raise_for_person(exc, path)
    finally:
        os.close(fd)
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable (POSIX); not possible on Windows.
    with contextlib.suppress(OSError, AttributeError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
