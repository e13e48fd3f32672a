"""core.settings beyond tests/core/test_settings.py: location, recent-list edits, forward compatibility."""

from __future__ import annotations

import json

from diffusion_studio.core.paths import config_dir
from diffusion_studio.core.settings import Settings


def test_lives_in_the_config_folder_by_default():
    settings = Settings.load()
    assert settings.path == config_dir() / "settings.json"
    settings.set("theme", "light")
    settings.save()
    assert json.loads((config_dir() / "settings.json").read_text())["theme"] == "light"


def test_recent_files_can_be_removed_and_cleared(tmp_path):
    settings = Settings.load()
    for name in ("a.png", "b.png", "c.png"):
        settings.add_recent_file(tmp_path / name)
    settings.remove_recent_file(tmp_path / "b.png")
    assert [p.rsplit("/", 1)[-1] for p in settings.recent_files] == ["c.png", "a.png"]
    settings.clear_recent_files()
    assert settings.recent_files == []


def test_keys_from_a_newer_version_survive_a_save():
    path = config_dir() / "settings.json"
    path.write_text(json.dumps({"future_key": {"kept": True}, "theme": "dark"}))
    settings = Settings.load()
    assert settings.notice is None and settings.get("future_key") == {"kept": True}
    settings.save()
    assert json.loads(path.read_text())["future_key"] == {"kept": True}


def test_a_top_level_that_is_not_an_object_counts_as_corrupt():
    (config_dir() / "settings.json").write_text("[1, 2, 3]")
    settings = Settings.load()
    assert "corrupt" in settings.notice
    assert settings.recent_files == []
