"""Turn a frame into the picture that goes into the file: view, batch grid, scale, caption.

Also the contact strip: several frames side by side with their t written under them.
Captions use Pillow's built-in font, which has no Greek letters, so ᾱ_t is drawn as an "a"
with a macron and a subscript t.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import InputError
from .options import ExportOptions

__all__ = [
    "MAX_FRAME_PIXELS",
    "as_batch",
    "physical_memory",
    "caption_text",
    "check_frame_pixels",
    "compose_frame",
    "contact_strip",
    "frame_view",
    "scale_image",
    "tile_grid",
]

#: The largest picture an export composes: 64 Mi pixels (8192 × 8192; 192 MiB as RGB).
MAX_FRAME_PIXELS = 64 * 2**20
#: Copies of a frame alive at once while exporting (composed, scaled, the previous one, the encoder's).
_FRAME_COPIES = 6

_VIEW_ATTRS = {"x_t": "x_t", "pred_x0": "pred_x0", "pred_noise": "pred_noise"}
_VIEW_NAMES = {"x_t": "x_t", "pred_x0": "x̂0", "pred_noise": "ε̂"}


def as_batch(image: np.ndarray) -> np.ndarray:
    """(H, W) / (H, W, C) / (N, H, W, C) uint8 → (N, H, W, C) with C in {1, 3}."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InputError(f"Frames must hold uint8 pixels, not {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None, :, :, None]
    elif arr.ndim == 3:
        arr = arr[None] if arr.shape[-1] in (1, 3, 4) else arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise InputError(f"Cannot export an image of shape {np.shape(image)}")
    return arr[..., :3]


def _fill(color, channels: int) -> np.ndarray:
    rgb = np.asarray(color, dtype=np.float64)
    value = rgb if channels == 3 else np.array([rgb @ (0.299, 0.587, 0.114)])
    return np.clip(np.round(value), 0, 255).astype(np.uint8)


def tile_grid(batch: np.ndarray, columns: int | None = None, padding: int = 2, pad_color=(255, 255, 255)) -> np.ndarray:
    """A batch (N, H, W, C) as one (H', W', C) image; one sample comes back without padding."""
    batch = as_batch(batch)
    n, h, w, c = batch.shape
    if n == 1:
        return batch[0]
    columns = min(n, columns or math.ceil(math.sqrt(n)))
    rows = math.ceil(n / columns)
    out = np.empty((rows * h + (rows + 1) * padding, columns * w + (columns + 1) * padding, c), np.uint8)
    out[:] = _fill(pad_color, c)
    for i in range(n):
        r, col = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        out[y : y + h, x : x + w] = batch[i]
    return out


def _to_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def frame_view(frame, view: str, options: ExportOptions) -> np.ndarray:
    """One frame as one image (H, W, C): the chosen view of every sample, as a grid."""
    names = ("x_t", "pred_x0", "pred_noise") if view == "side_by_side" else (view,)
    panels = []
    for name in names:
        data = getattr(frame, _VIEW_ATTRS[name], None)
        if data is None:
            if view == "side_by_side":
                continue
            raise InputError(f"These frames have no {_VIEW_NAMES[name]} to show; choose the x_t view")
        batch = as_batch(data)
        if options.sample_index is not None:
            if not 0 <= options.sample_index < len(batch):
                raise InputError(f"Sample {options.sample_index} does not exist; the batch has {len(batch)}")
            batch = batch[options.sample_index : options.sample_index + 1]
        panels.append(tile_grid(batch, options.grid_columns, options.padding, options.pad_color))
    if len(panels) == 1:
        return panels[0]
    if any(p.shape[-1] == 3 for p in panels):
        panels = [_to_rgb(p) for p in panels]
    height = max(p.shape[0] for p in panels)
    gap = max(4, 2 * options.padding)
    fill = _fill(options.pad_color, panels[0].shape[-1])
    parts = []
    for i, panel in enumerate(panels):
        if panel.shape[0] < height:
            extra = np.empty((height - panel.shape[0],) + panel.shape[1:], np.uint8)
            extra[:] = fill
            panel = np.concatenate([panel, extra], axis=0)
        if i:
            spacer = np.empty((height, gap, panel.shape[-1]), np.uint8)
            spacer[:] = fill
            parts.append(spacer)
        parts.append(panel)
    return np.concatenate(parts, axis=1)


def physical_memory() -> int:
    """Bytes of RAM in this machine (8 GiB when it cannot be told)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 8 << 30  # no sysconf (Windows): assume a modest machine


def check_frame_pixels(width: int, height: int, channels: int = 3) -> None:
    """Refuse, before allocating it, a picture larger than :data:`MAX_FRAME_PIXELS` or than this machine holds."""
    pixels = int(width) * int(height)
    needed = pixels * channels * _FRAME_COPIES
    if pixels > MAX_FRAME_PIXELS or needed > physical_memory() // 2:
        raise InputError(
            f"Each frame would be {width}×{height} pixels (about {needed / 2**30:.1f} GiB to export), more than "
            f"the limit of {MAX_FRAME_PIXELS / 1e6:.0f} megapixels or half this machine's memory; "
            "lower the scale, or export fewer samples (a smaller grid, one sample) or one view"
        )


def scale_image(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize by ``scale``: nearest-neighbour when enlarging (crisp pixels), Lanczos when shrinking."""
    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    out = np.asarray(Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).resize(size, resample))
    return out[..., None] if out.ndim == 2 else out


@lru_cache(maxsize=16)
def _font(size: int):
    return ImageFont.load_default(size=size)


def caption_text(frame) -> tuple[str, str | None]:
    """("t = 250", "0.5012") — the t part and ᾱ_t (None when the frame has none)."""
    t = getattr(frame, "t", None)
    alpha_bar = getattr(frame, "alphas_cumprod", None)
    label = getattr(frame, "label", "") or ""
    if t is None:
        head = label
    elif t < 0 or getattr(frame, "is_final", False):
        head = "final"
    else:
        head = f"t = {int(t)}"
    return head, (None if alpha_bar is None else f"{float(alpha_bar):.4f}")


def _text_colour(background: np.ndarray) -> tuple[int, ...]:
    light = float(np.mean(background)) > 127
    return (20, 20, 20) if light else (235, 235, 235)


def _caption_width(draw, head: str, alpha: str | None, font, small) -> float:
    width = draw.textlength(head, font=font)
    if alpha is not None:
        width += draw.textlength("   a", font=font) + draw.textlength("t", font=small) + draw.textlength(f" = {alpha}", font=font)
    return width


def _draw_caption(draw, xy, head: str, alpha: str | None, font, small, fill) -> None:
    x, y = xy
    draw.text((x, y), head, font=font, fill=fill)
    if alpha is None:
        return
    x += draw.textlength(head + "   ", font=font)
    left, top, right, _ = draw.textbbox((x, y), "a", font=font)
    draw.text((x, y), "a", font=font, fill=fill)
    bar_y = top - max(1, font.size // 8)  # the macron of ᾱ
    draw.line([(left, bar_y), (right, bar_y)], fill=fill, width=max(1, font.size // 12))
    x += draw.textlength("a", font=font)
    draw.text((x, y + font.size * 0.45), "t", font=small, fill=fill)
    x += draw.textlength("t", font=small)
    draw.text((x, y), f" = {alpha}", font=font, fill=fill)


def _caption_bar(width: int, frame, channels: int, pad_color) -> np.ndarray:
    head, alpha = caption_text(frame)
    size = int(np.clip(width / 16, 10, 32))
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    while size > 8 and _caption_width(probe, head, alpha, _font(size), _font(max(6, size * 2 // 3))) > width - 4:
        size -= 1
    font, small = _font(size), _font(max(6, size * 2 // 3))
    if _caption_width(probe, head, alpha, font, small) > width - 4:
        alpha = None  # too narrow for ᾱ_t: keep t only
    height = int(size * 1.9)
    background = tuple(int(v) for v in _fill(pad_color, 3))
    bar = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(bar)
    text_width = _caption_width(draw, head, alpha, font, small)
    _draw_caption(draw, (max(2, (width - text_width) / 2), size * 0.35), head, alpha, font, small, _text_colour(np.array(background)))
    return np.asarray(bar.convert("L"))[..., None] if channels == 1 else np.asarray(bar)


def compose_frame(frame, options: ExportOptions) -> np.ndarray:
    """The exported picture of one frame (H, W, C uint8, C = 1 or 3)."""
    view = frame_view(frame, options.view, options)
    check_frame_pixels(max(1, round(view.shape[1] * options.scale)), max(1, round(view.shape[0] * options.scale)),
                       view.shape[-1])
    image = scale_image(view, options.scale)
    if options.caption:
        bar = _caption_bar(image.shape[1], frame, image.shape[-1], options.pad_color)
        image = np.concatenate([image, bar], axis=0)
    return np.ascontiguousarray(image)


def contact_strip(frames, options: ExportOptions) -> np.ndarray:
    """Frames side by side in one row, each with its t written under it."""
    if not frames:
        raise InputError("There are no frames for the strip")
    first = frame_view(frames[0], options.view, options)
    tile_h, tile_w = max(1, round(first.shape[0] * options.scale)), max(1, round(first.shape[1] * options.scale))
    check_frame_pixels(len(frames) * (tile_w + options.padding + 2), tile_h * 2)  # the sheet, before any tile
    tiles = [scale_image(frame_view(f, options.view, options), options.scale) for f in frames]
    channels = 3 if any(t.shape[-1] == 3 for t in tiles) else 1
    tiles = [_to_rgb(t) if channels == 3 else t for t in tiles]
    h, w = tiles[0].shape[:2]
    gap = max(2, options.padding)
    size = int(np.clip(w / 7, 9, 24))
    label_h = int(size * 1.8)
    width = len(tiles) * w + (len(tiles) + 1) * gap
    background = tuple(int(v) for v in _fill(options.pad_color, 3))
    sheet = Image.new("RGB", (width, h + label_h + 2 * gap), background)
    draw = ImageDraw.Draw(sheet)
    fill = _text_colour(np.array(background))
    for i, (frame, tile) in enumerate(zip(frames, tiles)):
        x = gap + i * (w + gap)
        sheet.paste(Image.fromarray(_to_rgb(tile)), (x, gap))
        head, _ = caption_text(frame)
        font = _font(size)
        while size > 7 and draw.textlength(head, font=font) > w:
            font = _font(font.size - 1)
            if font.size <= 7:
                break
        text_w = draw.textlength(head, font=font)
        draw.text((x + (w - text_w) / 2, gap + h + label_h * 0.2), head, font=font, fill=fill)
    return np.asarray(sheet.convert("L"))[..., None] if channels == 1 else np.asarray(sheet)
