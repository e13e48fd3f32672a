"""User settings: one small JSON file in the config folder, written atomically.

Qt-free so the CLI and tests can read and write it too. A missing file gives the
defaults; an unreadable or corrupt file also gives the defaults and sets
:attr:`Settings.notice` to a sentence the app shows once (the bad file is kept
aside as ``settings.json.bad`` so nothing the user had is silently destroyed).

To add a setting, add its key and default to :data:`DEFAULTS`; values of the
wrong type in the file fall back to that default.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .paths import config_dir

__all__ = ["Settings", "DEFAULTS", "SETTINGS_FILE_NAME", "MAX_RECENT_FILES"]

SETTINGS_FILE_NAME = "settings.json"
MAX_RECENT_FILES = 10

#: Every known key and its default. Types of the defaults are enforced on load.
DEFAULTS: dict[str, Any] = {
    "version": 1,
    "recent_files": [],
    "theme": "system",  # "system" | "dark" | "light"
    "window_geometry": "",  # base64 of QMainWindow.saveGeometry()
    "window_state": "",  # base64 of QMainWindow.saveState()
    "last_open_dir": "",
    "last_train_dir": "",
    "default_schedule": "cosine",
    "default_timesteps": 1000,
    "default_device": "auto",  # "auto" | "cpu" | "cuda" | "mps"
    "tour_done": False,
    "recent_models": [],  # the Sample panel's recently opened models: paths and Hub ids, newest first
    "model_dtype": "auto",  # a pretrained model's precision on a GPU: auto | float32 | float16 | bfloat16
}

THEMES = ("system", "dark", "light")


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


class Settings:
    """A dict-like view over the settings file. Call :meth:`save` to persist."""

    def __init__(self, path: str | os.PathLike | None = None, values: dict[str, Any] | None = None):
        self.path = Path(path) if path is not None else config_dir() / SETTINGS_FILE_NAME
        self._values: dict[str, Any] = copy.deepcopy(DEFAULTS)
        if values:
            self._values.update(values)
        #: a message for the user when the file could not be used (None when all is well)
        self.notice: str | None = None

    # -- loading and saving --------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "Settings":
        settings = cls(path)
        try:
            text = settings.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return settings
        except (OSError, UnicodeDecodeError) as exc:
            settings.notice = f"Could not read the settings file {settings.path} ({exc}); using defaults."
            return settings
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("the top level is not an object")
        except ValueError as exc:
            settings._set_aside_corrupt_file()
            settings.notice = f"The settings file was corrupt ({exc}); using defaults. The old file is kept as {settings.path.name}.bad"
            return settings
        for key, value in data.items():
            if key in DEFAULTS and not _same_kind(value, DEFAULTS[key]):
                continue  # wrong type: keep the default
            settings._values[key] = value
        for key in ("recent_files", "recent_models"):
            settings._values[key] = [p for p in settings._values[key] if isinstance(p, str)]
        settings._drop_invalid_values()
        return settings

    def _drop_invalid_values(self) -> None:
        """Values of the right type but outside what the app accepts fall back to the default."""
        from .schedules import SCHEDULE_NAMES

        checks = {
            "theme": lambda v: v in THEMES,
            "default_schedule": lambda v: v in SCHEDULE_NAMES,
            "default_timesteps": lambda v: isinstance(v, int) and 2 <= v <= 10000,
            "default_device": lambda v: v in ("auto", "cpu", "cuda", "mps") or v.startswith("cuda:"),
            "model_dtype": lambda v: v in ("auto", "float32", "float16", "bfloat16"),
        }
        for key, is_valid in checks.items():
            if not is_valid(self._values[key]):
                self._values[key] = DEFAULTS[key]

    def _set_aside_corrupt_file(self) -> None:
        with contextlib.suppress(OSError):
            os.replace(self.path, self.path.with_name(self.path.name + ".bad"))

    def save(self) -> None:
        """Write atomically; raises InputError (e.g. read-only folder, disk full)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self._values, indent=2, sort_keys=True) + "\n")

    # -- access -------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, DEFAULTS.get(key, default))

    def set(self, key: str, value: Any) -> None:
        self._values[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def as_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._values)

    # -- recent files -------------------------------------------------------------------
    @property
    def recent_files(self) -> list[str]:
        return list(self._values["recent_files"])

    def add_recent_file(self, path: str | os.PathLike) -> None:
        """Put ``path`` first in the recent list (no duplicates, at most MAX_RECENT_FILES)."""
        entry = str(Path(path).resolve())
        files = [entry] + [p for p in self._values["recent_files"] if p != entry]
        self._values["recent_files"] = files[:MAX_RECENT_FILES]

    def add_recent_model(self, spec: str) -> None:
        """Put a model (a path or a Hub id, as the user named it) first in the recent models."""
        models = [str(spec)] + [m for m in self._values["recent_models"] if m != str(spec)]
        self._values["recent_models"] = models[:MAX_RECENT_FILES]

    def remove_recent_file(self, path: str | os.PathLike) -> None:
        entry = str(Path(path).resolve())
        self._values["recent_files"] = [p for p in self._values["recent_files"] if p != entry and p != str(path)]

    def clear_recent_files(self) -> None:
        self._values["recent_files"] = []
