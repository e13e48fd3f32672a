"""Decode image files into training-sized uint8 arrays, and the built-in demo digits.

JPEGs are decoded with Pillow's ``draft`` (libjpeg's DCT scaling) straight to
about the size needed: still a full pass over the file, so truncation is still
caught, but a 12-megapixel photo costs a fraction of a full decode.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from PIL import Image, ImageOps

from ..errors import InputError, printable
from ..images import (
    ImageLoadError,
    center_crop_resize,
    check_pixel_count,
    open_image_file,
    open_pil,
    to_rgb_or_gray,
)
from ..paths import resource_path

if TYPE_CHECKING:
    import torch

__all__ = [
    "decode_for_scan",
    "decode_image",
    "load_images_tensor",
    "demo_dataset_tensor",
    "demo_digit_labels",
    "DEMO_DIGITS_COUNT",
    "DEMO_SOURCE",
    "skip_kind",
]

DEMO_SOURCE = "demo:digits"
DEMO_DIGITS_COUNT = 1797
_DEMO_TILE, _DEMO_PER_ROW = 8, 60

ProgressCallback = Callable[[int, int], None]


def _open_checked(path: str, min_side: int | None) -> Image.Image:
    """Open, check the size, fully decode and orient; JPEGs at a reduced scale (short side ≥ min_side).

    No warnings filter here (``warnings.catch_warnings`` is not thread-safe): the size is
    checked against the bomb limit explicitly before anything is decoded.
    """
    with open_image_file(path) as stream, Image.open(stream) as img:
        width, height = img.size
        check_pixel_count(width, height, printable(os.path.basename(path)), path)
        if min_side and img.format == "JPEG":
            img.draft(img.mode, (min_side, min_side))
        img.seek(0)  # animated GIF/WebP/APNG: the first frame
        img.load()
        decoded_size = img.size
        oriented = ImageOps.exif_transpose(img)
        result = oriented if oriented is not img else img.copy()
    if result.size != decoded_size:  # EXIF orientation 5–8 swapped width and height
        width, height = height, width
    result.info["original_size"] = (width, height)
    return result


def _open(path: str, min_side: int | None) -> Image.Image:
    try:
        return _open_checked(path, min_side)
    except ImageLoadError:
        raise
    except Exception:  # noqa: BLE001 - open_pil re-reads the file and words the error for the user
        pass
    img = open_pil(path)
    img.info["original_size"] = img.size
    return img


def decode_for_scan(path: str, min_side: int = 64) -> tuple[Image.Image, str]:
    """Decode ``path`` fully; return (an 'RGB' or 'L' image, the file's own Pillow mode).

    The returned image carries ``original_size`` (width, height after EXIF rotation)
    as an attribute; it may itself be smaller than that for JPEGs. Raises ImageLoadError.
    """
    img = _open(path, min_side)
    source_mode = img.mode
    original_size = img.info.get("original_size", img.size)
    converted = to_rgb_or_gray(img)
    converted.original_size = original_size  # type: ignore[attr-defined]
    return converted, source_mode


def decode_image(path: str, image_size: int, channels: int) -> np.ndarray:
    """Decode, orient, convert, resize the short side and centre-crop: uint8 (C, S, S)."""
    img = to_rgb_or_gray(_open(path, image_size))
    target_mode = "L" if channels == 1 else "RGB"
    if img.mode != target_mode:
        img = img.convert(target_mode)
    pixels = np.array(center_crop_resize(img, image_size), dtype=np.uint8)  # writable, for torch
    return pixels[None] if pixels.ndim == 2 else np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _decode_or_reason(path: str, image_size: int, channels: int) -> np.ndarray | str:
    try:
        return decode_image(path, image_size, channels)
    except ImageLoadError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop a whole dataset
        return f"{printable(os.path.basename(path))} could not be decoded: {exc}"


def load_images_tensor(
    paths: Sequence[str],
    image_size: int,
    channels: int,
    progress: ProgressCallback | None = None,
    threads: int | None = None,
) -> tuple["torch.Tensor", list[dict[str, str]]]:
    """Decode ``paths`` into one uint8 tensor (N, C, S, S), in order, skipping unreadable files.

    Returns the tensor and the skipped files as ``[{"path", "reason", "kind"}]``.
    ``progress(done, total)`` is called from this thread after each file.
    Decoding runs on a few threads: Pillow releases the GIL while it decodes.
    """
    import torch

    total = len(paths)
    out = torch.empty((total, channels, image_size, image_size), dtype=torch.uint8)
    skipped: list[dict[str, str]] = []
    count = 0
    workers = threads or max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_decode_or_reason, paths, [image_size] * total, [channels] * total)
        for done, (path, result) in enumerate(zip(paths, results), start=1):
            if isinstance(result, str):
                skipped.append({"path": str(path), "reason": result, "kind": skip_kind(result)})
            else:
                out[count] = torch.from_numpy(result)
                count += 1
            if progress is not None:
                progress(done, total)
    return out[:count].clone() if count < total else out, skipped


@lru_cache(maxsize=4)
def _demo_digits(image_size: int) -> "torch.Tensor":
    import torch
    import torch.nn.functional as F

    sheet = np.asarray(Image.open(resource_path("demo", "digits_8x8_sheet.png")).convert("L"), dtype=np.uint8)
    rows = sheet.shape[0] // _DEMO_TILE
    tiles = sheet.reshape(rows, _DEMO_TILE, _DEMO_PER_ROW, _DEMO_TILE).transpose(0, 2, 1, 3)
    tiles = tiles.reshape(-1, 1, _DEMO_TILE, _DEMO_TILE)[:DEMO_DIGITS_COUNT]
    if image_size == _DEMO_TILE:
        return torch.from_numpy(np.ascontiguousarray(tiles))
    # Bicubic upscaling keeps the strokes smooth (nearest would give blocky 8×8 pixels to learn).
    scaled = F.interpolate(
        torch.from_numpy(tiles).float(), size=(image_size, image_size), mode="bicubic",
        align_corners=False, antialias=image_size < _DEMO_TILE,
    )
    return scaled.round_().clamp_(0, 255).to(torch.uint8)


def demo_digit_labels() -> np.ndarray:
    """The class (0–9) of each of the built-in demo digits, in :func:`demo_dataset_tensor`'s order (int64)."""
    text = resource_path("demo", "digits_labels.txt").read_text(encoding="ascii").strip()
    labels = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - ord("0")
    if labels.shape != (DEMO_DIGITS_COUNT,) or labels.min() < 0 or labels.max() > 9:
        raise InputError("the bundled digit labels are damaged; reinstall Diffusion Studio")
    return labels


def demo_dataset_tensor(image_size: int = 16) -> "torch.Tensor":
    """The built-in demo dataset: 1797 handwritten digits (UCI, 8×8), uint8 (1797, 1, S, S)."""
    if not 4 <= int(image_size) <= 512:
        raise InputError(f"The image size must be between 4 and 512 pixels, got {image_size}")
    return _demo_digits(int(image_size)).clone()


def skip_kind(reason: str) -> str:
    """A short category for a skip reason, for the summary line ("corrupt", "empty" …)."""
    text = reason.lower()
    for needle, kind in (
        ("not a file", "not a file"),
        ("broken link", "broken link"),
        ("loop", "link loop"),
        ("scanned already", "link loop"),
        ("cannot be read", "unreadable folder"),
        ("empty (0 bytes)", "empty"),
        ("truncated", "truncated"),
        ("not an image", "not an image"),
        ("too large", "too large"),
        ("decompression bomb", "too large"),
        ("cannot read", "unreadable"),
        ("corrupt", "corrupt"),
    ):
        if needle in text:
            return kind
    return "unreadable"
