"""User settings: one small JSON file in the config folder, written atomically.

Qt-free so the CLI and tests can read and write it too. What a valid file holds is
:class:`SettingsFile`, a pydantic model (core.validation). A missing file gives the
defaults; a file that cannot be read (a folder, a FIFO, no permission) or is corrupt
(not JSON, NaN, nested too deeply, too large, not an object) also gives the defaults
and sets :attr:`Settings.notice` to a sentence the app shows once; a corrupt file is
kept aside as ``settings.json.bad`` so nothing the user had is silently destroyed.
A known setting with a value of the wrong type or out of range falls back to its
default, and the notice names it; the other settings are kept. Keys this version does
not know (from a newer one) are kept and written back.

To add a setting, add a field with its type and default to :class:`SettingsFile`.
"""

from __future__ import annotations

import contextlib
import copy
import os
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter, ValidationError

from .atomic import atomic_write_text, file_kind
from .errors import InputError, printable
from .paths import config_dir
from .validation import MAX_JSON_BYTES, PathText, dump_json, parse_json

__all__ = ["Settings", "SettingsFile", "DEFAULTS", "SETTINGS_FILE_NAME", "MAX_RECENT_FILES", "THEMES"]

SETTINGS_FILE_NAME = "settings.json"
MAX_RECENT_FILES = 10
THEMES = ("system", "dark", "light")

#: base64 of a Qt geometry/state blob; Qt's are a few hundred bytes.
Base64Text = Annotated[str, Field(max_length=65536, pattern=r"^[A-Za-z0-9+/=]*$")]


def _known_schedule(name: str) -> str:
    from .schedules import SCHEDULE_NAMES  # numpy; only when a settings file is read

    if name not in SCHEDULE_NAMES:
        raise ValueError(f"must be one of {', '.join(SCHEDULE_NAMES)}")
    return name


def _recent(entries: Any) -> list:
    # Lenient on purpose: entries that are not usable paths are dropped, the rest kept (newest first).
    if not isinstance(entries, list):
        raise ValueError("must be a list of paths")
    path = TypeAdapter(PathText)
    kept = []
    for entry in entries:
        with contextlib.suppress(ValidationError):
            if path.validate_python(entry):
                kept.append(entry)
    return kept[:MAX_RECENT_FILES]


class SettingsFile(BaseModel):
    """Every known setting with its type, range and default; the settings file is validated against it."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, validate_default=False)

    version: StrictInt = 1
    recent_files: Annotated[list, AfterValidator(_recent)] = []
    theme: Literal[THEMES] = "system"
    window_geometry: Base64Text = ""  # base64 of QMainWindow.saveGeometry()
    window_state: Base64Text = ""  # base64 of QMainWindow.saveState()
    last_open_dir: PathText = ""
    last_train_dir: PathText = ""
    last_export_dir: PathText = ""  # where the last export went; export dialogs start there
    default_schedule: Annotated[str, AfterValidator(_known_schedule)] = "cosine"
    default_timesteps: Annotated[StrictInt, Field(ge=2, le=10_000)] = 1000
    default_device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda|mps|cuda:\d{1,3})$")] = "auto"
    tour_done: StrictBool = False
    recent_models: Annotated[list, AfterValidator(_recent)] = []  # the Sample panel's models: paths and Hub ids
    model_dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"  # a pretrained model's precision on a GPU


#: Every known key and its default.
DEFAULTS: dict[str, Any] = SettingsFile().model_dump()


def _valid_values(data: dict) -> tuple[dict[str, Any], list[str]]:
    """The values of ``data`` that fit :class:`SettingsFile` (unknown keys kept), and the known keys that did not."""
    kept, rejected = {}, []
    for key, value in data.items():
        if key not in SettingsFile.model_fields:
            kept[key] = value
            continue
        try:
            kept[key] = getattr(SettingsFile.model_validate({key: value}), key)
        except (ValidationError, RecursionError):
            rejected.append(key)
    return kept, rejected


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
        shown = printable(settings.path)
        try:
            raw = settings._read()
        except FileNotFoundError:
            return settings
        except (OSError, InputError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            settings.notice = f"Could not read the settings file {shown} ({reason}); using defaults."
            return settings
        try:
            data = parse_json(raw, what="the settings file")
            if not isinstance(data, dict):
                raise InputError("the top level is not an object")
        except InputError as exc:
            settings._set_aside_corrupt_file()
            settings.notice = (f"The settings file was corrupt ({exc}); using defaults. "
                               f"The old file is kept as {printable(settings.path.name)}.bad")
            return settings
        values, rejected = _valid_values(data)
        settings._values.update(values)
        if rejected:
            settings.notice = (f"Some settings in {shown} were not valid and are back to their defaults: "
                               f"{', '.join(printable(key) for key in rejected)}.")
        return settings

    def _read(self) -> bytes:
        """The file's bytes: a regular file of a sane size only (a FIFO would block, a device never ends)."""
        info = os.stat(self.path)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"it is {file_kind(info.st_mode)}, not a file")
        if info.st_size > MAX_JSON_BYTES:
            raise InputError(f"it is {info.st_size / 2**20:.0f} MiB, far too large to be a settings file")
        with open(self.path, "rb") as handle:
            return handle.read(MAX_JSON_BYTES + 1)

    def _set_aside_corrupt_file(self) -> None:
        with contextlib.suppress(OSError):
            os.replace(self.path, self.path.with_name(self.path.name + ".bad"))

    def save(self) -> None:
        """Write atomically; raises InputError (e.g. read-only folder, disk full, a FIFO in the way)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, dump_json(self._values, indent=2, sort_keys=True) + "\n")

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
