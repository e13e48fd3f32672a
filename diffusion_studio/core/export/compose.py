"""Turn a frame into the picture that goes into the file: view, batch grid, scale, column labels, caption.

Also the contact strip: several frames side by side with their t written under them.
Captions and labels use Pillow's built-in font, which has no Greek letters: ᾱ_t is drawn as an
"a" with a macron and a subscript t, ε as two arcs, and hats and subscripts are drawn too.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import InputError
from .options import AUTO_SHORT_SIDE, ExportOptions
from .sources import ImageFrame

__all__ = [
    "MAX_FRAME_PIXELS",
    "as_batch",
    "caption_text",
    "check_frame_pixels",
    "column_labels",
    "compose_frame",
    "contact_strip",
    "frame_view",
    "physical_memory",
    "scale_factor",
    "scale_image",
    "tile_grid",
]

#: The largest picture an export composes: 64 Mi pixels (8192 × 8192; 192 MiB as RGB).
MAX_FRAME_PIXELS = 64 * 2**20
#: Copies of a frame alive at once while exporting (composed, scaled, the previous one, the encoder's).
_FRAME_COPIES = 6

_VIEW_ATTRS = {"x_t": "x_t", "pred_x0": "pred_x0", "pred_noise": "pred_noise"}
#: with ``scale=None`` a contact strip's tiles are enlarged to at least this short side (a strip holds many)
STRIP_SHORT_SIDE = 96
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


def _view_panels(frame, view: str, options: ExportOptions) -> list[tuple[str, np.ndarray]]:
    """(name, grid image) of each picture the view shows, left to right."""
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
        panels.append((name, tile_grid(batch, options.grid_columns, options.padding, options.pad_color)))
    return panels


def _join(panels: list[np.ndarray], options: ExportOptions) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Panels side by side on the background, and the x span (start, end) of each."""
    if len(panels) == 1:
        return panels[0], [(0, panels[0].shape[1])]
    if any(p.shape[-1] == 3 for p in panels):
        panels = [_to_rgb(p) for p in panels]
    height = max(p.shape[0] for p in panels)
    gap = max(4, 2 * options.padding)
    fill = _fill(options.pad_color, panels[0].shape[-1])
    parts, spans, x = [], [], 0
    for i, panel in enumerate(panels):
        if panel.shape[0] < height:
            extra = np.empty((height - panel.shape[0],) + panel.shape[1:], np.uint8)
            extra[:] = fill
            panel = np.concatenate([panel, extra], axis=0)
        if i:
            spacer = np.empty((height, gap, panel.shape[-1]), np.uint8)
            spacer[:] = fill
            parts.append(spacer)
            x += gap
        parts.append(panel)
        spans.append((x, x + panel.shape[1]))
        x += panel.shape[1]
    return np.concatenate(parts, axis=1), spans


def frame_view(frame, view: str, options: ExportOptions) -> np.ndarray:
    """One frame as one image (H, W, C): the chosen view of every sample, as a grid."""
    return _join([panel for _, panel in _view_panels(frame, view, options)], options)[0]


def scale_factor(image: np.ndarray, options: ExportOptions, short_side: int = AUTO_SHORT_SIDE) -> float:
    """``options.scale``, or with ``scale=None`` the smallest whole factor (at most 32) that makes the
    image's short side at least ``short_side`` pixels (1 when it is already that large)."""
    if options.scale is not None:
        return float(options.scale)
    return float(min(32, max(1, math.ceil(short_side / max(1, min(image.shape[:2]))))))


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


def column_labels(frame) -> dict[str, tuple[str, str | None, bool, str]]:
    """What the side-by-side columns are called: name → (letter, subscript, hat, words).

    A chain frame holds the model's guesses (x̂0, ε̂, with hats); a frame of the forward process
    (an :class:`ImageFrame`) the clean image and the noise themselves (x0, ε)."""
    truth = isinstance(frame, ImageFrame)
    return {
        "x_t": ("x", "t", False, "noised" if truth else "sample"),
        "pred_x0": ("x", "0", not truth, "clean image" if truth else "clean-image guess"),
        "pred_noise": ("ε", None, not truth, "noise" if truth else "noise guess"),
    }


_EPSILON_WIDTH = 0.56  # of the font size: about an "x"


def _symbol_width(draw, letter: str, subscript: str | None, font, small) -> float:
    width = font.size * _EPSILON_WIDTH if letter == "ε" else draw.textlength(letter, font=font)
    return width + (draw.textlength(subscript, font=small) + 1 if subscript else 0)


def _draw_symbol(draw, x: float, y: float, label: tuple, font, small, fill) -> float:
    """Draw x_t, x̂₀, ε̂ … at (x, y) (the top of the text line); returns the width drawn."""
    letter, subscript, hat, _ = label
    line = max(1, round(font.size / 13))
    ascent, _ = font.getmetrics()
    _, x_top, _, x_bottom = font.getbbox("x")  # the x-height band, where ε and the hat go
    if letter == "ε":
        width = font.size * _EPSILON_WIDTH
        top, bottom, mid = y + x_top, y + x_bottom, y + (x_top + x_bottom) / 2
        left, right = x + line, x + width - line
        draw.arc([left + width * 0.08, top, right, mid + line], 95, 325, fill=fill, width=line)
        draw.arc([left, mid - line, right, bottom], 35, 265, fill=fill, width=line)
    else:
        draw.text((x, y), letter, font=font, fill=fill)
        width = draw.textlength(letter, font=font)
    if hat:
        peak, base = y + x_top - font.size * 0.32, y + x_top - font.size * 0.08
        draw.line([(x + width * 0.15, base), (x + width / 2, peak), (x + width * 0.85, base)], fill=fill, width=line)
    if subscript:
        draw.text((x + width + 1, y + ascent - small.size * 0.55), subscript, font=small, fill=fill)
        width += draw.textlength(subscript, font=small) + 1
    return width


def _label_bar(frame, names: list[str], spans: list[tuple[int, int]], width: int, channels: int,
               pad_color) -> np.ndarray:
    """A bar with each column's symbol (and a word when there is room) centred over its span.

    Drawn at three times the size and scaled down, so the drawn ε and hats are as smooth as the text."""
    zoom = 3
    labels = column_labels(frame)
    narrowest = min(end - start for start, end in spans)
    size = int(np.clip(narrowest / 9, 10, 28))
    font, small = _font(size * zoom), _font(max(7, size * 2 // 3) * zoom)
    height = int(size * 2.0)
    background = tuple(int(v) for v in _fill(pad_color, 3))
    bar = Image.new("RGB", (width * zoom, height * zoom), background)
    draw = ImageDraw.Draw(bar)
    gap = draw.textlength("  ", font=font)
    fill = _text_colour(np.array(background))
    for name, (start, end) in zip(names, spans):
        label = labels[name]
        symbol = _symbol_width(draw, label[0], label[1], font, small)
        words = label[3]
        total = symbol + gap + draw.textlength(words, font=font)
        if total > (end - start - 4) * zoom:
            words, total = "", symbol  # a narrow column: the symbol alone
        x = start * zoom + ((end - start) * zoom - total) / 2
        y = size * 0.45 * zoom
        x += _draw_symbol(draw, x, y, label, font, small, fill)
        if words:
            draw.text((x + gap, y), words, font=font, fill=fill)
    bar = bar.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(bar.convert("L"))[..., None] if channels == 1 else np.asarray(bar)


def compose_frame(frame, options: ExportOptions) -> np.ndarray:
    """The exported picture of one frame (H, W, C uint8, C = 1 or 3)."""
    panels = _view_panels(frame, options.view, options)
    view, spans = _join([panel for _, panel in panels], options)
    factor = scale_factor(view, options)
    check_frame_pixels(max(1, round(view.shape[1] * factor)), max(1, round(view.shape[0] * factor)), view.shape[-1])
    image = scale_image(view, factor)
    if options.column_labels and options.view == "side_by_side" and len(panels) > 1:
        scaled = [(round(start * factor), round(end * factor)) for start, end in spans]
        bar = _label_bar(frame, [name for name, _ in panels], scaled, image.shape[1], image.shape[-1], options.pad_color)
        image = np.concatenate([bar, image], axis=0)
    if options.caption:
        bar = _caption_bar(image.shape[1], frame, image.shape[-1], options.pad_color)
        image = np.concatenate([image, bar], axis=0)
    return np.ascontiguousarray(image)


def contact_strip(frames, options: ExportOptions) -> np.ndarray:
    """Frames side by side in one row, each with its t written under it."""
    if not frames:
        raise InputError("There are no frames for the strip")
    first = frame_view(frames[0], options.view, options)
    factor = scale_factor(first, options, short_side=STRIP_SHORT_SIDE)  # many tiles in a row: smaller
    tile_h, tile_w = max(1, round(first.shape[0] * factor)), max(1, round(first.shape[1] * factor))
    check_frame_pixels(len(frames) * (tile_w + options.padding + 2), tile_h * 2)  # the sheet, before any tile
    tiles = [scale_image(frame_view(f, options.view, options), factor) for f in frames]
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
