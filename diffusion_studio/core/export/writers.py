"""Encoders: Pillow for GIF / animated WebP / APNG / PNG, ffmpeg (imageio-ffmpeg or PyAV) for MP4.

Each writer takes composed uint8 frames (H, W, C) and the per-frame durations in ms;
the caller owns atomicity (it hands a temp file or a temp path).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
from PIL import Image

from ..errors import InputError
from .palette import gif_frame

__all__ = ["save_gif", "save_webp", "save_apng", "save_png", "mp4_backend", "Mp4Writer", "MP4_MISSING"]

MP4_MISSING = (
    "MP4 export needs ffmpeg: install the optional extra with "
    "`pip install \"diffusion-studio[video]\"` (imageio-ffmpeg) or `pip install av`; GIF, WebP and APNG work without it"
)


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def save_gif(gif_frames: list[Image.Image], handle, durations: list[int], loop: bool) -> None:
    """``gif_frames`` come from :func:`palette.gif_frame`. No loop → no NETSCAPE block: plays once."""
    extra = {"loop": 0} if loop else {}
    gif_frames[0].save(
        handle, format="GIF", save_all=True, append_images=gif_frames[1:], duration=durations, disposal=1, **extra
    )


def save_webp(frames: list[np.ndarray], handle, durations: list[int], loop: bool, quality: int) -> None:
    images = [_pil(f).convert("RGB") for f in frames]
    images[0].save(
        handle,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=durations,
        loop=0 if loop else 1,
        lossless=quality >= 100,
        quality=quality,
        method=4,
    )


def save_apng(frames: list[np.ndarray], handle, durations: list[int], loop: bool) -> None:
    images = [_pil(f) for f in frames]
    images[0].save(
        handle,
        format="PNG",
        save_all=True,
        append_images=images[1:],
        duration=durations,
        loop=0 if loop else 1,
        disposal=0,
        blend=0,
        optimize=False,
        compress_level=6,
    )


def save_png(image: np.ndarray, handle) -> None:
    _pil(image).save(handle, format="PNG", compress_level=6)


def to_gif_frames(frames: list[np.ndarray], palette: str) -> list[Image.Image]:
    return [gif_frame(f, palette) for f in frames]


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
                output_params=["-crf", str(crf), "-movflags", "+faststart"],
                ffmpeg_log_level="error",
            )
            self._gen.send(None)
        else:  # pragma: no cover - PyAV is not installed in CI
            import av

            self._container = av.open(os.fspath(path), mode="w")
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
