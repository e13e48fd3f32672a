"""Python's cycle collector runs on the GUI thread only.

Any thread that allocates can trigger a collection: a worker building a network or stepping a sampler would
then destroy the GUI thread's Qt objects (a closed panel's widgets, a finished worker's signals) from the
worker, while the GUI thread is delivering their posted events. That crashes the process (the test suite
met it as a segfault in ``sendPostedEvents``). So the automatic collector is switched off and the GUI thread
collects on a timer instead, as pyqtgraph's ``GarbageCollector`` is made for.
"""

from __future__ import annotations

import gc

__all__ = ["collect_garbage_on_gui_thread"]

_collector = None


def collect_garbage_on_gui_thread(interval_s: float = 1.0) -> None:
    """Switch automatic collection off and collect from the GUI thread's event loop (once per process).

    Needs a QApplication. Reference counting frees everything outside cycles at once, as before.
    """
    global _collector
    if _collector is not None:
        return
    from pyqtgraph.util.garbage_collector import GarbageCollector

    _collector = GarbageCollector(interval=interval_s)
    assert not gc.isenabled()
