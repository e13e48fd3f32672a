"""The Text to image panel's workers: thin superqt wrappers around core (loading, generating, decoding)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable

from superqt.utils import thread_worker

__all__ = ["LoadOutcome", "make_decode_worker", "make_generate_worker", "make_load_worker"]


@dataclass(frozen=True)
class LoadOutcome:
    """What a loading worker returns: the request, and the model, the error, or that it must be downloaded."""

    spec: str
    loaded: Any = None
    error: Exception | None = None
    needs_download: bool = False


def _load(spec: str, device: str, precision: str, allow_pickle: bool) -> LoadOutcome:
    from ....core.model_sources import latent

    try:
        if latent.needs_download(spec):
            return LoadOutcome(spec, needs_download=True)
        return LoadOutcome(spec, loaded=latent.open(spec, device, precision=precision, allow_pickle=allow_pickle))
    except Exception as error:  # noqa: BLE001 - handed to the panel, which shows it and keeps its model
        return LoadOutcome(spec, error=error)


def make_load_worker(spec: str, device: str, precision: str, allow_pickle: bool):
    """A not-yet-started FunctionWorker returning a :class:`LoadOutcome` (never raising)."""
    return thread_worker(_load, start_thread=False, ignore_errors=True)(spec, device, precision, allow_pickle)


def _generate(loaded, requests, stop):
    import torch

    from ....core.device import cpu_threads_leaving_one_core
    from ....core.text_to_image.generate import generate

    if loaded.device.type == "cpu" and torch.get_num_threads() > cpu_threads_leaving_one_core():
        torch.set_num_threads(cpu_threads_leaving_one_core())  # the GUI keeps a core
    yield from generate(loaded, requests, stop)


def make_generate_worker(loaded, requests, stop):
    """A not-yet-started GeneratorWorker over :func:`core.text_to_image.generate.generate`."""
    return thread_worker(_generate, start_thread=False, ignore_errors=True)(loaded, requests, stop)


def _decode(decoder, key: Hashable, latents):
    return key, decoder.get(key, latents)


def make_decode_worker(decoder, key: Hashable, latents):
    """A not-yet-started FunctionWorker returning (key, uint8 pixels) from ``decoder`` (a DecodedPixels)."""
    return thread_worker(_decode, start_thread=False, ignore_errors=True)(decoder, key, latents)
