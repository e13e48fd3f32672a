"""TrainConfig: one definition per setting (type, range, default, help) that the CLI and the form share."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from diffusion_studio.core.prediction import PREDICTION_TYPES, prediction_target
from diffusion_studio.core.training import TrainConfig
from diffusion_studio.core.training.config import MODEL_PRESETS, RESUME_OVERRIDABLE, SETTINGS, flag_labels
from diffusion_studio.core.validation import ConfigError


def test_every_field_is_a_setting_with_help_a_label_and_a_flag():
    assert [spec.name for spec in SETTINGS] == list(TrainConfig.model_fields)
    for spec in SETTINGS:
        assert spec.help and spec.label and spec.flag.startswith("--"), spec.name
        assert spec.default == TrainConfig.model_fields[spec.name].default
    flags = [spec.flag for spec in SETTINGS]
    assert len(set(flags)) == len(flags) and flag_labels()["cpu_threads"] == "--threads"
    assert set(RESUME_OVERRIDABLE) <= set(TrainConfig.model_fields)


def test_choices_and_ranges_come_from_the_types():
    specs = {spec.name: spec for spec in SETTINGS}
    assert specs["prediction"].choices == PREDICTION_TYPES
    assert specs["channels"].choices == (1, 3) and specs["channels"].optional
    assert specs["image_size"].describe_range() == "8–1024" and specs["cpu_threads"].maximum == 1024
    assert specs["lr"].minimum == 0 and specs["lr"].minimum_exclusive
    assert specs["ema_decay"].describe_range() == "≥ 0, < 1"
    assert specs["channel_mults"].kind == "ints" and specs["channel_mults"].describe_range() == "1–16"


def test_model_presets_are_the_unets():
    from diffusion_studio.core.unet import PRESETS

    assert MODEL_PRESETS == ("auto", *PRESETS)


@pytest.mark.parametrize("values, words", [
    ({"max_minutes": float("inf")}, "--max-minutes must be a finite number, got inf"),
    ({"grad_clip": float("nan")}, "--grad-clip must be a finite number, got nan"),
    ({"seed": 2**64}, "--seed must be ≤ 9223372036854775807"),
    ({"cpu_threads": 100_000}, "--threads must be ≤ 1024, got 100000"),
    ({"warmup_steps": -1}, "--warmup-steps must be ≥ 0, got -1"),
    ({"lr": 0}, "--lr must be > 0, got 0"),
    ({"image_size": "abc"}, "--image-size must be a whole number, got 'abc'"),
    ({"base_channels": 4096}, "--base-channels must be ≤ 1024"),
    ({"channel_mults": [1] * 20}, "--channel-mults takes at most 8 entries"),
    ({"schedule": "nope"}, "--schedule must be one of"),
    ({"bogus": 1}, "bogus is not a known setting"),
])
def test_bad_values_are_refused_naming_the_flag(values, words):
    with pytest.raises(ConfigError, match="^train: " + words.replace("(", r"\(").replace("[", r"\[")):
        TrainConfig.from_dict({"out": "r", **values}, labels=flag_labels(), what="train")


def test_a_config_knows_which_fields_were_given():
    config = TrainConfig(out="r", steps=12)
    assert config.given == {"out", "steps"} and config.batch_size == 64
    assert TrainConfig.from_dict({"out": "r", "lr": 1e-3}).given == {"out", "lr"}
    with pytest.raises(ConfigError, match="training settings: steps must be ≥ 1"):
        TrainConfig(out="r", steps=0)


def test_saved_sections_ignore_unknown_keys_and_check_the_rest():
    saved = TrainConfig(out="r", demo=True).to_dict()
    assert TrainConfig.from_saved({**saved, "from_a_newer_version": 1}, what="train").demo
    with pytest.raises(ConfigError, match="train: lr must be a finite number"):
        TrainConfig.from_saved({**saved, "lr": float("inf")}, what="train")
    with pytest.raises(ConfigError, match="must be a JSON object, got list"):
        TrainConfig.from_saved([1, 2], what="train")
    assert json.loads(json.dumps(TrainConfig(out="r", channel_mults=(1, 2)).to_dict()))["channel_mults"] == [1, 2]


def test_importing_the_training_package_does_not_import_torch():
    code = ("import sys; import diffusion_studio.core.training as t, diffusion_studio.core.training.relay;"
            "t.TrainConfig(out='r'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_prediction_targets():
    import numpy as np

    x0, noise, a = np.array([0.5]), np.array([-1.0]), 0.6
    b = np.sqrt(1 - a * a)
    assert prediction_target(x0, noise, a, b, "epsilon") is noise
    assert prediction_target(x0, noise, a, b, "sample") is x0
    v = prediction_target(x0, noise, a, b, "v_prediction")
    x_t = a * x0 + b * noise
    assert np.allclose(a * x_t - b * v, x0)  # Salimans & Ho: x0 = √ᾱ·x_t − √(1−ᾱ)·v
    with pytest.raises(ValueError, match="unknown prediction type 'noise'"):
        prediction_target(x0, noise, a, b, "noise")
