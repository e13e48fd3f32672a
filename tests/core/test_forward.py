"""core.forward: q_sample against diffusers' DDPMScheduler.add_noise, and the scrubbing renderer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion_studio.core.forward import ForwardRenderer, posterior_coefficients, q_sample, timestep_stats
from diffusion_studio.core.images import float_to_uint8, uint8_to_float
from diffusion_studio.core.schedules import make_schedule

diffusers = pytest.importorskip("diffusers")

SCHEDULES = ["linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"]
#: diffusers accumulates ᾱ_t in float32 (we use float64): agreement to float32 precision
ATOL = 1e-5


def diffusers_scheduler(schedule):
    params = {k: schedule.params[k] for k in ("beta_start", "beta_end") if k in schedule.params}
    return diffusers.DDPMScheduler(num_train_timesteps=schedule.num_timesteps, beta_schedule=schedule.name, **params)


def sample_batch(n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1, 1, size=(n, 3, 8, 8)).astype(np.float32)
    noise = rng.standard_normal((n, 3, 8, 8)).astype(np.float32)
    return x0, noise


@pytest.mark.parametrize("name", SCHEDULES)
def test_batched_q_sample_matches_diffusers_add_noise(name):
    schedule = make_schedule(name, 1000)
    oracle = diffusers_scheduler(schedule)
    x0, noise = sample_batch()
    t = np.array([0, 10, 500, 999])
    expected = oracle.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), torch.from_numpy(t)).numpy()

    from_numpy = q_sample(x0, t, noise, schedule)
    from_torch = q_sample(torch.from_numpy(x0), torch.from_numpy(t), torch.from_numpy(noise), schedule)
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == np.float32
    assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.float32
    np.testing.assert_allclose(from_numpy, expected, atol=ATOL)
    np.testing.assert_allclose(from_torch.numpy(), expected, atol=ATOL)


@pytest.mark.parametrize("t", [0, 1, 321, 999])
def test_scalar_t_matches_diffusers_for_a_single_image(t):
    schedule = make_schedule("cosine", 1000)
    oracle = diffusers_scheduler(schedule)
    x0, noise = sample_batch(1, seed=t)
    expected = oracle.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), torch.tensor([t])).numpy()[0]
    np.testing.assert_allclose(q_sample(x0[0], t, noise[0], schedule), expected, atol=ATOL)
    np.testing.assert_allclose(q_sample(torch.from_numpy(x0[0]), t, torch.from_numpy(noise[0]), schedule).numpy(),
                               expected, atol=ATOL)


def test_q_sample_refuses_t_outside_the_schedule():
    schedule = make_schedule("linear", 100)
    x0, noise = sample_batch(1)
    with pytest.raises(ValueError, match="0 … 99"):
        q_sample(x0, 100, noise, schedule)
    with pytest.raises(ValueError):
        q_sample(x0, [-1], noise, schedule)


def test_posterior_variance_matches_diffusers():
    schedule = make_schedule("linear", 1000)
    oracle = diffusers_scheduler(schedule)
    for t in (1, 50, 999):
        assert posterior_coefficients(schedule, t).variance == pytest.approx(float(oracle._get_variance(t)), rel=1e-4)


def test_timestep_stats_are_the_schedule_at_t():
    schedule = make_schedule("cosine", 1000)
    stats = timestep_stats(schedule, 250)
    assert stats.t == 250
    assert stats.beta == schedule.betas[250]
    assert stats.alphas_cumprod == schedule.alphas_cumprod[250]
    assert stats.sqrt_alphas_cumprod**2 + stats.sqrt_one_minus_alphas_cumprod**2 == pytest.approx(1.0)
    assert stats.snr_db == pytest.approx(10 * np.log10(stats.snr))


# -- the renderer ------------------------------------------------------------------------------


def photo(height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 4 % 256, y * 5 % 256, (x + y) * 2 % 256], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("t", [0, 100, 600, 999])
def test_render_equals_q_sample_mapped_to_uint8(t):
    schedule = make_schedule("cosine", 1000)
    image = photo()
    renderer = ForwardRenderer(image, schedule, seed=3)
    x0 = uint8_to_float(image)
    noise = renderer.noise.transpose(2, 0, 1)
    expected = float_to_uint8(np.clip(q_sample(x0, t, noise, schedule), -1, 1))
    frame = renderer.render(t)
    assert frame.dtype == np.uint8 and frame.shape == image.shape
    difference = np.abs(frame.astype(int) - expected.astype(int))
    assert difference.max() <= 1  # float32 rounding at exact .5 boundaries only
    assert (difference == 0).mean() > 0.99


def test_render_at_t0_is_nearly_the_image_and_at_the_end_nearly_the_noise():
    schedule = make_schedule("cosine", 1000)
    image = photo()
    renderer = ForwardRenderer(image, schedule, seed=0)
    assert np.abs(renderer.render(0).astype(int) - image.astype(int)).mean() < 3
    final = renderer.render(999).astype(np.float32) / 127.5 - 1
    assert abs(np.corrcoef(final.ravel(), renderer.noise.ravel())[0, 1]) > 0.9


def test_noise_is_fixed_per_seed():
    schedule = make_schedule("linear", 1000)
    renderer = ForwardRenderer(photo(), schedule, seed=5)
    first = renderer.render(500).copy()
    noise_view = renderer.noise_uint8.copy()
    renderer.reseed(6)
    assert not np.array_equal(renderer.render(500), first)
    assert not np.array_equal(renderer.noise_uint8, noise_view)
    renderer.reseed(5)
    assert np.array_equal(renderer.render(500), first)
    assert renderer.seed == 5


def test_large_images_are_rendered_at_working_resolution_and_gray_stays_one_channel():
    schedule = make_schedule("linear", 1000)
    renderer = ForwardRenderer(np.zeros((1200, 900, 3), dtype=np.uint8), schedule, max_side=256)
    assert renderer.shape == (256, 192, 3)
    assert renderer.render(10).shape == (256, 192, 3)
    gray = ForwardRenderer(np.zeros((40, 30), dtype=np.uint8), schedule)
    assert gray.render(10).shape == (40, 30, 1)


def test_set_schedule_changes_the_frame():
    image = photo()
    renderer = ForwardRenderer(image, make_schedule("linear", 1000), seed=0)
    linear = renderer.render(300).copy()
    renderer.set_schedule(make_schedule("cosine", 1000))
    assert not np.array_equal(renderer.render(300), linear)


@pytest.mark.parametrize("t", [0, 400, 999])
def test_histogram_is_a_density(t):
    renderer = ForwardRenderer(photo(), make_schedule("cosine", 1000), seed=1)
    density, edges = renderer.histogram(t, bins=81)
    assert density.shape == (81,) and edges.shape == (82,)
    assert edges[0] == -4.0 and edges[-1] == 4.0
    assert np.sum(density * np.diff(edges)) == pytest.approx(1.0, abs=1e-6)
    assert np.all(density >= 0)


def test_histogram_ends_near_the_standard_normal():
    rng = np.random.default_rng(0)
    renderer = ForwardRenderer(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), make_schedule("cosine", 1000))
    density, edges = renderer.histogram(999, bins=41)
    centres = (edges[:-1] + edges[1:]) / 2
    normal = np.exp(-centres**2 / 2) / np.sqrt(2 * np.pi)
    assert np.abs(density - normal).max() < 0.05
    start_density, _ = renderer.histogram(0, bins=40)
    # at t = 0 (ᾱ_0 ≈ 1) every value lies in [-1, 1]: the outer bins are empty
    assert start_density[:14].sum() == 0 and start_density[-14:].sum() == 0
