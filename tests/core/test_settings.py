import json
import os

import pytest

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.settings import DEFAULTS, MAX_RECENT_FILES, Settings


def test_missing_file_gives_defaults_without_notice(tmp_path):
    settings = Settings.load(tmp_path / "settings.json")
    assert settings.as_dict() == DEFAULTS
    assert settings.notice is None


def test_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    settings = Settings.load(path)
    settings["theme"] = "dark"
    settings["default_schedule"] = "linear"
    settings["default_timesteps"] = 250
    settings["default_device"] = "cuda:1"
    settings["tour_done"] = True
    settings.save()
    again = Settings.load(path)
    assert again["theme"] == "dark" and again["default_schedule"] == "linear"
    assert again["default_timesteps"] == 250 and again["default_device"] == "cuda:1"
    assert again["tour_done"] is True
    assert not list(tmp_path.glob("*.tmp")), "atomic write left a temp file"


def test_corrupt_file_falls_back_with_a_notice_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"theme": "dark", ', encoding="utf-8")
    settings = Settings.load(path)
    assert settings.as_dict() == DEFAULTS
    assert "corrupt" in settings.notice
    assert (tmp_path / "settings.json.bad").read_text(encoding="utf-8").startswith('{"theme"')


def test_unreadable_file_falls_back_with_a_notice(tmp_path):
    path = tmp_path / "settings.json"
    path.mkdir()  # a folder where the file should be: reading fails
    settings = Settings.load(path)
    assert settings.as_dict() == DEFAULTS
    assert settings.notice and "Could not read" in settings.notice


@pytest.mark.parametrize(
    "key, bad",
    [
        ("theme", "purple"),
        ("theme", 3),
        ("default_schedule", "no-such-schedule"),
        ("default_timesteps", 1),
        ("default_timesteps", 10**6),
        ("default_timesteps", "1000"),
        ("default_device", "tpu"),
        ("tour_done", "yes"),
        ("recent_files", "not a list"),
        ("recent_models", {"a": 1}),
        ("model_dtype", "float8"),
    ],
)
def test_invalid_values_fall_back_to_their_default(tmp_path, key, bad):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({key: bad, "last_open_dir": "/kept"}), encoding="utf-8")
    settings = Settings.load(path)
    assert settings[key] == DEFAULTS[key]
    assert settings["last_open_dir"] == "/kept"


def test_recent_files_are_deduplicated_newest_first_and_capped(tmp_path):
    settings = Settings(tmp_path / "settings.json")
    for i in range(MAX_RECENT_FILES + 3):
        settings.add_recent_file(tmp_path / f"{i}.png")
    settings.add_recent_file(tmp_path / "5.png")
    files = settings.recent_files
    assert len(files) == MAX_RECENT_FILES
    assert files[0].endswith("5.png") and files.count(files[0]) == 1


def test_recent_models_keep_hub_ids_as_typed_newest_first(tmp_path):
    settings = Settings(tmp_path / "settings.json")
    for spec in ("google/ddpm-cifar10-32", str(tmp_path / "pipe"), "google/ddpm-cifar10-32"):
        settings.add_recent_model(spec)
    settings.save()
    again = Settings.load(tmp_path / "settings.json")
    assert again["recent_models"] == ["google/ddpm-cifar10-32", str(tmp_path / "pipe")]


def test_saving_into_a_read_only_folder_raises_a_clear_error(tmp_path, monkeypatch):
    # Tests run as root in CI, where chmod does not stop writes: make the folder look read-only.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    with pytest.raises(InputError, match="read-only"):
        Settings(tmp_path / "settings.json").save()
    assert not (tmp_path / "settings.json").exists()
