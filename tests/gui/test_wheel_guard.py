"""The wheel scrolls a panel past spin boxes and drop-downs; it edits them only once they have focus."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QScrollArea, QSpinBox, QVBoxLayout, QWidget

from diffusion_studio.gui.app import create_application


def wheel_down(widget: QWidget) -> None:
    """One notch of the wheel, turned towards the user, over the middle of ``widget``."""
    local = QPointF(widget.rect().center())
    event = QWheelEvent(local, QPointF(widget.mapToGlobal(local.toPoint())), QPoint(0, 0), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


@pytest.fixture
def form(qtbot):
    create_application()  # installs the guard on the running application
    area = QScrollArea()
    column = QWidget()
    layout = QVBoxLayout(column)
    spin, combo = QSpinBox(), QComboBox()
    spin.setRange(0, 100)
    spin.setValue(16)
    combo.addItems(["one", "two", "three"])
    layout.addWidget(spin)
    layout.addWidget(combo)
    layout.addSpacing(2000)  # a form much taller than its scroll area
    area.setWidget(column)
    area.resize(300, 200)
    qtbot.addWidget(area)
    area.show()
    qtbot.waitExposed(area)
    area.setFocus()  # the panel has the focus, not the first spin box in it
    qtbot.waitUntil(area.hasFocus)
    return area, spin, combo


def test_the_wheel_over_an_unfocused_spin_box_or_combo_scrolls_the_panel(form):
    area, spin, combo = form
    scroll = area.verticalScrollBar()
    for widget in (spin, combo):
        before = scroll.value()
        wheel_down(widget)
        assert scroll.value() > before, "the panel scrolled"
        area.verticalScrollBar().setValue(0)
    assert spin.value() == 16 and combo.currentIndex() == 0


def test_the_wheel_edits_a_spin_box_that_has_focus(qtbot, form):
    area, spin, _combo = form
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    wheel_down(spin)
    assert spin.value() == 15
    assert area.verticalScrollBar().value() == 0
