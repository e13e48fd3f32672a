"""The exact quantities of the playground against brute-force formulas: q(x_t) on a grid, E[x0 | x_t]."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion_studio.core.playground import Grid, GridFields, PlaygroundScene, field_vectors, ideal_x0_direct, make_dataset
from diffusion_studio.core.playground.grid_fields import matmul_one_thread, upper_tail
from diffusion_studio.core.playground.ideal import IdealDenoiser, ideal_x0
from diffusion_studio.core.schedules import make_schedule

SCHEDULE = make_schedule("cosine", 1000)


def brute_force_x0(x_t: np.ndarray, data: np.ndarray, alpha_bar: float) -> np.ndarray:
    """E[x0 | x_t] straight from the definition, point by point, in float64."""
    out = []
    for x in np.asarray(x_t, dtype=np.float64):
        log_w = np.array([-((x[0] - math.sqrt(alpha_bar) * d[0]) ** 2 + (x[1] - math.sqrt(alpha_bar) * d[1]) ** 2)
                          / (2 * (1 - alpha_bar)) for d in np.asarray(data, dtype=np.float64)])
        w = np.exp(log_w - log_w.max())
        out.append((w[:, None] * data).sum(axis=0) / w.sum())
    return np.array(out)


def brute_force_cell_density(data: np.ndarray, alpha_bar: float, grid: Grid) -> np.ndarray:
    """The mixture's mass in each cell with math.erf, divided by the cell area."""
    std = math.sqrt(1 - alpha_bar)

    def cdf(z):
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))

    density = np.zeros((grid.resolution, grid.resolution))
    for d in np.asarray(data, dtype=np.float64):
        mx = np.array([cdf((b - math.sqrt(alpha_bar) * d[0]) / std) - cdf((a - math.sqrt(alpha_bar) * d[0]) / std)
                       for a, b in zip(grid.edges[:-1], grid.edges[1:])])
        my = np.array([cdf((b - math.sqrt(alpha_bar) * d[1]) / std) - cdf((a - math.sqrt(alpha_bar) * d[1]) / std)
                       for a, b in zip(grid.edges[:-1], grid.edges[1:])])
        density += np.outer(my, mx)
    return density / (len(data) * grid.cell**2)


@pytest.fixture(scope="module")
def data():
    return make_dataset("moons", 40, seed=2).points.astype(np.float64)


@pytest.mark.parametrize("t", [0, 3, 50, 400, 999])
def test_grid_density_is_the_exact_cell_average_of_the_mixture(data, t):
    alpha_bar = float(SCHEDULE.alphas_cumprod[t])
    grid = Grid(-3.0, 3.0, 12)
    exact = brute_force_cell_density(data, alpha_bar, grid)
    for dtype, rtol in ((np.float64, 1e-6), (np.float32, 1e-4)):
        fast = GridFields(data, grid, density_dtype=dtype).density(alpha_bar)
        assert fast.shape == (12, 12)
        np.testing.assert_allclose(fast, exact, rtol=rtol, atol=1e-7 * exact.max())


@pytest.mark.parametrize("t", [0, 20, 300, 999])
def test_density_integrates_to_one(t):
    fields = GridFields(make_dataset("swissroll", 3000).points, Grid(-6.0, 6.0, 96), density_dtype=np.float32)
    density = fields.density(SCHEDULE.alphas_cumprod[t])
    assert density.min() >= 0
    assert math.isclose(float(density.sum()) * fields.density_grid.cell**2, 1.0, abs_tol=2e-4)


def test_no_noise_gives_the_histogram_of_the_data(data):
    fields = GridFields(data, Grid(-3.0, 3.0, 6))
    counts, _, _ = np.histogram2d(data[:, 1], data[:, 0], bins=(fields.density_grid.edges,) * 2)
    assert np.allclose(fields.density(1.0) * len(data) * fields.density_grid.cell**2, counts)


@pytest.mark.parametrize("t", [0, 1, 5, 40, 300, 999])
def test_grid_ideal_denoiser_matches_the_definition(data, t):
    # t = 0, 1, 5: σ is so small that most grid points take the direct log-sum-exp path
    alpha_bar = float(SCHEDULE.alphas_cumprod[t])
    grid = Grid(-3.0, 3.0, 9)
    fast = GridFields(data, field_grid=grid).ideal_x0(alpha_bar)
    exact = brute_force_x0(grid.points(), data, alpha_bar).reshape(9, 9, 2)
    np.testing.assert_allclose(fast, exact, atol=1e-9)
    np.testing.assert_allclose(ideal_x0_direct(grid.points(), data, alpha_bar).reshape(9, 9, 2), exact, atol=1e-9)


@pytest.mark.parametrize("t", [0, 10, 200, 999])
def test_torch_ideal_denoiser_matches_the_definition(data, t):
    alpha_bar = float(SCHEDULE.alphas_cumprod[t])
    particles = np.random.default_rng(t).normal(size=(37, 2)) * 1.5
    exact = brute_force_x0(particles, data, alpha_bar)
    in_float64 = ideal_x0(torch.from_numpy(particles), torch.from_numpy(data), alpha_bar, chunk_elements=100)
    assert in_float64.dtype == torch.float64
    np.testing.assert_allclose(in_float64.numpy(), exact, atol=1e-9)
    # float32, the sampling default, stays within a small fraction of the data's spread
    in_float32 = ideal_x0(torch.from_numpy(particles).float(), torch.from_numpy(data).float(), alpha_bar)
    np.testing.assert_allclose(in_float32.numpy(), exact, atol=2e-3)


def test_the_ideal_denoiser_is_a_sampler_model():
    denoiser = IdealDenoiser(make_dataset("circles", 100).points, SCHEDULE)
    assert denoiser.prediction == "sample"
    x0 = denoiser(torch.zeros(4, 2), 999)
    assert x0.shape == (4, 2) and torch.isfinite(x0).all()


def test_field_vectors_are_score_epsilon_and_step():
    x_t = np.array([[1.0, 0.0], [0.0, 2.0]])
    x0 = np.array([[0.5, 0.0], [0.0, 1.0]])
    alpha_bar = 0.64  # √ᾱ = 0.8, √(1−ᾱ) = 0.6
    epsilon = (x_t - 0.8 * x0) / 0.6
    np.testing.assert_allclose(field_vectors(x0, x_t, alpha_bar, "epsilon"), epsilon)
    np.testing.assert_allclose(field_vectors(x0, x_t, alpha_bar, "score"), -epsilon / 0.6)
    np.testing.assert_allclose(field_vectors(x0, x_t, alpha_bar, "x0"), x0 - x_t)
    with pytest.raises(ValueError, match="field kind"):
        field_vectors(x0, x_t, alpha_bar, "curl")


def test_upper_tail_is_accurate_far_into_the_tail():
    z = np.concatenate([np.linspace(0, 5, 200), np.linspace(5, 36, 100)])
    exact = np.array([0.5 * math.erfc(v / math.sqrt(2)) for v in z])
    np.testing.assert_allclose(upper_tail(z), exact, rtol=2e-7)


@pytest.mark.parametrize("shape", [((3, 4), (4, 5)), ((64, 5000), (5000, 64)), ((900, 128), (128, 128)),
                                   ((1, 300000), (300000, 1))])
def test_matmul_in_single_thread_slices_is_the_product(shape):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=shape[0]), rng.normal(size=shape[1])
    np.testing.assert_allclose(matmul_one_thread(a, b), a @ b, rtol=1e-9, atol=1e-9)


def test_scene_cloud_is_the_forward_process_with_fixed_noise():
    points = make_dataset("gaussians", 300, seed=1).points
    scene = PlaygroundScene(points, SCHEDULE, seed=5)
    t = 250
    a, b = math.sqrt(SCHEDULE.alphas_cumprod[t]), math.sqrt(1 - SCHEDULE.alphas_cumprod[t])
    np.testing.assert_allclose(scene.cloud(t), a * points + b * scene.noise, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scene.cloud(-1), points)  # t = −1: the clean data
    # editing keeps the noise of the points that stay
    kept = np.arange(300) % 2 == 0
    noise_before = scene.noise[kept].copy()
    scene.edit(kept, np.zeros((5, 2)))
    assert len(scene) == 155 and np.array_equal(scene.noise[:150], noise_before)
    scene.edit(np.zeros(155, bool), np.empty((0, 2)))
    assert len(scene) == 0 and scene.ideal_field(10) is None and not scene.density(10).any()


def test_scene_caches_per_t_and_forgets_when_the_schedule_or_data_change():
    points = make_dataset("moons", 200, seed=1).points
    scene = PlaygroundScene(points, SCHEDULE)
    first = scene.density(120)
    assert scene.density(120) is first and not first.flags.writeable  # cached, and protected
    linear = make_schedule("linear", 1000)
    scene.set_schedule(linear)
    np.testing.assert_array_equal(scene.density(120), PlaygroundScene(points, linear).density(120))
    np.testing.assert_array_equal(scene.ideal_field(120).pred_x0, PlaygroundScene(points, linear).ideal_field(120).pred_x0)
    scene.edit(np.arange(200) < 100, np.empty((0, 2)))
    np.testing.assert_array_equal(scene.density(120), PlaygroundScene(points[:100], linear).density(120))
