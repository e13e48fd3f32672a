"""Scan a folder of training images: which files are usable, which are not, and why.

Every candidate file is fully decoded (a header check misses truncated files),
so a bad download never reaches the training loop. The scan is a generator that
yields one :class:`ScanProgress` per file, so a GUI can show thumbnails as they
arrive; :func:`scan_folder` consumes it into a :class:`ScanReport`.
"""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from ..atomic import atomic_write_text
from ..errors import InputError
from ..images import IMAGE_EXTENSIONS, ImageLoadError
from .decode import decode_for_scan, skip_kind

__all__ = ["ScanProgress", "ScanReport", "iter_scan", "scan_folder", "list_image_files"]

REPORT_VERSION = 1


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


def list_image_files(folder: str | os.PathLike) -> list[str]:
    """All files under ``folder`` (recursively) with an image extension, sorted; hidden ones left out."""
    found: list[str] = []
    for parent, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not _is_hidden(d))
        for name in sorted(files):
            if not _is_hidden(name) and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(os.path.join(parent, name))
    return sorted(found, key=lambda path: Path(path).parts)  # folder by folder, like a file browser


def _check_folder(folder: str | os.PathLike) -> Path:
    path = Path(folder).expanduser()
    if not path.exists():
        raise InputError(f"The folder {path} does not exist")
    if not path.is_dir():
        raise InputError(f"{path} is not a folder; choose a folder of images")
    if not os.access(path, os.R_OK | os.X_OK):
        raise InputError(f"The folder {path} cannot be read (permission denied)")
    return path.resolve()


def iter_scan(folder: str | os.PathLike, thumb_size: int = 64, threads: int | None = None) -> Iterator[ScanProgress]:
    """Check every image file under ``folder``; yield a :class:`ScanProgress` per file.

    Raises InputError at once (before the first yield) when the folder is missing,
    is not a folder, or holds no file with an image extension. ``threads`` decode
    ahead (default: up to 4); the order of the files does not depend on it.
    """
    root = _check_folder(folder)
    paths = list_image_files(root)
    if not paths:
        extensions = ", ".join(sorted({e.lstrip(".").upper() for e in IMAGE_EXTENSIONS} - {"JPEG", "TIF"}))
        raise InputError(f"The folder {root} has no image files ({extensions}), not even in subfolders")
    return _scan(paths, thumb_size, max(1, min(4, threads or os.cpu_count() or 1)))


def _scan_one(path: str, thumb_size: int) -> tuple[str | None, np.ndarray | None, str | None, tuple | None, int | None]:
    try:
        img, mode = decode_for_scan(path, min_side=thumb_size)
    except ImageLoadError as exc:
        return str(exc), None, None, None, None
    except Exception as exc:  # noqa: BLE001 - an odd file must never stop the scan
        return f"{os.path.basename(path)} could not be decoded: {exc}", None, None, None, None
    size = tuple(getattr(img, "original_size", img.size))
    channels = 1 if img.mode == "L" or _looks_gray(img) else 3
    thumb = img.copy()
    thumb.thumbnail((thumb_size, thumb_size), Image.Resampling.BILINEAR)
    pixels = np.asarray(thumb, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return None, np.ascontiguousarray(pixels), mode, size, channels


def _scan(paths: list[str], thumb_size: int, threads: int) -> Iterator[ScanProgress]:
    # Decoding runs a few files ahead on threads (Pillow releases the GIL while decoding);
    # results are yielded in order, and closing the generator early cancels what is queued.
    total = len(paths)
    upcoming = iter(paths)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque = deque()
        for path in islice(upcoming, 2 * threads):
            pending.append((path, pool.submit(_scan_one, path, thumb_size)))
        try:
            done = 0
            while pending:
                path, future = pending.popleft()
                following = next(upcoming, None)
                if following is not None:
                    pending.append((following, pool.submit(_scan_one, following, thumb_size)))
                done += 1
                reason, thumbnail, mode, size, channels = future.result()
                yield ScanProgress(done, total, path, reason, thumbnail, mode, size, channels)
        finally:
            for _path, future in pending:
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

    def summary(self) -> str:
        """One line, e.g. "412 usable images, 3 skipped (1 corrupt, 1 not an image, 1 empty)"."""
        noun = "image" if len(self.usable) == 1 else "images"
        line = f"{len(self.usable)} usable {noun}"
        if self.skipped:
            kinds = Counter(entry.get("kind") or skip_kind(entry["reason"]) for entry in self.skipped)
            ordered = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))  # most first, then by name
            details = ", ".join(f"{count} {kind}" for kind, count in ordered)
            line += f", {len(self.skipped)} skipped ({details})"
        return line

    def to_dict(self) -> dict[str, Any]:
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
        """Write the report as JSON, atomically."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ScanReport":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"Cannot read the scan report {path}: {exc.strerror or exc}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"The scan report {path} is not valid JSON") from exc
        if not isinstance(data, dict):
            raise InputError(f"The scan report {path} is not a JSON object")
        return cls.from_dict(data)


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
