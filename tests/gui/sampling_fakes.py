"""Made-up chains of real ChainFrames for the sampling panel's tests (no model, no torch)."""

from __future__ import annotations

import numpy as np

from diffusion_studio.core.chain import ChainFrame


def fake_chain(num_frames: int = 11, batch: int = 4, size: int = 8, channels: int = 1, T: int = 100):
    """A chain from t = T-1 down to the clean frame (t = -1): each sample has its own constant value."""
    alphas = np.linspace(0.999, 0.01, T)
    ts = np.linspace(T - 1, 0, num_frames - 1).round().astype(int)
    frames = []
    for i, t in enumerate(list(ts) + [-1]):
        values = (np.arange(batch) * 40 + i).astype(np.uint8)
        x_t = np.broadcast_to(values[:, None, None, None], (batch, size, size, channels)).copy()
        final = t < 0
        frames.append(ChainFrame(i, int(t), 1.0 if final else float(alphas[t]), x_t, 255 - x_t, x_t // 2, final))
    return frames
