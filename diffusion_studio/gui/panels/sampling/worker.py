"""The Sample panel's workers: superqt wrappers around the Qt-free :mod:`core.sampling` generators."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from superqt.utils import thread_worker

from ....core.sampling import ChainRequest, StopFlag, load_for_sampling, sample_chains, time_model_step

__all__ = ["LoadResult", "make_loading_worker", "make_sampling_worker"]


def make_sampling_worker(model: Any, requests: list[ChainRequest], stop: StopFlag, *, device: str = "auto",
                         model_options: dict | None = None, lockstep: bool = False):
    """A not-yet-started superqt GeneratorWorker over :func:`core.sampling.sample_chains`."""
    factory = thread_worker(sample_chains, start_thread=False, ignore_errors=True)
    return factory(model, requests, stop, device=device, model_options=model_options, lockstep=lockstep)


@dataclass(frozen=True)
class LoadResult:
    """What a loading worker returns: the request, and the model (with its step time) or the error."""

    path: str
    device: str
    loaded: Any = None
    error: Exception | None = None
    options: tuple = ()  # the load options asked for, as sorted (name, value) pairs
    step_time: Any = None  # core.sampling.StepTime of the model on its device


def _load_with_result(path: str | Path, device: str = "auto", options: dict | None = None) -> LoadResult:
    asked = tuple(sorted((options or {}).items()))
    try:
        loaded = load_for_sampling(path, device, **(options or {}))
        return LoadResult(str(path), device, loaded=loaded, options=asked, step_time=time_model_step(loaded))
    except Exception as error:  # noqa: BLE001 - handed to the GUI, which shows it
        return LoadResult(str(path), device, error=error, options=asked)


def make_loading_worker(path: str | Path, device: str = "auto", options: dict | None = None):
    """A not-yet-started superqt FunctionWorker returning a :class:`LoadResult` (never raising)."""
    factory = thread_worker(_load_with_result, start_thread=False, ignore_errors=True)
    return factory(path, device, options)
