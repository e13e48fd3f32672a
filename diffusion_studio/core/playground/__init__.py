"""The 2D playground: diffusion you can see whole, from a notebook as from the app.

Point sets, the exact noised density, the ideal denoiser, a small MLP trained in seconds, and
reverse trajectories through the app's own samplers::

    >>> from diffusion_studio.core.schedules import make_schedule
    >>> from diffusion_studio.core.playground import (
    ...     GridFields, IdealDenoiser, MLPTrainConfig, SampleConfig, fit_mlp, make_dataset,
    ...     mean_nearest_distance, run_trajectories)
    >>> schedule = make_schedule("cosine", 1000)
    >>> data = make_dataset("moons", 1000, seed=0).points          # float32 (1000, 2), RMS 1
    >>> fields = GridFields(data)                                   # cached per data set
    >>> density = fields.density(schedule.alphas_cumprod[300])      # q(x_t) on a 64² grid
    >>> round(float(density.sum() * fields.density_grid.cell ** 2), 3)
    1.0
    >>> ideal = run_trajectories(IdealDenoiser(data, schedule), schedule,
    ...                          SampleConfig(sampler="ddpm", steps=100, particles=200))
    >>> mean_nearest_distance(ideal.samples, data) < 0.02          # memorised: on training points
    True
    >>> mlp = fit_mlp(data, schedule, MLPTrainConfig(max_steps=300))  # seconds on a CPU
    >>> learned = run_trajectories(mlp, schedule, SampleConfig(sampler="ddim", steps=20, particles=200))
    >>> learned.positions.shape                                     # (frames, particles, 2)
    (21, 200, 2)

Importing this package does not import torch; the names that need it (the ideal denoiser, the
MLP, training, sampling) load it when first used.
"""

from __future__ import annotations

import importlib

from .datasets import (
    DATASET_LABELS,
    DATASET_NAMES,
    MAX_POINTS,
    MIN_POINTS,
    PlaygroundDataError,
    PointSet,
    check_points,
    load_points,
    make_dataset,
    points_from_csv,
    points_from_image,
    standardize,
)
from .configs import MLPTrainConfig, SampleConfig
from .grid_fields import FIELD_KINDS, Grid, GridFields, field_vectors, ideal_x0_direct
from .metrics import mean_nearest_distance, mmd_rbf
from .scene import PlaygroundScene
from .snapshot import MLPSnapshot
from .trajectories import Trajectories, TrajectoryFrame, planned_frames

# name → module, for the torch-backed names (PEP 562 lazy attributes)
_LAZY = {
    "IdealDenoiser": ".ideal",
    "ideal_x0": ".ideal",
    "DenoiserMLP": ".mlp",
    "LearnedDenoiser": ".mlp",
    "MLPProgress": ".training",
    "train_mlp": ".training",
    "fit_mlp": ".training",
    "sample_trajectories": ".trajectories",
    "run_trajectories": ".trajectories",
}

__all__ = [
    "DATASET_LABELS",
    "DATASET_NAMES",
    "FIELD_KINDS",
    "Grid",
    "GridFields",
    "MAX_POINTS",
    "MIN_POINTS",
    "MLPSnapshot",
    "MLPTrainConfig",
    "PlaygroundDataError",
    "PlaygroundScene",
    "PointSet",
    "SampleConfig",
    "Trajectories",
    "TrajectoryFrame",
    "check_points",
    "field_vectors",
    "ideal_x0_direct",
    "load_points",
    "make_dataset",
    "mean_nearest_distance",
    "mmd_rbf",
    "points_from_csv",
    "planned_frames",
    "points_from_image",
    "standardize",
    *_LAZY,
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
