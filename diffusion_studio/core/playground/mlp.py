"""The playground's learned denoiser: a small MLP with a time embedding, and its sampler interface.

Input [x, y, embedding(t)] → Linear → SiLU → ``layers`` residual blocks (h + SiLU(Linear(h)))
→ Linear → 2 outputs (ε, x0 or v, whichever it was trained to predict). About 50 000 parameters
at the default width 128: it trains in seconds on a CPU. :mod:`.snapshot` computes the same
function in numpy for the GUI.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..schedules import NoiseSchedule
from .snapshot import MLPSnapshot

__all__ = ["DenoiserMLP", "LearnedDenoiser", "torch_time_embedding"]


def torch_time_embedding(t: torch.Tensor, num_timesteps: int, dim: int) -> torch.Tensor:
    """:func:`.snapshot.time_embedding` in torch (t rescaled to 0 … 1000, [sin, cos])."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64, device=t.device) / half)
    angles = t.to(torch.float64).reshape(-1, 1) * (1000.0 / num_timesteps) * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).to(torch.float32)


class DenoiserMLP(nn.Module):
    """f(x_t, t) → 2 numbers; ``prediction`` says whether they are ε, x0 or v."""

    def __init__(self, num_timesteps: int, *, hidden: int = 128, layers: int = 3, time_dim: int = 32,
                 prediction: str = "epsilon"):
        super().__init__()
        self.num_timesteps = int(num_timesteps)
        self.time_dim = int(time_dim)
        self.prediction = prediction
        self.input = nn.Linear(2 + self.time_dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.output = nn.Linear(hidden, 2)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(len(x_t))
        embedding = torch_time_embedding(t, self.num_timesteps, self.time_dim)
        h = nn.functional.silu(self.input(torch.cat([x_t.to(torch.float32), embedding], dim=1)))
        for block in self.blocks:
            h = h + nn.functional.silu(block(h))
        return self.output(h)

    def snapshot(self, step: int = 0) -> MLPSnapshot:
        """A detached numpy copy of the weights (for another thread, or the GUI)."""
        linears = [self.input, *self.blocks, self.output]
        layers = tuple((layer.weight.detach().cpu().numpy().astype(np.float32, copy=True),
                        layer.bias.detach().cpu().numpy().astype(np.float32, copy=True)) for layer in linears)
        return MLPSnapshot(layers, self.time_dim, self.num_timesteps, self.prediction, int(step))

    @classmethod
    def from_snapshot(cls, snapshot: MLPSnapshot) -> "DenoiserMLP":
        (w_in, _), *hidden, _ = snapshot.layers
        model = cls(snapshot.num_timesteps, hidden=w_in.shape[0], layers=len(hidden), time_dim=snapshot.time_dim,
                    prediction=snapshot.prediction)
        with torch.no_grad():
            for layer, (weight, bias) in zip([model.input, *model.blocks, model.output], snapshot.layers):
                layer.weight.copy_(torch.from_numpy(np.asarray(weight)))
                layer.bias.copy_(torch.from_numpy(np.asarray(bias)))
        return model.eval()


class LearnedDenoiser:
    """A trained :class:`DenoiserMLP` as a "model" for the samplers: ``denoiser(x_t, t)`` → its output.

    ``prediction`` is the MLP's (ε, x0 or v); the samplers convert it as they do for image models.
    """

    label = "learned MLP"

    def __init__(self, model: DenoiserMLP, schedule: NoiseSchedule):
        if model.num_timesteps != schedule.num_timesteps:
            raise ValueError(f"the MLP was trained for T = {model.num_timesteps}, the schedule has "
                             f"T = {schedule.num_timesteps}")
        self.model = model.eval()
        self.schedule = schedule
        self.prediction = model.prediction

    @classmethod
    def from_snapshot(cls, snapshot: MLPSnapshot, schedule: NoiseSchedule) -> "LearnedDenoiser":
        return cls(DenoiserMLP.from_snapshot(snapshot), schedule)

    @torch.no_grad()
    def __call__(self, x_t: torch.Tensor, t: int) -> torch.Tensor:
        return self.model(x_t, torch.tensor(int(t))).to(x_t.dtype)

    def snapshot(self) -> MLPSnapshot:
        return self.model.snapshot()
