"""Cycles are collected on the GUI thread's timer, never by whichever thread happens to allocate."""

import gc
import threading

from diffusion_studio.gui.app import create_application


def test_the_app_turns_automatic_collection_off_and_collects_on_the_gui_thread(qtbot):
    create_application()
    assert not gc.isenabled()
    collected_on = []

    class Cycle:
        def __init__(self):
            self.me = self

        def __del__(self):
            collected_on.append(threading.current_thread())

    def allocate_in_a_worker():
        Cycle()  # unreachable at once, but only the cycle collector can free it
        kept = [[] for _ in range(50_000)]  # enough new containers to trigger an automatic collection here
        del kept

    worker = threading.Thread(target=allocate_in_a_worker)
    worker.start()
    worker.join()
    assert collected_on == []
    kept = []

    def collected() -> bool:
        # The timer collects once enough new objects are alive (freed ones count back down: Qt's deferred
        # deletions can cancel out a single batch), so keep adding some.
        kept.append([[] for _ in range(gc.get_threshold()[0] + 1)])
        return bool(collected_on)

    qtbot.waitUntil(collected, timeout=10_000)
    assert collected_on == [threading.main_thread()]
