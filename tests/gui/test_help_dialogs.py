"""About, shortcuts, tour and the unexpected-error dialog."""

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget, QMainWindow, QPushButton, QVBoxLayout, QWidget

from diffusion_studio import __version__
from diffusion_studio.core import logs, paths
from diffusion_studio.gui.dialogs.about_dialog import AboutDialog, about_text
from diffusion_studio.gui.dialogs.error_dialog import ErrorDialog, install_excepthook
from diffusion_studio.gui.dialogs.shortcuts_dialog import ShortcutsDialog, collect_shortcuts, key_text
from diffusion_studio.gui.dialogs.tour_dialog import TOUR_PAGES, TourDialog


def test_about_lists_versions_device_and_paths(qtbot):
    text = about_text()
    assert f"Diffusion Studio {__version__}" in text
    assert "torch " in text and "numpy " in text
    assert "Devices:" in text and "cpu" in text.lower()
    assert str(paths.runs_dir()) in text and str(paths.log_dir()) in text
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert dialog.text == text


def test_shortcuts_sheet_lists_what_the_window_has(qtbot):
    """Menu actions under their menu, a panel's QShortcuts and buttons under the panel's name."""
    window = QMainWindow()
    qtbot.addWidget(window)
    menu = window.menuBar().addMenu("&File")
    action = QAction("&Open…", window)
    action.setShortcut(QKeySequence("Ctrl+O"))
    menu.addAction(action)
    menu.addAction(QAction("No shortcut", window))
    panel = QWidget()
    step = QShortcut(QKeySequence(Qt.KeyboardModifier.ShiftModifier | Qt.Key.Key_Right), panel)
    step.setWhatsThis("Jump ahead")
    button = QPushButton("&Go", panel)
    button.setShortcut(QKeySequence("Ctrl+Return"))
    QVBoxLayout(panel).addWidget(button)
    dock = QDockWidget("Some panel", window)
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)

    native = QKeySequence.SequenceFormat.NativeText
    expected = [
        ("File", QKeySequence("Ctrl+O").toString(native), "Open"),
        ("Some panel", QKeySequence("Shift+Right").toString(native).replace("Right", "→"), "Jump ahead"),
        ("Some panel", QKeySequence("Ctrl+Return").toString(native), "Go"),
    ]
    assert collect_shortcuts(window) == expected
    dialog = ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    assert dialog.rows() == expected


def test_key_text_draws_arrows_and_joins_alternatives():
    assert key_text([QKeySequence("Left"), QKeySequence("Shift+Up")]) == "← or Shift+↑"


def test_tour_walks_through_every_page_and_reports_done(qtbot):
    tour = TourDialog()
    qtbot.addWidget(tour)
    tour.show()
    assert not tour.back_button.isEnabled()
    for _ in range(len(TOUR_PAGES) - 1):
        tour.next_button.click()
    assert tour.pages.currentIndex() == len(TOUR_PAGES) - 1
    assert tour.next_button.text() == "Start exploring"
    with qtbot.waitSignal(tour.done, timeout=1000):
        tour.next_button.click()


def test_tour_skip_reports_done(qtbot):
    tour = TourDialog()
    qtbot.addWidget(tour)
    tour.show()
    with qtbot.waitSignal(tour.done, timeout=1000):
        tour.skip_button.click()


def test_unexpected_exception_shows_dialog_logs_and_keeps_running(qtbot, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    logs.shutdown_logging()
    log_path = logs.setup_logging()
    hook = install_excepthook()
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError as exc:
        hook(type(exc), exc, exc.__traceback__)
    dialog = hook.last_dialog
    assert isinstance(dialog, ErrorDialog)
    qtbot.addWidget(dialog)
    assert dialog.isVisible()
    assert "RuntimeError: boom in a slot" in dialog.details
    dialog.copy_button.click()
    assert "boom in a slot" in QGuiApplication.clipboard().text()
    for handler in logging.getLogger("diffusion_studio").handlers:
        handler.flush()
    assert "boom in a slot" in log_path.read_text(encoding="utf-8")
    # a second error while the dialog is open is logged, not stacked
    hook(ValueError, ValueError("second"), None)
    assert hook.last_dialog is dialog
    dialog.reject()
    logs.shutdown_logging()
