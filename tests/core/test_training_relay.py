"""The Qt-free relay between the engine and a GUI: throttled updates, the training child process, its flags."""

from __future__ import annotations

import numpy as np
import pytest

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.training import Progress, TrainConfig
from diffusion_studio.core.training.relay import TrainingControl, training_updates, updates_from_subprocess


def _progress(step, event="step", loss=0.5, grid=None):
    return Progress(step=step, total_steps=2000, loss=loss, lr=1e-4, images_per_s=100.0, eta_s=1.0, elapsed_s=1.0,
                    bucket_losses=np.full(10, 0.5), sample_grid=grid, gpu_memory_bytes=None, event=event)


def _fake_train(events):
    def train(config, should_stop=None, should_pause=None):
        yield from events
    return train


def test_updates_are_throttled_without_losing_a_step():
    events = [_progress(0, "start")] + [_progress(i) for i in range(1, 2001)] + [
        _progress(2000, "sample", grid=np.zeros((5, 5, 1), np.uint8)), _progress(2000, "done")]
    # An infinitely slow clock: only urgent events and the end may cut a batch.
    updates = list(training_updates(None, TrainingControl(), train_fn=_fake_train(events), max_rate_hz=1e-9))
    assert [u.event for u in updates] == ["start", "sample", "done"]
    steps = np.concatenate([u.steps for u in updates])
    assert np.array_equal(steps, np.arange(1, 2001))  # every step's loss arrives, none twice
    grids = [u.sample_grid for u in updates if u.sample_grid is not None]
    assert len(grids) == 1 and grids[0].dtype == np.uint8


def test_non_finite_losses_are_not_plotted():
    events = [_progress(1), _progress(2, loss=float("nan")), _progress(3, "error", loss=float("inf"))]
    updates = list(training_updates(None, TrainingControl(), train_fn=_fake_train(events), max_rate_hz=1e-9))
    assert updates[-1].event == "error" and updates[-1].steps.tolist() == [1]


def test_control_flags_and_extra_stop_conditions():
    control = TrainingControl()
    assert not control.should_stop() and not control.should_pause()
    control.request_pause()
    assert control.should_pause() and control.paused_polls == 1
    control.request_stop()
    assert control.should_stop() and not control.should_pause()  # a stop wakes a paused run
    other = TrainingControl()
    flag = []
    other.add_stop_condition(lambda: bool(flag))
    assert not other.should_stop()
    flag.append(True)
    assert other.should_stop()


def test_an_engine_error_in_the_training_process_arrives_as_an_input_error(tmp_path):
    config = TrainConfig(out=str(tmp_path / "no-such-run"), resume=True, device="cpu")
    with pytest.raises(InputError, match="does not exist"):
        list(updates_from_subprocess(config, TrainingControl()))
