"""The sampling panel with a real (tiny, untrained) model: sample, play, views, grid, compare, SDEdit, errors."""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt, QThreadPool
from PySide6.QtWidgets import QPushButton, QSlider

from diffusion_studio.gui.panels.sampling import SamplingPanel
from diffusion_studio.gui.panels.sampling.settings import SamplerSettings
from diffusion_studio.gui.state import AppState

TIMEOUT_MS = 30000
T = 60
SIZE = 16


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run folder with a ~40 k-parameter UNet on a T = 60 schedule, written by core.checkpoint."""
    from diffusion_studio.core.checkpoint import save_checkpoint
    from diffusion_studio.core.schedules import make_schedule
    from diffusion_studio.core.unet import UNet

    torch.manual_seed(0)
    model = UNet(in_channels=1, out_channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                 attention_resolutions=(), dropout=0.0, image_size=SIZE)
    config = {"version": 1, "model": model.config, "schedule": make_schedule("linear", T).to_config(),
              "prediction": "epsilon", "image_size": SIZE, "channels": 1, "train": {},
              "dataset": {"source": "demo:digits"}}
    folder = tmp_path_factory.mktemp("runs") / "tiny"
    save_checkpoint(folder, model=model, ema_model=model, train_state={"step": 7}, config=config, step=7)
    return folder


@pytest.fixture
def panel(qtbot, tiny_run):
    state = AppState()
    widget = SamplingPanel(state)
    qtbot.addWidget(widget)
    widget.resize(1300, 620)
    widget.show()
    qtbot.waitExposed(widget)
    with qtbot.waitSignal(widget.modelLoaded, timeout=TIMEOUT_MS, check_params_cb=lambda ok: ok):
        widget.model_picker.select_path(tiny_run)
    yield widget
    # pytest-qt has closed (and deleted) the widget by now; closing stopped its chain. Let the
    # pool's threads finish so nothing of this test runs into the next one.
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def _settings(panel, **changes):
    base = SamplerSettings(sampler="ddim", steps=10, batch_size=4, seed=3, device="auto")
    panel.settings_form.set_settings(base.with_(**changes))


def _run(qtbot, panel, start, expect="done"):
    with qtbot.waitSignal(panel.runFinished, timeout=TIMEOUT_MS) as blocker:
        start()
    assert blocker.args == [expect], panel.message.text()


def test_model_info_and_state_follow(qtbot, panel, tiny_run):
    assert "16×16 gray" in panel.model_picker.info_text()
    assert "step 7" in panel.model_picker.info_text()
    assert panel.state.model_path == tiny_run
    assert panel.loaded_model.schedule.num_timesteps == T
    # a weights file (File…) works as well as a folder, and is listed under its name
    weights = tiny_run / "model_ema.safetensors"
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS) as blocker:
        panel.model_picker.select_path(weights)
    assert blocker.args == [True] and "step 7" in panel.model_picker.info_text()
    assert panel.model_picker.current_text() == "Opened: model_ema.safetensors"


def test_sample_frames_arrive_and_player_works(qtbot, panel):
    _settings(panel, steps=10)
    _run(qtbot, panel, panel.start_sampling)
    frames = panel.current_frames()
    assert len(frames) == 11  # x_T, 9 intermediate x_t, and the clean sample
    assert frames[0].t == max(f.t for f in frames) and frames[-1].is_final
    assert frames[-1].x_t.dtype == np.uint8 and frames[-1].x_t.shape == (4, SIZE, SIZE, 1)
    player = panel.timeline
    assert player.count == 11 and player.index == 10  # the live view followed the newest frame
    assert panel.progress.value() == panel.progress.maximum()
    view = panel.viewer.views[0]
    assert view.frame is frames[-1] and "clean" in view.stats_text()

    # keyboard: ← / → step, Space plays and pauses
    panel.setFocus()
    qtbot.keyClick(panel, Qt.Key.Key_Left)
    qtbot.keyClick(panel, Qt.Key.Key_Left)
    assert player.index == 8 and view.frame is frames[8]
    assert f"t = {frames[8].t}" in view.stats_text()
    marker = panel.viewer.schedule_plot.marker_position(0)
    assert marker == (frames[8].t, pytest.approx(frames[8].alphas_cumprod))
    qtbot.keyClick(panel, Qt.Key.Key_Right)
    assert player.index == 9
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert player.playing
    qtbot.waitUntil(lambda: player.index != 9, timeout=5000)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert not player.playing

    # scrub with the slider; Home / End jump to the ends
    player.findChild(QSlider).setValue(2)
    assert view.frame is frames[2]
    qtbot.keyClick(panel, Qt.Key.Key_End)
    assert view.frame is frames[-1]
    qtbot.keyClick(panel, Qt.Key.Key_Home)
    assert view.frame is frames[0] and player.index == 0


def test_same_seed_same_chain_and_views(qtbot, panel):
    _settings(panel, steps=5, seed=11)
    _run(qtbot, panel, panel.start_sampling)
    first = panel.current_frames()[-1].x_t.copy()
    _run(qtbot, panel, panel.start_sampling)
    assert np.array_equal(panel.current_frames()[-1].x_t, first)

    view = panel.viewer.views[0]
    grid = view.image_view.image()
    panel.viewer.set_view("all")
    both = view.image_view.image()
    assert both.shape[1] > 3 * grid.shape[1] and both.shape[0] == grid.shape[0]
    next(b for b in panel.viewer.findChildren(QPushButton) if b.text() == "ε guess").click()
    assert panel.viewer.view == "pred_noise"
    assert view.image_view.image().shape == grid.shape


def test_grid_click_follows_one_sample(qtbot, panel):
    _settings(panel, steps=5)
    _run(qtbot, panel, panel.start_sampling)
    view = panel.viewer.views[0]
    graphics = view.image_view.graphics
    x, y = view.tile_center(3)
    scene_point = view.image_view.image_item.mapToScene(QPointF(x, y))
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow)
    panel.sample_button.setFocus()  # the keyboard focus is elsewhere …
    qtbot.waitUntil(panel.sample_button.hasFocus)
    with qtbot.waitSignal(view.focusClicked):  # … so the first click only brings it to the view
        qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton, pos=graphics.mapFromScene(scene_point))
    assert panel.viewer.sample is None and "click a sample" in panel.viewer.follow_text()
    qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton, pos=graphics.mapFromScene(scene_point))
    assert panel.viewer.sample == 3
    shown = view.image_view.image()
    assert shown.shape[:2] == (SIZE, SIZE)
    assert np.array_equal(shown[..., 0], panel.current_frames()[-1].x_t[3, ..., 0])
    assert "sample 4" in panel.viewer.follow_text()
    view.click_sample_at(2, 2)  # a click on the large sample goes back to the grid
    assert panel.viewer.sample is None
    assert view.image_view.image().shape[0] > SIZE


def test_compare_pairs_frames_by_noise_level(qtbot, panel):
    _settings(panel, sampler="ddpm", steps=T, batch_size=2)
    panel.compare_controls.form.set_settings(SamplerSettings(sampler="ddim", steps=6))
    _run(qtbot, panel, panel.start_compare)
    long_chain, short_chain = panel.chains
    assert len(long_chain.frames) == T + 1 and len(short_chain.frames) == 7
    assert panel.viewer.views[1].isVisible()
    # the main chain on the left, the compared one on the right, each under its sampler, steps and η
    assert "DDPM" in panel.viewer.views[0].image_view.title() and f"{T} steps · η = 1" in panel.viewer.views[0].image_view.title()
    assert "DDIM · 6 steps · η = 0" in panel.viewer.views[1].image_view.title()
    note = panel.viewer.compare_note.text()
    assert panel.viewer.compare_note.isVisible() and "fresh noise at every step" in note and "draws none" in note
    for index in (5, 30, 45):
        panel.timeline.set_index(index)
        left, right = panel.viewer.views[0].frame, panel.viewer.views[1].frame
        gaps = [abs(_log_snr(f.alphas_cumprod) - _log_snr(left.alphas_cumprod)) for f in short_chain.frames]
        assert right is short_chain.frames[int(np.argmin(gaps))]
    panel.timeline.set_index(T)
    assert panel.viewer.views[1].frame.is_final


def test_compare_keeps_the_main_chain_on_the_left_when_the_other_has_more_steps(qtbot, panel):
    _settings(panel, sampler="ddim", steps=4, batch_size=2)
    panel.compare_controls.form.set_settings(SamplerSettings(sampler="ddpm", steps=T))
    _run(qtbot, panel, panel.start_compare)
    driver, other = panel.chains  # the longer chain still drives the timeline …
    assert len(driver.frames) == T + 1 and len(other.frames) == 5
    left, right = panel.viewer.views[:2]  # … but is shown on the right, where the compared sampler goes
    assert left.image_view.title().startswith("DDIM · 4 steps") and right.image_view.title().startswith("DDPM")
    panel.timeline.set_index(T)
    assert left.frame is other.frames[-1] and right.frame is driver.frames[-1]


def _log_snr(alpha_bar):
    alpha_bar = min(max(alpha_bar, 1e-12), 1 - 1e-12)
    return np.log(alpha_bar / (1 - alpha_bar))


def test_sdedit_from_the_forward_image(qtbot, panel):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    panel.state.set_image(image, "noise.png")
    panel.state.set_timestep(400)  # on the app's cosine T = 1000 schedule
    start = panel.sdedit_controls.model_start_t()
    assert 0 < start < T - 1
    assert f"model t = {start}" in panel.sdedit_controls.source_text()
    _settings(panel, sampler="ddim", steps=T, batch_size=3)
    _run(qtbot, panel, panel.start_sdedit)
    frames = panel.current_frames()
    assert frames[0].t == start and len(frames) == start + 2
    assert frames[-1].x_t.shape == (3, SIZE, SIZE, 1)
    reference = panel.viewer.reference_view
    assert reference.isVisible() and reference.image().shape == (SIZE, SIZE, 1)


def test_stop_keeps_the_frames_so_far(qtbot, panel):
    _settings(panel, sampler="ddpm", steps=T, batch_size=1)
    model = panel.loaded_model.model
    step = model.forward

    def slow(x, t):  # a model as slow as a real one (20 ms a step), so the stop lands mid-chain
        time.sleep(0.02)
        return step(x, t)

    model.forward = slow
    try:
        with qtbot.waitSignal(panel.runFinished, timeout=TIMEOUT_MS) as blocker:
            panel.start_sampling()
            qtbot.waitUntil(lambda: len(panel.current_frames()) > 0, timeout=TIMEOUT_MS)
            panel.stop()
    finally:
        del model.forward  # the loaded model is shared with the next tests of this panel
    frames = panel.current_frames()
    assert blocker.args == ["stopped"]
    assert 0 < len(frames) < T + 1 and not frames[-1].is_final
    assert not panel.running and panel.sample_button.isEnabled()
    assert panel.timeline.count == len(frames)
    assert _pool_threads_can_train(qtbot)


def _pool_threads_can_train(qtbot) -> bool:
    """Every thread of the worker pool is out of torch's inference mode (a training job could run)."""
    from PySide6.QtCore import QThreadPool
    from superqt.utils import thread_worker

    count = QThreadPool.globalInstance().maxThreadCount()
    together = threading.Barrier(count, timeout=TIMEOUT_MS / 1000)

    def probe():
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait()  # every probe holds its thread until all run: each lands on its own thread
        return torch.is_grad_enabled() and not torch.is_inference_mode_enabled()

    results = []
    workers = [thread_worker(probe, start_thread=False)() for _ in range(count)]
    for worker in workers:
        worker.returned.connect(results.append)
        worker.start()
    qtbot.waitUntil(lambda: len(results) == len(workers), timeout=TIMEOUT_MS)
    return all(results)


def test_bad_model_folder_shows_a_message_and_the_panel_keeps_working(qtbot, panel, tmp_path, tiny_run):
    bad = tmp_path / "not_a_run"
    bad.mkdir()
    (bad / "config.json").write_text("{ this is not json")
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS) as blocker:
        panel.model_picker.select_path(bad)
    assert blocker.args == [False]
    assert "Could not load the model" in panel.message.text() and "loaded before stays in use" in panel.message.text()
    # the model loaded before stays loaded, chosen and usable
    assert panel.model_picker.current_path() == tiny_run and panel.state.model_path == tiny_run
    assert "16×16 gray" in panel.model_picker.info_text()
    _settings(panel, steps=3)
    _run(qtbot, panel, panel.start_sampling)
    assert len(panel.current_frames()) == 4 and panel.sample_button.isEnabled()


def test_export_opens_the_dialog_with_what_is_shown(qtbot, panel):
    panel.export_button.click()
    assert "Nothing to export" in panel.message.text()
    _settings(panel, steps=4, batch_size=4)
    _run(qtbot, panel, panel.start_sampling)
    panel.viewer.set_view("all")
    panel.viewer.follow_sample(2)
    frames = panel.frames_for_export()
    assert len(frames) == 5 and frames[-1].x_t.shape == (1, SIZE, SIZE, 1)
    assert np.array_equal(frames[-1].pred_x0[0], panel.current_frames()[-1].pred_x0[2])
    dialog = panel.open_export_dialog()  # what the Export… button does
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    assert dialog.form.view.currentData() == "side_by_side"
    dialog.reject()


def test_in_the_main_window_keys_drive_the_player_not_the_forward_view(qtbot, tiny_run):
    from diffusion_studio.gui.main_window import MainWindow

    state = AppState()
    window = MainWindow(state)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    dock = window.docks["sampling"]
    dock.show()
    dock.raise_()
    panel = window.sampling_panel
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS, check_params_cb=lambda ok: ok):
        panel.model_picker.select_path(tiny_run)
    _settings(panel, steps=4, batch_size=2)
    _run(qtbot, panel, panel.start_sampling)
    window.docks["training"].raise_()
    state.set_model_path(tiny_run.parent)  # as the Train tab's "sample from this run" does
    qtbot.waitUntil(lambda: not dock.visibleRegion().isEmpty(), timeout=5000)
    assert panel.model_picker.current_path() == tiny_run.parent
    state.set_model_path(tiny_run)
    qtbot.waitUntil(lambda: not panel.loading, timeout=TIMEOUT_MS)
    t_before = state.timestep
    panel.viewer.views[0].image_view.setFocus()
    qtbot.keyClick(panel.viewer.views[0].image_view, Qt.Key.Key_Left)
    assert panel.timeline.index == 3 and state.timestep == t_before
    window.close()


def test_first_launch_samples_from_the_bundled_demo_model(qtbot):
    from diffusion_studio.core.checkpoint import DEMO_MODEL_DIR

    panel = SamplingPanel(AppState())
    qtbot.addWidget(panel)
    assert panel.loaded_model is None  # nothing loads (no torch import) until the panel is shown
    panel.show()
    if panel.loaded_model is None:
        with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS) as blocker:
            pass
        assert blocker.args == [True], panel.model_picker.info_text()
    assert panel.model_picker.current_path() == DEMO_MODEL_DIR
    assert "step" in panel.model_picker.info_text() and panel.message.text() == ""
    _settings(panel, sampler="ddim", steps=5, batch_size=2)
    _run(qtbot, panel, panel.start_sampling)
    final = panel.current_frames()[-1]
    size = panel.loaded_model.image_size
    assert final.is_final and final.x_t.shape == (2, size, size, panel.loaded_model.channels)
    assert final.x_t.std() > 5  # an image, not a flat field
    panel.close()
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)
