"""A trained playground MLP as plain numpy: what the GUI evaluates on its grid, without torch.

The GUI thread never waits on torch, and the learned field must follow the t slider like the
ideal one. The training worker hands over an :class:`MLPSnapshot` (a detached copy of the
weights); evaluating it on a 30×30 grid is four small matrix products. It computes exactly what
:class:`~diffusion_studio.core.playground.mlp.DenoiserMLP` computes (a test checks this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..samplers.base import predict_x0
from .grid_fields import matmul_one_thread

__all__ = ["MLPSnapshot", "time_embedding", "silu"]


def time_embedding(t: np.ndarray, num_timesteps: int, dim: int) -> np.ndarray:
    """Sinusoidal embedding of t rescaled to 0 … 1000 (Vaswani et al. 2017 §3.5; Ho et al. 2020 App. B).

    Rescaling makes the embedding independent of T, so a schedule with T = 50 or 4000 trains the same.
    Returns float32 (len(t), dim): [sin(s·f_k), cos(s·f_k)] with f_k = 10000^(−k/(dim/2)).
    """
    half = dim // 2
    frequencies = np.exp(-math.log(10000.0) * np.arange(half, dtype=np.float64) / half)
    scaled = np.asarray(t, dtype=np.float64).reshape(-1, 1) * (1000.0 / num_timesteps)
    angles = scaled * frequencies[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def silu(x: np.ndarray) -> np.ndarray:
    """x·σ(x) in place (Elfwing et al. 2018), with σ written through tanh so large |x| never overflows."""
    half = np.multiply(x, 0.5)
    np.tanh(half, out=half)
    half += 1.0
    half *= 0.5
    x *= half
    return x


@dataclass(frozen=True)
class MLPSnapshot:
    """The weights of a :class:`DenoiserMLP` as float32 numpy arrays, and what they mean.

    ``layers`` are (weight (out, in), bias (out,)) pairs: the input layer (on [x, y, embedding(t)]),
    the residual hidden layers, the output layer. ``prediction`` is what the output is
    (ε, x0 or v); ``step`` how many training steps made it.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    time_dim: int
    num_timesteps: int
    prediction: str
    step: int = 0

    def __call__(self, x_t: np.ndarray, t: int) -> np.ndarray:
        """The network's output at positions ``x_t`` (M, 2), all at timestep ``t``: float32 (M, 2)."""
        x_t = np.asarray(x_t, dtype=np.float32).reshape(-1, 2)
        (w_in, b_in), *hidden, (w_out, b_out) = self.layers
        # One t for every row: the embedding's share of the first layer is a constant bias.
        embedding = time_embedding(np.array([t]), self.num_timesteps, self.time_dim)[0]
        h = matmul_one_thread(x_t, np.ascontiguousarray(w_in[:, :2].T))
        h += b_in + w_in[:, 2:] @ embedding
        silu(h)
        for weight, bias in hidden:
            step = matmul_one_thread(h, np.ascontiguousarray(weight.T))
            step += bias
            h += silu(step)
        out = matmul_one_thread(h, np.ascontiguousarray(w_out.T))
        out += b_out
        return out

    def predict_x0(self, x_t: np.ndarray, t: int, alpha_bar: float) -> np.ndarray:
        """x̂0 at ``x_t`` from the network's output (ε, x0 or v; Ho et al. eq. 15, Salimans & Ho §4)."""
        x_t = np.asarray(x_t, dtype=np.float32).reshape(-1, 2)
        return predict_x0(self(x_t, t), x_t, max(float(alpha_bar), 1e-12), self.prediction)

    @property
    def num_parameters(self) -> int:
        return int(sum(w.size + b.size for w, b in self.layers))
