"""When sample grids come: early by the training clock, then every ``sample_every`` steps.

The cadence is pure (the loop passes it the time), so these tests drive it with made-up clocks.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from diffusion_studio.core.training.cadence import MAX_PREVIEW_SHARE, PreviewCadence

from ._training_helpers import tiny_config


def drive(cadence: PreviewCadence, step_s: float, steps: int, cost_s: float = 0.0) -> list[tuple[int, float]]:
    """(step, time) of every grid over ``steps`` steps of ``step_s`` seconds, each grid taking ``cost_s``."""
    taken, spent = [], 0.0
    for step in range(1, steps + 1):
        now = step * step_s + spent
        if cadence.due(step, now):
            taken.append((step, now))
            cadence.taken(step, now, cost_s)
            spent += cost_s
    return taken


def test_early_grids_double_in_time_until_the_step_rule_takes_over():
    # a slow CPU: one step per second, a grid every 250 steps
    taken = drive(PreviewCadence(sample_every=250, first_after_s=10, final_step=1000), 1.0, 1000)
    assert taken == [(10, 10.0), (20, 20.0), (40, 40.0), (80, 80.0), (160, 160.0), (250, 250.0), (500, 500.0),
                     (750, 750.0), (1000, 1000.0)]


def test_a_fast_run_keeps_its_step_based_grids():
    # a GPU: 64 steps a second, a grid every 1000 steps (15.6 s): one early grid, then the steps
    taken = drive(PreviewCadence(sample_every=1000, first_after_s=10, final_step=5000), 1 / 64, 5000)
    assert [step for step, _ in taken] == [640, 1000, 2000, 3000, 4000, 5000]


def test_zero_turns_the_time_rule_off():
    taken = drive(PreviewCadence(sample_every=7, first_after_s=0, final_step=20), 100.0, 20)
    assert [step for step, _ in taken] == [7, 14, 20]


def test_the_last_step_gets_a_grid_once():
    cadence = PreviewCadence(sample_every=100, first_after_s=1, final_step=30)
    taken = drive(cadence, 1.0, 30)
    assert [step for step, _ in taken] == [1, 2, 4, 8, 16, 30]
    assert not cadence.due(30, 1e9) and cadence.last_step == 30


@given(step_s=st.floats(0.001, 30.0), cost_s=st.floats(0.0, 60.0), first_after_s=st.floats(0.5, 60.0))
def test_early_grids_cost_at_most_their_share_of_the_time(step_s, cost_s, first_after_s):
    cadence = PreviewCadence(sample_every=10**9, first_after_s=first_after_s, final_step=10**9)
    taken = drive(cadence, step_s, 2000, cost_s)
    starts = [time for _, time in taken]
    # after each grid, the next one starts no sooner than cost / share later (the time the grid took included)
    assert all(later - earlier >= cost_s / MAX_PREVIEW_SHARE - 1e-6 for earlier, later in zip(starts, starts[1:]))
    assert not starts or starts[0] >= first_after_s


def test_the_engine_draws_early_grids_by_its_clock(tmp_path, monkeypatch):
    """With the time rule on, the loop asks the cadence with its training clock (a clock made to tick 4 s a call)."""
    import time

    from diffusion_studio.core.training import loop, train

    ticks = iter(np.arange(0.0, 1e6, 4.0))
    clock = SimpleNamespace(perf_counter=lambda: float(next(ticks)), time=time.time, sleep=time.sleep)
    monkeypatch.setattr(loop, "time", clock)  # the loop's view of the time module only
    events = list(train(tiny_config(tmp_path / "run", steps=12, sample_every=1000, first_samples_after=10)))
    samples = [e.step for e in events if e.event == "sample"]
    assert samples[-1] == 12 and len(samples) >= 3  # early grids by the clock, then the last step's
    assert samples == sorted(set(samples))
    assert all((tmp_path / "run" / "samples" / f"step_{step:06d}.png").is_file() for step in samples)
