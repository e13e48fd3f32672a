"""The Text to image dock with a toy Stable Diffusion model: open, generate, views, compare, SDEdit, stop, errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QMessageBox

from ..core._latent_helpers import toy_folder

from diffusion_studio.core.chain import LatentFrame  # noqa: E402
from diffusion_studio.gui.panels.text_to_image import TextToImagePanel  # noqa: E402
from diffusion_studio.gui.panels.text_to_image.comparisons import parse_scales  # noqa: E402
from diffusion_studio.gui.panels.text_to_image.settings_form import guidance_text  # noqa: E402
from diffusion_studio.gui.state import AppState  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TIMEOUT_MS = 60000


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return toy_folder(tmp_path_factory)


@pytest.fixture
def panel(qtbot, model):
    widget = TextToImagePanel(AppState())
    qtbot.addWidget(widget)
    widget.resize(1300, 640)
    with qtbot.waitSignal(widget.modelLoaded, timeout=TIMEOUT_MS, check_params_cb=lambda ok: ok):
        widget.open_model(str(model), "cpu")  # before it is shown: the demo model is not opened then
        widget.show()
    qtbot.waitExposed(widget)
    widget.form.prompt.setPlainText("a photo of a cat")
    widget.form.set_size_and_steps(32, 32, 4)
    yield widget
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def _run(qtbot, panel, start, expect="done"):
    with qtbot.waitSignal(panel.runFinished, timeout=TIMEOUT_MS) as blocker:
        start()
    assert blocker.args == [expect], panel.message.text()


def test_the_model_opens_with_a_description_and_small_cpu_defaults(qtbot, model):
    widget = TextToImagePanel(AppState())
    qtbot.addWidget(widget)
    assert not widget.generate_button.isEnabled()
    with qtbot.waitSignal(widget.modelLoaded, timeout=TIMEOUT_MS):
        widget.model_box.request_open(str(model))
    info = widget.model_box.info.text()
    assert "16² px from 8×8×4 latents" in info and "Live preview fitted to its VAE (R² =" in info
    settings = widget.form.settings()
    assert (settings.width, settings.height, settings.steps) == (16, 16, 10)  # the model's size; few steps on a CPU
    assert widget.generate_button.isEnabled()
    widget.form.prompt.setPlainText("a photo of a cat")
    assert widget.form.prompt_count_text() == "5 / 75 tokens"
    widget.form.prompt.setPlainText("a big red cat " * 20)
    assert "80 / 75 tokens: the text encoder reads the first 75" in widget.form.prompt_count_text()


def test_generate_streams_frames_into_every_view(qtbot, panel):
    _run(qtbot, panel, panel.generate)
    chain = panel.chains[0]
    assert [f.index for f in chain.frames] == [0, 1, 2, 3, 4] and all(isinstance(f, LatentFrame) for f in chain.frames)
    assert panel.progress.value() == 4 and "Done: 4 steps" in panel.estimate.text()
    viewer = panel.viewer
    assert viewer.timeline.count == 5 and viewer.timeline.index == 4  # followed the chain live
    shapes = {}
    for view in ("x_t", "pred_x0", "latent", "pred_noise", "guidance"):
        viewer.set_view(view)
        shapes[view] = viewer.image_views[0].image().shape
        assert viewer.histogram.isVisible() == (view == "latent")
    assert shapes["x_t"] == shapes["pred_x0"] == (16, 16, 3)  # the linear preview at latent resolution
    assert shapes["pred_noise"] == (16, 4 * 16 + 6, 3) and shapes["latent"] == (2 * 16 + 4, 4 * 16 + 6, 3)
    assert shapes["guidance"] == (3 * 16 + 2 * 4, 4 * 16 + 6, 3)
    viewer.user_step(-4)
    assert viewer.timeline.index == 0 and not viewer.follow_live
    assert viewer.stats.text().startswith(f"t = {chain.frames[0].t}")
    assert viewer.schedule_plot.marker_position(0)[0] == chain.frames[0].t


def test_the_vae_decode_of_the_frame_looked_at_is_made_in_a_worker_and_kept(qtbot, panel):
    _run(qtbot, panel, panel.generate)
    viewer = panel.viewer
    viewer.set_view("pred_x0")
    with qtbot.waitSignal(viewer.decoded, timeout=TIMEOUT_MS):
        viewer.set_pixels("vae")
    assert viewer.image_views[0].image().shape == (32, 32, 3) and "VAE decode" in viewer.image_views[0].title()
    decodes = viewer.decoder.decodes
    viewer.set_pixels("preview")
    viewer.set_pixels("vae")  # cached: no second decode
    assert viewer.decoder.decodes == decodes and viewer.image_views[0].image().shape == (32, 32, 3)


def test_compare_guidance_scales_side_by_side(qtbot, panel):
    assert parse_scales("1, 3; 7.5,12") == [1.0, 3.0, 7.5, 12.0]
    _run(qtbot, panel, lambda: panel.compare_guidance([1.0, 3.0, 7.5, 12.0]))
    assert [c.label for c in panel.chains] == ["s = 1  (w = 0)", "s = 3  (w = 2)", "s = 7.5  (w = 6.5)",
                                              "s = 12  (w = 11)"]
    views = panel.viewer.image_views
    assert all(view.isVisible() for view in views[:4]) and not views[4].isVisible()
    assert "s = 12" in views[3].title()
    shown = panel.viewer.view
    for view in ("guidance", "pred_x0", shown):  # four chains fit a laptop's 1366 px, whatever is shown
        panel.viewer.set_view(view)
        assert panel.minimumSizeHint().width() <= 1366 - 40, view
    panel.viewer.user_step(-10)
    first = [view.image() for view in views[:4]]
    assert all(np.array_equal(first[0], image) for image in first)  # the same x_T in every chain
    panel.compare.scales.setText("7.5")
    panel.compare.guidance_button.click()
    assert "compare 2 to 8 guidance scales" in panel.compare.error.text()
    assert "s = 7.5 · w = s − 1 = 6.5" in guidance_text(7.5) and "no guidance" in guidance_text(1.0)


def test_two_prompts_and_export_side_by_side(qtbot, panel, tmp_path):
    _run(qtbot, panel, lambda: panel.compare_prompts("a drawing of a dog"))
    assert [c.label for c in panel.chains] == ["a photo of a cat", "a drawing of a dog"]
    frames = panel.frames_for_export()
    assert len(frames) == 5 and frames[0].x_t.shape == (2, 16, 16, 3)

    from diffusion_studio.core.export import ExportOptions, export_frames

    result = export_frames(frames, tmp_path / "two.gif", ExportOptions(view="side_by_side"))
    assert result.frame_count == 5
    panel.open_export_dialog()
    assert panel._export_dialog is not None and panel._export_dialog.isVisible()
    panel._export_dialog.close()


def test_image_to_image_starts_where_the_schedule_plot_shows(qtbot, panel):
    panel.image_to_image()
    assert "Open an image first" in panel.message.text()
    panel.state.set_image(np.full((40, 60, 3), 180, np.uint8), "grey")
    panel.image_to_image_controls.strength.setValue(50)
    text = panel.image_to_image_controls.start_label.text()
    marker = panel.viewer.schedule_plot.marker_position(1)
    assert f"noised to t = {int(marker[0])}" in text and "the last 2 of 4 steps run" in text
    _run(qtbot, panel, panel.image_to_image)
    assert [f.t for f in panel.chains[0].frames][0] == int(marker[0]) and len(panel.chains[0].frames) == 3


def test_stop_keeps_the_frames_so_far(qtbot, panel):
    panel.form.set_size_and_steps(32, 32, 200)

    def stop_when_frames_arrive(*_):
        if panel.chains and panel.chains[0].frames:
            panel.stop()

    panel.viewer.timeline.indexChanged.connect(stop_when_frames_arrive)
    _run(qtbot, panel, panel.generate, expect="stopped")
    frames = panel.chains[0].frames
    assert 1 <= len(frames) < 200 and not frames[-1].is_final
    assert "Stopped" in panel.estimate.text()


def test_a_model_that_cannot_be_opened_leaves_the_previous_one(qtbot, panel, model, tmp_path):
    before = panel.loaded_model
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00" * 40)
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS) as blocker:
        panel.open_model(str(broken), "cpu")
    assert blocker.args == [False] and panel.loaded_model is before
    assert "Could not open the model" in panel.message.text() and "The previous model stays loaded" in panel.message.text()
    _run(qtbot, panel, panel.generate)  # and it still generates


def test_a_hub_id_not_in_the_cache_is_downloaded_after_asking(qtbot, panel, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS) as blocker:
        panel.open_model("someone/not-cached", "cpu")
    assert blocker.args == [False]
    assert "HF_HUB_OFFLINE is set" in panel.message.text()  # tests run offline: the download says why it cannot
    assert not panel.loading and panel.loaded_model is not None


def test_the_dock_is_in_the_main_window(qtbot):
    from diffusion_studio.core.settings import Settings
    from diffusion_studio.gui.main_window import MainWindow

    window = MainWindow(AppState(), Settings.load())
    qtbot.addWidget(window)
    dock = window.docks["text_to_image"]
    assert dock.windowTitle() == "Text to image" and isinstance(window.panels["text_to_image"], TextToImagePanel)


def test_the_demo_model_opens_when_the_panel_is_first_on_screen(qtbot):
    widget = TextToImagePanel(AppState())
    qtbot.addWidget(widget)
    assert widget.loaded_model is None  # built, not shown: nothing loads (the app starts without torch)
    with qtbot.waitSignal(widget.modelLoaded, timeout=TIMEOUT_MS) as blocker:
        widget.show()
    assert blocker.args == [True] and widget.model_box.spec.text() == "demo"
    assert "32² px from 8×8×4 latents" in widget.model_box.info.text()


def test_the_player_keys_work_anywhere_in_the_panel(qtbot, panel):
    from PySide6.QtCore import Qt

    _run(qtbot, panel, panel.generate)
    panel.form.prompt.setFocus()
    qtbot.keyClick(panel, Qt.Key.Key_Home)
    assert panel.timeline.index == 0
    qtbot.keyClick(panel, Qt.Key.Key_Right)
    assert panel.timeline.index == 1


def test_typing_in_the_prompt_is_not_taken_by_the_player_keys(qtbot, panel):
    from PySide6.QtCore import Qt

    panel.form.prompt.setPlainText("a red")
    panel.form.prompt.setFocus()
    cursor = panel.form.prompt.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    panel.form.prompt.setTextCursor(cursor)
    qtbot.keyClicks(panel.form.prompt, " cat")
    qtbot.keyClick(panel.form.prompt, Qt.Key.Key_Left)
    qtbot.keyClick(panel.form.prompt, Qt.Key.Key_Space)
    assert panel.form.prompt.toPlainText() == "a red ca t" and not panel.timeline.playing
