"""What a latent chain frame looks like: pixels (preview or VAE), the latent's channels and histogram, guidance.

A :class:`~core.chain.LatentFrame` keeps float latents; everything here turns one into uint8 pictures
for the panel and the exports, as plain numpy (no Qt):

- :func:`preview_pixels` — x_t or x̂0 through the fitted linear latent → RGB map, at latent resolution;
- :class:`DecodedPixels` — the VAE decode of a frame's x_t or x̂0, on demand, kept in a small LRU cache;
- :func:`channel_strip` — the latent's C channels side by side in grey, ±2.5 σ (as ε̂ is shown);
- :func:`latent_histogram` — its values' histogram and the N(0, 1) density to compare with;
- :func:`stacked_strips` — several latents as rows of channel strips (x_t over x̂0, …);
- :func:`guidance_strips` — ε̂(∅), ε̂(c) and what guidance adds, w·(ε̂(c) − ε̂(∅)), one strip each;
- :func:`display_frames` — latent frames as :class:`DisplayFrame` s, the uint8 views core.export reads
  (GIF, …), rendered when read; :func:`side_by_side` puts several chains into one, a sample per chain.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable, Hashable, Sequence

import numpy as np

from ..chain import NOISE_DISPLAY_SIGMAS, nearest_frame_index

if TYPE_CHECKING:
    from ..chain import LatentFrame
    from ..model_sources.latent.preview import LatentPreview

__all__ = [
    "GUIDANCE_VIEWS",
    "DecodedPixels",
    "DisplayFrame",
    "channel_strip",
    "display_frames",
    "guidance_strips",
    "latent_histogram",
    "normal_density",
    "pixels_to_uint8",
    "preview_pixels",
    "side_by_side",
    "stacked_strips",
]

#: The guidance views a frame carries (``GuidedModel.views``), top to bottom, with their labels.
GUIDANCE_VIEWS: tuple[tuple[str, str], ...] = (
    ("eps_unconditional", "ε̂(x_t, ∅) — unconditional"),
    ("eps_conditional", "ε̂(x_t, c) — with the prompt"),
    ("guidance_added", "w·(ε̂(c) − ε̂(∅)) — what guidance adds"),
)
STRIP_GAP = 2  # grey pixels between channels and between strips


def _unit_to_uint8(values: np.ndarray) -> np.ndarray:
    """float in [−1, 1] → uint8, NaN as mid-grey; the rounding of ``core.images.float_to_uint8``."""
    out = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    return ((np.clip(out, -1.0, 1.0) + 1.0) * 127.5 + 0.5).astype(np.uint8)


def pixels_to_uint8(pixels) -> np.ndarray:
    """Decoded pixels (N, 3, H, W) float in [−1, 1] (torch or numpy) → uint8 (N, H, W, 3)."""
    array = pixels.detach().cpu().numpy() if hasattr(pixels, "detach") else np.asarray(pixels)
    return _unit_to_uint8(array.transpose(0, 2, 3, 1))


def preview_pixels(frame: "LatentFrame", which: str, preview: "LatentPreview") -> np.ndarray:
    """uint8 (N, h, w, 3): the frame's ``x_t`` or ``pred_x0`` through the linear preview."""
    return preview.rgb(getattr(frame, which))


def channel_strip(latent: np.ndarray, sigmas: float = NOISE_DISPLAY_SIGMAS, gap: int = STRIP_GAP,
                  background: tuple[int, int, int] | None = None) -> np.ndarray:
    """One sample's latent (C, h, w) as its channels side by side, 0 as mid-grey, ±``sigmas`` as black/white:
    uint8 (h, C·w + gaps) with mid-grey gaps, or (h, C·w + gaps, 3) with gaps in ``background``."""
    latent = np.asarray(latent, dtype=np.float32)
    channels, height, width = latent.shape
    out = np.full((height, channels * width + (channels - 1) * gap), 128, np.uint8)
    for c in range(channels):
        out[:, c * (width + gap) : c * (width + gap) + width] = _unit_to_uint8(latent[c] / sigmas)
    if background is None:
        return out
    rgb = np.repeat(out[:, :, None], 3, axis=2)
    for c in range(1, channels):
        rgb[:, c * (width + gap) - gap : c * (width + gap)] = background
    return rgb


def stacked_strips(latents: Sequence[np.ndarray], sigmas: float = NOISE_DISPLAY_SIGMAS, gap: int = STRIP_GAP,
                   background: tuple[int, int, int] = (128, 128, 128)) -> np.ndarray:
    """Several latents (C, h, w) as rows of channel strips, on one ±``sigmas`` scale: uint8 RGB, gaps in
    ``background`` (so a gap never reads as a value)."""
    rows = [channel_strip(latent, sigmas, gap, background) for latent in latents]
    spacer = np.empty((gap * 2, rows[0].shape[1], 3), np.uint8)
    spacer[:] = background
    pieces = [rows[0]]
    for row in rows[1:]:
        pieces += [spacer, row]
    return np.concatenate(pieces, axis=0)


def guidance_strips(frame: "LatentFrame", sample: int = 0, sigmas: float = NOISE_DISPLAY_SIGMAS,
                    gap: int = STRIP_GAP, background: tuple[int, int, int] = (128, 128, 128)
                    ) -> tuple[np.ndarray, tuple[str, ...]] | tuple[None, tuple]:
    """The three guidance views of one sample stacked as rows of channel strips (RGB), and their labels.

    All on the same ±``sigmas`` scale, so how large the guidance term is next to ε̂ shows. (None, ())
    when the frame has no guidance views (a model run without guidance recording).
    """
    present = [(name, label) for name, label in GUIDANCE_VIEWS if name in frame.extras]
    if not present:
        return None, ()
    image = stacked_strips([frame.extras[name][sample] for name, _ in present], sigmas, gap, background)
    return image, tuple(label for _, label in present)


def latent_histogram(values: np.ndarray, bins: int = 81, limit: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, density) of ``values`` over [−limit, limit]; values outside count in the end bins."""
    data = np.clip(np.asarray(values, dtype=np.float64).ravel(), -limit, limit)
    data = data[np.isfinite(data)]
    counts, edges = np.histogram(data, bins=bins, range=(-limit, limit))
    width = edges[1] - edges[0]
    density = counts / max(1, data.size) / width
    return (edges[:-1] + edges[1:]) / 2, density


def normal_density(x: np.ndarray) -> np.ndarray:
    """The N(0, 1) density: where x_T starts, and what ε̂ should look like."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)


class DecodedPixels:
    """VAE decodes on demand, remembered: ``get(key, latents)`` decodes once per key (LRU, ``max_bytes``).

    ``decode`` is the model's latent → pixel decoder (``LoadedModel.decode``). Thread-safe: the GUI asks
    from a worker thread. Keys are whatever names a view (e.g. (chain, frame index, "pred_x0")).
    """

    def __init__(self, decode: Callable, max_bytes: int = 256 * 2**20):
        self._decode = decode
        self.max_bytes = int(max_bytes)
        self._cache: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.decodes = 0  # how many times the VAE actually ran

    def cached(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            image = self._cache.get(key)
            if image is not None:
                self._cache.move_to_end(key)
            return image

    def get(self, key: Hashable, latents: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) pixels of ``latents`` (N, C, h, w), decoded now or remembered."""
        image = self.cached(key)
        if image is not None:
            return image
        import torch

        image = pixels_to_uint8(self._decode(torch.tensor(np.asarray(latents), dtype=torch.float32)))
        image.setflags(write=False)
        with self._lock:
            self.decodes += 1
            self._cache[key] = image
            while sum(a.nbytes for a in self._cache.values()) > self.max_bytes and len(self._cache) > 1:
                self._cache.popitem(last=False)
        return image

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def _upscale(images: np.ndarray, factor: int) -> np.ndarray:
    return images if factor == 1 else images.repeat(factor, axis=-3).repeat(factor, axis=-2)


class DisplayFrame:
    """One step of one or more latent chains as the uint8 views core.export reads — rendered when read.

    ``index``, ``t``, ``alphas_cumprod`` and ``is_final`` are the first chain's; ``x_t``, ``pred_x0`` and
    ``pred_noise`` are (N, H, W, C) with one sample per chain, made on first access. So an export that
    keeps 10 frames of 50 decodes 10, in the export's own thread, and choosing frames by t decodes none.
    x_t and x̂0 are the linear previews at latent resolution; with a ``decoder`` x̂0 (and x_t with
    ``decode_x_t``) is the VAE decode instead, and the other views are enlarged ``scale_factor`` times
    (nearest) to match. ε̂ is its channels side by side (grey, ±2.5 σ). A final frame's x_t is its x̂0.
    """

    def __init__(self, parts: Sequence[tuple["LatentFrame", Hashable]], preview: "LatentPreview",
                 decoder: DecodedPixels | None = None, scale_factor: int = 1, decode_x_t: bool = False):
        self.parts = list(parts)
        first = self.parts[0][0]
        self.index, self.t, self.alphas_cumprod, self.is_final = first.index, first.t, first.alphas_cumprod, first.is_final
        self._preview, self._decoder, self._decode_x_t = preview, decoder, bool(decode_x_t)
        self._factor = int(scale_factor) if decoder is not None else 1
        self._views: dict[str, np.ndarray] = {}

    def _pixels(self, frame: "LatentFrame", key: Hashable, which: str) -> np.ndarray:
        if self._decoder is None:
            return preview_pixels(frame, which, self._preview)
        if which == "x_t" and frame.is_final:
            which = "pred_x0"  # the same latents: one decode
        if which == "pred_x0" or self._decode_x_t:
            return self._decoder.get((key, frame.index, which), getattr(frame, which))
        return _upscale(preview_pixels(frame, which, self._preview), self._factor)

    def _noise(self, frame: "LatentFrame", _key: Hashable, _which: str) -> np.ndarray:
        return _upscale(np.stack([channel_strip(sample)[:, :, None] for sample in frame.pred_noise]), self._factor)

    def _view(self, which: str) -> np.ndarray:
        if which not in self._views:
            render = self._noise if which == "pred_noise" else self._pixels
            self._views[which] = np.concatenate([render(frame, key, which) for frame, key in self.parts])
        return self._views[which]

    @property
    def x_t(self) -> np.ndarray:
        return self._view("x_t")

    @property
    def pred_x0(self) -> np.ndarray:
        return self._view("pred_x0")

    @property
    def pred_noise(self) -> np.ndarray:
        return self._view("pred_noise")


def display_frames(frames: Sequence["LatentFrame"], preview: "LatentPreview", *,
                   decoder: DecodedPixels | None = None, scale_factor: int = 1,
                   decode_x_t: bool = False, key: Hashable = "display") -> list[DisplayFrame]:
    """One chain's latent frames as :class:`DisplayFrame` s (decodes cached in ``decoder`` under ``key``)."""
    return [DisplayFrame([(frame, key)], preview, decoder, scale_factor, decode_x_t) for frame in frames]


def side_by_side(chains: Sequence[Sequence[DisplayFrame]]) -> list[DisplayFrame]:
    """Several chains as one: frame i of the first chain with each other chain's frame at the nearest noise
    level (log SNR; final with final), one sample per chain — a comparison grid in every exported frame."""
    if not chains or not chains[0]:
        return []
    merged = []
    for frame in chains[0]:
        parts = list(frame.parts)
        for other in chains[1:]:
            final = frame.is_final and other[-1].is_final
            partner = other[-1] if final else other[nearest_frame_index(other, frame.alphas_cumprod, "log_snr")]
            parts += partner.parts
        first = chains[0][0]
        merged.append(DisplayFrame(parts, first._preview, first._decoder, first._factor, first._decode_x_t))
    return merged
