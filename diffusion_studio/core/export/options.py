"""What an export should look like: :class:`ExportOptions` and the formats known by extension."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field

from ..errors import InputError, printable
from ..validation import NonNegativeInt, check_fields

__all__ = [
    "ExportOptions",
    "VIEWS",
    "SPACINGS",
    "PALETTES",
    "FORMATS",
    "ANIMATION_FORMATS",
    "AUTO_SHORT_SIDE",
    "MAX_EXPORT_FRAMES",
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

# The range of each option (core.validation checks them; the CLI flags and GUI forms share them).
#: the most frames one export writes (about 14 minutes at 12 fps)
MAX_EXPORT_FRAMES = 10_000
Timestep = Annotated[int, Field(ge=-1, le=2**31 - 1)]


def _ordered(t_range: tuple[int, int]) -> tuple[int, int]:
    if t_range[0] > t_range[1]:
        raise ValueError("must run from low to high")
    return t_range


TRange = Annotated[tuple[Timestep, Timestep], AfterValidator(_ordered)]
FrameCount = Annotated[int, Field(ge=1, le=MAX_EXPORT_FRAMES)]
FramesPerSecond = Annotated[float, Field(ge=0.1, le=100, allow_inf_nan=False)]  # ≤ 10 s a frame: GIF stores ≤ 655 s
HoldSeconds = Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)]
Scale = Annotated[float, Field(ge=0.05, le=32, allow_inf_nan=False)]
GridColumns = Annotated[int, Field(ge=1, le=1024)]
Padding = Annotated[int, Field(ge=0, le=64)]
ColourByte = Annotated[int, Field(ge=0, le=255)]
Quality = Annotated[int, Field(ge=1, le=100)]
StripFrames = Annotated[int, Field(ge=1, le=100)]


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

    view: Literal[VIEWS] = "x_t"
    t_range: Optional[TRange] = None
    max_frames: Optional[FrameCount] = None
    spacing: Literal[SPACINGS] = "even"
    fps: FramesPerSecond = 12.0
    hold_last_s: HoldSeconds = 1.0
    loop: bool = True
    scale: Optional[Scale] = None
    grid_columns: Optional[GridColumns] = None
    padding: Padding = 2
    pad_color: tuple[ColourByte, ColourByte, ColourByte] = (255, 255, 255)
    caption: bool = True
    column_labels: bool = True
    palette: Literal[PALETTES] = "high"
    quality: Quality = 90
    strip_frames: StripFrames = 10
    sample_index: Optional[NonNegativeInt] = None

    def __post_init__(self) -> None:
        check_fields(self, what="export options")  # a ConfigError (an InputError) naming the option

    @property
    def frame_duration_ms(self) -> int:
        return max(10, round(1000.0 / self.fps))

    def with_(self, **changes) -> "ExportOptions":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


def format_for_path(path: str | os.PathLike) -> str:
    """The format implied by ``path``: gif, webp, apng, mp4, or "frames" (a folder of PNGs).

    A path that ends with a separator, has no suffix, or is an existing folder means a folder of frames —
    except a folder named like an animation (``out.gif/``): that is a GIF the caller cannot have, and
    :func:`~diffusion_studio.core.export.check_output_path` refuses it. Anything else unknown raises
    InputError naming the formats that work.
    """
    text = os.fspath(path)
    p = Path(text)
    fmt = FORMATS.get(p.suffix.lower())
    if text.endswith((os.sep, "/")) or not p.suffix or (p.is_dir() and fmt is None):
        return "frames"
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise InputError(
            f"Cannot export to {printable(p.name)}: unknown extension {printable(p.suffix)!r}. "
            f"Use one of {known}, or a folder for PNG frames"
        )
    return fmt
