"""GUI tests collect garbage as the app does: on the GUI thread only (see diffusion_studio.gui.garbage)."""

import pytest


@pytest.fixture(autouse=True)
def _garbage_on_the_gui_thread(qapp):
    from diffusion_studio.gui.garbage import collect_garbage_on_gui_thread

    collect_garbage_on_gui_thread()
