"""Throttle: the first request at once, a burst coalesced into one call, the last request always served."""

from __future__ import annotations

import numpy as np
import pytest

from diffusion_studio.gui.panels.forward import ForwardPanel
from diffusion_studio.gui.panels.schedules import SchedulePanel
from diffusion_studio.gui.state import AppState
from diffusion_studio.gui.throttle import Throttle


def test_first_at_once_then_one_call_at_the_end_of_the_interval(qtbot):
    calls = []
    throttle = Throttle(lambda: calls.append(len(calls)), 50)
    throttle()
    assert calls == [0]  # at once
    for _ in range(5):
        throttle()
    assert calls == [0] and throttle.pending
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=2000)
    assert not throttle.pending
    qtbot.wait(120)
    assert len(calls) == 2  # nothing more asked, nothing more done


def test_flush_serves_a_waiting_request_now(qtbot):
    calls = []
    throttle = Throttle(lambda: calls.append(1), 10_000)
    throttle()
    throttle()
    throttle.flush()
    assert len(calls) == 2 and not throttle.pending
    throttle.flush()
    assert len(calls) == 2


def test_forward_histogram_ends_on_the_last_t_of_a_drag(qtbot):
    state = AppState()
    state.set_image(np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8), "noise.png")
    panel = ForwardPanel(state)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    for t in range(0, 900, 37):  # a fast drag: many t within one throttle interval
        panel.timestep_slider.slider.setValue(t)
        qtbot.wait(1)
    last = panel.timestep_slider.value()
    qtbot.waitUntil(lambda: panel.histogram_t == last, timeout=3000)
    density, edges = panel.renderer.histogram(last)
    x, y = panel.histogram.bars.getData()
    np.testing.assert_allclose(x, edges)
    np.testing.assert_allclose(y, density)
    assert panel.numbers.value_text("t") == str(last)


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
