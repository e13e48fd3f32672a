"""The export flags shared by ``noise`` and ``sample``: ``add_export_arguments`` / ``options_from_args``.

The flags are checked by :class:`core.export.ExportOptions` (core.validation): a value out of
range, not finite or of the wrong kind exits 2 with one line naming the flag, before any work.
"""

from __future__ import annotations

import argparse

from PIL import ImageColor

from ..core.errors import InputError

__all__ = ["EXPORT_FLAGS", "add_export_arguments", "check_outputs", "options_from_args", "run_exports"]

#: ExportOptions field → the flag that sets it, for messages.
EXPORT_FLAGS = {
    "view": "--view", "t_range": "--t-range", "max_frames": "--frames", "spacing": "--spacing", "fps": "--fps",
    "hold_last_s": "--hold", "loop": "--no-loop", "scale": "--scale", "grid_columns": "--columns",
    "padding": "--padding", "pad_color": "--pad-color", "caption": "--caption", "palette": "--palette",
    "quality": "--quality", "strip_frames": "--strip-frames",
}


def _t_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH, e.g. 0:500, got {text!r}") from None
    return low, high


def _colour(text: str) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a colour: {text!r} (use a name or #rrggbb)") from None


def add_export_arguments(parser: argparse.ArgumentParser, *, default_fps: float = 12.0,
                         default_hold: float = 1.0, default_pad_color: str = "white",
                         strip_and_folder: bool = True) -> argparse._ArgumentGroup:
    """Add the animation options (view, frames, fps, hold, loop, scale, grid, caption, palette) to ``parser``."""
    g = parser.add_argument_group("export options (GIF, WebP, APNG, MP4, frames, strip)")
    g.add_argument("--view", default="x_t", choices=("x_t", "pred_x0", "pred_noise", "side_by_side"),
                   help="what each frame shows: x_t, the model's x̂0 or ε̂, or all three side by side (x_t)")
    g.add_argument("--frames", type=int, metavar="N", dest="max_frames", help="keep at most N frames (all)")
    g.add_argument("--spacing", default="even", choices=("even", "dense"),
                   help="with --frames: evenly spaced in t, or denser near t = 0 where the image forms (even)")
    g.add_argument("--t-range", type=_t_range, metavar="LOW:HIGH", help="only frames with LOW ≤ t ≤ HIGH")
    g.add_argument("--fps", type=float, default=default_fps, help=f"frames per second ({default_fps:g})")
    g.add_argument("--hold", type=float, default=default_hold, metavar="SECONDS",
                   help=f"keep the last frame on screen this long ({default_hold:g})")
    g.add_argument("--no-loop", action="store_true", help="play once instead of looping")
    g.add_argument("--scale", type=float, default=1.0,
                   help="resize each frame; enlarging uses nearest-neighbour so small samples stay crisp (1)")
    g.add_argument("--columns", type=int, help="grid columns for a batch (about √N)")
    g.add_argument("--padding", type=int, default=2, help="pixels between grid cells (2)")
    g.add_argument("--pad-color", type=_colour, default=_colour(default_pad_color), metavar="COLOUR",
                   help=f"grid and caption background, a name or #rrggbb ({default_pad_color})")
    g.add_argument("--caption", action="store_true", help="write t and ᾱ_t under each frame")
    g.add_argument("--palette", default="high", choices=("high", "fast"),
                   help="GIF colours: high (adaptive per frame, dithered when smooth) or fast (high)")
    g.add_argument("--quality", type=int, default=90, help="WebP/MP4 quality 1–100; 100 = lossless WebP (90)")
    if strip_and_folder:
        g.add_argument("--strip", metavar="FILE", help="also write a contact sheet: frames side by side with t (.png/.jpg)")
        g.add_argument("--strip-frames", type=int, default=10, metavar="N", help="frames in the strip (10)")
        g.add_argument("--frames-dir", metavar="DIR", help="also write every frame as a PNG into DIR")
    return g


def options_from_args(args: argparse.Namespace):
    """An ExportOptions from the parsed flags; a ConfigError (exit 2) naming the flag for a bad value."""
    from ..core.export import ExportOptions
    from ..core.validation import validated

    values = {
        "view": args.view,
        "t_range": args.t_range,
        "max_frames": args.max_frames,
        "spacing": "dense_near_0" if args.spacing == "dense" else "even",
        "fps": args.fps,
        "hold_last_s": args.hold,
        "loop": not args.no_loop,
        "scale": args.scale,
        "grid_columns": args.columns,
        "padding": args.padding,
        "pad_color": tuple(args.pad_color),
        "caption": args.caption,
        "palette": args.palette,
        "quality": args.quality,
        "strip_frames": getattr(args, "strip_frames", 10),
    }
    return validated(ExportOptions, values, what=getattr(args, "command", None) or "export", labels=EXPORT_FLAGS)


def check_outputs(args: argparse.Namespace, animation_path: str | None) -> list[tuple[str, str]]:
    """The (path, kind) of every output the flags ask for, each checked before any work.

    The animation must be a file (``--gif somefolder/`` is refused: it used to report a GIF
    it did not write); every path must be writable. InputError when nothing is asked for.
    """
    from ..core.export import check_output_path

    jobs = []
    if animation_path:
        jobs.append((animation_path, "animation"))
    if getattr(args, "strip", None):
        jobs.append((args.strip, "strip"))
    if getattr(args, "frames_dir", None):
        jobs.append((args.frames_dir, "frames"))
    if not jobs:
        raise InputError("Nothing to write: give an output file (e.g. --gif out.gif), --strip or --frames-dir")
    for path, kind in jobs:
        check_output_path(path, kind)
    return jobs


def run_exports(frames, args: argparse.Namespace, animation_path: str | None) -> list:
    """Write the animation (format by extension) and any --strip / --frames-dir; print one line each."""
    from ..core.export import export_frames

    options = options_from_args(args)
    results = []
    for path, kind in check_outputs(args, animation_path):
        result = export_frames(frames, path, options, kind=kind)
        print(result.summary())
        results.append(result)
    return results
