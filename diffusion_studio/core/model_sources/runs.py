"""Our own run folders: a run folder, a checkpoint step folder, a .safetensors file, or ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..loaded_model import LoadedModel

__all__ = ["can_open", "open"]


def can_open(spec: str | Path) -> bool:
    return True  # the last source: anything else is read as a path, and refused with its reason


def open(spec: str | Path, device: str, *, prefer_ema: bool = True) -> "LoadedModel":  # noqa: A001 - the source API
    from ..checkpoint import load_model
    from . import model_path

    return load_model(model_path(spec), device=device, prefer_ema=prefer_ema)
