"""Export frames to a file: a cancellable generator (for GUI workers) and a blocking call.

Nothing is written until the frames are ready; every file is written atomically, and a
cancelled or failed export leaves no partial file or folder behind.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator, Sequence

import numpy as np
from PIL import Image

from ..atomic import atomic_write, check_writable_dir
from ..errors import InputError
from .compose import compose_frame, contact_strip
from .options import ExportOptions, format_for_path
from .palette import gif_frame
from .sources import frames_from_images, select_frames
from .writers import MP4_MISSING, Mp4Writer, mp4_backend, save_apng, save_gif, save_png, save_webp

__all__ = [
    "ExportProgress",
    "ExportResult",
    "SizeEstimate",
    "iter_export",
    "export_frames",
    "compose_frames",
    "write_animation",
    "write_chain_gif",
    "estimate_size",
    "output_kind",
]

_STRIP_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


@dataclass(frozen=True)
class ExportProgress:
    done: int
    total: int
    message: str

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    frame_count: int
    width: int
    height: int
    bytes_written: int
    playback_s: float
    cancelled: bool = False

    def summary(self) -> str:
        if self.cancelled:
            return "Export cancelled; nothing was written"
        size = _human_bytes(self.bytes_written)
        return f"Wrote {self.path} ({self.format}, {self.frame_count} frames, {self.width}×{self.height}, {size})"


@dataclass(frozen=True)
class SizeEstimate:
    bytes: int
    frame_count: int
    width: int
    height: int

    def summary(self) -> str:
        return f"≈ {_human_bytes(self.bytes)} · {self.frame_count} frames · {self.width}×{self.height}"


def _human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"


def output_kind(path: str | os.PathLike, kind: str | None = None) -> str:
    """gif / webp / apng / mp4 / frames (a folder of PNGs) / strip (one contact-sheet image)."""
    if kind == "strip":
        suffix = Path(path).suffix.lower()
        if suffix not in _STRIP_FORMATS:
            raise InputError(f"A strip is one image: use .png, .jpg or .webp, not {suffix or 'no extension'}")
        return "strip"
    if kind is not None:
        return kind
    return format_for_path(path)


def _durations(count: int, options: ExportOptions) -> list[int]:
    durations = [options.frame_duration_ms] * count
    durations[-1] += round(options.hold_last_s * 1000)
    return durations


def _os_error(exc: OSError, path: Path) -> InputError:
    if exc.errno == errno.ENOSPC:
        return InputError(f"The disk is full; {path.name} was not written")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return InputError(f"Cannot write to {path.parent}: it is read-only; choose another place to save")
    return InputError(f"Could not write {path.name}: {exc.strerror or exc}")


def _normalise_frames(frames) -> Sequence:
    if isinstance(frames, np.ndarray) or (len(frames) and isinstance(frames[0], np.ndarray)):
        return frames_from_images(frames)
    if not len(frames):
        raise InputError("There are no frames to export")
    return frames


def compose_frames(frames, options: ExportOptions | None = None, *, max_frames: int | None = None) -> list[np.ndarray]:
    """The pictures an export would contain, after selection, view, grid, scale and caption."""
    options = options or ExportOptions()
    frames = _normalise_frames(frames)
    limit = options.max_frames if max_frames is None else max_frames
    indices = select_frames(frames, options.t_range, limit, options.spacing)
    return [compose_frame(frames[i], options) for i in indices]


def _check_sizes(image: np.ndarray, first: np.ndarray) -> None:
    if image.shape != first.shape:
        raise InputError(f"All frames must have the same size; got {first.shape[:2]} and {image.shape[:2]}")


def iter_export(
    frames,
    path: str | os.PathLike,
    options: ExportOptions | None = None,
    *,
    kind: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[ExportProgress, None, ExportResult]:
    """Yield :class:`ExportProgress` while exporting; the generator *returns* the :class:`ExportResult`.

    ``kind`` overrides the format implied by the extension ("strip" for a contact sheet).
    Stopping (``should_stop()`` true, or closing the generator) writes nothing.
    """
    options = options or ExportOptions()
    path = Path(path)
    kind = output_kind(path, kind)
    if kind == "mp4" and mp4_backend() is None:
        raise InputError(MP4_MISSING)
    check_writable_dir(path.parent if str(path.parent) else Path("."))
    frames = _normalise_frames(frames)
    limit = options.max_frames
    if kind == "strip":
        limit = min(limit or options.strip_frames, options.strip_frames)
    indices = select_frames(frames, options.t_range, limit, options.spacing)
    stop = should_stop or (lambda: False)
    try:
        if kind in ("gif", "webp", "apng"):
            return (yield from _export_animation(frames, indices, path, kind, options, stop))
        if kind == "mp4":
            return (yield from _export_mp4(frames, indices, path, options, stop))
        if kind == "frames":
            return (yield from _export_folder(frames, indices, path, options, stop))
        return (yield from _export_strip(frames, indices, path, options, stop))
    except OSError as exc:
        raise _os_error(exc, path) from exc


class _Cancelled(Exception):
    """Raised inside atomic_write to drop the temp file of a cancelled export."""


def _cancelled(path: Path, kind: str) -> ExportResult:
    return ExportResult(path, kind, 0, 0, 0, 0, 0.0, cancelled=True)


def _export_animation(frames, indices, path, kind, options, stop):
    total = len(indices) + 1
    pictures: list = []
    first = None
    for n, i in enumerate(indices):
        if stop():
            return _cancelled(path, kind)
        image = compose_frame(frames[i], options)
        first = image if first is None else first
        _check_sizes(image, first)
        pictures.append(gif_frame(image, options.palette) if kind == "gif" else image)
        yield ExportProgress(n + 1, total, f"Frame {n + 1} of {len(indices)}")
    if stop():
        return _cancelled(path, kind)
    yield ExportProgress(len(indices), total, f"Encoding {kind.upper()}")
    durations = _durations(len(pictures), options)
    try:
        with atomic_write(path, "wb") as handle:
            if kind == "gif":
                save_gif(pictures, handle, durations, options.loop)
            elif kind == "webp":
                save_webp(pictures, handle, durations, options.loop, options.quality)
            else:
                save_apng(pictures, handle, durations, options.loop)
            if stop():  # cancelled while encoding: the temp file goes, the target stays as it was
                raise _Cancelled
    except _Cancelled:
        return _cancelled(path, kind)
    yield ExportProgress(total, total, "Done")
    return ExportResult(
        path, kind, len(pictures), first.shape[1], first.shape[0], path.stat().st_size, sum(durations) / 1000.0
    )


def _export_mp4(frames, indices, path, options, stop):
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    done = False
    try:
        first = compose_frame(frames[indices[0]], options)
        writer = Mp4Writer(tmp_name, (first.shape[1], first.shape[0]), options.fps, options.quality)
        try:
            for n, i in enumerate(indices):
                if stop():
                    return _cancelled(path, "mp4")
                image = first if n == 0 else compose_frame(frames[i], options)
                _check_sizes(image, first)
                writer.write(image)
                yield ExportProgress(n + 1, len(indices) + 1, f"Frame {n + 1} of {len(indices)}")
            for _ in range(round(options.hold_last_s * options.fps)):
                writer.write(image)
        finally:
            with contextlib.suppress(Exception):
                writer.close()
        if stop():
            return _cancelled(path, "mp4")
        if os.path.getsize(tmp_name) == 0:
            raise InputError(f"ffmpeg wrote nothing for {path.name}")
        os.replace(tmp_name, path)
        done = True
    except (RuntimeError, BrokenPipeError) as exc:  # ffmpeg died: disk full, bad size …
        raise InputError(f"Could not write the video {path.name}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}") from exc
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    count = len(indices) + round(options.hold_last_s * options.fps)
    yield ExportProgress(len(indices) + 1, len(indices) + 1, "Done")
    return ExportResult(path, "mp4", count, first.shape[1], first.shape[0], path.stat().st_size, count / options.fps)


def _frame_file_name(n: int, frame) -> str:
    t = getattr(frame, "t", None)
    if t is None:
        return f"frame_{n:04d}.png"
    return f"frame_{n:04d}_final.png" if t < 0 else f"frame_{n:04d}_t{int(t):04d}.png"


def _export_folder(frames, indices, path, options, stop):
    """PNG frames into ``path`` (created if needed); written into a temp folder, then moved in."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} is a file, not a folder")
    parent = path.parent if str(path.parent) else Path(".")
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    first = None
    try:
        names = []
        for n, i in enumerate(indices):
            if stop():
                return _cancelled(path, "frames")
            image = compose_frame(frames[i], options)
            first = image if first is None else first
            _check_sizes(image, first)
            names.append(_frame_file_name(n, frames[i]))
            with open(tmp_dir / names[-1], "wb") as handle:
                save_png(image, handle)
                handle.flush()
                os.fsync(handle.fileno())
            yield ExportProgress(n + 1, len(indices) + 1, f"Frame {n + 1} of {len(indices)}")
        if stop():
            return _cancelled(path, "frames")
        if not path.exists():
            os.replace(tmp_dir, path)
        else:
            check_writable_dir(path)
            for name in names:
                os.replace(tmp_dir / name, path / name)
        total_bytes = sum((path / name).stat().st_size for name in names)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    yield ExportProgress(len(indices) + 1, len(indices) + 1, "Done")
    playback = sum(_durations(len(indices), options)) / 1000.0
    return ExportResult(path, "frames", len(indices), first.shape[1], first.shape[0], total_bytes, playback)


def _export_strip(frames, indices, path, options, stop):
    yield ExportProgress(0, 2, "Composing the strip")
    sheet = contact_strip([frames[i] for i in indices], options)
    if stop():
        return _cancelled(path, "strip")
    image = Image.fromarray(sheet[..., 0] if sheet.shape[-1] == 1 else sheet)
    try:
        with atomic_write(path, "wb") as handle:
            fmt = _STRIP_FORMATS[path.suffix.lower()]
            image.save(handle, format=fmt, **({"quality": options.quality} if fmt != "PNG" else {}))
            if stop():
                raise _Cancelled
    except _Cancelled:
        return _cancelled(path, "strip")
    yield ExportProgress(2, 2, "Done")
    return ExportResult(path, "strip", len(indices), image.width, image.height, path.stat().st_size, 0.0)


def export_frames(
    frames,
    path: str | os.PathLike,
    options: ExportOptions | None = None,
    *,
    kind: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExportResult:
    """Blocking :func:`iter_export`: write ``frames`` to ``path`` (format by extension) and return the result."""
    gen = iter_export(frames, path, options, kind=kind, should_stop=should_stop)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def write_animation(images, path, *, fps: float = 12.0, loop: bool = True, hold_last_s: float = 1.0, **options) -> ExportResult:
    """Plain uint8 images (a list or an (F, H, W[, C]) array) → an animation or frames folder at ``path``."""
    opts = ExportOptions(fps=fps, loop=loop, hold_last_s=hold_last_s, **options)
    return export_frames(frames_from_images(images), path, opts)


def estimate_size(frames, path_or_kind: str | os.PathLike, options: ExportOptions | None = None) -> SizeEstimate:
    """A quick guess of the file size: encodes up to three of the selected frames and scales up."""
    options = options or ExportOptions()
    text = os.fspath(path_or_kind)
    kind = text if text in ("gif", "webp", "apng", "mp4", "frames", "strip") else output_kind(text)
    frames = _normalise_frames(frames)
    limit = options.max_frames
    if kind == "strip":
        limit = min(limit or options.strip_frames, options.strip_frames)
    indices = select_frames(frames, options.t_range, limit, options.spacing)
    if kind == "strip":
        sheet = contact_strip([frames[i] for i in indices], options)
        buffer = io.BytesIO()
        save_png(sheet, buffer)
        return SizeEstimate(buffer.tell(), len(indices), sheet.shape[1], sheet.shape[0])
    probe = sorted({indices[0], indices[len(indices) // 2], indices[-1]})
    images = [compose_frame(frames[i], options) for i in probe]
    buffer = io.BytesIO()
    durations = [100] * len(images)
    if kind == "gif":
        save_gif([gif_frame(im, options.palette) for im in images], buffer, durations, options.loop)
    elif kind == "apng":
        save_apng(images, buffer, durations, options.loop)
    elif kind == "frames":
        for image in images:
            save_png(image, buffer)
    else:  # webp, and mp4 roughly like lossy WebP
        save_webp(images, buffer, durations, options.loop, options.quality)
    count = len(indices) + (round(options.hold_last_s * options.fps) if kind == "mp4" else 0)
    per_frame = buffer.tell() / len(images)
    if kind == "mp4":
        per_frame *= 0.6  # inter-frame prediction
    h, w = images[0].shape[:2]
    return SizeEstimate(int(per_frame * count), count, w, h)


def write_chain_gif(frames, path: str | os.PathLike, options: ExportOptions | None = None) -> ExportResult:
    """The reverse chain as an animation (x_t grid by default, last frame held 1.5 s); format by extension."""
    return export_frames(frames, path, options or ExportOptions(fps=12.5, hold_last_s=1.5))
