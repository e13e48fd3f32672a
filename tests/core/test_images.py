"""core.images.load_image: every format and mode a user may drop in, and every way a file can be bad."""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.images import (
    MAX_PIXELS,
    ImageLoadError,
    float_to_uint8,
    load_image,
    pixel_limit,
    resize_to_fit,
    uint8_to_float,
)


def gradient(width: int = 40, height: int = 30) -> np.ndarray:
    """An RGB picture with distinct rows and columns, so flips and rotations are visible."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), np.full_like(x, 90)], axis=-1).astype(np.uint8)


def save(tmp_path, image: Image.Image, name: str, **kwargs) -> str:
    path = tmp_path / name
    image.save(path, **kwargs)
    return str(path)


# -- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kwargs, tolerance",
    [
        ("a.png", {}, 0),
        ("a.bmp", {}, 0),
        ("a.tiff", {}, 0),
        ("a.webp", {"lossless": True}, 0),
        ("a.jpg", {"quality": 95}, 12),
    ],
)
def test_each_format_loads_as_rgb_uint8(tmp_path, name, kwargs, tolerance):
    pixels = gradient()
    path = save(tmp_path, Image.fromarray(pixels), name, **kwargs)
    loaded = load_image(path)
    assert loaded.dtype == np.uint8 and loaded.shape == (30, 40, 3)
    assert np.abs(loaded.astype(int) - pixels.astype(int)).max() <= tolerance


def test_animated_gif_gives_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 12), color) for color in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    loaded = load_image(str(path))
    assert loaded.shape == (12, 16, 3)
    assert tuple(loaded[5, 5]) == (255, 0, 0)


def test_encoded_bytes_load_like_a_file():
    buffer = io.BytesIO()
    Image.fromarray(gradient()).save(buffer, format="PNG")
    assert np.array_equal(load_image(buffer.getvalue()), gradient())


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:4, :4] = 255  # a white mark in the top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = save(tmp_path, Image.fromarray(pixels), "phone.jpg", exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.shape == (40, 20, 3)  # width and height swapped
    assert loaded[:4, -4:].mean() > 200  # the mark moved to the top-right corner
    assert loaded[:4, :4].mean() < 50


# -- modes ------------------------------------------------------------------------------------


def test_grayscale_l_becomes_rgb_or_stays_gray(tmp_path):
    gray = (np.arange(30 * 40).reshape(30, 40) % 256).astype(np.uint8)
    path = save(tmp_path, Image.fromarray(gray, mode="L"), "gray.png")
    rgb = load_image(path)
    assert rgb.shape == (30, 40, 3) and np.array_equal(rgb[..., 0], gray) and np.array_equal(rgb[..., 2], gray)
    assert np.array_equal(load_image(path, mode=None), gray)
    assert np.array_equal(load_image(path, mode="L"), gray)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[:, :5, 3] = 255  # left half opaque red-ish, right half fully transparent
    loaded = load_image(save(tmp_path, Image.fromarray(rgba, mode="RGBA"), "alpha.png"))
    assert tuple(loaded[0, 0]) == (200, 0, 0)
    assert tuple(loaded[0, 9]) == (255, 255, 255)


def test_la_is_composited_on_white(tmp_path):
    la = Image.new("LA", (8, 8), (0, 0))  # black, fully transparent
    la.putpixel((0, 0), (0, 255))  # one opaque black pixel
    loaded = load_image(save(tmp_path, la, "la.png"), mode=None)
    assert loaded.shape == (8, 8)
    assert loaded[0, 0] == 0 and loaded[4, 4] == 255


def test_palette_image(tmp_path):
    image = Image.fromarray(gradient()).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    loaded = load_image(save(tmp_path, image, "palette.png"))
    assert loaded.shape == (30, 40, 3)
    assert np.abs(loaded.astype(int) - gradient().astype(int)).mean() < 12


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (6, 6), 0)
    image.putpalette([10, 20, 30, 250, 0, 0] + [0] * (256 * 3 - 6))
    image.putpixel((0, 0), 1)
    image.info["transparency"] = 0  # palette entry 0 is transparent
    path = save(tmp_path, image, "ptrans.png", transparency=0)
    loaded = load_image(path)
    assert tuple(loaded[0, 0]) == (250, 0, 0)
    assert tuple(loaded[3, 3]) == (255, 255, 255)


def test_cmyk_is_converted_to_rgb(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (0, 0, 0, 0))  # no ink: white
    cmyk.putpixel((0, 0), (0, 255, 255, 0))  # magenta + yellow: red
    loaded = load_image(save(tmp_path, cmyk, "print.jpg", quality=100))
    assert loaded.shape == (8, 8, 3)
    assert loaded[6, 6].min() > 240
    tiff = load_image(save(tmp_path, cmyk, "print.tiff"))
    assert tuple(tiff[0, 0]) == (255, 0, 0)


def test_sixteen_bit_grayscale_uses_the_full_range(tmp_path):
    values = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    loaded = load_image(save(tmp_path, image, "deep.png"), mode=None)
    assert loaded.shape == (8, 8)
    assert loaded.min() == 0 and loaded.max() == 255  # not clipped to white above 255
    assert np.all(np.diff(loaded.reshape(-1).astype(int)) >= 0)  # order preserved


def test_bilevel_mode_1(tmp_path):
    image = Image.new("1", (10, 10), 0)
    image.putpixel((2, 3), 1)
    loaded = load_image(save(tmp_path, image, "bits.png"))
    assert loaded.shape == (10, 10, 3)
    assert tuple(loaded[3, 2]) == (255, 255, 255) and tuple(loaded[0, 0]) == (0, 0, 0)


# -- bad input --------------------------------------------------------------------------------


def _png_header_claiming(width: int, height: int) -> bytes:
    """A syntactically valid PNG whose header claims a huge size (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _encoded(fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _damaged_png() -> bytes:
    data = bytearray(_encoded("PNG"))
    start = data.index(b"IDAT") + 40
    data[start : start + 200] = bytes(200)  # flipped bytes inside the pixel data
    return bytes(data)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"these are my notes, not a picture\n" * 20, "not an image"),
        ("damaged.png", _damaged_png(), "corrupt"),
        ("cut.jpg", _encoded("JPEG")[:1500], "truncated"),
        ("cut.png", _encoded("PNG")[:3000], "truncated"),
        ("bomb.png", _png_header_claiming(100_000, 100_000), "too large"),
    ],
)
def test_bad_files_raise_a_clear_image_load_error(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError) as info:
        load_image(str(path))
    message = str(info.value)
    assert name in message
    assert expected in message.lower() or (expected == "truncated" and "corrupt" in message.lower())
    assert info.value.path == str(path)
    assert isinstance(info.value, InputError)  # the CLI turns it into exit 2


def test_a_folder_is_not_an_image(tmp_path):
    folder = tmp_path / "photos.png"
    folder.mkdir()
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(str(folder))


def test_a_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="Cannot read gone.png"):
        load_image(str(tmp_path / "gone.png"))


def test_empty_and_garbage_bytes():
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(b"hello world" * 10)


@pytest.mark.skipif(os.name != "posix", reason="FIFOs are POSIX")
def test_a_fifo_named_like_an_image_is_refused_without_being_opened(tmp_path):
    # Opening a FIFO for reading blocks until a writer comes: this once hung `train` forever.
    fifo = tmp_path / "a.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageLoadError, match=r"a.png is a FIFO \(named pipe\), not a file; it was not opened"):
        load_image(str(fifo))


@pytest.mark.skipif(os.name != "posix", reason="/dev/null is POSIX")
def test_a_device_is_refused_without_being_opened():
    with pytest.raises(ImageLoadError, match="null is a character device, not a file"):
        load_image("/dev/null")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_bomb_limit_is_pillows_default_and_is_enforced_exactly(tmp_path):
    # One limit, stated once: MAX_PIXELS (Pillow's own default), also what the README says.
    assert MAX_PIXELS == 89_478_485 == pixel_limit()
    side = int(MAX_PIXELS**0.5)
    just_over = tmp_path / "over.png"
    just_over.write_bytes(_png_header_claiming(side + 1, side + 1))
    with pytest.raises(ImageLoadError, match="too large to open safely .*limit is 89.5 megapixels"):
        load_image(str(just_over))
    under = tmp_path / "under.png"
    under.write_bytes(_png_header_claiming(side, side))  # allowed in size: fails only as truncated
    with pytest.raises(ImageLoadError, match="truncated|corrupt"):
        load_image(str(under))


def test_the_readme_states_the_enforced_bomb_limit():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    stated = {float(v) for v in re.findall(r"([\d.]+) megapixels", readme)}
    assert stated == {round(MAX_PIXELS / 1e6, 1)}, stated


def test_a_name_that_is_not_utf8_is_shown_escaped(tmp_path):
    path = tmp_path / os.fsdecode(b"caf\xe9.png")
    path.write_bytes(b"not a picture at all, just text" * 4)
    with pytest.raises(ImageLoadError) as info:
        load_image(str(path))
    assert "caf\\xe9.png" in str(info.value)
    str(info.value).encode("utf-8")


# -- conversions --------------------------------------------------------------------------------


def test_uint8_float_round_trip():
    pixels = gradient()
    as_float = uint8_to_float(pixels)
    assert as_float.shape == (3, 30, 40) and as_float.dtype == np.float32
    assert as_float.min() >= -1.0 and as_float.max() <= 1.0
    assert np.array_equal(float_to_uint8(as_float), pixels)
    batch = float_to_uint8(np.stack([as_float, as_float]))
    assert batch.shape == (2, 30, 40, 3)


def test_resize_to_fit_only_shrinks():
    big = np.zeros((300, 600, 3), dtype=np.uint8)
    assert resize_to_fit(big, 150).shape == (75, 150, 3)
    small = np.zeros((20, 10, 1), dtype=np.uint8)
    assert resize_to_fit(small, 150) is small
    assert resize_to_fit(np.zeros((40, 20, 1), dtype=np.uint8), 10).shape == (10, 5, 1)
