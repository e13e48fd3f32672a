"""The forward-process panel: slider, spin box, keys, new noise, seed, schedule and T, coalesced rendering."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from diffusion_studio.core.forward import ForwardRenderer
from diffusion_studio.core.schedules import SCHEDULE_ALIASES, SCHEDULE_NAMES, make_schedule
from diffusion_studio.gui.panels.forward import ForwardPanel
from diffusion_studio.core.schedule_choices import SCHEDULE_CHOICES
from diffusion_studio.gui.state import AppState


def photo() -> np.ndarray:
    y, x = np.mgrid[0:96, 0:128]
    return np.stack([x * 2, y * 2, (x + y) % 256], axis=-1).astype(np.uint8)


@pytest.fixture
def panel(qtbot):
    state = AppState()
    state.set_image(photo(), "test.png")
    widget = ForwardPanel(state)
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.frames_rendered > 0)
    return widget


def shown_frame(panel: ForwardPanel) -> np.ndarray:
    return panel.xt_view.image()


def expected_frame(panel: ForwardPanel, t: int, seed: int | None = None) -> np.ndarray:
    state = panel.state
    reference = ForwardRenderer(state.image, state.schedule, seed=state.seed if seed is None else seed)
    return reference.render(t).copy()


def wait_for_t(qtbot, panel: ForwardPanel, t: int) -> None:
    qtbot.waitUntil(lambda: np.array_equal(shown_frame(panel), expected_frame(panel, t)))


def test_opens_with_views_numbers_and_histogram(panel):
    assert panel.x0_view.image().shape == (96, 128, 3)
    assert np.array_equal(panel.x0_view.image(), photo())
    assert panel.noise_view.image().shape == (96, 128, 3)
    assert np.array_equal(shown_frame(panel), expected_frame(panel, 0))
    assert panel.numbers.value_text("t") == "0"
    assert "128×96" in panel.image_info.text()
    x, density = panel.histogram.bars.getData()
    assert len(x) == len(density) + 1  # step mode: edges and densities
    assert np.sum(density * np.diff(x)) == pytest.approx(1.0, abs=1e-6)


def test_slider_changes_t_and_the_xt_view(qtbot, panel):
    panel.timestep_slider.slider.setValue(300)
    assert panel.state.timestep == 300
    assert panel.timestep_slider.spin_box.value() == 300
    wait_for_t(qtbot, panel, 300)
    assert panel.numbers.value_text("t") == "300"
    schedule = panel.state.schedule
    assert panel.numbers.value_text("alphas_cumprod") == f"{schedule.alphas_cumprod[300]:.5f}"
    assert panel.numbers.value_text("snr_db") == f"{schedule.snr_db[300]:+.2f}"


def test_spin_box_changes_t(qtbot, panel):
    panel.timestep_slider.spin_box.setValue(123)
    assert panel.state.timestep == 123
    assert panel.timestep_slider.slider.value() == 123
    wait_for_t(qtbot, panel, 123)


def test_keyboard_steps_t(qtbot, panel):
    panel.activateWindow()
    panel.setFocus()
    qtbot.waitUntil(panel.hasFocus)
    qtbot.keyClick(panel, Qt.Key.Key_Right)
    assert panel.state.timestep == 1
    qtbot.keyClick(panel, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert panel.state.timestep == 101  # 10 % of T = 1000
    qtbot.keyClick(panel, Qt.Key.Key_Left)
    assert panel.state.timestep == 100
    qtbot.keyClick(panel, Qt.Key.Key_End)
    assert panel.state.timestep == 999
    qtbot.keyClick(panel, Qt.Key.Key_Right)
    assert panel.state.timestep == 999  # clamped
    qtbot.keyClick(panel, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert panel.state.timestep == 899
    qtbot.keyClick(panel, Qt.Key.Key_Home)
    assert panel.state.timestep == 0
    qtbot.keyClick(panel, Qt.Key.Key_Left)
    assert panel.state.timestep == 0
    assert panel.timestep_slider.value() == 0


def test_scrubbing_renders_only_the_latest_t_once(qtbot, panel):
    before = panel.frames_rendered
    for t in range(10, 510, 10):  # 50 slider events within one event-loop turn
        panel.timestep_slider.slider.setValue(t)
    assert panel.frames_rendered == before  # nothing rendered yet, nothing queued
    qtbot.waitUntil(lambda: panel.frames_rendered > before)
    QApplication.processEvents()  # a second render would have been queued by now
    assert panel.frames_rendered == before + 1
    assert np.array_equal(shown_frame(panel), expected_frame(panel, 500))


def test_new_noise_changes_epsilon_and_xt(qtbot, panel):
    panel.state.set_timestep(500)
    wait_for_t(qtbot, panel, 500)
    old_seed, old_noise, old_frame = panel.state.seed, panel.noise_view.image().copy(), shown_frame(panel).copy()
    qtbot.mouseClick(panel.new_noise_button, Qt.MouseButton.LeftButton)
    assert panel.state.seed != old_seed
    assert panel.seed_spin.value() == panel.state.seed
    assert not np.array_equal(panel.noise_view.image(), old_noise)
    wait_for_t(qtbot, panel, 500)
    assert not np.array_equal(shown_frame(panel), old_frame)
    assert np.array_equal(panel.x0_view.image(), photo())  # x0 untouched


def test_seed_spin_box_sets_the_noise(qtbot, panel):
    panel.seed_spin.setValue(42)
    assert panel.state.seed == 42
    reference = ForwardRenderer(photo(), panel.state.schedule, seed=42)
    assert np.array_equal(panel.noise_view.image(), reference.noise_uint8)


def test_schedule_selector_lists_every_schedule_and_changes_it(qtbot, panel):
    listed = [name for _, name in SCHEDULE_CHOICES]
    assert listed == [n for n in SCHEDULE_NAMES if n not in SCHEDULE_ALIASES]
    assert panel.schedule_combo.count() == len(listed)
    panel.state.set_timestep(400)
    wait_for_t(qtbot, panel, 400)
    cosine_frame = shown_frame(panel).copy()
    panel.schedule_combo.setCurrentIndex(panel.schedule_combo.findData("linear"))
    assert panel.state.schedule.name == "linear"
    assert panel.state.timestep == 400
    wait_for_t(qtbot, panel, 400)
    assert not np.array_equal(shown_frame(panel), cosine_frame)
    assert panel.numbers.value_text("beta") == f"{make_schedule('linear', 1000).betas[400]:.5f}"


def test_changing_T_keeps_the_position_and_range(qtbot, panel):
    panel.state.set_timestep(500)
    panel.timesteps_spin.setValue(101)
    assert panel.state.schedule.num_timesteps == 101
    assert panel.state.timestep == 50
    assert panel.timestep_slider.maximum() == 100
    assert panel.timestep_slider.spin_box.maximum() == 100
    wait_for_t(qtbot, panel, 50)


def test_follows_a_schedule_set_elsewhere(qtbot, panel):
    params_schedule = make_schedule("scaled_linear", 200, beta_start=0.001, beta_end=0.02)
    panel.state.set_schedule(params_schedule)
    assert panel.schedule_combo.currentData() == "scaled_linear"
    assert panel.timesteps_spin.value() == 200
    assert panel.timestep_slider.maximum() == 199
    panel.timesteps_spin.setValue(300)  # changing T keeps the schedule's own parameters
    assert panel.state.schedule.params["beta_start"] == pytest.approx(0.001)


def test_follows_an_image_set_elsewhere(qtbot, panel):
    gray_as_rgb = np.repeat(np.arange(64, dtype=np.uint8).reshape(8, 8)[..., None], 3, axis=2)
    panel.state.set_image(gray_as_rgb, "small.png")
    qtbot.waitUntil(lambda: shown_frame(panel).shape == (8, 8, 3))
    assert np.array_equal(panel.x0_view.image(), gray_as_rgb)
    assert "small.png" in panel.image_info.text()


def test_numbers_have_formula_tooltips(panel):
    tips = " ".join(label.toolTip() for label in panel.numbers.findChildren(QLabel))
    for formula in ("∏", "√ᾱ_t·x₀ + √(1−ᾱ_t)·ε", "ᾱ_t / (1 − ᾱ_t)", "10·log₁₀"):
        assert formula in tips


def test_zero_terminal_snr_shows_minus_infinity_at_the_end(qtbot, panel):
    panel.state.set_schedule(make_schedule("scaled_linear", 1000, zero_terminal_snr=True))
    panel.state.set_timestep(999)
    qtbot.waitUntil(lambda: panel.numbers.value_text("t") == "999")
    assert panel.numbers.value_text("snr_db") == "−∞"
    assert panel.numbers.value_text("alphas_cumprod") == "0.00000"
    assert panel.numbers.noise_bar.value() == 1000 and panel.numbers.signal_bar.value() == 0
    wait_for_t(qtbot, panel, 999)  # x_t is pure noise and still renders
