"""Following the t slider repaints what changed and nothing more: no re-layout of the window
for new numbers, and panels behind another dock tab catch up only when they come on screen."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow

from diffusion_studio.gui.panels.forward import ForwardPanel
from diffusion_studio.gui.panels.sampling.sdedit import SDEditControls
from diffusion_studio.gui.panels.schedules import SchedulePanel
from diffusion_studio.gui.state import AppState
from diffusion_studio.gui.widgets.on_screen import OnScreenWatch, is_on_screen


class LayoutRequests(QObject):
    def __init__(self, widget):
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_new_t_does_not_relayout_the_forward_panel(qtbot):
    state = AppState()
    state.set_image(np.full((32, 48, 3), 128, np.uint8), "grey.png")
    panel = ForwardPanel(state)
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: panel.frames_rendered > 0)
    QApplication.sendPostedEvents()  # the first layout settles
    requests = LayoutRequests(panel)
    for t in (10, 500, 999, 3):
        before = panel.frames_rendered
        state.set_timestep(t)
        qtbot.waitUntil(lambda before=before: panel.frames_rendered > before)
    QApplication.sendPostedEvents()  # any layout request the new t posted is delivered (and counted)
    assert requests.count == 0
    assert panel.numbers.value_text("t") == "3"
    assert panel.numbers.signal_bar.updatesEnabled() and panel.numbers.noise_bar.updatesEnabled()
    expected = round(1000 * float(state.schedule.sqrt_alphas_cumprod[3]))
    assert panel.numbers.signal_bar.value() == expected


@pytest.fixture
def window(qtbot):
    """A main window with two tabbed docks, like the app's: the schedule lab behind 'other'."""
    state = AppState()
    window = QMainWindow()
    window.setCentralWidget(QLabel("centre"))
    docks = {}
    for name, widget in (("schedules", SchedulePanel(state)), ("sdedit", SDEditControls(state)),
                         ("other", QLabel("other"))):
        dock = QDockWidget(name, window)
        dock.setObjectName(name)
        dock.setWidget(widget)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        docks[name] = dock
    window.tabifyDockWidget(docks["schedules"], docks["sdedit"])
    window.tabifyDockWidget(docks["schedules"], docks["other"])
    qtbot.addWidget(window)
    window.resize(1300, 900)
    window.show()
    qtbot.waitExposed(window)
    window.state, window.docks = state, docks
    return window


def test_panels_behind_a_tab_catch_up_when_picked(qtbot, window):
    docks, state = window.docks, window.state
    schedules, sdedit = docks["schedules"].widget(), docks["sdedit"].widget()
    docks["other"].raise_()
    qtbot.waitUntil(lambda: not is_on_screen(schedules))
    assert schedules.isVisible()  # Qt only moves a tab's dock off screen
    state.set_image(np.zeros((8, 8, 3), np.uint8), "black.png")
    state.set_timestep(300)
    assert schedules.plots.cursors["beta"].value() != pytest.approx(300 / 999)  # nothing done off screen
    assert sdedit.shown_text().find("t = 300") < 0
    assert "t = 300" in sdedit.source_text()  # asking for the text brings it up to date
    state.set_timestep(310)

    docks["schedules"].raise_()
    qtbot.waitUntil(lambda: is_on_screen(schedules))
    for cursor in schedules.plots.cursors.values():
        assert cursor.value() == pytest.approx(310 / 999)
    assert [t for _, t in schedules.readout.rows] == [310, 310]
    docks["sdedit"].raise_()
    qtbot.waitUntil(lambda: is_on_screen(sdedit))
    assert "t = 310" in sdedit.shown_text()

    state.set_timestep(20)  # on screen: at once
    assert "t = 20" in sdedit.shown_text()


def test_on_screen_watch_calls_back_on_show(qtbot):
    label = QLabel("x")
    qtbot.addWidget(label)
    shown = []
    OnScreenWatch(label, lambda: shown.append(is_on_screen(label)))
    assert not is_on_screen(label)
    label.show()
    qtbot.waitExposed(label)
    assert shown and label.isVisible()
