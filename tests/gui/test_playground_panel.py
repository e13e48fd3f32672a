"""The Playground dock with real objects: data, drawing, scrubbing, training, sampling, following, export."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QThreadPool
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.gui.panels.playground import PlaygroundPanel
from diffusion_studio.gui.state import AppState

TIMEOUT_MS = 60_000


@pytest.fixture
def panel(qtbot):
    state = AppState()
    state.set_schedule(make_schedule("cosine", 200))  # short chains keep the tests quick
    widget = PlaygroundPanel(state)
    qtbot.addWidget(widget)
    widget.resize(1300, 700)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.frames_rendered > 0)
    yield widget
    widget.stop_all()
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def _rendered(qtbot, panel):
    """Wait for the next frame of the panel (the render runs on the next event-loop turn)."""
    before = panel.frames_rendered
    panel.request_render()
    qtbot.waitUntil(lambda: panel.frames_rendered > before)


def _widget_point(panel, x: float, y: float) -> QPoint:
    scene = panel.canvas.view_box.mapViewToScene(QPointF(x, y))
    return panel.canvas.plot.mapFromScene(scene)


def _mouse(viewport, kind, point: QPoint, buttons) -> None:
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, QPointF(point), QPointF(viewport.mapToGlobal(point)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def _drag(panel, path: list[tuple[float, float]]) -> None:
    """A real left-button drag over the plot through data points ``path``."""
    viewport = panel.canvas.plot.viewport()
    points = [_widget_point(panel, x, y) for x, y in path]
    _mouse(viewport, QEvent.Type.MouseButtonPress, points[0], Qt.MouseButton.LeftButton)
    for point in points[1:]:
        _mouse(viewport, QEvent.Type.MouseMove, point, Qt.MouseButton.LeftButton)
    _mouse(viewport, QEvent.Type.MouseButtonRelease, points[-1], Qt.MouseButton.NoButton)


def _click(qtbot, panel, x: float, y: float) -> None:
    qtbot.mouseClick(panel.canvas.plot.viewport(), Qt.MouseButton.LeftButton, pos=_widget_point(panel, x, y))


# ------------------------------------------------------------------------------------------------ data


def test_opens_with_two_moons_and_changes_data(qtbot, panel):
    assert len(panel.scene) == 1000 and "Two moons" in panel.data_label.text()
    panel.data_controls.points.setValue(500)
    panel.data_controls.source.setCurrentIndex(panel.data_controls.source.findData("checkerboard"))
    _rendered(qtbot, panel)
    assert len(panel.scene) == 500 and "Checkerboard" in panel.data_label.text()
    assert panel.canvas.data_cloud.count() == 500


def test_bad_input_says_why_and_keeps_the_points(qtbot, panel, tmp_path):
    before = panel.scene.points.copy()
    assert not panel.load_dataset("moons", 1)
    assert "at least 2" in panel.message.text() or "2 … 10,000" in panel.message.text()
    csv = tmp_path / "bad.csv"
    csv.write_text("0,0\n1,nan\n")
    assert not panel.load_file(str(csv))
    assert "bad.csv, line 2" in panel.message.text() and "kept" in panel.message.text()
    white = tmp_path / "white.png"
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(white)
    assert not panel.load_file(str(white))
    assert "no dark pixels" in panel.message.text()
    assert np.array_equal(panel.scene.points, before)
    good = tmp_path / "good.csv"
    good.write_text("x,y\n0,0\n1,1\n2,0\n")
    assert panel.load_file(str(good)) and len(panel.scene) == 3 and panel.message.text() == ""


def test_paint_erase_and_clear_with_the_mouse(qtbot, panel):
    panel.data_controls.set_tool("paint")
    assert panel.canvas.tool == "paint"
    panel.clear_points()
    assert len(panel.scene) == 0 and "paint points" in panel.message.text()
    _drag(panel, [(-2.0, 2.0), (-1.0, 2.0), (0.0, 2.0), (1.0, 2.0)])
    painted = len(panel.scene)
    assert painted > 20
    pixel = panel.canvas.view_box.viewPixelSize()[1]  # the stroke lands on the pixel under the mouse
    assert np.all(np.abs(panel.scene.points[:, 1] - 2.0) <= panel.data_controls.brush.value() + 2 * pixel)
    panel.data_controls.set_tool("erase")
    _drag(panel, [(-2.0, 2.0), (-1.5, 2.0)])
    assert 0 < len(panel.scene) < painted
    assert panel.data_label.text().startswith("Drawn points")
    # a drawn set trains like any other; an empty one is refused with a reason
    panel.data_controls.clear_button.click()
    assert len(panel.scene) == 0
    assert not panel.start_training()
    assert "Cannot train" in panel.message.text() and "empty" in panel.message.text()


# ------------------------------------------------------------------------------------------------ forward


def test_scrubbing_t_moves_the_cloud_heatmap_and_numbers(qtbot, panel):
    state = panel.state
    state.set_timestep(0)
    _rendered(qtbot, panel)
    sigma_0 = math.sqrt(1 - state.schedule.alphas_cumprod[0])
    assert np.abs(panel.canvas.data_cloud.points() - panel.scene.points).max() < 6 * sigma_0  # ᾱ_0 ≈ 1
    heat_zero = panel.canvas.heatmap.image.copy()
    state.set_timestep(150)
    _rendered(qtbot, panel)
    a, b = math.sqrt(state.schedule.alphas_cumprod[150]), math.sqrt(1 - state.schedule.alphas_cumprod[150])
    np.testing.assert_allclose(panel.canvas.data_cloud.points(), a * panel.scene.points + b * panel.scene.noise,
                               atol=1e-5)
    assert not np.array_equal(panel.canvas.heatmap.image, heat_zero)
    assert panel.numbers.value_text("t") == "150"
    assert panel.numbers.value_text("alphas_cumprod") == f"{state.schedule.alphas_cumprod[150]:.5f}"
    assert panel.timestep_slider.value() == 150
    panel.timestep_slider.slider.setValue(40)  # the panel's own slider moves the shared t
    assert state.timestep == 40
    assert panel.canvas.arrows["ideal"].isVisible()
    panel.view_controls.set_shown("ideal", False)
    _rendered(qtbot, panel)
    assert not panel.canvas.arrows["ideal"].isVisible()


def test_a_hidden_panel_does_not_render_and_catches_up_when_shown(qtbot, panel):
    panel.hide()
    before = panel.frames_rendered
    panel.state.set_timestep(77)
    qtbot.wait(50)
    assert panel.frames_rendered == before
    panel.show()
    qtbot.waitUntil(lambda: panel.frames_rendered > before)
    assert panel.numbers.value_text("t") == "77"


def test_follow_a_data_point_over_t(qtbot, panel):
    panel.state.set_timestep(60)
    _rendered(qtbot, panel)
    target = panel.scene.cloud(60)[123].copy()
    _click(qtbot, panel, float(target[0]), float(target[1]))
    assert panel.followed_point is not None
    assert np.allclose(panel.scene.cloud(60)[panel.followed_point], target, atol=0.1)
    _rendered(qtbot, panel)
    assert panel.follow_label.text().startswith(f"Point {panel.followed_point}")
    assert panel.canvas.follow_marker.isVisible()


# ------------------------------------------------------------------------------------------------ training


def test_train_briefly_then_stop_and_see_the_learned_field(qtbot, panel):
    panel.train_controls.seconds.setValue(60)
    with qtbot.waitSignal(panel.trainingFinished, timeout=TIMEOUT_MS) as finished:
        assert panel.start_training()
        assert panel.train_controls.stop_button.isEnabled() and not panel.train_controls.train_button.isEnabled()
        qtbot.waitUntil(lambda: panel.snapshot is not None and len(panel.loss_plot.values()[0]) >= 3,
                        timeout=TIMEOUT_MS)
        panel.train_controls.pause_button.click()
        assert panel.train_controls.pause_button.text() == "Resume"
        panel.train_controls.pause_button.click()
        panel.train_controls.stop_button.click()
    assert finished.args == ["stopped"]
    assert panel.learned_usable() and "Stopped" in panel.train_controls.status.text()
    assert panel.sample_controls.denoiser.model().item(1).isEnabled()
    _rendered(qtbot, panel)
    assert panel.canvas.arrows["learned"].isVisible()
    assert "Mean ‖ε guess" in panel.difference_label.text()
    # a new schedule makes the MLP unusable until it is trained again
    panel.state.set_schedule(make_schedule("linear", 200))
    assert not panel.learned_usable() and not panel.sample_controls.denoiser.model().item(1).isEnabled()


# ------------------------------------------------------------------------------------------------ reverse


def _sample(qtbot, panel, **settings):
    controls = panel.sample_controls
    controls.sampler.setCurrentIndex(controls.sampler.findData(settings.get("sampler", "ddim")))
    controls.steps.setValue(settings.get("steps", 10))
    controls.particles.setValue(settings.get("particles", 300))
    with qtbot.waitSignal(panel.samplingFinished, timeout=TIMEOUT_MS) as finished:
        assert panel.start_sampling()
    assert finished.args == ["done"], panel.message.text()


def test_sample_play_and_the_shared_t_follows_the_player(qtbot, panel):
    _sample(qtbot, panel, sampler="ddim", steps=10)
    trajectories = panel.trajectories
    assert len(trajectories) == 11 and trajectories.complete and panel.mode == "reverse"
    assert panel.player.count == 11 and panel.player.index == 10  # it followed the run to the end
    panel.player.set_index(3)
    assert panel.state.timestep == int(trajectories.timesteps[3])
    _rendered(qtbot, panel)
    np.testing.assert_allclose(panel.canvas.particles.points(), trajectories.positions[3])
    assert not panel.canvas.data_cloud.isVisible() and panel.canvas.paths.isVisible()
    panel.state.set_timestep(int(trajectories.timesteps[6]) + 2)  # scrubbing t elsewhere picks the nearest frame
    assert panel.player.index == 6
    panel.forward_button.click()
    _rendered(qtbot, panel)
    assert panel.mode == "forward" and panel.canvas.data_cloud.isVisible() and not panel.canvas.particles.isVisible()


def test_ddpm_after_ddim_keeps_the_previous_paths_to_compare(qtbot, panel):
    _sample(qtbot, panel, sampler="ddim", steps=10)
    panel.sample_controls.ghost.setChecked(True)
    _sample(qtbot, panel, sampler="ddpm", steps=20)
    assert len(panel.trajectories) == 21
    _rendered(qtbot, panel)
    assert panel.canvas.ghost_paths.isVisible()
    ghost = panel.run.ghost_paths()
    # the same seed: DDPM started from DDIM's starting points
    assert np.array_equal(ghost[0][0], panel.trajectories.positions[0, panel.run.path_particles()[0]])


def test_click_a_particle_to_follow_it(qtbot, panel):
    _sample(qtbot, panel, sampler="ddim", steps=10, particles=200)
    panel.player.set_index(5)
    _rendered(qtbot, panel)
    target = panel.trajectories.positions[5, 42]
    _click(qtbot, panel, float(target[0]), float(target[1]))
    followed = panel.run.followed
    assert followed is not None
    assert np.allclose(panel.trajectories.positions[5, followed], target, atol=0.1)
    _rendered(qtbot, panel)
    assert panel.canvas.follow_marker.isVisible() and panel.canvas.follow_path.isVisible()
    assert panel.follow_label.text().startswith(f"Particle {followed}:")
    x, y = panel.canvas.follow_marker.getData()
    assert (x[0], y[0]) == pytest.approx(tuple(panel.trajectories.positions[5, followed]))
    _click(qtbot, panel, 3.9, -3.9)  # empty space: stop following
    assert panel.run.followed is None


def test_sampling_refuses_an_untrained_mlp_and_too_many_steps(qtbot, panel):
    assert not panel.sample_controls.denoiser.model().item(1).isEnabled()  # the user cannot pick it …
    panel.sample_controls.denoiser.setCurrentIndex(1)  # … a script can, and is told why not
    assert not panel.start_sampling()
    assert "train the MLP for the current schedule first" in panel.message.text()
    panel.sample_controls.denoiser.setCurrentIndex(0)
    panel.sample_controls.steps.setValue(5000)
    assert not panel.start_sampling()
    assert "steps must be between 1 and 200" in panel.message.text()


# ------------------------------------------------------------------------------------------------ export


@pytest.mark.parametrize("which", ["forward", "reverse"])
def test_export_the_animation_with_the_export_dialog(qtbot, panel, tmp_path, which):
    panel.data_controls.points.setValue(300)
    if which == "reverse":
        _sample(qtbot, panel, sampler="ddim", steps=6, particles=150)
    panel.open_export(which)
    dialog = panel._export_dialog
    qtbot.waitUntil(lambda: dialog.isVisible())
    out = tmp_path / f"{which}.gif"
    dialog.path_edit.setText(str(out))
    dialog.form.frames.setValue(5)
    with qtbot.waitSignal(dialog.exportFinished, timeout=TIMEOUT_MS) as finished:
        dialog.start_export()
    assert not finished.args[0].cancelled and out.exists()
    with Image.open(out) as gif:
        assert gif.n_frames == finished.args[0].frame_count == 5
    dialog.close()


def test_export_before_any_run_says_what_to_do(panel):
    panel.open_export("reverse")
    assert "Sample" in panel.message.text()


# ------------------------------------------------------------------------------------------------ window


def test_the_main_window_has_the_dock_in_view_panels(qtbot):
    from diffusion_studio.core.settings import Settings
    from diffusion_studio.gui.main_window import MainWindow

    window = MainWindow(AppState(), Settings.load())
    qtbot.addWidget(window)
    dock, panel = window.docks["playground"], window.panels["playground"]
    assert isinstance(panel, PlaygroundPanel) and dock.windowTitle() == "Playground"
    assert dock.toggleViewAction() in window._docks_menu.actions()
    window.forward_panel.timestep_slider.slider.setValue(321)  # scrubbing the image view moves the playground
    assert panel.timestep_slider.value() == 321
