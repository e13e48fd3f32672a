"""What an export should look like: :class:`ExportOptions` and the formats known by extension."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..errors import InputError

__all__ = [
    "ExportOptions",
    "VIEWS",
    "SPACINGS",
    "PALETTES",
    "FORMATS",
    "ANIMATION_FORMATS",
    "AUTO_SHORT_SIDE",
    "format_for_path",
]

#: Which picture of a chain frame to show: the sample x_t, the model's guess x̂0, its noise guess ε̂, or all three.
VIEWS = ("x_t", "pred_x0", "pred_noise", "side_by_side")
#: How frames are picked when there are more than ``max_frames``: evenly in t, or denser near t = 0.
SPACINGS = ("even", "dense_near_0")
#: GIF palettes: "high" = per-frame adaptive palette (max coverage + k-means) with dithering on smooth
#: frames; "fast" = per-frame octree on a subsample, no dithering.
PALETTES = ("high", "fast")

#: extension → format name. A path with no extension (or ending in a separator) is a folder of PNG frames.
FORMATS = {
    ".gif": "gif",
    ".webp": "webp",
    ".png": "apng",
    ".apng": "apng",
    ".mp4": "mp4",
}
ANIMATION_FORMATS = ("gif", "webp", "apng", "mp4")
#: with ``scale=None`` a frame is enlarged (by a whole factor) until its short side is at least this
AUTO_SHORT_SIDE = 256


@dataclass(frozen=True)
class ExportOptions:
    """Everything about an export except the frames and the path.

    The defaults are made for people looking at the file: ``scale=None`` enlarges each frame by the
    smallest whole factor that makes its short side at least :data:`AUTO_SHORT_SIDE` pixels
    (nearest-neighbour, so a 16 px sample stays crisp instead of a thumbnail), ``caption`` writes t
    and ᾱ_t under each frame, and ``column_labels`` names the x_t / x̂0 / ε̂ columns of the
    side-by-side view. ``scale=1.0, caption=False, column_labels=False`` gives the bare pixels.

    ``t_range`` is an inclusive (low, high) range of timesteps (the final clean frame has t = -1 and is
    kept when ``low <= 0``); ``max_frames`` picks that many frames by ``spacing``, always keeping the
    first and the last. A number ``scale`` resizes each composed frame by that factor (nearest-neighbour
    when enlarging, Lanczos when shrinking). ``hold_last_s`` keeps the last frame on screen that long
    before looping. ``sample_index`` exports one sample of the batch instead of the grid; ``quality`` is
    for WebP/MP4 (100 = lossless WebP); ``strip_frames`` is how many frames a contact strip shows.
    """

    view: str = "x_t"
    t_range: tuple[int, int] | None = None
    max_frames: int | None = None
    spacing: str = "even"
    fps: float = 12.0
    hold_last_s: float = 1.0
    loop: bool = True
    scale: float | None = None
    grid_columns: int | None = None
    padding: int = 2
    pad_color: tuple[int, int, int] = (255, 255, 255)
    caption: bool = True
    column_labels: bool = True
    palette: str = "high"
    quality: int = 90
    strip_frames: int = 10
    sample_index: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.view not in VIEWS:
            problems.append(f"view must be one of {', '.join(VIEWS)}, not {self.view!r}")
        if self.spacing not in SPACINGS:
            problems.append(f"spacing must be one of {', '.join(SPACINGS)}, not {self.spacing!r}")
        if self.palette not in PALETTES:
            problems.append(f"palette must be one of {', '.join(PALETTES)}, not {self.palette!r}")
        if not (0 < self.fps <= 100):
            problems.append(f"fps must be between 0 and 100, not {self.fps}")
        if self.hold_last_s < 0 or self.hold_last_s > 60:
            problems.append(f"the hold on the last frame must be 0 … 60 s, not {self.hold_last_s}")
        if self.scale is not None and not (0.05 <= self.scale <= 32):
            problems.append(f"scale must be between 0.05 and 32, not {self.scale}")
        if self.max_frames is not None and self.max_frames < 1:
            problems.append(f"the number of frames must be at least 1, not {self.max_frames}")
        if self.grid_columns is not None and self.grid_columns < 1:
            problems.append(f"grid columns must be at least 1, not {self.grid_columns}")
        if not (0 <= self.padding <= 64):
            problems.append(f"padding must be 0 … 64 pixels, not {self.padding}")
        if not (1 <= self.quality <= 100):
            problems.append(f"quality must be 1 … 100, not {self.quality}")
        if self.strip_frames < 1:
            problems.append(f"a strip needs at least 1 frame, not {self.strip_frames}")
        if self.t_range is not None and self.t_range[0] > self.t_range[1]:
            problems.append(f"the t range {self.t_range[0]}:{self.t_range[1]} is empty")
        if problems:
            raise InputError("; ".join(problems))

    @property
    def frame_duration_ms(self) -> int:
        return max(10, round(1000.0 / self.fps))

    def with_(self, **changes) -> "ExportOptions":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


def format_for_path(path: str | os.PathLike) -> str:
    """The format implied by ``path``: gif, webp, apng, mp4, or "frames" (a folder of PNGs).

    A path that ends with a separator, has no suffix, or is an existing folder means a folder of frames.
    Anything else unknown raises InputError naming the formats that work.
    """
    text = os.fspath(path)
    p = Path(text)
    if text.endswith((os.sep, "/")) or p.is_dir() or not p.suffix:
        return "frames"
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise InputError(
            f"Cannot export to {p.name}: unknown extension {p.suffix!r}. Use one of {known}, or a folder for PNG frames"
        )
    return fmt
