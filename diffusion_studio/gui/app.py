"""Start the desktop app: QApplication, theme, pyqtgraph options, the main window.

Torch is not imported here: the forward explorer needs only numpy, so the window
appears quickly; panels that need torch import it when they first use it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["run_app", "create_application", "configure_pyqtgraph"]

APP_NAME = "Diffusion Studio"
ORGANIZATION = "Diffusion Studio"


def configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    # Row-major: numpy (H, W, C) arrays display the right way up without transposes.
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def create_application(argv: list[str] | None = None):
    """The QApplication (an existing one is reused, e.g. under pytest-qt)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else [sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(ORGANIZATION)
    app.setDesktopFileName("diffusion-studio")
    from .. import __version__

    app.setApplicationVersion(__version__)
    app.setStyle("Fusion")
    configure_pyqtgraph()
    from .wheel_guard import install_wheel_guard

    install_wheel_guard(app)  # the wheel scrolls panels instead of changing values under the pointer
    from .garbage import collect_garbage_on_gui_thread

    collect_garbage_on_gui_thread()  # never on a worker thread, where it would free Qt objects under the GUI
    return app


def build_main_window(image_path: str | os.PathLike | None = None, *, defer_docks: bool = False):
    """Theme + state + window on the demo photo, then the requested image (if any).

    ``defer_docks`` builds the docked panels just after the window first shows (start-up speed).
    """
    from ..core.errors import InputError
    from ..core.schedules import make_schedule
    from ..core.settings import Settings
    from . import theme
    from .main_window import MainWindow
    from .state import AppState

    settings = Settings.load()
    theme.apply_theme(settings.get("theme"))
    state = AppState()
    try:  # the schedule and T chosen in Preferences
        state.set_schedule(make_schedule(settings.get("default_schedule"), settings.get("default_timesteps")))
    except (InputError, TypeError, ValueError):
        pass  # an unusable stored choice: keep the built-in default
    window = MainWindow(state, settings, defer_docks=defer_docks)
    window.open_demo_image()
    if image_path is not None:
        window.open_image_file(Path(image_path))  # a bad file: message in the window, demo stays
    return window


def run_app(image_path: str | os.PathLike | None = None, self_test: bool = False) -> int:
    """Open the main window (on ``image_path`` if given). Returns the process exit code.

    ``self_test=True`` runs offscreen: opens the window on the demo image, renders one
    frame at mid t, checks it, and returns 0 (1 if anything is wrong).
    """
    if self_test:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = create_application()
    window = build_main_window(image_path, defer_docks=not self_test)  # self-test builds every panel
    if self_test:
        return _self_test(app, window)
    from ..core.logs import setup_logging
    from .dialogs.error_dialog import install_excepthook

    setup_logging()
    install_excepthook(lambda: window)  # an unexpected error shows a dialog instead of killing the app
    _quit_on_ctrl_c(app, window)
    window.show()
    if os.environ.get("DIFFUSION_STUDIO_STARTUP_PROBE") == "1":
        _report_startup_then_quit(app)  # benchmarks/bench_startup.py
    else:
        window.show_tour_if_first_run()
    code = int(app.exec())
    _tear_down(app, window)
    return code


def _tear_down(app, window, timeout_ms: int = 5000) -> None:
    """End in a fixed order: background workers (device list, model loads) finish while the
    objects they report to still exist, then the window is deleted while Qt is still fully up.
    Left to interpreter exit, Qt's and Python's teardown race and can crash after a clean run."""
    from PySide6.QtCore import QEvent, QThreadPool

    QThreadPool.globalInstance().waitForDone(timeout_ms)
    if window.isVisible():  # after app.exec() it is closed already: no second closeEvent
        window.close()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()


def _quit_on_ctrl_c(app, window) -> None:
    """Ctrl+C in the terminal closes the window the normal way (training gets to save first)."""
    import signal

    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: window.close())
    # Python handles signals only while it runs: wake it up a few times a second.
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def _report_startup_then_quit(app) -> None:
    """For benchmarks/bench_startup.py: print "shown" at the first paint of any widget and
    "ready" once the deferred docks are built, then quit."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaint(QObject):
        seen = False

        def eventFilter(self, watched, event) -> bool:
            if not self.seen and event.type() == QEvent.Type.Paint:
                self.seen = True
                print("startup-probe: shown", flush=True)
            return False

    probe = FirstPaint(app)
    app.installEventFilter(probe)

    def ready() -> None:
        window = next((w for w in app.topLevelWidgets() if getattr(w, "docks", None)), None)
        if window is None:  # docks not built yet
            QTimer.singleShot(5, ready)
            return
        print("startup-probe: ready", flush=True)
        app.quit()

    QTimer.singleShot(0, ready)


def _self_test(app, window) -> int:
    import numpy as np

    window.show()
    state = window.state
    state.set_timestep(state.schedule.num_timesteps // 2)
    app.processEvents()
    panel = window.forward_panel
    frame = panel.xt_view.image()
    ok = (
        state.image is not None
        and frame is not None
        and frame.dtype == np.uint8
        and frame.shape == panel.renderer.shape
        and panel.frames_rendered > 0
        and not window.grab().isNull()
    )
    _tear_down(app, window)
    print(f"diffusion-studio self-test: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1
