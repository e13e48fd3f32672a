"""Run folders through their life: resume keeps the recorded settings, locks, restart, failed starts, bad layouts."""

from __future__ import annotations

import json
import os

import pytest

from diffusion_studio.core import device as devices
from diffusion_studio.core.checkpoint import RunLock, RunLockedError, read_metrics, read_weights_step, run_is_locked
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.training import TrainConfig, TrainingError, train
from diffusion_studio.core.training import trainer as trainer_module

from ._training_helpers import image_folder, tiny_config


def _events(config, **kw):
    return list(train(config, **kw))


def _saved_train(run) -> dict:
    return json.loads((run / "config.json").read_text())["train"]


def test_a_plain_resume_keeps_every_recorded_setting(tmp_path):
    run = tmp_path / "run"
    # Stopped at step 2 of a 4-step run; a resume with nothing else given runs to 4, not to the default 10 000.
    _events(tiny_config(run, steps=4, lr=3e-3, checkpoint_every=1000), should_stop=lambda: bool(
        (run / "metrics.jsonl").exists() and len(read_metrics(run)) >= 2))
    assert read_weights_step(run / "model.safetensors") == 2
    events = _events(TrainConfig(out=str(run), resume=True))
    assert events[-1].event == "done" and events[-1].step == events[-1].total_steps == 4
    saved = _saved_train(run)
    assert saved["lr"] == 3e-3 and saved["batch_size"] == 4 and saved["log_every"] == 1 and saved["steps"] == 4


def test_a_resume_changes_only_what_is_given_and_may_change(tmp_path):
    run = tmp_path / "run"
    _events(tiny_config(run, steps=2))
    events = _events(TrainConfig(out=str(run), resume=True, steps=3, batch_size=2, sample_every=7))
    assert events[-1].step == 3
    saved = _saved_train(run)
    assert (saved["steps"], saved["batch_size"], saved["sample_every"]) == (3, 2, 7)
    assert saved["image_size"] == 8 and saved["timesteps"] == 50  # the model and the schedule stay
    with pytest.raises(TrainingError, match=r"--timesteps 100 differs from the run's 50.*may change --steps"):
        _events(TrainConfig(out=str(run), resume=True, steps=4, timesteps=100))
    with pytest.raises(TrainingError, match="--restart"):
        _events(TrainConfig(out=str(run), resume=True, restart=True, steps=4))


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    _events(tiny_config(run, steps=1))
    assert not run_is_locked(run)
    with RunLock(run):  # another process training here (flock locks conflict between open files)
        assert run_is_locked(run)
        with pytest.raises(RunLockedError, match=r"another process \(pid \d+\) is training in"):
            _events(TrainConfig(out=str(run), resume=True, steps=2))
    assert _events(TrainConfig(out=str(run), resume=True, steps=2))[-1].step == 2


def test_the_lock_is_held_while_training_and_released_after(tmp_path):
    run = tmp_path / "run"
    seen = []
    for _progress in train(tiny_config(run, steps=2)):
        seen.append(run_is_locked(run))
    assert all(seen) and not run_is_locked(run)


def test_resume_drops_what_was_logged_after_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    generator = train(tiny_config(run, steps=6, checkpoint_every=2, sample_every=3))
    for progress in generator:
        if progress.event == "step" and progress.step == 5:
            break  # killed after step 5: the checkpoint is at 4, metrics and a sample grid went on
    generator.close()
    with open(run / "metrics.jsonl", "ab") as handle:
        handle.write(b'{"step": 6, "lo')  # and its last line was torn
    assert (run / "samples" / "step_000003.png").exists()
    _events(TrainConfig(out=str(run), resume=True))
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3, 4, 5, 6]  # once each, no torn line
    assert all(line.strip() for line in (run / "metrics.jsonl").read_text().splitlines())
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000003.png", "step_000006.png"]


def _run_without_checkpoint(run, monkeypatch):
    real = trainer_module.prediction_target
    monkeypatch.setattr(trainer_module, "prediction_target", lambda *a: real(*a) * float("nan"))
    events = _events(tiny_config(run, steps=5, checkpoint_every=1000))
    monkeypatch.setattr(trainer_module, "prediction_target", real)
    assert events[-1].event == "error"


def test_a_run_without_checkpoint_can_be_started_over(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _run_without_checkpoint(run, monkeypatch)  # e.g. the disk filled, or the loss became NaN, before step 1000
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    for config in (tiny_config(run, steps=2), TrainConfig(out=str(run), resume=True)):
        with pytest.raises(TrainingError, match="before its first checkpoint|no checkpoint yet") as caught:
            _events(config)
        assert "--restart" in str(caught.value)
    (run / "notes.txt").write_text("mine")
    events = _events(tiny_config(run, steps=2, restart=True))
    assert events[-1].event == "done"
    assert [r["step"] for r in read_metrics(run)] == [1, 2] and (run / "notes.txt").read_text() == "mine"
    with pytest.raises(TrainingError, match="has a checkpoint, so it is not started over"):
        _events(tiny_config(run, steps=3, restart=True))  # it has a checkpoint now: never deleted


def test_a_failed_start_leaves_no_folder_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "available_memory", lambda device: (64 * 2**20, "available RAM"))
    run = tmp_path / "new" / "run"
    with pytest.raises(TrainingError, match=r"batch size 100000 at 8 px needs about .* try --batch-size"):
        _events(tiny_config(run, batch_size=100_000))
    assert not run.exists()
    monkeypatch.undo()

    def out_of_memory(self):
        raise devices.torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(trainer_module.Trainer, "_compute_update", out_of_memory)
    with pytest.raises(TrainingError, match="ran out of memory"):
        _events(tiny_config(run))
    assert not run.exists()
    # No usable image: the scan report stays, it is the explanation.
    folder = image_folder(tmp_path / "images", good=0)
    with pytest.raises(TrainingError, match="none of the 3"):
        _events(tiny_config(run, demo=False, folder=str(folder)))
    assert sorted(p.name for p in run.iterdir()) == ["scan_report.json"]


def test_a_folder_that_existed_is_left_as_it_was(tmp_path):
    run = tmp_path / "mine"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(InputError):
        _events(tiny_config(run, image_size=9))  # an image size the model cannot halve
    assert (run / "notes.txt").read_text() == "mine"


def test_a_run_inside_its_image_folder_is_refused(tmp_path):
    folder = image_folder(tmp_path / "images", good=3, bad=False)
    for out in (folder, folder / "runs" / "a"):
        with pytest.raises(TrainingError, match="inside the image folder"):
            _events(tiny_config(out, demo=False, folder=str(folder)))
    assert not (folder / "runs").exists()


@pytest.mark.parametrize("name, make, words", [
    ("samples", lambda p: p.write_text("x"), "is a file, but a run keeps its sample grids there in a folder"),
    ("checkpoints", lambda p: p.write_text("x"), "is a file, but a run keeps its checkpoints there in a folder"),
    ("metrics.jsonl", lambda p: p.mkdir(), "is a folder, but a run keeps its metrics there in a file"),
    ("metrics.jsonl", lambda p: os.mkfifo(p), "is a named pipe"),
])
def test_names_of_the_wrong_kind_are_refused_before_training(tmp_path, name, make, words):
    run = tmp_path / "run"
    run.mkdir()
    make(run / name)
    with pytest.raises(InputError, match=words):
        _events(tiny_config(run))


def test_a_damaged_train_section_is_refused_on_resume(tmp_path):
    run = tmp_path / "run"
    _events(tiny_config(run, steps=1))
    config = json.loads((run / "config.json").read_text())
    for bad, words in ((["not", "an", "object"], "must be a JSON object"),
                       ({}, "or --demo for the built-in digits; the 'train' section .* does not say which images"),
                       ({**config["train"], "batch_size": "many"}, "batch_size must be a whole number"),
                       ({**config["train"], "lr": -1}, "lr must be > 0")):
        (run / "config.json").write_text(json.dumps({**config, "train": bad}))
        with pytest.raises(InputError, match=words):
            _events(TrainConfig(out=str(run), resume=True, steps=2))
