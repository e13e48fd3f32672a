"""Runs in a child process on made-up screens (Qt's offscreen platform with a config file):
builds the real window on a 1366×768 and a 1280×720 screen and reports, as JSON on stdout, what a
person could not reach there. ``tests/gui/test_laptop_screens.py`` starts it and reads the report.

    QT_QPA_PLATFORM=offscreen:configfile=screens.json python tests/gui/laptop_screens.py

The first screen is the primary: the first launch opens there. Reachable means: every button,
spin box and combo box of every panel (each dock raised, each tab picked) and dialog is shown
whole on the screen at no less than its minimum size, or sits in a scroll area that is itself
on screen. The Train dock, as the default layout gives it, must also show its Start/Pause/Stop
buttons, the progress bar and the loss plot without scrolling.
"""

from __future__ import annotations

import base64
import json
import sys
import time

SCREENS = [
    {"name": "laptop-1366x768", "x": 0, "y": 0, "width": 1366, "height": 768},
    {"name": "laptop-1280x720", "x": 1366, "y": 0, "width": 1280, "height": 720},
]


def screen_config() -> dict:
    return {"screens": [dict(s, logicalDpi=96, logicalBaseDpi=96, dpr=1) for s in SCREENS]}


def settle(app, until=None) -> None:
    """Let posted layout and paint events run (several rounds: a layout pass posts more), then
    wait for ``until()`` if given."""
    for _ in range(5):
        app.processEvents()
    deadline = time.monotonic() + 60
    while until is not None and not until() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)


def describe(widget) -> str:
    text = ""
    for attribute in ("text", "currentText", "toolTip"):
        value = getattr(widget, attribute, None)
        if callable(value) and value():
            text = value()[:40]
            break
    return f"{type(widget).__name__}({text!r}, object {widget.objectName()!r})"


def unreachable(root, screen_rect, where: str) -> list[str]:
    """The controls under ``root`` a person cannot reach, each with the reason."""
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QWidget

    problems = []
    controls = [w for w in root.findChildren(QWidget) if isinstance(w, (QAbstractButton, QAbstractSpinBox, QComboBox))]
    for widget in controls:
        if not widget.isVisibleTo(root) or _behind_a_tab(widget) or _collapsed(widget, root):
            continue  # hidden on purpose, on a tab page not picked (checked when it is), or folded away
        if widget.height() < widget.minimumSizeHint().height():
            problems.append(f"{where}: {describe(widget)} squashed to {widget.size()} (needs {widget.minimumSizeHint()})")
            continue
        areas = _scroll_areas_around(widget, root)
        if areas:
            if not any(_shows_enough(area, screen_rect) for area in areas):
                problems.append(f"{where}: {describe(widget)} is in a scroll area that is off screen or squashed")
            continue
        full, shown = _global_rect(widget), _shown_rect(widget)
        if shown != full:
            problems.append(f"{where}: {describe(widget)} is clipped ({shown.size()} of {full.size()} shown)")
        elif not screen_rect.contains(full):
            problems.append(f"{where}: {describe(widget)} at {full} is off the screen {screen_rect}")
    return problems


def _global_rect(widget):
    from PySide6.QtCore import QPoint, QRect

    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def _shown_rect(widget):
    """The part of ``widget`` its ancestors leave visible, in screen coordinates."""
    rect = _global_rect(widget)
    parent = widget.parentWidget()
    while parent is not None:
        rect &= _global_rect(parent)
        if parent.isWindow():
            break
        parent = parent.parentWidget()
    return rect


def _collapsed(widget, root) -> bool:
    """Inside a section folded to no height (e.g. an "Advanced" box that is closed)."""
    parent = widget.parentWidget()
    while parent is not None and parent is not root:
        if parent.maximumHeight() == 0:
            return True
        parent = parent.parentWidget()
    return False


def _shows_enough(area, screen_rect) -> bool:
    """A scroll area a person can use: at least a strip of its viewport shown, on the screen."""
    shown = _shown_rect(area.viewport())
    return shown.height() >= 24 and shown.width() >= 24 and screen_rect.contains(shown)


def _scroll_areas_around(widget, root) -> list:
    """The scroll areas whose content holds ``widget``, innermost first (their own scroll bars are not content)."""
    from PySide6.QtWidgets import QAbstractScrollArea

    areas, parent = [], widget.parentWidget()
    while parent is not None and parent is not root.parentWidget():
        if isinstance(parent, QAbstractScrollArea) and parent.viewport().isAncestorOf(widget):
            areas.append(parent)
        parent = parent.parentWidget()
    return areas


def _behind_a_tab(widget) -> bool:
    from PySide6.QtWidgets import QStackedWidget

    parent = widget.parentWidget()
    while parent is not None:
        grand = parent.parentWidget()
        if isinstance(grand, QStackedWidget) and grand.currentWidget() is not parent:
            return True
        parent = grand
    return False


def check_window(app, window, screen, where: str) -> list[str]:
    """Maximize ``window`` on ``screen``; every dock raised in turn, every tab of it picked."""
    from PySide6.QtWidgets import QTabWidget
    from superqt import QCollapsible

    problems = []
    frame = window.frameGeometry()
    if not screen.availableGeometry().contains(frame):
        problems.append(f"{where}: the maximized window {frame} is larger than the screen {screen.availableGeometry()}")
    problems += unreachable(window.centralWidget(), screen.geometry(), f"{where} {window.forward_panel.windowTitle()}")
    problems += unreachable(window.menuBar(), screen.geometry(), f"{where} menu bar")
    for name, dock in window.docks.items():
        dock.show()
        dock.raise_()
        for section in dock.findChildren(QCollapsible):
            section.expand(animate=False)  # an "Advanced" section's controls must fit too
        settle(app)
        for tabs in [window.panels[name], *window.panels[name].findChildren(QTabWidget)]:
            if not isinstance(tabs, QTabWidget):
                problems += unreachable(dock, screen.geometry(), f"{where} {dock.windowTitle()}")
                continue
            for index in range(tabs.count()):
                tabs.setCurrentIndex(index)
                settle(app)
                label = f"{where} {dock.windowTitle()} › {tabs.tabText(index)}"
                problems += unreachable(dock, screen.geometry(), label)
    return problems


def train_panel_problems(app, window, where: str) -> list[str]:
    """The Train dock as it opens: its controls and the loss plot shown whole, without scrolling the dock."""
    dock = window.docks["training"]
    dock.show()
    dock.raise_()
    settle(app)
    panel, area = window.training_panel, dock.widget()
    problems = []
    if panel.minimumSizeHint().height() > area.viewport().height():
        problems.append(f"{where} Train: the panel needs {panel.minimumSizeHint().height()} px, the dock gives it "
                        f"{area.viewport().height()}: it scrolls")
    loss_plot = panel.plots.graphics
    for widget in (panel.controls.start_button, panel.controls.pause_button, panel.controls.stop_button,
                   panel.controls.bar, loss_plot):
        full, shown = _global_rect(widget), _shown_rect(area.viewport()) & _global_rect(widget)
        if shown != full:
            problems.append(f"{where} Train: {describe(widget)} is not shown whole without scrolling ({shown} of {full})")
    if loss_plot.height() < 120:
        problems.append(f"{where} Train: the loss plot is only {loss_plot.height()} px high")
    return problems


def check_dialog(app, dialog, screen, where: str) -> list[str]:
    dialog.show()
    settle(app)
    problems = []
    frame = dialog.frameGeometry()
    if frame.width() > screen.availableGeometry().width() or frame.height() > screen.availableGeometry().height():
        problems.append(f"{where}: the dialog {frame.size()} is larger than the screen {screen.availableGeometry()}")
    else:
        centred = frame.translated(screen.availableGeometry().center() - frame.center())
        dialog.move(dialog.pos() + (centred.topLeft() - frame.topLeft()))
        settle(app)
        problems += unreachable(dialog, screen.geometry(), where)
    dialog.close()
    return problems


def combo_popup_problems(app, combo, screen, where: str) -> list[str]:
    combo.showPopup()
    settle(app)
    popup = combo.view().window()
    rect = popup.frameGeometry()
    combo.hidePopup()
    if not screen.geometry().contains(rect):
        return [f"{where}: the drop-down list {rect} leaves the screen {screen.geometry()}"]
    return []


def main() -> int:
    from PySide6.QtCore import QPoint, QRect, QSize, Qt, QThreadPool
    from PySide6.QtWidgets import QApplication

    from diffusion_studio.core.settings import Settings
    from diffusion_studio.gui.app import build_main_window, create_application

    app = create_application()
    screens = {s.name(): s for s in QApplication.screens()}
    laptop, small = screens[SCREENS[0]["name"]], screens[SCREENS[1]["name"]]
    report = {"problems": [], "first_launch": {}}

    for screen in (laptop, small):
        where = f"{screen.size().width()}×{screen.size().height()}"
        window = build_main_window()  # settings are fresh: a first launch (on the primary screen)
        if screen is laptop:
            report["first_launch"] = {"maximized": window.windowState() == Qt.WindowState.WindowMaximized,
                                      "minimum": [window.minimumSizeHint().width(), window.minimumSizeHint().height()]}
            window.show()
            settle(app, until=lambda w=window: bool(w.docks) and w.isVisible())
            if not laptop.availableGeometry().contains(window.frameGeometry()):
                report["problems"].append(f"first launch: {window.frameGeometry()} does not fit {laptop.availableGeometry()}")
            minimum = window.minimumSizeHint()
            if minimum.width() > 1024 or minimum.height() > 600:
                report["problems"].append(f"the window cannot be made smaller than {minimum} (at most 1024×600)")
        else:
            # A window is put on another screen before it first shows (the offscreen platform has no
            # window manager to move a shown one).
            window.setWindowState(Qt.WindowState.WindowNoState)
            window.setScreen(screen)
            window.setGeometry(QRect(screen.geometry().topLeft() + QPoint(20, 40), QSize(800, 500)))
            window.show()
            window.showMaximized()
            settle(app, until=lambda w=window, s=screen: bool(w.docks) and w.screen() is s)
        settle(app)
        report["problems"] += check_window(app, window, screen, where)
        report["problems"] += train_panel_problems(app, window, where)
        report["problems"] += combo_popup_problems(app, window.forward_panel.schedule_combo, screen,
                                                   f"{where} forward Schedule box")
        for name, open_dialog in _dialogs(window):
            report["problems"] += check_dialog(app, open_dialog(), screen, f"{where} {name} dialog")
        window.close()

    # A geometry saved on a bigger screen, restored on the small one, is shrunk to fit it.
    settings = Settings.load()
    big = build_main_window()
    big.setWindowState(Qt.WindowState.WindowNoState)
    big.setGeometry(QRect(small.geometry().left() + 10, 10, 1900, 1050))
    settings.set("window_geometry", base64.b64encode(bytes(big.saveGeometry())).decode("ascii"))
    settings.save()
    again = build_main_window()
    report["restored_on_small"] = list(again.geometry().getRect())
    if not small.availableGeometry().contains(again.geometry()):
        report["problems"].append(f"restored: {again.geometry()} does not fit {small.availableGeometry()}")
    for window in (big, again):
        window.deleteLater()
    QThreadPool.globalInstance().waitForDone(30_000)  # background loads end before the objects they report to
    print(json.dumps(report))
    return 0


def _dialogs(window):
    """(name, a function that opens the dialog and returns it) for every dialog the app has."""
    from diffusion_studio.gui.dialogs.about_dialog import AboutDialog
    from diffusion_studio.gui.dialogs.export_dialog import ExportDialog
    from diffusion_studio.gui.dialogs.preferences_dialog import PreferencesDialog
    from diffusion_studio.gui.dialogs.shortcuts_dialog import ShortcutsDialog
    from diffusion_studio.gui.dialogs.tour_dialog import TourDialog

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from sampling_fakes import fake_chain

    return (
        ("Export forward animation", window.export_forward_animation),
        ("Export chain", lambda: ExportDialog(fake_chain(), window, title="Export chain")),
        ("Preferences", lambda: PreferencesDialog(window.settings, window)),
        ("Keyboard Shortcuts", lambda: ShortcutsDialog(window, window)),
        ("Tour", lambda: TourDialog(window)),
        ("About", lambda: AboutDialog(window)),
    )


if __name__ == "__main__":
    sys.exit(main())
