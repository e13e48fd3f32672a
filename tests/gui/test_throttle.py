"""Views that follow a drag at a capped rate (superqt's qthrottled): the first t at once, the last t always."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from diffusion_studio.gui.panels.forward import ForwardPanel
from diffusion_studio.gui.panels.schedules import SchedulePanel
from diffusion_studio.gui.state import AppState


def test_forward_histogram_ends_on_the_last_t_of_a_drag(qtbot):
    state = AppState()
    state.set_image(np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8), "noise.png")
    panel = ForwardPanel(state)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: panel.histogram_t == 0)
    for t in range(0, 900, 37):  # a fast drag: many t within one throttle interval
        panel.timestep_slider.slider.setValue(t)
        QApplication.processEvents()  # each t is rendered before the next arrives
    last = panel.timestep_slider.value()
    assert panel.numbers.value_text("t") == str(last)  # x_t and the numbers follow every t
    qtbot.waitUntil(lambda: panel.histogram_t == last, timeout=3000)  # the histogram catches up
    density, edges = panel.renderer.histogram(last)
    x, y = panel.histogram.bars.getData()
    np.testing.assert_allclose(x, edges)
    np.testing.assert_allclose(y, density)


def test_schedule_readout_ends_on_the_last_t_of_a_drag(qtbot):
    state = AppState()
    panel = SchedulePanel(state)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    for t in range(100, 700, 50):
        state.set_timestep(t)
    assert [t for _, t in panel.readout.rows] == [100, 100]  # the first at once, the rest wait
    for cursor in panel.plots.cursors.values():
        assert cursor.value() == pytest.approx(650 / 999)  # the cursor itself follows every t
    qtbot.waitUntil(lambda: [t for _, t in panel.readout.rows] == [650, 650], timeout=3000)
    assert f"{state.schedule.alphas_cumprod[650]:.6g}" in panel.readout.text()
