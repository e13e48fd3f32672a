"""Where Diffusion Studio keeps things, per platform (platformdirs)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

__all__ = ["APP_NAME", "config_dir", "data_dir", "runs_dir", "cache_dir", "log_dir", "resource_path"]

APP_NAME = "DiffusionStudio"
_PACKAGE = Path(__file__).resolve().parent.parent


def _dirs() -> PlatformDirs:
    return PlatformDirs(APP_NAME, appauthor=False)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _override(variable: str) -> Path | None:
    # DIFFUSION_STUDIO_HOME puts everything under one folder (tests, portable installs).
    home = os.environ.get("DIFFUSION_STUDIO_HOME")
    return Path(home) / variable if home else None


def config_dir() -> Path:
    return _ensure(_override("config") or Path(_dirs().user_config_dir))


def data_dir() -> Path:
    return _ensure(_override("data") or Path(_dirs().user_data_dir))


def runs_dir() -> Path:
    return _ensure(data_dir() / "runs")


def cache_dir() -> Path:
    return _ensure(_override("cache") or Path(_dirs().user_cache_dir))


def log_dir() -> Path:
    return _ensure(_override("logs") or Path(_dirs().user_log_dir))


def _resources_dir() -> Path:
    # Installed (wheel, PyInstaller): diffusion_studio/resources/. A source checkout or an
    # editable install: the repository's top-level resources/ (setup.py maps one to the other).
    installed = _PACKAGE / "resources"
    return installed if installed.is_dir() else _PACKAGE.parent / "resources"


def resource_path(*parts: str) -> Path:
    """A file shipped in the resources/ folder (demo photos, dataset, model, icons)."""
    return _resources_dir().joinpath(*parts)
