"""The training engine: a few real CPU steps, files written, exact resume, NaN handling, stop."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from diffusion_studio.core import training
from diffusion_studio.core.checkpoint import read_metrics, read_weights_step
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.training import TrainConfig, TrainingError, train
from diffusion_studio.core.training import trainer as trainer_module
from diffusion_studio.core.training.progress import EVENTS

from ._training_helpers import image_folder, tiny_config


def _events(config, **kw):
    return list(train(config, **kw))


def test_a_few_steps_write_a_complete_run_folder(tmp_path):
    run = tmp_path / "run"
    events = _events(tiny_config(run, steps=4, sample_every=2, checkpoint_every=2))
    kinds = [e.event for e in events]
    assert kinds[0] == "start" and kinds.count("step") == 4 and kinds[-1] == "done" and set(kinds) <= set(EVENTS)
    assert "1797 built-in handwritten digits" in events[0].message and events[0].step == 0
    assert all(np.isfinite(e.loss) and e.loss > 0 for e in events if e.event == "step")
    samples = [e for e in events if e.event == "sample"]
    assert [e.step for e in samples] == [2, 4]
    assert samples[0].sample_grid.dtype == np.uint8 and samples[0].sample_grid.shape[2] == 1
    assert events[-1].bucket_losses.shape == (training.NUM_LOSS_BUCKETS,)
    for name in ("config.json", "model.safetensors", "model_ema.safetensors", "train_state.pt",
                 "metrics.jsonl", "scan_report.json", "samples/step_000002.png", "samples/step_000004.png",
                 "checkpoints/step_000002/model.safetensors", "checkpoints/step_000004/train_state.pt"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["prediction"] == "epsilon" and config["channels"] == 1 and config["image_size"] == 8
    assert config["model"]["base_channels"] == 8 and config["dataset"]["source"] == "demo:digits"
    assert read_weights_step(run / "model_ema.safetensors") == 4
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3, 4]
    state = torch.load(run / "train_state.pt", weights_only=True)
    assert state["step"] == 4 and "optimizer" in state and "data" in state


@pytest.mark.parametrize("prediction,gamma", [("sample", None), ("v_prediction", 5.0), ("epsilon", 5.0)])
def test_every_objective_trains(tmp_path, prediction, gamma):
    events = _events(tiny_config(tmp_path / "run", steps=2, prediction=prediction, min_snr_gamma=gamma))
    assert events[-1].event == "done" and np.isfinite(events[-1].loss)


def test_loss_goes_down_on_the_digits(tmp_path):
    events = _events(tiny_config(tmp_path / "run", steps=60, batch_size=16, lr=3e-3, log_every=10))
    losses = [e.loss for e in events if e.event == "step"]
    assert losses[-1] < 0.6 * losses[0]


def _weights(path):
    return load_file(str(path))


def test_resume_equals_an_uninterrupted_run(tmp_path):
    # A folder (so the streamed scan, flips and epoch wrap-around are part of it) and dropout (global RNG).
    folder = image_folder(tmp_path / "images", good=5)
    common = dict(demo=False, folder=str(folder), dropout=0.1, checkpoint_every=3, batch_size=3)
    straight = tmp_path / "straight"
    _events(tiny_config(straight, steps=6, **common))
    halves = tmp_path / "halves"
    _events(tiny_config(halves, steps=3, **common))
    resumed = _events(TrainConfig(out=str(halves), resume=True, steps=6))
    assert resumed[0].event == "start" and resumed[0].step == 3 and resumed[1].step == 4  # continues at the saved step
    loss_a = [r["loss"] for r in read_metrics(straight)]
    loss_b = [r["loss"] for r in read_metrics(halves)]
    assert [r["step"] for r in read_metrics(halves)] == [1, 2, 3, 4, 5, 6]
    assert loss_a == loss_b  # bit for bit
    for name in ("model.safetensors", "model_ema.safetensors"):
        a, b = _weights(straight / name), _weights(halves / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_nan_loss_stops_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_target = trainer_module.prediction_target
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        target = real_target(*args, **kwargs)
        return target * float("nan") if calls["n"] == 4 else target

    monkeypatch.setattr(trainer_module, "prediction_target", poisoned)
    events = _events(tiny_config(run, steps=8, checkpoint_every=2))
    assert events[-1].event == "error" and "NaN" in events[-1].message and "step 2" in events[-1].message
    assert not any(e.event == "done" for e in events)
    assert read_weights_step(run / "model.safetensors") == 3 - 1  # still the step-2 checkpoint
    assert torch.load(run / "train_state.pt", weights_only=True)["step"] == 2
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000002"]
    assert all(np.isfinite(v).all() for v in (t.numpy() for t in _weights(run / "model.safetensors").values()))


def test_huge_learning_rate_is_reported_not_saved(tmp_path):
    events = _events(tiny_config(tmp_path / "run", steps=30, lr=1e30, warmup_steps=0, grad_clip=0))
    assert events[-1].event == "error" and "--lr" in events[-1].message
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_stop_saves_and_pause_waits(tmp_path):
    run = tmp_path / "run"
    seen = {"steps": 0, "pauses": 0}

    def should_pause():
        seen["pauses"] += 1
        return seen["pauses"] == 2  # one pause poll between steps, then go on

    gen = train(tiny_config(run, steps=100), should_stop=lambda: seen["steps"] >= 3, should_pause=should_pause)
    events = []
    for event in gen:
        events.append(event)
        seen["steps"] = event.step
    assert events[-1].event == "stopped" and events[-1].step == 3
    assert read_weights_step(run / "model.safetensors") == 3


def test_folder_with_bad_files_trains_and_reports_them(tmp_path):
    folder = image_folder(tmp_path / "images", good=4)
    run = tmp_path / "run"
    events = _events(tiny_config(run, demo=False, folder=str(folder), steps=2))
    assert events[-1].event == "done"
    report = json.loads((run / "scan_report.json").read_text())
    assert len(report["usable"]) == 4 and len(report["skipped"]) == 3
    assert all(entry["reason"] for entry in report["skipped"])
    assert json.loads((run / "config.json").read_text())["channels"] == 3


def test_zero_usable_images_is_an_input_error(tmp_path):
    folder = image_folder(tmp_path / "images", good=0)
    with pytest.raises(InputError, match="none of the 3"):
        _events(tiny_config(tmp_path / "run", demo=False, folder=str(folder)))


def test_refuses_to_overwrite_a_run_and_to_resume_nothing(tmp_path):
    run = tmp_path / "run"
    _events(tiny_config(run, steps=1))
    with pytest.raises(TrainingError, match="--resume"):
        _events(tiny_config(run, steps=2))
    with pytest.raises(InputError):
        _events(tiny_config(tmp_path / "nothing", steps=2, resume=True, demo=False))
    with pytest.raises(TrainingError, match="already at step 1"):
        _events(tiny_config(run, steps=1, resume=True))
    with pytest.raises(TrainingError, match="--demo False differs from the run's True"):
        _events(tiny_config(run, steps=2, resume=True, demo=False))


def test_bad_settings_are_refused_before_training(tmp_path):
    with pytest.raises(InputError, match="prediction must be one of"):
        _events(tiny_config(tmp_path / "a", prediction="noise"))
    with pytest.raises(InputError, match="fp16"):
        _events(tiny_config(tmp_path / "b", precision="fp16", device="cpu"))
    with pytest.raises(InputError, match="multiple of 2"):
        _events(tiny_config(tmp_path / "c", image_size=9))
    assert not (tmp_path / "c").exists()


def test_train_config_round_trips():
    config = TrainConfig(out="x", demo=True, channel_mults=(1, 2), attention_resolutions=(8,))
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config


def test_time_limit_ends_with_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    events = _events(tiny_config(run, steps=10_000, max_minutes=1e-6))
    assert events[-1].event == "done" and "time limit" in events[-1].message
    assert events[-1].step < 10_000
    assert read_weights_step(run / "model.safetensors") == events[-1].step


def test_a_failing_torch_compile_falls_back_to_eager(tmp_path, monkeypatch):
    def broken_compile(module, *args, **kwargs):
        def call(*a, **k):
            raise RuntimeError("no C++ compiler found")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    events = _events(tiny_config(tmp_path / "run", steps=2, compile=True))
    assert "torch.compile failed" in events[1].message and "no C++ compiler" in events[1].message
    assert events[-1].event == "done" and events[-1].step == 2


def test_pause_holds_training_between_steps(tmp_path):
    polls = []

    def should_pause():
        polls.append(len(polls) + 1)
        return len(polls) in (2, 3, 4)  # paused from the 2nd poll to the 4th

    events = list(train(tiny_config(tmp_path / "run", steps=3), should_pause=should_pause))
    # 3 polls that train + 1 that enters the pause + 3 waiting inside it (the last says go on).
    assert len(polls) == 3 + 1 + 3
    assert events[-1].event == "done" and events[-1].step == 3
    assert [(e.event, e.step) for e in events if e.event == "paused"] == [("paused", 1)]  # said once, when it began


def test_paused_time_is_not_training_time(tmp_path, monkeypatch):
    """A pause of 40 minutes (a clock that only moves while the loop sleeps) is left out of elapsed_s."""
    import time
    from types import SimpleNamespace

    from diffusion_studio.core.training import loop

    now = [0.0]
    clock = SimpleNamespace(perf_counter=lambda: now[0], time=time.time,
                            sleep=lambda seconds: now.__setitem__(0, now[0] + 1200.0))
    monkeypatch.setattr(loop, "time", clock)
    polls = []

    def should_pause():
        polls.append(1)
        return len(polls) in (2, 3, 4)  # enters the pause, then sleeps twice

    events = list(train(tiny_config(tmp_path / "run", steps=3), should_pause=should_pause))
    assert now[0] == 2400.0
    assert all(e.elapsed_s == 0.0 for e in events)
