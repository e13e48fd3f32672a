"""Start-up speed: the app shows its window first and builds the docked panels right after."""

import sys

from diffusion_studio.core.settings import Settings
from diffusion_studio.gui.main_window import MainWindow
from diffusion_studio.gui.state import AppState


def test_deferred_docks_are_built_after_the_window_paints(qtbot):
    window = MainWindow(AppState(), Settings.load(), defer_docks=True)
    qtbot.addWidget(window)
    assert window.docks == {}  # nothing heavy before the window is on screen
    window.show()
    qtbot.waitUntil(lambda: set(window.docks) == {"training", "sampling", "schedules", "playground", "text_to_image"},
                    timeout=10000)
    assert window.forward_panel.isVisible()
    window.reset_layout()  # works once the docks exist


def test_closing_before_the_docks_exist_keeps_the_saved_layout(qtbot):
    settings = Settings.load()
    settings.set("window_state", "c2F2ZWQ=")  # some earlier session's layout
    settings.save()
    window = MainWindow(AppState(), Settings.load(), defer_docks=True)
    qtbot.addWidget(window)
    window.reset_layout()  # before the docks: a no-op, not a crash
    window.close()
    assert Settings.load().get("window_state") == "c2F2ZWQ="


def test_building_every_panel_does_not_import_torch():
    # Panels import torch only when first shown, in a worker (device list) or when they run.
    import subprocess

    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen';"
        "from diffusion_studio.gui.app import create_application, build_main_window;"
        "app=create_application(); w=build_main_window(defer_docks=False);"
        "assert len(w.docks) == 5; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr[-2000:]
