import json
import os
import stat
from pathlib import Path

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


def test_invalid_values_are_named_in_the_notice(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"theme": "purple", "default_timesteps": 10**9, "tour_done": True}), encoding="utf-8")
    settings = Settings.load(path)
    assert settings.notice == (f"Some settings in {path} were not valid and are back to their defaults: "
                               "theme, default_timesteps.")
    assert settings["tour_done"] is True


@pytest.mark.parametrize("content, words", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"theme": NaN}', "NaN"),
    ('{"default_timesteps": Infinity}', "Infinity"),
    (b'{"theme": "\x80\x81"}', "not a text file"),
    ("", "not valid JSON"),
])
def test_hostile_files_fall_back_to_defaults_with_a_notice(tmp_path, content, words):
    path = tmp_path / "settings.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    settings = Settings.load(path)
    assert settings.as_dict() == DEFAULTS
    assert "corrupt" in settings.notice and words in settings.notice and "\n" not in settings.notice
    assert (tmp_path / "settings.json.bad").exists()


@pytest.mark.skipif(os.name != "posix", reason="FIFOs are POSIX")
def test_a_fifo_named_settings_json_is_not_read_and_not_replaced(tmp_path):
    path = tmp_path / "settings.json"
    os.mkfifo(path)
    settings = Settings.load(path)  # reading it would block forever
    assert settings.as_dict() == DEFAULTS and "FIFO" in settings.notice
    with pytest.raises(InputError, match="FIFO"):
        settings.save()
    assert stat.S_ISFIFO(os.lstat(path).st_mode)


def test_a_huge_file_is_refused_unread(tmp_path, monkeypatch):
    from diffusion_studio.core import settings as settings_module

    monkeypatch.setattr(settings_module, "MAX_JSON_BYTES", 1000)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"last_open_dir": "x" * 2000}))
    settings = Settings.load(path)
    assert settings.as_dict() == DEFAULTS and "too large" in settings.notice


def test_recent_files_keep_usable_paths_only_and_at_most_ten(tmp_path):
    path = tmp_path / "settings.json"
    entries = [f"/p/{i}.png" for i in range(30)] + [3, None, "", "bad\x00name", "y" * 5000]
    path.write_text(json.dumps({"recent_files": entries[::-1]}))
    assert Settings.load(path).recent_files == [f"/p/{i}.png" for i in range(29, 19, -1)]


def test_paths_that_are_not_utf8_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    odd = os.fsdecode(b"/photos/caf\xe9.png")
    settings = Settings(path)
    settings.add_recent_file(odd)
    settings.set("last_open_dir", os.fsdecode(b"/photos/\xff"))
    settings.save()  # raised UnicodeEncodeError before
    again = Settings.load(path)
    assert again.notice is None and again.recent_files == [str(Path(odd).resolve())]
    assert again["last_open_dir"] == os.fsdecode(b"/photos/\xff")
