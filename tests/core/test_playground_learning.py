"""The playground MLP (torch and its numpy snapshot), live training, and reverse trajectories."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.playground import (
    IdealDenoiser,
    MLPTrainConfig,
    SampleConfig,
    Trajectories,
    make_dataset,
    mean_nearest_distance,
    mmd_rbf,
    planned_frames,
    run_trajectories,
    sample_trajectories,
)
from diffusion_studio.core.playground.mlp import DenoiserMLP, LearnedDenoiser
from diffusion_studio.core.playground.training import fit_mlp, train_mlp
from diffusion_studio.core.samplers import make_sampler
from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.core.validation import ConfigError

SCHEDULE = make_schedule("cosine", 1000)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def moons():
    return make_dataset("moons", 1000, seed=0).points


@pytest.fixture(scope="module")
def trained(moons):
    """1 500 steps on two moons with seed 0 (2–3 s on one core), and every step's progress."""
    gen = train_mlp(moons, SCHEDULE, MLPTrainConfig(max_steps=1500, seed=0))
    losses = []
    while True:
        try:
            losses.append(next(gen))
        except StopIteration as done:
            return done.value, losses


# ---------------------------------------------------------------------------------------- the MLP


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_numpy_snapshot_computes_what_the_torch_mlp_computes(prediction):
    torch.manual_seed(1)
    model = DenoiserMLP(1000, hidden=64, layers=2, prediction=prediction)
    x = torch.randn(257, 2)
    for t in (0, 17, 999):
        expected = model(x, torch.tensor(t)).detach().numpy()
        np.testing.assert_allclose(model.snapshot()(x.numpy(), t), expected, atol=2e-5)
    again = DenoiserMLP.from_snapshot(model.snapshot())
    assert torch.equal(again(x, torch.tensor(5)), model(x, torch.tensor(5)))
    assert again.prediction == prediction and model.snapshot().num_parameters == sum(p.numel() for p in model.parameters())


def test_the_mlp_learns_two_moons_to_a_fixed_bound(trained, moons):
    learned, progress = trained
    losses = np.array([p.loss for p in progress])
    assert [p.step for p in progress] == list(range(1, 1501))
    assert progress[-1].event == "done" and progress[-1].snapshot is not None
    # 1.0 is the loss of predicting ε̂ = 0; the ideal denoiser of these 1 000 points has about 0.374
    # (measured 0.68 over the first 20 steps and 0.414 over the last 100)
    assert losses[:20].mean() > 0.6
    assert losses[-100:].mean() < 0.45
    # and it samples two moons: near the data, not a blob (measured 0.088 and 0.014 against 0.35 and 0.073)
    samples = run_trajectories(learned, SCHEDULE, SampleConfig(sampler="ddim", steps=50, particles=1000)).samples
    blob = np.random.default_rng(0).normal(size=(1000, 2))
    assert mean_nearest_distance(samples, moons) < 0.4 * mean_nearest_distance(blob, moons)
    assert mmd_rbf(samples, moons) < 0.3 * mmd_rbf(blob, moons)


def test_snapshots_arrive_while_training_and_match_the_result(trained):
    learned, progress = trained
    snapshots = [p.snapshot for p in progress if p.snapshot is not None]
    assert snapshots[-1].step == 1500
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    np.testing.assert_allclose(snapshots[-1](x, 300), learned(torch.from_numpy(x), 300).numpy(), atol=2e-5)


@pytest.mark.parametrize("prediction, gamma", [("sample", 0.0), ("v_prediction", 5.0), ("epsilon", 5.0)])
def test_every_objective_trains(moons, prediction, gamma):
    config = MLPTrainConfig(max_steps=60, prediction=prediction, min_snr_gamma=gamma, seed=1)
    progress = list(train_mlp(moons, SCHEDULE, config))
    losses = np.array([p.loss for p in progress])
    assert np.isfinite(losses).all() and losses[-20:].mean() < losses[:5].mean()
    assert progress[-1].snapshot.prediction == prediction


def test_training_is_reproducible_with_a_seed(moons):
    config = MLPTrainConfig(max_steps=30, seed=7)
    first = [p.loss for p in train_mlp(moons, SCHEDULE, config)]
    assert first == [p.loss for p in train_mlp(moons, SCHEDULE, config)]


def test_stop_ends_with_the_model_so_far_and_pause_holds_the_step(moons):
    polls = {"stop": 0}

    def should_stop():
        polls["stop"] += 1
        return polls["stop"] > 5

    progress = list(train_mlp(moons, SCHEDULE, MLPTrainConfig(max_steps=100), should_stop=should_stop))
    assert progress[-1].event == "stopped" and progress[-1].step == 5 and progress[-1].snapshot.step == 5

    pauses = iter([True, True, True, False] + [False] * 100)
    seen = []

    def should_pause():
        paused = next(pauses)
        seen.append((paused, len(steps)))
        return paused

    steps = []
    for p in train_mlp(moons, SCHEDULE, MLPTrainConfig(max_steps=3), should_pause=should_pause):
        steps.append(p.step)
    assert steps == [1, 2, 3]
    assert seen[:4] == [(True, 0), (True, 0), (True, 0), (False, 0)]  # no step while paused


def test_fit_mlp_returns_a_learned_denoiser(moons):
    learned = fit_mlp(moons, SCHEDULE, MLPTrainConfig(max_steps=5))
    assert isinstance(learned, LearnedDenoiser) and learned.prediction == "epsilon"
    with pytest.raises(ValueError, match="trained for T = 1000"):
        LearnedDenoiser(learned.model, make_schedule("cosine", 50))


@pytest.mark.parametrize("values, words", [
    ({"lr": -1}, "lr must be > 0"),
    ({"max_seconds": 0}, "max_seconds must be > 0"),
    ({"prediction": "noise"}, "prediction must be one of"),
    ({"batch_size": 0}, "batch_size must be ≥ 1"),
    ({"hidden": 10**6}, "hidden must be ≤ 1024"),
    ({"min_snr_gamma": float("nan")}, "min_snr_gamma must be a finite number"),
])
def test_bad_training_settings_get_one_sentence(values, words):
    with pytest.raises(ConfigError) as info:
        MLPTrainConfig.from_dict(values)
    assert words in str(info.value) and str(info.value).startswith("playground training: ")


def test_training_refuses_unusable_points():
    with pytest.raises(InputError, match="single point"):
        next(train_mlp(np.zeros((1, 2)), SCHEDULE))


# ---------------------------------------------------------------------------------------- trajectories


@pytest.mark.parametrize("sampler, steps", [("ddpm", 100), ("ddim", 25), ("dpm_solver", 15)])
def test_trajectories_have_the_samplers_timesteps_and_end_clean(moons, sampler, steps):
    config = SampleConfig(sampler=sampler, steps=steps, particles=64, seed=3)
    paths = run_trajectories(IdealDenoiser(moons, SCHEDULE), SCHEDULE, config)
    expected = make_sampler(sampler, SCHEDULE, num_steps=steps, clip_sample=False, prediction="sample",
                            spacing="leading").timesteps
    assert len(paths) == planned_frames(config, SCHEDULE) == steps + 1
    assert list(paths.timesteps[:-1]) == list(expected) and paths.timesteps[-1] == -1 and paths.complete
    assert paths.positions.shape == (steps + 1, 64, 2) and np.isfinite(paths.positions).all()
    np.testing.assert_array_equal(paths.pred_x0[-1], paths.samples)


def test_every_sampler_starts_from_the_same_points_for_a_seed(moons):
    denoiser = IdealDenoiser(moons, SCHEDULE)
    starts = [run_trajectories(denoiser, SCHEDULE, SampleConfig(sampler=s, steps=10, particles=32, seed=9)).positions[0]
              for s in ("ddpm", "ddim", "dpm_solver")]
    assert np.array_equal(starts[0], starts[1]) and np.array_equal(starts[0], starts[2])


def test_a_trajectory_step_is_the_core_samplers_step(moons):
    """Frame k+1 is core.samplers' DDIM step applied to frame k with the ideal x̂0 (no new sampler)."""
    denoiser = IdealDenoiser(moons, SCHEDULE)
    paths = run_trajectories(denoiser, SCHEDULE, SampleConfig(sampler="ddim", steps=20, particles=16))
    sampler = make_sampler("ddim", SCHEDULE, num_steps=20, prediction="sample", clip_sample=False)
    for k in (0, 7, 19):
        t = int(paths.timesteps[k])
        x = torch.from_numpy(paths.positions[k])
        expected = sampler.step(denoiser(x, t), t, x).prev_sample.numpy()
        np.testing.assert_allclose(paths.positions[k + 1], expected, atol=1e-5)
        np.testing.assert_allclose(paths.pred_x0[k], denoiser(x, t).numpy(), atol=1e-6)


def test_ddpm_paths_are_jagged_and_ddim_paths_smooth(moons):
    denoiser = IdealDenoiser(moons, SCHEDULE)

    def roughness(sampler):
        paths = run_trajectories(denoiser, SCHEDULE, SampleConfig(sampler=sampler, steps=100, particles=200)).positions
        turns = np.diff(paths[:-1], 2, axis=0)  # second differences along each path
        return float(np.mean(np.hypot(turns[..., 0], turns[..., 1])))

    assert roughness("ddpm") > 5 * roughness("ddim")


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_sampling_with_the_ideal_denoiser_reproduces_training_points(sampler):
    data = make_dataset("gaussians", 200, seed=4).points
    samples = run_trajectories(IdealDenoiser(data, SCHEDULE), SCHEDULE,
                               SampleConfig(sampler=sampler, steps=100, particles=300, seed=1)).samples
    # memorisation: every sample sits on a training point, up to the last step's noise level
    # σ_0 = √(1 − ᾱ_0) ≈ 0.006 (where E[x0 | x_t] still averages the nearest points) …
    sigma_0 = math.sqrt(1 - SCHEDULE.alphas_cumprod[0])
    assert mean_nearest_distance(samples, data) < 2 * sigma_0
    # … while fresh data from the same set lie many times farther from them
    assert mean_nearest_distance(make_dataset("gaussians", 200, seed=5).points, data) > 4 * sigma_0


def test_stopping_keeps_the_frames_so_far(moons):
    polls = iter([False, False, False] + [True] * 10)
    frames = list(sample_trajectories(IdealDenoiser(moons, SCHEDULE), SCHEDULE,
                                      SampleConfig(sampler="ddim", steps=20, particles=8),
                                      should_stop=lambda: next(polls)))
    assert len(frames) == 3 and not frames[-1].is_final
    partial = Trajectories.from_frames(frames)
    assert not partial.complete and partial.nearest_frame(900) == 1


def test_many_particles_keep_every_kth_frame(moons, monkeypatch):
    from diffusion_studio.core.playground import trajectories

    monkeypatch.setattr(trajectories, "FRAME_BUDGET_BYTES", 10 * 50 * 24)  # room for 10 frames of 50 particles
    config = SampleConfig(sampler="ddim", steps=40, particles=50)
    paths = run_trajectories(IdealDenoiser(moons, SCHEDULE), SCHEDULE, config)
    assert len(paths) == planned_frames(config, SCHEDULE) < 20 and paths.complete


@pytest.mark.parametrize("values, words", [
    ({"particles": 0}, "particles must be ≥ 1"),
    ({"particles": 10**7}, "particles must be ≤ 20000"),
    ({"sampler": "euler"}, "sampler must be one of"),
    ({"steps": 0}, "steps must be ≥ 1"),
    ({"eta": -1}, "eta must be ≥ 0"),
])
def test_bad_sampling_settings_get_one_sentence(values, words):
    with pytest.raises(ConfigError, match=words):
        SampleConfig.from_dict(values)


def test_metrics_see_distance_and_missing_modes():
    data = make_dataset("gaussians", 800, seed=0).points
    same = make_dataset("gaussians", 800, seed=1).points
    one_mode = data[np.arctan2(data[:, 1], data[:, 0]) > 2.5]
    assert mean_nearest_distance(data, data) == 0.0
    assert mmd_rbf(same, data) < 0.1 * mmd_rbf(one_mode, data)
    assert math.isclose(mmd_rbf(data, data), 0.0, abs_tol=1e-12)
