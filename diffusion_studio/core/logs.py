"""Logging to the user log folder, rotated, so a user can send us what happened."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from .paths import log_dir

__all__ = ["setup_logging", "shutdown_logging", "log_file"]

LOG_NAME = "diffusion-studio.log"
MAX_BYTES = 1_000_000
BACKUPS = 5


def log_file() -> Path:
    return log_dir() / LOG_NAME


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Send the ``diffusion_studio`` loggers to a rotating file; returns its path (None if not writable).

    Safe to call more than once: the handler is installed a single time.
    """
    logger = logging.getLogger("diffusion_studio")
    logger.setLevel(level)
    for handler in logger.handlers:
        if getattr(handler, "_diffusion_studio", False):
            return Path(handler.baseFilename)
    try:
        path = log_file()
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        return None  # a read-only home must not stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._diffusion_studio = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    return path


def shutdown_logging() -> None:
    """Remove and close the handler ``setup_logging`` installed (tests, or before moving the log folder)."""
    logger = logging.getLogger("diffusion_studio")
    for handler in logger.handlers[:]:
        if getattr(handler, "_diffusion_studio", False):
            logger.removeHandler(handler)
            handler.close()
