"""The machine's compute devices, listed once in a worker and shared by every panel.

Listing devices imports torch (one to three seconds), so it never runs while the window
is being built: a panel asks when it is first shown and fills its device box when the
answer arrives.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

from superqt.utils import FunctionWorker

__all__ = ["detect_devices", "cached_devices"]


@lru_cache(maxsize=1)
def cached_devices() -> tuple:
    """core.device.describe_devices(), computed once per process."""
    from ..core.device import describe_devices

    return tuple(describe_devices())


def detect_devices(on_ready: Callable[[list], None], on_error: Callable[[BaseException], None] | None = None):
    """Call ``on_ready(list of DeviceInfo)`` on the GUI thread once the devices are known.

    Returns the started worker (keep a reference while it runs).
    """
    worker = FunctionWorker(lambda: list(cached_devices()))
    worker.returned.connect(on_ready)
    if on_error is not None:
        worker.errored.connect(on_error)
    worker.start()
    return worker
