"""Export frames — the reverse chain, the forward process, or any uint8 images — to files.

The one call to use::

    from diffusion_studio.core.export import ExportOptions, export_frames
    result = export_frames(frames, "chain.gif", ExportOptions(fps=12, hold_last_s=1.5, caption=True))

``export_frames(frames, path, options=None, *, kind=None, should_stop=None) -> ExportResult``
dispatches on the extension: ``.gif``, ``.webp`` (animated WebP), ``.png``/``.apng`` (APNG),
``.mp4`` (needs imageio-ffmpeg or PyAV), a folder path (PNG frames); ``kind="strip"`` writes a
contact sheet (.png/.jpg/.webp). ``frames`` is a sequence of ChainFrame-like objects (``.t``,
``.alphas_cumprod``, ``.x_t``, ``.pred_x0``, ``.pred_noise``, ``.is_final``; arrays uint8 (N, H, W, C)),
a :class:`ForwardFrameSource`, or plain uint8 images. ``iter_export`` is the same as a generator that
yields :class:`ExportProgress` and returns the :class:`ExportResult` (for GUI workers; cancellable);
``write_chain_gif(frames, path, options=None)`` is ``export_frames`` with chain defaults;
``estimate_size`` guesses the size for a dialog; ``check_output_path(path, kind)`` refuses an output
before any work. Frames are composed and written one at a time (memory does not grow with their
number); more than ``MAX_EXPORT_FRAMES`` frames, or a frame over ``MAX_FRAME_PIXELS``, is refused
before work. Bad paths (a folder where a file should be, a FIFO, a device), unknown extensions,
read-only folders and full disks raise :class:`~diffusion_studio.core.errors.InputError`, and nothing
partial is left behind.
"""

from .api import (
    ExportProgress,
    check_output_path,
    ExportResult,
    SizeEstimate,
    compose_frames,
    estimate_size,
    export_frames,
    iter_export,
    output_kind,
    write_animation,
    write_chain_gif,
)
from .compose import compose_frame, contact_strip, tile_grid
from .compose import MAX_FRAME_PIXELS
from .options import (
    ANIMATION_FORMATS,
    AUTO_SHORT_SIDE,
    FORMATS,
    MAX_EXPORT_FRAMES,
    PALETTES,
    SPACINGS,
    VIEWS,
    ExportOptions,
    format_for_path,
)
from .sources import ForwardFrameSource, ImageFrame, frames_from_images, parse_t_spec, select_frames
from .writers import MP4_MISSING, mp4_backend

__all__ = [
    "ANIMATION_FORMATS",
    "AUTO_SHORT_SIDE",
    "ExportOptions",
    "ExportProgress",
    "ExportResult",
    "FORMATS",
    "ForwardFrameSource",
    "MAX_EXPORT_FRAMES",
    "MAX_FRAME_PIXELS",
    "ImageFrame",
    "MP4_MISSING",
    "PALETTES",
    "SPACINGS",
    "SizeEstimate",
    "VIEWS",
    "check_output_path",
    "compose_frame",
    "compose_frames",
    "contact_strip",
    "estimate_size",
    "export_frames",
    "format_for_path",
    "frames_from_images",
    "iter_export",
    "mp4_backend",
    "output_kind",
    "parse_t_spec",
    "select_frames",
    "tile_grid",
    "write_animation",
    "write_chain_gif",
]
