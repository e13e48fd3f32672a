"""The recent loss per t-bucket: a window over steps, the same for every bucket and for their total."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from diffusion_studio.core.losses import BucketLosses


def test_values_are_the_windowed_mean_of_each_bucket():
    buckets = BucketLosses(num_timesteps=100, num_buckets=4, window_steps=2)  # decay 0.5 per step
    buckets.add_step(np.array([0, 10, 60]), np.array([1.0, 3.0, 5.0]))
    buckets.add_step(np.array([5, 99]), np.array([4.0, 7.0]))
    # bucket 0: (0.5·(1 + 3) + 4) / (0.5·2 + 1); bucket 2: 5 alone; bucket 3: 7 alone; bucket 1: never seen
    np.testing.assert_allclose(buckets.values[[0, 2, 3]], [3.0, 5.0, 7.0])
    assert np.isnan(buckets.values[1])
    assert buckets.overall == pytest.approx((0.5 * (1 + 3 + 5) + 4 + 7) / (0.5 * 3 + 2))


def test_old_losses_fade_out():
    buckets = BucketLosses(1000, 10, window_steps=100)
    for _ in range(50):
        buckets.add_step(np.arange(0, 1000, 10), np.full(100, 1.0))
    for _ in range(1000):  # ten windows later the early loss weighs e^-10 of the recent one
        buckets.add_step(np.arange(0, 1000, 10), np.full(100, 0.1))
    np.testing.assert_allclose(buckets.values, 0.1, rtol=1e-3)
    assert buckets.overall == pytest.approx(0.1, rel=1e-3)


@given(st.lists(st.lists(st.tuples(st.integers(0, 999), st.floats(0, 10)), min_size=1, max_size=20),
                min_size=1, max_size=30), st.integers(1, 200))
def test_the_overall_loss_is_the_count_weighted_mean_of_the_buckets(steps, window):
    buckets = BucketLosses(1000, 10, window_steps=window)
    for step in steps:
        t, losses = np.array(step).T
        buckets.add_step(t.astype(int), losses)
    seen = buckets.counts > 0
    weighted = float(np.sum(buckets.values[seen] * buckets.counts[seen]) / np.sum(buckets.counts[seen]))
    assert buckets.overall == pytest.approx(weighted, rel=1e-9, abs=1e-12)


def test_state_round_trips_and_old_states_load():
    buckets = BucketLosses(1000, 10)
    buckets.add_step(np.arange(0, 1000, 50), np.linspace(0.1, 1.0, 20))
    again = BucketLosses(1000, 10)
    again.load_state_dict(buckets.state_dict())
    np.testing.assert_array_equal(again.values, buckets.values)
    assert again.overall == buckets.overall

    old = BucketLosses(1000, 10)
    old.load_state_dict({"values": torch.tensor([0.5] * 9 + [float("nan")])})  # an earlier version's moving average
    np.testing.assert_array_equal(old.values[:9], 0.5)
    assert np.isnan(old.values[9])

    damaged = BucketLosses(1000, 10)
    for state in ({"sums": "x", "counts": [1] * 10}, {"sums": [1.0] * 3, "counts": [1.0] * 3},
                  {"sums": [1.0] * 10, "counts": [-1.0] * 10}, {"values": None}):
        damaged.load_state_dict(state)
        assert np.all(np.isnan(damaged.values))


@pytest.mark.parametrize("gamma", [None, 5.0])
def test_the_engine_buckets_the_loss_it_trains_on(tmp_path, gamma):
    """Same weighting as the loss (min-SNR-γ included): after the first step the window's loss is that step's loss."""
    from diffusion_studio.core.training import train

    from ._training_helpers import tiny_config

    events = [e for e in train(tiny_config(tmp_path / "run", steps=3, min_snr_gamma=gamma)) if e.event == "step"]
    assert events[0].recent_loss == pytest.approx(events[0].loss, rel=1e-5)
    assert all(np.isfinite(e.recent_loss) and e.recent_loss > 0 for e in events)
