"""What the playground draws at one t, as arrays and sentences: the arrow layers, the learned-vs-ideal
figure, the followed point or particle. numpy only (no Qt), so the panel just hands the results on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .grid_fields import field_vectors, ideal_x0_direct
from .render import arrow_segments
from .scene import FieldSample, PlaygroundScene

__all__ = ["FieldLayers", "Followed", "field_layers", "difference_text", "follow_point", "follow_particle", "nearest"]


@dataclass(frozen=True)
class FieldLayers:
    """Arrow segments per layer ("ideal", "learned", "difference"; None = hidden) and the fields drawn."""

    segments: dict[str, np.ndarray | None]
    ideal: FieldSample | None
    learned: FieldSample | None


def field_layers(scene: PlaygroundScene, t: int, kind: str, shown: Callable[[str], bool], snapshot) -> FieldLayers:
    """The ideal field, the learned one (``snapshot`` given) and their difference, on one length scale.

    All arrows share the ideal field's reference length, so the learned and the difference arrows
    can be read against the ideal ones.
    """
    learned_on = snapshot is not None and (shown("learned") or shown("difference"))
    ideal = scene.ideal_field(t, kind) if shown("ideal") or learned_on else None
    learned = scene.learned_field(t, snapshot, kind) if learned_on and ideal is not None else None
    segments: dict[str, np.ndarray | None] = {"ideal": None, "learned": None, "difference": None}
    if ideal is None:
        return FieldLayers(segments, None, None)
    magnitude = np.hypot(ideal.vectors[:, 0], ideal.vectors[:, 1])
    reference = float(np.percentile(magnitude, 95)) or None
    spacing = (scene.field_grid.high - scene.field_grid.low) / scene.field_grid.resolution
    vectors = {"ideal": ideal.vectors if shown("ideal") else None,
               "learned": learned.vectors if learned is not None and shown("learned") else None,
               "difference": learned.vectors - ideal.vectors if learned is not None and shown("difference") else None}
    for layer, value in vectors.items():
        if value is not None:
            segments[layer] = arrow_segments(ideal.positions, value, spacing, reference=reference)
    return FieldLayers(segments, ideal, learned)


def difference_text(scene: PlaygroundScene, t: int, ideal: FieldSample, learned: FieldSample, step: int) -> str:
    """Mean ‖ε̂ of the MLP − ε̂ of the ideal denoiser‖ where the noised data are, and over the whole grid."""
    alpha_bar = min(scene.alpha_bar(t), 1.0 - 1e-12)
    gap = np.hypot(*(field_vectors(learned.pred_x0, learned.positions, alpha_bar, "epsilon")
                     - field_vectors(ideal.pred_x0, ideal.positions, alpha_bar, "epsilon")).T)
    # "where the data are": the density cell under each arrow holds at least 1 % of the peak
    density, grid = scene.density(t), scene.density_grid
    cells = np.clip(((ideal.positions - grid.low) / grid.cell).astype(int), 0, grid.resolution - 1)
    near = density[cells[:, 1], cells[:, 0]] >= 0.01 * density.max()
    where = f"{gap[near].mean():.3f} where the data are, " if near.any() else ""
    return (f"Mean ‖ε guess of the MLP − ε guess of the ideal denoiser‖ at t = {t}: {where}{gap.mean():.3f} "
            f"over the whole grid (MLP at step {step:,})")


@dataclass(frozen=True)
class Followed:
    """The followed point or particle: where it is, its x̂0, its path so far, and a sentence."""

    position: np.ndarray
    pred_x0: np.ndarray
    path: np.ndarray
    text: str


def follow_point(scene: PlaygroundScene, index: int | None, t: int) -> Followed | None:
    """Data point ``index`` noised to t with its own ε: its path over 0 … t and the ideal denoiser's guess."""
    if index is None or not 0 <= index < len(scene):
        return None
    alphas_cumprod = scene.schedule.alphas_cumprod
    x0, noise = scene.points[index].astype(np.float64), scene.noise[index].astype(np.float64)
    path = np.sqrt(alphas_cumprod[: t + 1])[:, None] * x0 + np.sqrt(1 - alphas_cumprod[: t + 1])[:, None] * noise
    position = path[-1]
    guess = ideal_x0_direct(position[None], scene.points, min(float(alphas_cumprod[t]), 1.0 - 1e-12))[0]
    return Followed(position, guess, path,
                    f"Point {index}: x₀ = ({x0[0]:+.3f}, {x0[1]:+.3f}), x_t = ({position[0]:+.3f}, "
                    f"{position[1]:+.3f}); the ideal denoiser's x₀ guess = ({guess[0]:+.3f}, {guess[1]:+.3f})")


def follow_particle(trajectories, index: int | None, frame_index: int) -> Followed | None:
    """Particle ``index`` of a reverse run at frame ``frame_index``: its path so far and its predicted x₀."""
    if trajectories is None or index is None or not 0 <= index < trajectories.num_particles or not len(trajectories):
        return None
    frame = trajectories.frame(min(frame_index, len(trajectories) - 1))
    position, guess = frame.positions[index], frame.pred_x0[index]
    when = "the end" if frame.t < 0 else f"t = {frame.t}"
    return Followed(position, guess, trajectories.positions[: frame.index + 1, index],
                    f"Particle {index}: x_t = ({position[0]:+.3f}, {position[1]:+.3f}), predicted x₀ = "
                    f"({guess[0]:+.3f}, {guess[1]:+.3f}) at {when}")


def nearest(positions: np.ndarray, x: float, y: float, tolerance: float) -> int | None:
    """The index of the position nearest (x, y) if it lies within ``tolerance``."""
    if not len(positions):
        return None
    d2 = (positions[:, 0] - x) ** 2 + (positions[:, 1] - y) ** 2
    index = int(np.argmin(d2))
    return index if d2[index] <= tolerance**2 else None
