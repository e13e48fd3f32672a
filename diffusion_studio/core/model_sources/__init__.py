"""Where models come from: each source turns what the user named into a :class:`LoadedModel`.

>>> loaded = open_model("demo")                    # the bundled demo model
>>> loaded = open_model("runs/digits", device="cuda")  # a run folder, step folder or .safetensors file
>>> loaded = open_model("google/ddpm-cifar10-32", download=True)  # a diffusers model (folder or Hub id)

A source is a module here with ``can_open(spec) -> bool`` and ``open(spec, device, **options)``;
:func:`open_model` asks them in :data:`SOURCES` order and passes each only the options its ``open``
names (``allow_pickle`` or ``dtype`` mean nothing to our run folders). Adding a model family means
adding a source: nothing downstream (samplers, chain, player, export) changes.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from ..loaded_model import LoadedModel

__all__ = ["SOURCES", "open_model", "model_path"]

#: Source modules of this package, asked in this order; ``runs`` (our own run folders) last.
#: ``latent``: Stable-Diffusion-layout text-to-image pipelines (a folder, or a Hub id in the cache);
#: ``diffusers_pixel``: diffusers UNet2DModel pipelines and folders, and any other Hub id.
SOURCES: tuple[str, ...] = ("latent", "diffusers_pixel", "runs")


def model_path(spec: str | Path) -> Path:
    """Where the model ``spec`` names lives: ``demo`` is the bundled demo model, anything else a path."""
    from ..checkpoint import DEMO_MODEL_DIR

    if str(spec) != "demo":
        return Path(spec).expanduser()
    if not Path(DEMO_MODEL_DIR).exists():
        raise InputError(f"the bundled demo model is missing from this installation ({DEMO_MODEL_DIR})")
    return Path(DEMO_MODEL_DIR)


def open_model(spec: str | Path, device: str = "auto", **options) -> "LoadedModel":
    """The model ``spec`` names ('demo', a path, …) on ``device`` ('auto' picks one); InputError if unusable."""
    from ..device import pick_device

    resolved = str(pick_device(device))
    for name in SOURCES:
        source = importlib.import_module(f"{__name__}.{name}")
        if source.can_open(spec):
            return source.open(spec, resolved, **_options_taken_by(source.open, options))
    raise InputError(f"{spec} is not a model Diffusion Studio can open")


def _options_taken_by(function, options: dict) -> dict:
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return options
    return {name: value for name, value in options.items() if name in parameters}
