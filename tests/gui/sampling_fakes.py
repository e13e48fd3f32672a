"""ChainFrame-shaped fakes for the sampling panel's tests (no model, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FakeFrame:
    index: int
    t: int
    alphas_cumprod: float
    x_t: np.ndarray
    pred_x0: np.ndarray
    pred_noise: np.ndarray
    is_final: bool


def fake_chain(num_frames: int = 11, batch: int = 4, size: int = 8, channels: int = 1, T: int = 100):
    """A chain from t = T-1 down to the clean frame (t = -1): each sample has its own constant value."""
    alphas = np.linspace(0.999, 0.01, T)
    ts = np.linspace(T - 1, 0, num_frames - 1).round().astype(int)
    frames = []
    for i, t in enumerate(list(ts) + [-1]):
        values = (np.arange(batch) * 40 + i).astype(np.uint8)
        x_t = np.broadcast_to(values[:, None, None, None], (batch, size, size, channels)).copy()
        final = t < 0
        frames.append(FakeFrame(i, int(t), 1.0 if final else float(alphas[t]), x_t, 255 - x_t, x_t // 2, final))
    return frames
