"""What the sampling panel shows, as plain numpy: views of a chain frame, batch grids, click mapping.

Frames are ``ChainFrame``-shaped objects (``core.chain``): ``index, t, alphas_cumprod, x_t, pred_x0,
pred_noise, is_final`` with uint8 ``(N, H, W, C)`` images, and a guided chain's ``extras`` (ε̂ without and
with the class, and what guidance adds). Nothing here imports Qt, so it is cheap to test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "VIEWS",
    "VIEW_LABELS",
    "VIEW_PARTS",
    "VIEW_SHORT_NAMES",
    "FrameLayout",
    "GUIDANCE_PARTS",
    "compose_frame",
    "shown_parts",
    "frame_stats",
    "FrameStats",
]

#: the images a frame carries, "guidance" = a guided chain's three ε̂ views, "all" = x_t, x̂0 and ε̂ side by side
VIEWS = ("x_t", "pred_x0", "pred_noise", "guidance", "all")
VIEW_LABELS = {
    "x_t": "x_t — the sample at this step",
    "pred_x0": "x̂0 — the model’s guess of the clean image",
    "pred_noise": "ε̂ — the noise the model sees (guided, ±2.5σ)",
    "guidance": "Classifier-free guidance: ε̂ without the class, ε̂ with it, and what guidance adds, "
                "w·(ε̂(c) − ε̂(∅)) (all ±2.5σ)",
    "all": "x_t, x̂0 and ε̂ side by side",
}
#: the guidance views of a guided chain's frames (``core.guidance.GuidedModel.views``), left to right
GUIDANCE_PARTS = ("eps_unconditional", "eps_conditional", "guidance_added")
#: the images of each view, left to right, and their short names (fonts without a combining hat
#: for x̂ are common, so the short names avoid it)
VIEW_PARTS = {"x_t": ("x_t",), "pred_x0": ("pred_x0",), "pred_noise": ("pred_noise",), "guidance": GUIDANCE_PARTS,
              "all": ("x_t", "pred_x0", "pred_noise")}
VIEW_SHORT_NAMES = {"x_t": "x_t", "pred_x0": "x₀ guess", "pred_noise": "ε guess", "guidance": "Guidance",
                    "all": "All three", "eps_unconditional": "ε, no class", "eps_conditional": "ε, class",
                    "guidance_added": "guidance adds"}
#: gap between tiles of the batch grid and between the three views, in image pixels
TILE_PAD = 1
VIEW_GAP = 3


@dataclass(frozen=True)
class FrameLayout:
    """Where each sample sits in a composed image, to map a click back to a sample index."""

    rows: int
    columns: int
    tile_height: int
    tile_width: int
    pad: int
    panel_width: int  # width of one view's grid (plus the gap to the next view)
    num_samples: int
    single: int | None  # the followed sample when one sample is shown large

    def sample_at(self, x: float, y: float) -> int | None:
        """The sample under image pixel (x, y) (column, row), or None on a gap or outside."""
        if x < 0 or y < 0:
            return None
        x = x % self.panel_width if self.panel_width > 0 else x
        if self.single is not None:
            inside = x < self.tile_width and y < self.tile_height
            return self.single if inside else None
        step_x, step_y = self.tile_width + self.pad, self.tile_height + self.pad
        column, row = int(x // step_x), int(y // step_y)
        if x - column * step_x >= self.tile_width or y - row * step_y >= self.tile_height:
            return None
        if column >= self.columns or row >= self.rows:
            return None
        index = row * self.columns + column
        return index if index < self.num_samples else None


def grid_shape(num_samples: int) -> tuple[int, int]:
    """(rows, columns) of a near-square grid, wider than tall."""
    columns = max(1, math.ceil(math.sqrt(num_samples)))
    rows = max(1, math.ceil(num_samples / columns))
    return rows, columns


def _to_rgb(images: np.ndarray) -> np.ndarray:
    if images.shape[-1] == 1:
        return np.repeat(images, 3, axis=-1)
    return images


def tile_batch(images: np.ndarray, pad: int = TILE_PAD, background=(0, 0, 0)) -> np.ndarray:
    """uint8 (N, H, W, C) → one (rows·H + gaps, columns·W + gaps, 3) grid image."""
    images = _to_rgb(np.asarray(images))
    n, h, w, _ = images.shape
    rows, columns = grid_shape(n)
    out = np.empty((rows * h + (rows - 1) * pad, columns * w + (columns - 1) * pad, 3), np.uint8)
    out[:] = np.asarray(background, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = images[i]
    return out


def compose_frame(frame, view: str = "x_t", sample: int | None = None, background=(0, 0, 0)):
    """The image to show for ``frame``: one view or all three, the batch grid or one sample.

    Returns ``(image uint8 (H, W, 3), FrameLayout)``.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    names = shown_parts(frame, view)
    batch = np.asarray(frame.x_t)
    n, h, w, _ = batch.shape
    if sample is not None and not 0 <= sample < n:
        sample = None
    panels = []
    for name in names:
        images = np.asarray(_part(frame, name))
        if sample is not None:
            panels.append(_to_rgb(images[sample]))
        else:
            panels.append(tile_batch(images, background=background))
    if len(panels) > 1:
        gap = np.empty((panels[0].shape[0], VIEW_GAP, 3), np.uint8)
        gap[:] = np.asarray(background, np.uint8)
        pieces = [panels[0]]
        for panel in panels[1:]:
            pieces += [gap, panel]
        image = np.concatenate(pieces, axis=1)
    else:
        image = panels[0]
    rows, columns = (1, 1) if sample is not None else grid_shape(n)
    layout = FrameLayout(
        rows=rows,
        columns=columns,
        tile_height=h,
        tile_width=w,
        pad=TILE_PAD,
        panel_width=panels[0].shape[1] + (VIEW_GAP if len(panels) > 1 else 0),
        num_samples=n,
        single=sample,
    )
    return np.ascontiguousarray(image), layout


def _part(frame, name: str):
    extras = getattr(frame, "extras", None) or {}
    return extras[name] if name in extras else getattr(frame, name)


def shown_parts(frame, view: str) -> tuple[str, ...]:
    """The images ``view`` shows for ``frame``: the guidance view of a frame without guidance views (a chain
    that is not guided) shows its ε̂."""
    parts = VIEW_PARTS[view]
    if view == "guidance" and not all(name in (getattr(frame, "extras", None) or {}) for name in parts):
        return ("pred_noise",)
    return parts


@dataclass(frozen=True)
class FrameStats:
    t: int
    alphas_cumprod: float
    snr: float  # ᾱ / (1 − ᾱ); inf for the clean final frame
    noise_std: float  # √(1 − ᾱ): how much of x_t is noise

    def text(self) -> str:
        t = "0 (clean)" if self.t < 0 else str(self.t)
        if math.isinf(self.snr):
            snr = "∞"
        else:
            snr = f"{self.snr:.3g}  ({10 * math.log10(max(self.snr, 1e-30)):+.1f} dB)"
        return f"t = {t}   ᾱ_t = {self.alphas_cumprod:.4f}   SNR = {snr}"

    def short_text(self) -> str:
        """The line for a narrow view (one of a sweep): t alone; the rest is in its tooltip."""
        return "t = 0 (clean)" if self.t < 0 else f"t = {self.t}"


def frame_stats(frame) -> FrameStats:
    alpha_bar = float(min(max(frame.alphas_cumprod, 0.0), 1.0))
    snr = math.inf if alpha_bar >= 1.0 else alpha_bar / max(1.0 - alpha_bar, 1e-30)
    return FrameStats(int(frame.t), alpha_bar, snr, math.sqrt(max(1.0 - alpha_bar, 0.0)))
