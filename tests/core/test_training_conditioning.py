"""Class-conditional training (labels, label dropout, previews per class, resume) and the other objectives."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from diffusion_studio.core.checkpoint import read_metrics
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.training import TrainConfig, train
from diffusion_studio.core.training.previews import preview_classes

from ._training_helpers import tiny_config
from .test_labels import labelled_folder


def _events(config):
    return list(train(config))


def _config(run):
    return json.loads((run / "config.json").read_text())


def test_the_demo_digits_train_a_class_conditional_model_recorded_in_the_run(tmp_path):
    run = tmp_path / "run"
    events = _events(tiny_config(run, steps=2))
    assert "10 classes: 0 (178), 1 (182)" in events[0].message
    config = _config(run)
    assert config["class_names"] == list("0123456789") and config["model"]["num_classes"] == 10
    assert config["train"]["conditioning"] == "auto" and config["train"]["label_dropout"] == 0.1
    assert json.loads((run / "scan_report.json").read_text())["classes"]["counts"][0] == 178
    weights = load_file(str(run / "model_ema.safetensors"))
    assert weights["class_embedding.weight"].shape[0] == 11  # 10 classes and the null label
    grid = events[-2].sample_grid  # 4 images asked for: the first 4 classes, a column each, 1 px lines
    assert events[-2].event == "sample" and grid.shape == (8 + 2, 4 * 8 + 5, 1)


def test_conditioning_none_trains_the_demo_without_classes(tmp_path):
    run = tmp_path / "run"
    _events(tiny_config(run, steps=2, conditioning="none"))
    config = _config(run)
    assert "class_names" not in config and config["model"]["num_classes"] is None


def test_a_labelled_folder_trains_with_its_subfolders_and_a_flat_one_without(tmp_path):
    folder = labelled_folder(tmp_path / "pets", {"cat": 4, "dog": 5})
    run = tmp_path / "run"
    events = _events(tiny_config(run, demo=False, folder=str(folder), steps=2))
    assert "9 usable images in 2 classes (cat (4), dog (5))" in events[0].message
    assert _config(run)["class_names"] == ["cat", "dog"] and _config(run)["dataset"]["classes"]["counts"] == [4, 5]
    flat = labelled_folder(tmp_path / "flat", {}, loose=4)
    _events(tiny_config(tmp_path / "flat_run", demo=False, folder=str(flat), steps=1))
    assert "class_names" not in _config(tmp_path / "flat_run")


def test_classes_asked_of_a_flat_folder_or_a_class_without_images_fail_and_leave_nothing(tmp_path):
    flat = labelled_folder(tmp_path / "flat", {}, loose=4)
    with pytest.raises(InputError, match="has no classes"):
        _events(tiny_config(tmp_path / "a", demo=False, folder=str(flat), conditioning="classes"))
    broken = labelled_folder(tmp_path / "broken", {"a": 3, "b": 3}, bad={"c": 1})
    with pytest.raises(InputError, match="class 'c' .* has no usable image"):
        _events(tiny_config(tmp_path / "b", demo=False, folder=str(broken)))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    # the same folder trains without classes when asked to
    _events(tiny_config(tmp_path / "c", demo=False, folder=str(broken), conditioning="none", steps=1))
    assert "class_names" not in _config(tmp_path / "c")


def test_a_resume_of_a_labelled_run_equals_an_uninterrupted_run(tmp_path):
    folder = labelled_folder(tmp_path / "pets", {"cat": 4, "dog": 5, "owl": 3})
    common = dict(demo=False, folder=str(folder), checkpoint_every=3, batch_size=3, label_dropout=0.3,
                  learned_variance=True, loss="huber")
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    _events(tiny_config(straight, steps=6, **common))
    _events(tiny_config(halves, steps=3, **common))
    _events(TrainConfig(out=str(halves), resume=True, steps=6))
    assert [r["loss"] for r in read_metrics(straight)] == [r["loss"] for r in read_metrics(halves)]
    a, b = load_file(str(straight / "model_ema.safetensors")), load_file(str(halves / "model_ema.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_resume_refuses_a_folder_whose_classes_changed(tmp_path):
    folder = labelled_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    run = tmp_path / "run"
    _events(tiny_config(run, demo=False, folder=str(folder), steps=2, checkpoint_every=2))
    labelled_folder(folder, {"eel": 3})
    with pytest.raises(InputError, match="classes of .* changed since the run started .*new: class 'eel'"):
        _events(TrainConfig(out=str(run), resume=True, steps=4))
    assert (run / "model.safetensors").is_file()  # nothing lost


@pytest.mark.parametrize("dropout,null_trained", [(0.0, False), (0.9, True)])
def test_label_dropout_trains_the_null_label(tmp_path, dropout, null_trained):
    run = tmp_path / "run"
    config = tiny_config(run, steps=3, label_dropout=dropout)
    _events(config)
    from diffusion_studio.core.unet import UNet

    torch.manual_seed(config.seed)
    start = UNet.from_config(_config(run)["model"]).state_dict()["class_embedding.weight"]
    end = load_file(str(run / "model.safetensors"))["class_embedding.weight"]
    assert (not torch.equal(start[10], end[10])) == null_trained  # row 10: "no class"
    if not null_trained:
        assert not torch.equal(start[:10], end[:10])  # every label is kept: only the classes train


def test_learned_variance_and_other_losses_are_recorded_and_logged(tmp_path):
    run = tmp_path / "run"
    _events(tiny_config(run, steps=2, learned_variance=True, loss="l1", vlb_weight=0.01))
    config = _config(run)
    assert config["model"]["out_channels"] == 2 and config["train"]["loss"] == "l1"
    metrics = read_metrics(run)
    assert all(np.isfinite(m["loss_vlb"]) and m["loss_vlb"] > 0 for m in metrics)
    assert all(abs(m["loss"] - (m["loss_simple"] + 0.01 * m["loss_vlb"])) < 1e-5 for m in metrics)


def test_training_settings_refuse_bad_values():
    for bad in (dict(label_dropout=1.0), dict(label_dropout=-0.1), dict(loss="l3"), dict(conditioning="maybe"),
                dict(vlb_weight=float("nan"))):
        with pytest.raises(InputError):
            TrainConfig(out="x", demo=True, **bad)


def test_preview_grids_share_out_the_images_a_row_or_a_column_per_class():
    assert preview_classes(0, 16) == (None, None)
    labels, columns = preview_classes(3, 40)  # more images of a class than classes: a row each
    assert columns == 14 and labels.tolist() == [k for k in range(3) for _ in range(14)]
    labels, columns = preview_classes(10, 100)
    assert columns == 10 and labels.tolist() == [k for k in range(10) for _ in range(10)]
    labels, columns = preview_classes(10, 40)  # fewer: a column each, 4 rows of 0–9
    assert columns == 10 and labels.tolist() == list(range(10)) * 4
    labels, columns = preview_classes(10, 16)
    assert columns == 10 and labels.tolist() == list(range(10)) * 2  # rounded up to two of each
    labels, columns = preview_classes(1000, 16)
    assert columns == 16 and labels.tolist() == list(range(16))  # the first 16 classes
    labels, columns = preview_classes(10, 3)
    assert columns == 3 and labels.tolist() == [0, 1, 2]  # halving the images halves the batch
