"""Generated and mutated image bytes: the loader gives pixels or ImageLoadError, never anything else."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from diffusion_studio.core.data.decode import decode_for_scan, decode_image
from diffusion_studio.core.images import ImageLoadError, load_image

from ._bounds import bounded

PROFILE = settings.get_profile("diffusion-studio")


def _encoded(fmt: str, mode: str, **kwargs) -> bytes:
    rng = np.random.default_rng(len(fmt) + len(mode))
    pixels = rng.integers(0, 256, (12, 16, len(mode) if mode != "P" else 1), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    image = image.convert(mode) if image.mode != mode else image
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


SEEDS = {
    "png-rgb": _encoded("PNG", "RGB"),
    "png-rgba": _encoded("PNG", "RGBA"),
    "png-palette": _encoded("PNG", "P"),
    "jpeg": _encoded("JPEG", "RGB", quality=80),
    "jpeg-progressive": _encoded("JPEG", "L", progressive=True),
    "gif": _encoded("GIF", "P"),
    "webp-lossy": _encoded("WEBP", "RGB", quality=50),
    "webp-lossless": _encoded("WEBP", "RGBA", lossless=True),
    "bmp": _encoded("BMP", "RGB"),
    "tiff": _encoded("TIFF", "RGB", compression="tiff_deflate"),
}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


@st.composite
def mutated(draw) -> bytes:
    """A real image of some format, then damaged: cut, bytes flipped or overwritten, bytes inserted."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["cut", "flip", "overwrite", "insert", "size"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if how == "cut":
            del data[at:]
        elif how == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif how == "size" and len(data) > 24:  # a huge or odd declared size where formats keep theirs
            width, height = draw(st.sampled_from([0, 1, 255, 9459, 9460, 65535, 2**31 - 1])), draw(
                st.sampled_from([0, 1, 9459, 40_000, 2**31 - 1]))
            if data.startswith(b"\x89PNG"):
                ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
                data[8:33] = _png_chunk(b"IHDR", ihdr)
            elif data.startswith(b"GIF"):
                data[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
            elif data.startswith(b"BM"):
                data[18:26] = struct.pack("<ii", min(width, 2**31 - 1), min(height, 2**31 - 1))
            else:
                data[at : at + 4] = struct.pack(">HH", width & 0xFFFF, height & 0xFFFF)
    return bytes(data)


def _check(load) -> None:
    try:
        pixels = load()
    except ImageLoadError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert pixels.dtype == np.uint8 and pixels.size > 0


@settings(PROFILE, max_examples=300)
@given(data=mutated())
def test_damaged_bytes_give_pixels_or_a_reason(data):
    with bounded("image loader: damaged bytes"):
        _check(lambda: load_image(data))


@settings(PROFILE, max_examples=150)
@given(data=mutated())
def test_damaged_files_through_the_training_decoder(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "x.png"
    path.write_bytes(data)
    with bounded("image loader: damaged files, scan and training decoder"):
        _check(lambda: np.asarray(decode_for_scan(str(path))[0]))
        _check(lambda: decode_image(str(path), 8, 3))


@settings(PROFILE, max_examples=100)
@given(data=st.binary(max_size=512))
def test_random_bytes_give_a_reason(data):
    with bounded("image loader: random bytes"):
        with pytest.raises(ImageLoadError):
            load_image(data)
