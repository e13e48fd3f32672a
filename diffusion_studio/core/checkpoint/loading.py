"""Loading a run back: the newest complete checkpoint for resuming, or a ready model for sampling."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..device import available_memory, format_bytes
from ..errors import InputError
from ..loaded_model import LoadedModel
from ..prediction import check_prediction
from ..schedules import NoiseSchedule
from .layout import (
    CHECKPOINTS_DIR,
    CONFIG_NAME,
    EMA_WEIGHTS_NAME,
    PICKLE_HINT,
    TRAIN_STATE_NAME,
    WEIGHTS_NAME,
    list_step_dirs,
    load_config,
    looks_like_pickle,
    read_weights_step,
    step_of_dir,
)
from .store import read_train_state, read_weights

__all__ = ["Checkpoint", "LoadedModel", "load_checkpoint", "load_model", "resolve_model_path"]

_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle")

ModelFactory = Callable[[dict], torch.nn.Module]


@dataclass
class Checkpoint:
    """Everything needed to resume: state dicts on the CPU and the training state."""

    config: dict
    model_state: dict[str, torch.Tensor]
    ema_state: dict[str, torch.Tensor] | None
    train_state: dict[str, Any]
    step: int
    path: Path  # the folder the files were read from (the run folder or a step folder)


@dataclass(frozen=True)
class _DescribedModel:
    """The model ``config.json`` describes, known from a build on the meta device (no memory used)."""

    num_parameters: int
    shapes: dict[str, tuple[int, ...]]

    @property
    def max_weight_bytes(self) -> int:
        # float32 weights plus the header; anything much larger cannot be weights of this model.
        return int(self.num_parameters * 4 * 1.5) + 16 * 2**20

    def check(self, state: dict[str, torch.Tensor], weights: Path) -> None:
        """InputError unless ``state`` has exactly this model's tensors, in its shapes (before building it)."""
        missing = sorted(self.shapes.keys() - state.keys())
        unexpected = sorted(state.keys() - self.shapes.keys())
        wrong = sorted(k for k in self.shapes.keys() & state.keys() if tuple(state[k].shape) != self.shapes[k])
        if not (missing or unexpected or wrong):
            return
        parts = [f"{label}: {', '.join(names[:3])}" + (" …" if len(names) > 3 else "")
                 for label, names in (("missing", missing), ("unexpected", unexpected), ("other shape", wrong))
                 if names]
        raise InputError(f"{weights.name}: these weights do not fit the model described in {CONFIG_NAME} "
                         f"({'; '.join(parts)})")


def _describe_model(factory: ModelFactory, config: dict, config_dir: Path) -> _DescribedModel:
    try:
        with torch.device("meta"):
            model = factory(dict(config["model"]))
    except InputError as exc:
        raise InputError(f"{CONFIG_NAME} in {config_dir} describes a model that cannot be built: {exc}") from None
    except (TypeError, ValueError, KeyError, RuntimeError, NotImplementedError) as exc:
        raise InputError(f"{CONFIG_NAME} in {config_dir} describes a model that cannot be built: {exc}") from exc
    return _DescribedModel(sum(p.numel() for p in model.parameters()),
                           {name: tuple(t.shape) for name, t in model.state_dict().items()})


def _load_candidate(folder: Path, config: dict, model: _DescribedModel) -> Checkpoint:
    """Load one set of checkpoint files; InputError when missing, damaged, torn between steps or not this model's."""
    limit = model.max_weight_bytes
    train_state = read_train_state(folder / TRAIN_STATE_NAME, weights_bytes=limit)
    model_state, weights_step = read_weights(folder / WEIGHTS_NAME, max_bytes=limit)
    model.check(model_state, folder / WEIGHTS_NAME)
    ema_state, ema_step = None, weights_step
    if (folder / EMA_WEIGHTS_NAME).exists():
        ema_state, ema_step = read_weights(folder / EMA_WEIGHTS_NAME, max_bytes=limit)
        model.check(ema_state, folder / EMA_WEIGHTS_NAME)
    step = train_state.get("step")
    if not isinstance(step, int) or weights_step != step or ema_step != step:
        # A crash while the top-level files were being replaced: they come from two different steps.
        raise InputError(f"The checkpoint files in {folder} come from different steps")
    return Checkpoint(config, model_state, ema_state, train_state, step, folder)


def load_checkpoint(run_dir: str | os.PathLike, model_factory: ModelFactory | None = None) -> Checkpoint:
    """The newest complete checkpoint of a run (top-level files or a step folder), for resuming.

    ``model_factory`` builds the model ``config.json`` describes (default ``UNet.from_config``); it
    runs on the meta device only, to know how large the weights files may be.
    """
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise InputError(f"The run folder {run_dir} does not exist")
    config = load_config(run_dir)
    model = _describe_model(model_factory or _default_factory, config, run_dir)
    candidates = [(step_of_dir(d), 0, d) for d in list_step_dirs(run_dir)]
    if (run_dir / WEIGHTS_NAME).is_file():
        candidates.append((read_weights_step(run_dir / WEIGHTS_NAME) or -1, 1, run_dir))
    if not candidates:
        raise InputError(f"{run_dir} has no checkpoint yet ({WEIGHTS_NAME} is missing); nothing to resume")
    first_error: InputError | None = None
    for _step, _prefer, folder in sorted(candidates, key=lambda c: (c[0], c[1]), reverse=True):
        try:
            return _load_candidate(folder, config, model)
        except InputError as exc:
            first_error = first_error or exc
    raise InputError(f"No complete checkpoint in {run_dir}: {first_error}")


def _default_factory(model_config: dict) -> torch.nn.Module:
    from ..unet import UNet

    return UNet.from_config(model_config)


def _check_weights_fit(num_parameters: int, device: torch.device, config_dir: Path) -> None:
    needed = num_parameters * 4
    free, what = available_memory(device)
    if free is not None and needed > free:
        raise InputError(
            f"the model in {config_dir} has {num_parameters / 1e6:.1f} M parameters ({format_bytes(needed)}), "
            f"more than the {format_bytes(free)} of {what}"
        )


def resolve_model_path(path: str | os.PathLike, prefer_ema: bool = True) -> tuple[Path, Path]:
    """(folder with config.json, weights file) for a run folder, a step folder or a .safetensors file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_file():
        if path.suffix.lower() in _PICKLE_SUFFIXES or (path.suffix.lower() != ".safetensors" and looks_like_pickle(path)):
            raise InputError(f"{path.name} {PICKLE_HINT}")
        if path.name == CONFIG_NAME:
            return resolve_model_path(path.parent, prefer_ema)
        if path.suffix.lower() != ".safetensors":
            raise InputError(f"{path.name} is not a model; choose a run folder or a .safetensors file")
        return _config_folder(path.parent, path), path
    weights = [path / EMA_WEIGHTS_NAME, path / WEIGHTS_NAME] if prefer_ema else [path / WEIGHTS_NAME, path / EMA_WEIGHTS_NAME]
    found = next((w for w in weights if w.is_file()), None)
    has_config = (path / CONFIG_NAME).is_file()
    if found is None:
        if not has_config and not (path / CHECKPOINTS_DIR).is_dir():
            raise InputError(f"{path} is not a Diffusion Studio run folder (it has no {CONFIG_NAME} and no weights)")
        raise InputError(f"{path} has no model weights yet ({WEIGHTS_NAME} is missing)")
    return _config_folder(path, found), found


def _config_folder(folder: Path, weights: Path) -> Path:
    if (folder / CONFIG_NAME).is_file():
        return folder
    if folder.parent.name == CHECKPOINTS_DIR and (folder.parent.parent / CONFIG_NAME).is_file():
        return folder.parent.parent  # a step folder: config.json lives in the run folder
    raise InputError(f"No {CONFIG_NAME} beside {weights.name} in {folder}; it is needed to rebuild the model")


def _fit_error(weights: Path, exc: Exception) -> InputError:
    lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    detail = "; ".join(lines)[:300] or str(exc)[:300]
    return InputError(f"{weights.name}: these weights do not fit the model described in {CONFIG_NAME} ({detail})")


def load_model(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    prefer_ema: bool = True,
    model_factory: ModelFactory | None = None,
) -> LoadedModel:
    """Build the model described by ``config.json`` and load its weights (EMA first when asked).

    ``path`` is a run folder, a ``checkpoints/step_XXXXXX`` folder, or a ``.safetensors``
    file with ``config.json`` beside it (or in the run folder above its step folder).
    ``model_factory(config["model"])`` builds the network; by default ``UNet.from_config``.
    """
    config_dir, weights_path = resolve_model_path(path, prefer_ema)
    config = load_config(config_dir)
    factory = model_factory or _default_factory
    described = _describe_model(factory, config, config_dir)
    _check_weights_fit(described.num_parameters, torch.device(device), config_dir)
    state, step = read_weights(weights_path, max_bytes=described.max_weight_bytes)
    described.check(state, weights_path)
    try:
        model = factory(dict(config["model"]))
    except InputError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(f"{CONFIG_NAME} in {config_dir} describes a model that cannot be built: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise _fit_error(weights_path, exc) from exc
    try:
        schedule = NoiseSchedule.from_config(config["schedule"])
    except InputError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(f"{CONFIG_NAME} in {config_dir} has an unusable schedule: {exc}") from exc
    prediction = check_prediction(config.get("prediction", "epsilon"))
    model_config = config["model"]
    image_size = int(config.get("image_size") or model_config.get("image_size") or 0)
    channels = int(config.get("channels") or model_config.get("in_channels") or 0)
    if image_size <= 0 or channels <= 0:
        raise InputError(f"{CONFIG_NAME} in {config_dir} does not say the image size and channels")
    class_names = config.get("class_names") or ()
    if not isinstance(class_names, (list, tuple)) or not all(isinstance(n, str) for n in class_names):
        raise InputError(f"{CONFIG_NAME} in {config_dir}: class_names must be a list of names")
    num_classes = int(model_config.get("num_classes") or 0)
    if num_classes and not class_names:  # a config written by hand: the classes are their indices
        class_names = [str(i) for i in range(num_classes)]
    if len(class_names) != num_classes:
        raise InputError(f"{CONFIG_NAME} in {config_dir} names {len(class_names)} classes for a model of "
                         f"{num_classes}; class_names must name each of the model's classes once")
    out_channels = int(model_config.get("out_channels") or channels)
    model = model.to(device).eval()
    return LoadedModel(
        model, schedule, prediction, image_size, channels, step, config, weights_path,
        run_dir=config_dir, is_ema=weights_path.name == EMA_WEIGHTS_NAME, class_names=tuple(class_names),
        variance="learned_range" if out_channels == 2 * channels else "fixed_small",
    )
