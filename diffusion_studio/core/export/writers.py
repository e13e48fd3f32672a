"""Encoders that stream: each frame goes to the file as it comes, so memory stays at about two frames.

GIF, animated WebP and APNG are written frame by frame by the writers below (the export
used to compose every frame first and hand them all to Pillow's ``save_all``: 4.6 GB for
10 000 WebP frames); MP4 goes
through ffmpeg (imageio-ffmpeg or PyAV). Every writer takes composed uint8 frames
(H, W, C) with their duration in ms; identical consecutive frames are merged into one
that stays on screen longer, as Pillow did. The caller owns atomicity (it hands a temp
file or a temp path).

- **GIF**: each frame is encoded by Pillow's own GIF writer together with the frame before
  it (so it gets Pillow's sub-rectangle and transparency optimisation against that frame),
  and only its own blocks are kept. The file is byte for byte the one Pillow's
  ``save_all`` writes for the same pictures (``tests/core/test_export.py``).
- **APNG**: IHDR, acTL, then per frame an fcTL and the frame's zlib stream (IDAT for the
  first, fdAT after), each frame cropped to what changed, as Pillow does.
- **WebP**: libwebp's animation encoder (Pillow's ``save_all``, so the same file), fed one
  frame at a time from a thread. It keeps the frames it has encoded as compressed data until
  the end, so its memory grows with the file's size (the export refuses, with the estimate,
  a WebP that would not fit); writing the container ourselves made files 1.8× larger, because
  libwebp also makes pixels that barely changed transparent.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import queue
import struct
import threading
import zlib
from fractions import Fraction
from typing import BinaryIO

import numpy as np
from PIL import Image

from ..errors import InputError
from .palette import gif_frame

__all__ = [
    "AnimationWriter",
    "ApngWriter",
    "FORMAT_MAX_SIDE",
    "GifWriter",
    "MP4_MISSING",
    "Mp4Writer",
    "WebpWriter",
    "animation_writer",
    "check_frame_size",
    "mp4_backend",
    "save_png",
]

MP4_MISSING = (
    "MP4 export needs ffmpeg: install the optional extra with "
    "`pip install \"diffusion-studio[video]\"` (imageio-ffmpeg) or `pip install av`; GIF, WebP and APNG work without it"
)

#: The largest width or height each format can store (GIF: 16-bit sizes; WebP: 14 bits;
#: H.264 as ffmpeg's libx264 writes it; APNG: far beyond any frame we allow).
FORMAT_MAX_SIDE = {"gif": 65535, "webp": 16383, "apng": 2**31 - 1, "mp4": 16384, "frames": 2**31 - 1, "strip": 2**31 - 1}


def check_frame_size(kind: str, width: int, height: int) -> None:
    """Refuse a frame size the format cannot store, before anything is encoded."""
    limit = FORMAT_MAX_SIDE.get(kind, 2**31 - 1)
    if max(width, height) > limit:
        raise InputError(
            f"{kind.upper()} frames can be at most {limit} pixels wide or high; these would be {width}×{height}. "
            "Lower the scale or export fewer samples"
        )


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def save_png(image: np.ndarray, handle) -> None:
    _pil(image).save(handle, format="PNG", compress_level=6)


def _changed_box(previous: np.ndarray, image: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the pixels that differ; None when nothing does."""
    differs = np.any(previous != image, axis=-1)
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


class AnimationWriter:
    """Frames in, one at a time; the file grows as they come. Call :meth:`finish` once at the end.

    A frame identical to the one before it is not written again: the earlier one stays on
    screen for both durations. So each writer sees distinct frames only, one step late.
    """

    def __init__(self, handle: BinaryIO, size: tuple[int, int], loop: bool):
        self.handle, self.size, self.loop = handle, size, loop
        self.frames_written = 0
        self._pending: tuple[object, int] | None = None  # (picture, duration ms) not written yet

    def add(self, image: np.ndarray, duration_ms: int) -> None:
        picture = self._picture(image)
        if self._pending is not None:
            if self._same(self._pending[0], picture):
                self._pending = (self._pending[0], self._pending[1] + duration_ms)
                return
            self._write(*self._pending, following=picture)
            self.frames_written += 1
        self._pending = (picture, duration_ms)

    def finish(self) -> None:
        if self._pending is not None:
            self._write(*self._pending, following=None)
            self.frames_written += 1
            self._pending = None
        self._end()

    def abort(self) -> None:
        """Give up (a cancelled or failed export): the caller drops what was written."""

    # -- what each format defines
    def _picture(self, image: np.ndarray):
        return image

    def _same(self, a, b) -> bool:
        return np.array_equal(a, b)

    def _write(self, picture, duration_ms: int, following) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------------- GIF


def _gif_blocks(data: bytes) -> tuple[bytes, list[bytes]]:
    """Split a GIF into (header, frames) without the trailer.

    The header is the signature, screen descriptor, global colours and the extensions that
    come before the first frame (loop, comment); a frame is its graphic control extension,
    image descriptor, local colours and image data.
    """
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    header_end, frame_start, frames = None, None, []
    while data[pos] != 0x3B:  # the trailer
        if data[pos] == 0x21:  # an extension: its label, then sub-blocks
            end = _after_sub_blocks(data, pos + 2)
            if frame_start is None and (data[pos + 1] == 0xF9 or frames):
                frame_start = pos
        elif data[pos] == 0x2C:  # an image: descriptor, local colours, LZW code size, sub-blocks
            frame_start = pos if frame_start is None else frame_start
            packed = data[pos + 9]
            end = _after_sub_blocks(data, pos + 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0) + 1)
            header_end = frame_start if header_end is None else header_end
            frames.append(data[frame_start:end])
            frame_start = None
        else:
            raise ValueError(f"unexpected GIF block 0x{data[pos]:02x} at {pos}")
        pos = end
    return data[:header_end], frames


def _after_sub_blocks(data: bytes, pos: int) -> int:
    while data[pos]:
        pos += data[pos] + 1
    return pos + 1


class GifWriter(AnimationWriter):
    """GIF written frame by frame with Pillow's encoder (see the module's note)."""

    def __init__(self, handle: BinaryIO, size: tuple[int, int], loop: bool, palette: str = "high"):
        super().__init__(handle, size, loop)
        self.palette = palette
        self._previous: Image.Image | None = None  # the last frame written

    def _picture(self, image: np.ndarray) -> Image.Image:
        return gif_frame(image, self.palette)

    def _same(self, a: Image.Image, b: Image.Image) -> bool:
        if a.mode == b.mode and a.getpalette() == b.getpalette():
            return a.tobytes() == b.tobytes()
        return a.convert("RGB").tobytes() == b.convert("RGB").tobytes()

    def _encode(self, pictures: list[Image.Image], durations: list[int]) -> bytes:
        buffer = io.BytesIO()
        extra = {"loop": 0} if self.loop else {}
        pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=durations, disposal=1, **extra)
        return buffer.getvalue()

    def _write(self, picture: Image.Image, duration_ms: int, following) -> None:
        if self._previous is None:
            if following is None:  # a single picture: Pillow writes a still GIF
                self.handle.write(self._encode([picture], [duration_ms])[:-1])
            else:  # the header and first frame as Pillow writes them at the start of an animation
                header, frames = _gif_blocks(self._encode([picture, following], [duration_ms, duration_ms]))
                self.handle.write(header + frames[0])
        else:
            _, frames = _gif_blocks(self._encode([self._previous, picture], [duration_ms, duration_ms]))
            self.handle.write(frames[1])
        self._previous = picture

    def _end(self) -> None:
        self.handle.write(b";")


# ---------------------------------------------------------------------------- APNG


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _png_parts(image: np.ndarray) -> tuple[bytes, bytes]:
    """(IHDR payload, the concatenated IDAT payloads) of ``image`` encoded by Pillow."""
    buffer = io.BytesIO()
    _pil(image).save(buffer, format="PNG", optimize=False, compress_level=6)
    data, pos, ihdr, idat = buffer.getvalue(), 8, b"", []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        payload = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = payload
        elif kind == b"IDAT":
            idat.append(payload)
        pos += 12 + length
    return ihdr, b"".join(idat)


def _apng_delay(duration_ms: int) -> tuple[int, int]:
    delay = Fraction(duration_ms / 1000).limit_denominator(65535)
    if delay.numerator > 65535:
        raise InputError(f"A frame of {duration_ms / 1000:g} s is longer than APNG can store")
    return delay.numerator, delay.denominator


class ApngWriter(AnimationWriter):
    """APNG written frame by frame: no disposal, frames replace what they cover (as Pillow writes them)."""

    _SIGNATURE = b"\x89PNG\r\n\x1a\n"

    def __init__(self, handle: BinaryIO, size: tuple[int, int], loop: bool):
        super().__init__(handle, size, loop)
        self._previous: np.ndarray | None = None
        self._sequence = 0
        self._count_at: int | None = None  # where acTL's frame count is, patched at the end

    def _write(self, image: np.ndarray, duration_ms: int, following) -> None:
        if self._previous is None and following is None:  # one picture: a plain PNG
            ihdr, data = _png_parts(image)
            self.handle.write(self._SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data))
            self._previous = image
            return
        box = (0, 0, image.shape[1], image.shape[0])
        if self._previous is not None:
            box = _changed_box(self._previous, image) or (0, 0, 1, 1)
        left, top, right, bottom = box
        ihdr, data = _png_parts(image[top:bottom, left:right])
        if self._previous is None:
            self.handle.write(self._SIGNATURE + _png_chunk(b"IHDR", ihdr))
            self._count_at = self.handle.tell() + 8
            self.handle.write(_png_chunk(b"acTL", struct.pack(">II", 0, 0 if self.loop else 1)))
        numerator, denominator = _apng_delay(duration_ms)
        control = struct.pack(">IIIIIHHBB", self._sequence, right - left, bottom - top, left, top,
                              numerator, denominator, 0, 0)  # dispose: none; blend: source
        self.handle.write(_png_chunk(b"fcTL", control))
        self._sequence += 1
        if self._previous is None:
            self.handle.write(_png_chunk(b"IDAT", data))
        else:
            self.handle.write(_png_chunk(b"fdAT", struct.pack(">I", self._sequence) + data))
            self._sequence += 1
        self._previous = image

    def _end(self) -> None:
        self.handle.write(_png_chunk(b"IEND", b""))
        if self._count_at is not None:  # the number of frames is known only now (merges)
            end = self.handle.tell()
            payload = struct.pack(">II", self.frames_written, 0 if self.loop else 1)
            self.handle.seek(self._count_at)
            self.handle.write(payload + struct.pack(">I", zlib.crc32(b"acTL" + payload) & 0xFFFFFFFF))
            self.handle.seek(end)


# ---------------------------------------------------------------------------- WebP


class _Aborted(Exception):
    """Ends an encoder thread whose export was cancelled or failed."""


class _PulledFrames(Image.Image):
    """A multi-frame Pillow image whose frames arrive one by one: ``seek(i)`` waits for frame i.

    Pillow's WebP ``save_all`` walks an image's frames with ``seek``; given this image it
    encodes each frame as it comes and never sees the next one early.
    """

    def __init__(self, first: Image.Image, count: int, handoff: queue.Queue):
        super().__init__()
        self.n_frames, self.is_animated = count, count > 1
        self._handoff, self._index = handoff, 0
        self._show(first)

    def _show(self, picture: Image.Image) -> None:
        self.im, self._mode, self._size = picture.im, picture.mode, picture.size

    def seek(self, frame: int) -> None:
        if frame <= self._index:  # Pillow seeks back only to restore the position after saving
            return
        if frame != self._index + 1:
            raise EOFError("frames come in order")
        picture = self._handoff.get()
        if picture is None:
            raise _Aborted
        self._show(picture)
        self._index = frame

    def tell(self) -> int:
        return self._index


class WebpWriter(AnimationWriter):
    """Animated WebP by libwebp's animation encoder (what Pillow's ``save_all`` uses, so the same file).

    The encoder runs on a thread and takes each frame as it is added; it keeps frames only as
    compressed data and writes the file at the end, so memory grows with the file's size, not
    with the frames'. It merges identical frames itself. ``durations`` (ms) gives every frame's
    duration up front, as libwebp wants them.
    """

    def __init__(self, handle: BinaryIO, size: tuple[int, int], loop: bool, quality: int, durations: list[int]):
        super().__init__(handle, size, loop)
        self.quality, self.durations = quality, durations
        self._handoff: queue.Queue = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def add(self, image: np.ndarray, duration_ms: int) -> None:
        picture = _pil(image).convert("RGB")
        if self._thread is None:
            self._thread = threading.Thread(target=self._encode, args=(picture,), name="webp-encoder", daemon=True)
            self._thread.start()
        else:
            while self._thread.is_alive():  # never wait on an encoder that stopped
                with contextlib.suppress(queue.Full):
                    self._handoff.put(picture, timeout=0.1)
                    break
        self.frames_written += 1
        self._raise_error()

    def _encode(self, first: Image.Image) -> None:
        try:
            frames = _PulledFrames(first, len(self.durations), self._handoff)
            frames.save(self.handle, format="WEBP", save_all=True, duration=self.durations,
                        loop=0 if self.loop else 1, lossless=self.quality >= 100, quality=self.quality, method=4)
        except BaseException as exc:  # noqa: BLE001 - handed to the exporting thread
            self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None and not isinstance(self._error, _Aborted):
            raise self._error

    def finish(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self._raise_error()

    def abort(self) -> None:
        """Stop the encoder thread (a cancelled or failed export); nothing more is written."""
        while self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._handoff.get_nowait()  # a frame the encoder will not need now
            with contextlib.suppress(queue.Full):
                self._handoff.put(None, timeout=0.1)  # its next seek() ends it
            self._thread.join(timeout=0.1)


def animation_writer(kind: str, handle: BinaryIO, size: tuple[int, int], options,
                     durations: list[int]) -> AnimationWriter:
    """The streaming writer for ``kind`` ("gif", "webp", "apng") with the export ``options``;
    ``durations`` are the frames' durations in ms, in order (WebP needs them up front)."""
    check_frame_size(kind, *size)
    if kind == "gif":
        return GifWriter(handle, size, options.loop, options.palette)
    if kind == "webp":
        return WebpWriter(handle, size, options.loop, options.quality, durations)
    if kind == "apng":
        return ApngWriter(handle, size, options.loop)
    raise ValueError(f"no streaming writer for {kind!r}")


# ---------------------------------------------------------------------------- MP4


def mp4_backend() -> str | None:
    """"imageio-ffmpeg", "pyav", or None when no ffmpeg is importable."""
    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        return "imageio-ffmpeg"
    if importlib.util.find_spec("av") is not None:
        return "pyav"
    return None


def _even(image: np.ndarray) -> np.ndarray:
    # yuv420p needs even sizes: repeat the last row / column
    h, w = image.shape[:2]
    if h % 2:
        image = np.concatenate([image, image[-1:]], axis=0)
    if w % 2:
        image = np.concatenate([image, image[:, -1:]], axis=1)
    return np.ascontiguousarray(image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1))


class Mp4Writer:
    """H.264 MP4 (yuv420p, plays everywhere) written frame by frame to ``path``."""

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float, quality: int = 90):
        self.backend = mp4_backend()
        if self.backend is None:
            raise InputError(MP4_MISSING)
        check_frame_size("mp4", *size)
        width, height = size[0] + size[0] % 2, size[1] + size[1] % 2
        crf = int(round(35 - quality * 0.17))  # quality 90 → crf 20, 100 → 18, 50 → 26
        if self.backend == "imageio-ffmpeg":
            import imageio_ffmpeg

            self._gen = imageio_ffmpeg.write_frames(
                os.fspath(path),
                (width, height),
                fps=fps,
                codec="libx264",
                pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p",
                macro_block_size=1,
                output_params=["-crf", str(crf), "-movflags", "+faststart", "-f", "mp4"],  # the temp name is .tmp
                ffmpeg_log_level="error",
            )
            self._gen.send(None)
        else:  # pragma: no cover - PyAV is not installed in CI
            import av

            self._container = av.open(os.fspath(path), mode="w", format="mp4")
            self._stream = self._container.add_stream("libx264", rate=round(fps))
            self._stream.width, self._stream.height = width, height
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(crf)}

    def write(self, image: np.ndarray) -> None:
        frame = _even(image)
        if self.backend == "imageio-ffmpeg":
            self._gen.send(frame.tobytes())
        else:  # pragma: no cover
            import av

            for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                self._container.mux(packet)

    def close(self) -> None:
        if self.backend == "imageio-ffmpeg":
            self._gen.close()
        else:  # pragma: no cover
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
