"""Robust image loading and conversion between uint8 pictures and [-1, 1] arrays.

Whatever a user drops in — a phone JPEG with EXIF rotation, a 16-bit TIFF, a
palette GIF, a CMYK print file, a truncated download, a text file renamed .png,
a decompression bomb — :func:`load_image` either returns a uint8 array or raises
:class:`ImageLoadError` with a sentence a person can act on.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import file_kind
from .errors import InputError, printable

__all__ = [
    "ImageLoadError",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "check_pixel_count",
    "load_image",
    "open_image_file",
    "open_pil",
    "pixel_limit",
    "to_rgb_or_gray",
    "resize_to_fit",
    "center_crop_resize",
    "uint8_to_float",
    "float_to_uint8",
]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})

#: Images with more pixels than this are refused as likely decompression bombs, before anything
#: is decoded: about 89.5 megapixels (e.g. 9459 × 9459), 268 MB as RGB. It is Pillow's own default
#: ``Image.MAX_IMAGE_PIXELS`` (1024³ / 12), so Pillow never warns about an image we accept.
MAX_PIXELS = 89_478_485

Source = Union[str, os.PathLike, bytes, bytearray]


class ImageLoadError(InputError):
    """An image could not be used; ``str(error)`` is a message for the user."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path
        self.reason = message


def _label(source: Source) -> str:
    return printable(Path(source).name) if isinstance(source, (str, os.PathLike)) else "the pasted image"


def pixel_limit() -> int:
    """The largest pixel count opened: :data:`MAX_PIXELS`, or Pillow's limit if someone lowered it."""
    pillow = Image.MAX_IMAGE_PIXELS
    return min(MAX_PIXELS, int(pillow)) if pillow else MAX_PIXELS


def check_pixel_count(width: int, height: int, label: str, path: str | None = None) -> None:
    """Refuse (ImageLoadError) a picture whose header declares more than :func:`pixel_limit` pixels."""
    if width * height > pixel_limit():
        raise ImageLoadError(
            f"{label} is {width}×{height} pixels, too large to open safely "
            f"(possible decompression bomb; the limit is {pixel_limit() / 1e6:.1f} megapixels)",
            path,
        )


def open_image_file(path: str | os.PathLike) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular, non-empty file; else ImageLoadError.

    A FIFO, a device or a socket is refused *without being opened* (opening a FIFO blocks
    until someone writes to it; opening a device can have effects). The file is opened
    non-blocking and checked again, so a name swapped for a FIFO in between cannot hang us.
    """
    path = os.fspath(path)
    label = _label(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ImageLoadError(f"Cannot read {label}: {_reason(exc)}", str(path)) from exc
    _check_regular(info, label, path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ImageLoadError(f"Cannot read {label}: {_reason(exc)}", str(path)) from exc
    try:
        _check_regular(os.fstat(fd), label, path)
    except ImageLoadError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "its symbolic links form a loop"
    return exc.strerror or str(exc)


def _check_regular(info: os.stat_result, label: str, path) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise ImageLoadError(f"{label} is a folder, not an image", str(path))
    if not stat.S_ISREG(info.st_mode):
        raise ImageLoadError(f"{label} is {file_kind(info.st_mode)}, not a file; it was not opened", str(path))
    if info.st_size == 0:
        raise ImageLoadError(f"{label} is empty (0 bytes)", str(path))


def open_pil(source: Source) -> Image.Image:
    """Open, fully decode and orient an image; raise ImageLoadError on anything unusable."""
    label = _label(source)
    path = None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        stream: BinaryIO = open_image_file(path)
    else:
        if len(source) == 0:
            raise ImageLoadError("The pasted data is empty")
        stream = io.BytesIO(bytes(source))

    try:
        with stream, Image.open(stream) as img:
            check_pixel_count(*img.size, label, path)
            img.seek(0)  # animated GIF/WebP/APNG: the first frame
            img.load()
            oriented = ImageOps.exif_transpose(img)
            return oriented if oriented is not img else img.copy()
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{label} is too large to open safely (possible decompression bomb)", path) from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{label} is not an image Diffusion Studio can read", path) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        detail = str(exc) or type(exc).__name__
        if "truncated" in detail.lower():
            raise ImageLoadError(f"{label} is truncated or corrupt (the file ends early)", path) from exc
        raise ImageLoadError(f"{label} is corrupt: {detail}", path) from exc
    except MemoryError as exc:
        raise ImageLoadError(f"{label} needs more memory than is available to decode", path) from exc


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba)


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    # I;16 / I / F: stretch the used range onto 0 … 255 instead of clipping at 255.
    values = np.asarray(img, dtype=np.float64)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if img.mode.startswith("I;16") and lo >= 0 and hi > 255:
        lo, hi = 0.0, 65535.0
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.clip((np.nan_to_num(values, nan=lo) - lo) * scale, 0, 255).round().astype(np.uint8)
    return Image.fromarray(out, mode="L")


def to_rgb_or_gray(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 'RGB' or 'L', compositing transparency on white."""
    mode = img.mode
    if mode in ("RGB", "L"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I") or mode == "F":
        return _high_bit_depth_to_l(img)
    if mode == "P":
        has_alpha = "transparency" in img.info or img.palette is not None and img.palette.mode == "RGBA"
        return _composite_on_white(img).convert("RGB") if has_alpha else img.convert("RGB")
    if mode in ("LA", "La"):
        return _composite_on_white(img).convert("L")
    if mode in ("RGBA", "RGBa", "PA"):
        return _composite_on_white(img).convert("RGB")
    if mode == "CMYK":
        return img.convert("RGB")
    return img.convert("RGB")  # YCbCr, LAB, HSV …


def load_image(source: Source, mode: str | None = "RGB") -> np.ndarray:
    """Load an image file (or encoded bytes) as a uint8 array.

    ``mode="RGB"`` gives (H, W, 3); ``mode="L"`` gives (H, W); ``mode=None`` keeps
    grayscale images as (H, W) and everything else as RGB.
    """
    img = to_rgb_or_gray(open_pil(source))
    if mode is not None and img.mode != mode:
        img = img.convert(mode)
    return np.asarray(img, dtype=np.uint8).copy()


def resize_to_fit(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (never upscale) so the longest side is at most ``max_side``."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    pil = Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[2] == 1 else image)
    # reducing_gap: Pillow first shrinks by an integer factor (fast), then resamples.
    out = np.asarray(pil.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
    return out[:, :, None] if image.ndim == 3 and out.ndim == 2 else out


def center_crop_resize(img: Image.Image, size: int) -> Image.Image:
    """Resize the short side to ``size`` and crop the centre square (the DDPM recipe)."""
    w, h = img.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((new_w, new_h), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return img.crop((left, top, left + size, top + size))


def uint8_to_float(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W[, C]) → float32 (C, H, W) in [-1, 1]."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return (arr.transpose(2, 0, 1).astype(np.float32) / 127.5) - 1.0


def float_to_uint8(array) -> np.ndarray:
    """float (C, H, W) or (N, C, H, W) in [-1, 1] → uint8 (H, W, C) or (N, H, W, C)."""
    if type(array).__module__.startswith("torch"):
        array = array.detach().float().cpu().numpy()
    arr = np.asarray(array, dtype=np.float32)
    arr = np.moveaxis(arr, -3, -1)
    return np.clip((arr + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
