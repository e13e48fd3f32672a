"""What the export dialog runs off the GUI thread: the export itself and the preview + size estimate.

Both are plain functions over core.export that never raise (errors come back as values), because
superqt treats a RuntimeError escaping a worker as "the worker was deleted" and drops it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .api import compose_frames, estimate_size, iter_export

__all__ = ["ExportOutcome", "export_job", "preview_job"]


@dataclass(frozen=True)
class ExportOutcome:
    """What the worker returns: the core ExportResult, or the error to show."""

    result: object = None
    error: Exception | None = None


def export_job(frames, path, options, kind, should_stop):
    """Worker body: iter_export throttled to ~20 progress updates a second; never raises."""
    try:
        gen = iter_export(frames, path, options, kind=kind, should_stop=should_stop)
        last = 0.0
        while True:
            try:
                progress = next(gen)
            except StopIteration as done:
                return ExportOutcome(result=done.value)
            now = time.monotonic()
            if now - last >= 0.05 or progress.done == progress.total:
                last = now
                yield progress
    except Exception as error:  # noqa: BLE001 - shown in the dialog, which stays usable
        return ExportOutcome(error=error)


def preview_job(frames, kind: str, options):
    """Worker body: (first picture, last picture, SizeEstimate, None) or (None, None, None, error)."""
    try:
        pictures = compose_frames(frames, options.with_(max_frames=2))
        return pictures[0], pictures[-1], estimate_size(frames, kind, options), None
    except Exception as error:  # noqa: BLE001 - shown under the preview
        return None, None, None, error
