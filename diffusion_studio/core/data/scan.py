"""Scan a folder of training images: which files are usable, which are not, and why.

Every candidate file is fully decoded (a header check misses truncated files),
so a bad download never reaches the training loop. The scan is a generator that
yields one :class:`ScanProgress` per file, so a GUI can show thumbnails as they
arrive; :func:`scan_folder` consumes it into a :class:`ScanReport`.
"""

from __future__ import annotations

import errno
import os
import stat
import statistics
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from ..atomic import atomic_write_text, file_kind
from ..errors import InputError, printable
from ..validation import dump_json, read_json_object
from ..images import IMAGE_EXTENSIONS, ImageLoadError
from .decode import decode_for_scan, skip_kind
from .labels import ClassLabels, folder_labels

__all__ = ["ScanProgress", "ScanReport", "iter_scan", "scan_folder", "list_image_files"]

REPORT_VERSION = 1

#: What the report says about file names that are not valid UTF-8 (bytes from another encoding).
NAMES_NOTE = ("Some file names are not valid UTF-8. They are written with \\udcXX escapes (Python's "
              "surrogateescape: byte 0xXX of the name); json.load in Python gives the exact path back.")
def _not_utf8(path: str) -> bool:
    return printable(path) != path


@dataclass(frozen=True)
class ScanProgress:
    """One scanned file. ``reason`` is None for a usable image, else why it was skipped."""

    done: int  # files scanned so far, including this one
    total: int
    path: str
    reason: str | None
    thumbnail: np.ndarray | None  # uint8 (h, w, C), longest side ≤ thumb_size; None when skipped
    mode: str | None  # the file's Pillow mode before conversion ("RGB", "P", "I;16", "CMYK" …)
    size: tuple[int, int] | None  # (width, height) after EXIF orientation
    channels: int | None = None  # 1 when the picture is grayscale, 3 when it has colour

    @property
    def usable(self) -> bool:
        return self.reason is None


def _is_hidden(name: str) -> bool:
    # Dot files and folders (.git, .DS_Store, macOS "._x.jpg" resource forks) are never training data.
    return name.startswith(".") or name in ("__MACOSX", "Thumbs.db", "desktop.ini")


def _sort_key(entry: tuple[str, str | None]) -> tuple:
    return Path(entry[0]).parts  # folder by folder, like a file browser


def _walk(root: str | os.PathLike) -> tuple[list[tuple[str, str | None]], list[tuple[str, str]]]:
    """(image files, folder problems) under ``root``: files as (path, None), or (path, reason) when unusable.

    Only regular files are candidates: a FIFO, a device or a socket with an image name is
    reported without being opened. Linked folders are followed once: a link back to a folder
    already walked (a loop) is reported, as are folders that cannot be read and broken links.
    """
    files: list[tuple[str, str | None]] = []
    folder_problems: list[tuple[str, str]] = []
    root = os.fspath(root)
    top = os.stat(root)
    seen = {(top.st_dev, top.st_ino)}
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            folder_problems.append((folder, f"The folder {printable(folder)} cannot be read "
                                            f"({exc.strerror or exc}); the images in it were left out"))
            continue
        for child in children:
            if _is_hidden(child.name):
                continue
            found = _classify(child, seen)
            if found is None:
                continue
            where, reason = found
            if where == _DESCEND:
                pending.append(child.path)
            elif where == _FILE:
                files.append((child.path, reason))
            else:
                folder_problems.append((child.path, reason))
    return sorted(files, key=_sort_key), sorted(folder_problems, key=_sort_key)


_DESCEND, _FILE, _FOLDER_PROBLEM = "descend", "file", "folder problem"


def _classify(child: os.DirEntry, seen: set) -> tuple[str, str | None] | None:
    """(_DESCEND, None) for a folder to walk, (_FILE, reason or None) for an image-named file,
    (_FOLDER_PROBLEM, reason) for a folder link that cannot be walked; None for anything else."""
    name = printable(child.name)
    is_image = os.path.splitext(child.name)[1].lower() in IMAGE_EXTENSIONS
    where = _FILE if is_image else _FOLDER_PROBLEM
    try:
        info = os.stat(child.path)  # follows links
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return where, f"{name} is a symbolic link that leads to itself (a loop); skipped"
        if not is_image:
            return None  # a broken link without an image name is none of our business
        if isinstance(exc, FileNotFoundError):
            return _FILE, f"{name} is a broken link (its target is missing); skipped"
        return _FILE, f"Cannot read {name}: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        key = (info.st_dev, info.st_ino)
        if key in seen:
            return _FOLDER_PROBLEM, (f"The folder link {name} leads back to a folder scanned already "
                                     "(a loop or a second way in); it was not scanned twice")
        seen.add(key)
        return _DESCEND, None
    if not is_image:
        return None
    if not stat.S_ISREG(info.st_mode):
        return _FILE, f"{name} is {file_kind(info.st_mode)}, not a file; it was not opened"
    return _FILE, None


def list_image_files(folder: str | os.PathLike) -> list[str]:
    """All regular files under ``folder`` (recursively) with an image extension, sorted; hidden ones left out."""
    return [path for path, reason in _walk(folder)[0] if reason is None]


def _check_folder(folder: str | os.PathLike) -> Path:
    path = Path(folder).expanduser()
    if not path.exists():
        raise InputError(f"The folder {printable(path)} does not exist")
    if not path.is_dir():
        raise InputError(f"{printable(path)} is not a folder; choose a folder of images")
    if not os.access(path, os.R_OK | os.X_OK):
        raise InputError(f"The folder {printable(path)} cannot be read (permission denied)")
    return path.resolve()


def iter_scan(folder: str | os.PathLike, thumb_size: int = 64, threads: int | None = None) -> Iterator[ScanProgress]:
    """Check every image file under ``folder``; yield a :class:`ScanProgress` per file.

    Raises InputError at once (before the first yield) when the folder is missing,
    is not a folder, or holds no file with an image extension. ``threads`` decode
    ahead (default: up to 4); the order of the files does not depend on it. What is
    not a regular file (a FIFO, a device, a broken link), a folder that cannot be read
    and a folder link that loops come as items with a reason; they are never opened.
    """
    root = _check_folder(folder)
    files, folder_problems = _walk(root)
    if not files:
        extensions = ", ".join(sorted({e.lstrip(".").upper() for e in IMAGE_EXTENSIONS} - {"JPEG", "TIF"}))
        note = f"; {len(folder_problems)} subfolders could not be scanned" if folder_problems else ""
        raise InputError(
            f"The folder {printable(root)} has no image files ({extensions}), not even in subfolders{note}")
    entries = sorted(files + folder_problems, key=_sort_key)
    return _scan(entries, thumb_size, max(1, min(4, threads or os.cpu_count() or 1)))


def _scan_one(path: str, thumb_size: int) -> tuple[str | None, np.ndarray | None, str | None, tuple | None, int | None]:
    try:
        img, mode = decode_for_scan(path, min_side=thumb_size)
    except ImageLoadError as exc:
        return str(exc), None, None, None, None
    except Exception as exc:  # noqa: BLE001 - an odd file must never stop the scan
        return f"{printable(os.path.basename(path))} could not be decoded: {exc}", None, None, None, None
    size = tuple(getattr(img, "original_size", img.size))
    channels = 1 if img.mode == "L" or _looks_gray(img) else 3
    thumb = img.copy()
    thumb.thumbnail((thumb_size, thumb_size), Image.Resampling.BILINEAR)
    pixels = np.asarray(thumb, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return None, np.ascontiguousarray(pixels), mode, size, channels


def _scan(entries: list[tuple[str, str | None]], thumb_size: int, threads: int) -> Iterator[ScanProgress]:
    # Decoding runs a few files ahead on threads (Pillow releases the GIL while decoding);
    # results are yielded in order, and closing the generator early cancels what is queued.
    total = len(entries)
    upcoming = iter(entries)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque = deque()

        def submit(entry: tuple[str, str | None]) -> None:
            path, reason = entry
            if reason is None:
                pending.append((path, pool.submit(_scan_one, path, thumb_size)))
            else:
                pending.append((path, (reason, None, None, None, None)))

        for entry in islice(upcoming, 2 * threads):
            submit(entry)
        try:
            done = 0
            while pending:
                path, future = pending.popleft()
                following = next(upcoming, None)
                if following is not None:
                    submit(following)
                done += 1
                reason, thumbnail, mode, size, channels = future if isinstance(future, tuple) else future.result()
                yield ScanProgress(done, total, path, reason, thumbnail, mode, size, channels)
        finally:
            for _path, future in pending:
                if not isinstance(future, tuple):
                    future.cancel()


def _looks_gray(img: Image.Image) -> bool:
    # An RGB file whose three channels are equal (a grayscale photo saved as RGB) is grayscale.
    if img.mode != "RGB":
        return False
    red, green, blue = img.split()
    return red.tobytes() == green.tobytes() == blue.tobytes()


@dataclass
class ScanReport:
    """What a scan found. ``usable`` and skipped paths are absolute; ``channels`` is 1 for all-grayscale."""

    root: str
    usable: list[str]
    skipped: list[dict[str, str]]  # [{"path", "reason", "kind"}]
    channels: int
    modes: dict[str, int] = field(default_factory=dict)  # source Pillow modes of the usable files
    sizes: dict[str, Any] = field(default_factory=dict)  # {"min_side", "median_side", "max_side", ...}

    @classmethod
    def from_progress(cls, root: str | os.PathLike, items: list[ScanProgress]) -> "ScanReport":
        usable = [item for item in items if item.usable]
        skipped = [{"path": i.path, "reason": i.reason, "kind": skip_kind(i.reason)} for i in items if not i.usable]
        channels = 1 if usable and all(item.channels == 1 for item in usable) else 3
        modes = dict(sorted(Counter(item.mode for item in usable).items()))
        return cls(str(root), [item.path for item in usable], skipped, channels, modes, _size_summary(usable))

    @property
    def num_usable(self) -> int:
        return len(self.usable)

    @property
    def classes(self) -> "ClassLabels | None":
        """The folder's classes (subfolder = class, :mod:`.labels`), or None for a folder without them."""
        return folder_labels(self.root, self.usable, self.skipped)

    @property
    def names_not_utf8(self) -> int:
        """How many of the paths (usable or skipped) are not valid UTF-8; they are used all the same."""
        return sum(_not_utf8(path) for path in [*self.usable, *(entry["path"] for entry in self.skipped)])

    def summary(self) -> str:
        """One line, e.g. "412 usable images in 3 classes, 3 skipped (1 corrupt, 1 not an image, 1 empty)"."""
        noun = "image" if len(self.usable) == 1 else "images"
        line = f"{len(self.usable)} usable {noun}"
        classes = self.classes
        if classes is not None and classes.complete:
            line += f" in {classes.num_classes} classes"
        if self.skipped:
            kinds = Counter(entry.get("kind") or skip_kind(entry["reason"]) for entry in self.skipped)
            ordered = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))  # most first, then by name
            details = ", ".join(f"{count} {kind}" for kind, count in ordered)
            line += f", {len(self.skipped)} skipped ({details})"
        odd_names = self.names_not_utf8
        if odd_names:
            line += f"; {odd_names} file {'name is' if odd_names == 1 else 'names are'} not valid UTF-8 (shown escaped)"
        return line

    def to_dict(self) -> dict[str, Any]:
        classes = self.classes
        return {
            "version": REPORT_VERSION,
            "root": self.root,
            "summary": self.summary(),
            "channels": self.channels,
            "num_usable": len(self.usable),
            "num_skipped": len(self.skipped),
            "modes": self.modes,
            "sizes": self.sizes,
            "usable": list(self.usable),
            "skipped": [dict(entry) for entry in self.skipped],
            **({"classes": classes.to_dict()} if classes is not None else {}),
            **({"names_not_utf8": self.names_not_utf8, "names_note": NAMES_NOTE} if self.names_not_utf8 else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ScanReport":
        try:
            return cls(
                str(data["root"]),
                [str(p) for p in data["usable"]],
                [{"path": str(e["path"]), "reason": str(e["reason"]), **({"kind": e["kind"]} if "kind" in e else {})}
                 for e in data.get("skipped", [])],
                int(data.get("channels", 3)),
                dict(data.get("modes", {})),
                dict(data.get("sizes", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"The scan report is incomplete or damaged ({exc})") from exc

    def save(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON (UTF-8), atomically; see :data:`NAMES_NOTE` for names that are not UTF-8."""
        path = Path(path)
        atomic_write_text(path, dump_json(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ScanReport":
        return cls.from_dict(read_json_object(path, what=f"The scan report {printable(path)}"))


def _size_summary(usable: list[ScanProgress]) -> dict[str, Any]:
    if not usable:
        return {}
    short_sides = [min(item.size) for item in usable]
    counts = Counter(f"{w}x{h}" for w, h in (item.size for item in usable))
    return {
        "min_side": min(short_sides),
        "median_side": int(statistics.median(short_sides)),
        "max_side": max(max(item.size) for item in usable),
        "most_common": [[size, count] for size, count in counts.most_common(5)],
    }


def scan_folder(folder: str | os.PathLike, thumb_size: int = 64, threads: int | None = None) -> ScanReport:
    """Scan ``folder`` completely and return the report (see :func:`iter_scan`)."""
    root = _check_folder(folder)
    items = list(iter_scan(root, thumb_size=thumb_size, threads=threads))
    return ScanReport.from_progress(root, items)
