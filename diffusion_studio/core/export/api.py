"""Export frames to a file: a cancellable generator (for GUI workers) and a blocking call.

The output path is checked before any frame is composed (a folder where a file should be,
a FIFO or a device, a missing or read-only folder are refused). Frames are composed and
written one at a time, so memory does not grow with their number. Every file is written
atomically, and a cancelled or failed export leaves no partial file or folder behind.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator, Sequence

import numpy as np
from PIL import Image

from ..atomic import atomic_folder, atomic_path, atomic_write, check_replaceable, check_writable_dir, write_error
from ..errors import InputError, printable
from .compose import compose_frame, contact_strip, physical_memory
from .options import MAX_EXPORT_FRAMES, ExportOptions, format_for_path
from .sources import frames_from_images, select_frames
from .writers import MP4_MISSING, Mp4Writer, animation_writer, check_frame_size, mp4_backend, save_png

__all__ = [
    "ExportProgress",
    "ExportResult",
    "SizeEstimate",
    "check_output_path",
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
        return f"Wrote {printable(self.path)} ({self.format}, {self.frame_count} frames, {self.width}×{self.height}, {size})"


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
    """gif / webp / apng / mp4 / frames (a folder of PNGs) / strip (one contact-sheet image).

    ``kind=None`` follows the path (a folder or a path without an extension is a folder of
    frames); ``kind="animation"`` follows the extension but never means a folder (what a
    ``--gif FILE`` option wants); "strip", "frames" and a format name are taken as given.
    """
    if kind == "strip":
        suffix = Path(path).suffix.lower()
        if suffix not in _STRIP_FORMATS:
            raise InputError(f"A strip is one image: use .png, .jpg or .webp, not {suffix or 'no extension'}")
        return "strip"
    if kind == "animation":
        found = format_for_path(path)
        if found == "frames":
            text = os.fspath(path)
            if text.endswith((os.sep, "/")) or Path(text).is_dir():
                raise InputError(f"{printable(path)} names a folder; an animation needs a file name such as "
                                 "chain.gif (.gif, .webp, .png or .mp4)")
            check_replaceable(text)  # a device or a FIFO says what it is
            raise InputError(f"{printable(path)} has no extension; name the animation .gif, .webp, .png or .mp4")
        return found
    if kind is not None:
        return kind
    return format_for_path(path)


def check_output_path(path: str | os.PathLike, kind: str | None = None) -> str:
    """Refuse, before any work, an output ``path`` the export could not write; return its kind.

    A file output (gif, webp, apng, mp4, strip) must not be, or end like, a folder, and must
    be a regular file or not exist (a FIFO or a device is never replaced); a frames folder
    must not be a file. The folder it goes into must exist and be writable.
    """
    kind = output_kind(path, kind)
    text, target = os.fspath(path), Path(path)
    if kind == "frames":
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise InputError(f"{printable(target)} is not a folder; PNG frames need a folder")
    else:
        if text.endswith((os.sep, "/")) or target.is_dir():
            raise InputError(f"{printable(target)} is a folder; give a file name for the {kind.upper()} inside it")
        check_replaceable(target)
    check_writable_dir(target.parent if str(target.parent) else Path("."))
    if kind == "mp4" and mp4_backend() is None:
        raise InputError(MP4_MISSING)
    return kind


def _duration_ms(index: int, count: int, options: ExportOptions) -> int:
    """How long frame ``index`` of ``count`` stays on screen; the last one is held longer."""
    extra = round(options.hold_last_s * 1000) if index == count - 1 else 0
    return options.frame_duration_ms + extra


def _normalise_frames(frames) -> Sequence:
    if isinstance(frames, np.ndarray) or (isinstance(frames, (list, tuple)) and frames
                                          and isinstance(frames[0], np.ndarray)):
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


def iter_export(
    frames,
    path: str | os.PathLike,
    options: ExportOptions | None = None,
    *,
    kind: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[ExportProgress, None, ExportResult]:
    """Yield :class:`ExportProgress` while exporting; the generator *returns* the :class:`ExportResult`.

    ``kind`` overrides the format implied by the extension ("strip" for a contact sheet,
    "animation" for an animation file that must not be a folder; see :func:`output_kind`).
    Stopping (``should_stop()`` true, or closing the generator) writes nothing.
    """
    options = options or ExportOptions()
    kind = check_output_path(path, kind)  # before Path(): it drops the "/" that says "a folder"
    path = Path(path)
    frames = _normalise_frames(frames)
    limit = options.max_frames
    if kind == "strip":
        limit = min(limit or options.strip_frames, options.strip_frames)
    indices = select_frames(frames, options.t_range, limit, options.spacing)
    if len(indices) > MAX_EXPORT_FRAMES:
        raise InputError(f"{len(indices)} frames are more than one export writes ({MAX_EXPORT_FRAMES}); "
                         "keep fewer frames (--frames N) or choose a narrower range of t")
    stop = should_stop or (lambda: False)
    try:
        if kind in ("gif", "webp", "apng"):
            return (yield from _export_animation(frames, indices, path, kind, options, stop))
        if kind == "mp4":
            return (yield from _export_mp4(frames, indices, path, options, stop))
        if kind == "frames":
            return (yield from _export_folder(frames, indices, path, options, stop))
        return (yield from _export_strip(frames, indices, path, options, stop))
    except _Cancelled:
        return ExportResult(path, kind, 0, 0, 0, 0, 0.0, cancelled=True)
    except OSError as exc:
        raise write_error(exc, path) from exc


class _Cancelled(Exception):
    """Raised inside an atomic write to drop what a cancelled export had written."""


def _composed(frames, indices, options, stop) -> Generator[tuple[int, np.ndarray], None, None]:
    """(n, picture) for each selected frame, composed one at a time; all must have one size."""
    first = None
    for n, i in enumerate(indices):
        if stop():
            raise _Cancelled
        image = compose_frame(frames[i], options)
        if first is None:
            first = image.shape
        elif image.shape != first:
            raise InputError(f"All frames must have the same size; got {first[:2]} and {image.shape[:2]}")
        yield n, image


def _export_animation(frames, indices, path, kind, options, stop):
    total = len(indices) + 1
    count = len(indices)
    durations = [_duration_ms(n, count, options) for n in range(count)]
    with atomic_write(path, "wb") as handle:
        writer = None
        try:
            for n, image in _composed(frames, indices, options, stop):
                if writer is None:
                    width, height = image.shape[1], image.shape[0]
                    writer = animation_writer(kind, handle, (width, height), options, durations)
                    if kind == "webp":
                        _check_webp_memory(image, count, options, path)
                writer.add(image, durations[n])
                yield ExportProgress(n + 1, total, f"Frame {n + 1} of {count}")
            writer.finish()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if stop():  # cancelled while finishing: the temp file goes, the target stays as it was
            raise _Cancelled
    yield ExportProgress(total, total, "Done")
    return ExportResult(path, kind, count, width, height, path.stat().st_size, sum(durations) / 1000.0)


def _check_webp_memory(first: np.ndarray, count: int, options: ExportOptions, path: Path) -> None:
    """libwebp holds the whole file in memory until the end (twice, briefly): refuse what would not fit."""
    probe = io.BytesIO()
    Image.fromarray(first[..., 0] if first.shape[-1] == 1 else first).convert("RGB").save(
        probe, format="WEBP", quality=options.quality, lossless=options.quality >= 100, method=0)
    needed = 2 * probe.tell() * count  # a still frame is an upper bound for an animation frame
    if needed > physical_memory() // 4:
        raise InputError(
            f"{printable(path.name)} would be about {probe.tell() * count / 2**30:.1f} GB, and a WebP is put together "
            "in memory; export fewer frames (--frames), a smaller scale, or a GIF, APNG or MP4 (written as they go)")


def _export_mp4(frames, indices, path, options, stop):
    count = len(indices)
    with atomic_path(path) as tmp_path:
        writer = None
        try:
            for n, image in _composed(frames, indices, options, stop):
                if writer is None:
                    writer = Mp4Writer(tmp_path, (image.shape[1], image.shape[0]), options.fps, options.quality)
                    width, height = image.shape[1], image.shape[0]
                writer.write(image)
                yield ExportProgress(n + 1, count + 1, f"Frame {n + 1} of {count}")
            for _ in range(round(options.hold_last_s * options.fps)):
                writer.write(image)
        except (RuntimeError, BrokenPipeError) as exc:  # ffmpeg died: disk full, bad size …
            lines = str(exc).strip().splitlines()
            raise InputError(f"Could not write the video {printable(path.name)}: {lines[-1] if lines else exc}") from exc
        finally:
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        if stop():
            raise _Cancelled
    total = count + round(options.hold_last_s * options.fps)
    yield ExportProgress(count + 1, count + 1, "Done")
    return ExportResult(path, "mp4", total, width, height, path.stat().st_size, total / options.fps)


def _frame_file_name(n: int, frame) -> str:
    t = getattr(frame, "t", None)
    if t is None:
        return f"frame_{n:04d}.png"
    return f"frame_{n:04d}_final.png" if t < 0 else f"frame_{n:04d}_t{int(t):04d}.png"


def _export_folder(frames, indices, path, options, stop):
    """PNG frames into ``path`` (created if needed); written into a temp folder, then moved in."""
    count = len(indices)
    names = []
    with atomic_folder(path) as tmp_dir:
        for n, image in _composed(frames, indices, options, stop):
            names.append(_frame_file_name(n, frames[indices[n]]))
            with open(tmp_dir / names[-1], "wb") as handle:
                save_png(image, handle)
                handle.flush()
                os.fsync(handle.fileno())
            width, height = image.shape[1], image.shape[0]
            yield ExportProgress(n + 1, count + 1, f"Frame {n + 1} of {count}")
        if stop():
            raise _Cancelled
    total_bytes = sum((path / name).stat().st_size for name in names)
    yield ExportProgress(count + 1, count + 1, "Done")
    playback = sum(_duration_ms(n, count, options) for n in range(count)) / 1000.0
    return ExportResult(path, "frames", count, width, height, total_bytes, playback)


def _export_strip(frames, indices, path, options, stop):
    yield ExportProgress(0, 2, "Composing the strip")
    sheet = contact_strip([frames[i] for i in indices], options)
    if stop():
        raise _Cancelled
    image = Image.fromarray(sheet[..., 0] if sheet.shape[-1] == 1 else sheet)
    fmt = _STRIP_FORMATS[path.suffix.lower()]
    check_frame_size("webp" if fmt == "WEBP" else "strip", image.width, image.height)
    with atomic_write(path, "wb") as handle:
        image.save(handle, format=fmt, **({"quality": options.quality} if fmt != "PNG" else {}))
        if stop():
            raise _Cancelled
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
    if kind == "frames":
        for image in images:
            save_png(image, buffer)
    else:  # mp4 roughly like lossy WebP
        writer = animation_writer("webp" if kind == "mp4" else kind, buffer, images[0].shape[1::-1], options,
                                  [100] * len(images))
        for image in images:
            writer.add(image, 100)
        writer.finish()
    count = len(indices) + (round(options.hold_last_s * options.fps) if kind == "mp4" else 0)
    per_frame = buffer.tell() / len(images)
    if kind == "mp4":
        per_frame *= 0.6  # inter-frame prediction
    h, w = images[0].shape[:2]
    return SizeEstimate(int(per_frame * count), count, w, h)


def write_chain_gif(frames, path: str | os.PathLike, options: ExportOptions | None = None) -> ExportResult:
    """The reverse chain as an animation (x_t grid by default, last frame held 1.5 s); format by extension.

    ``path`` must name a file: a folder is refused (see :func:`output_kind`, ``kind="animation"``).
    """
    return export_frames(frames, path, options or ExportOptions(fps=12.5, hold_last_s=1.5), kind="animation")
