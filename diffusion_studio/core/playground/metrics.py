"""How close are samples to the data? Distances between two 2D point clouds, in numpy.

Used for the README's quality figure: the samples of a trained model against the training
data, next to the same figure for fresh data from the same set (what "as good as the data"
looks like at that sample size).
"""

from __future__ import annotations

import numpy as np

from .grid_fields import matmul_one_thread

__all__ = ["mean_nearest_distance", "mmd_rbf", "squared_distances"]


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """‖a_i − b_j‖² for (M, 2) and (N, 2) clouds, in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * matmul_one_thread(a, b.T)
    return np.maximum(d2, 0.0)


def mean_nearest_distance(samples: np.ndarray, data: np.ndarray) -> float:
    """Mean over samples of the distance to the nearest data point (0 = every sample on a data point).

    Small for samples on the data's support; it does not see missing modes (see :func:`mmd_rbf`).
    """
    samples = np.asarray(samples, dtype=np.float64)
    best = np.empty(len(samples))
    for start in range(0, len(samples), 1024):
        best[start : start + 1024] = squared_distances(samples[start : start + 1024], data).min(axis=1)
    return float(np.sqrt(best).mean())


def mmd_rbf(a: np.ndarray, b: np.ndarray, bandwidths: tuple[float, ...] = (0.05, 0.2, 1.0)) -> float:
    """Squared maximum mean discrepancy with a sum of Gaussian kernels (Gretton et al. 2012, eq. 3, biased).

    0 when the two clouds have the same distribution; it sees both off-support samples and
    missing or over-weighted modes. Bandwidths are in the data's units (standardised data: RMS 1).
    """
    def kernel_mean(x: np.ndarray, y: np.ndarray) -> float:
        d2 = squared_distances(x, y)
        return float(sum(np.exp(-d2 / (2.0 * h * h)).mean() for h in bandwidths))

    return kernel_mean(a, a) + kernel_mean(b, b) - 2.0 * kernel_mean(a, b)
