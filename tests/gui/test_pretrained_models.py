"""The Sample panel with diffusers models: open a folder or a Hub id, download one with progress and Cancel,
remember recent models, big-model defaults and estimates, and the previous model staying loaded on refusal."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThreadPool

from diffusion_studio.core.model_sources import diffusers_pixel
from diffusion_studio.core.settings import Settings
from diffusion_studio.gui.dialogs.download_dialog import DownloadDialog, format_bytes
from diffusion_studio.gui.panels.sampling import SamplingPanel
from diffusion_studio.gui.panels.sampling.model_picker import ModelPicker
from diffusion_studio.gui.panels.sampling.settings import SamplerSettings
from diffusion_studio.gui.state import AppState
from tests.diffusers_models import save_bare_unet, save_pipeline, tiny_unet

TIMEOUT_MS = 30000


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return save_pipeline(tmp_path_factory.mktemp("models") / "tiny-ddpm")


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "settings.json")


@pytest.fixture
def panel(qtbot, settings):
    widget = SamplingPanel(AppState(), settings=settings)
    qtbot.addWidget(widget)
    widget.resize(1300, 700)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.loaded_model is not None, timeout=TIMEOUT_MS)  # the demo model
    yield widget
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def _open(qtbot, panel, spec, ok=True):
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS) as blocker:
        panel.model_picker.select_path(spec)
    assert blocker.args == [ok], panel.message.text() or panel.model_picker.info_text()


def _sample(qtbot, panel, expect="done", **changes):
    base = SamplerSettings(sampler="ddim", steps=5, batch_size=2, seed=1, device="cpu")
    panel.settings_form.set_settings(base.with_(**changes))
    with qtbot.waitSignal(panel.runFinished, timeout=TIMEOUT_MS) as blocker:
        panel.start_sampling()
    assert blocker.args == [expect], panel.message.text()


def test_a_pipeline_folder_shows_its_facts_samples_and_is_remembered(qtbot, panel, pipeline, settings):
    _open(qtbot, panel, pipeline)
    info = panel.model_picker.info_text()
    assert "8×8 RGB" in info and "ε-prediction" in info and "squaredcos_cap_v2 T = 50" in info and "params" in info
    assert panel.loaded_model.source == "diffusers"
    _sample(qtbot, panel)
    frames = panel.current_frames()
    assert len(frames) == 6 and frames[-1].x_t.shape == (2, 8, 8, 3)
    assert panel.progress.maximum() == 5 and panel.progress.value() == 5  # steps, not frames
    assert settings["recent_models"][0] == str(pipeline)
    again = ModelPicker(settings=settings)  # the next session lists it
    qtbot.addWidget(again)
    assert again._combo.findData(str(pipeline)) >= 0


def test_a_typed_hub_id_in_the_cache_opens(qtbot, panel, pipeline, fake_hub_cache):
    fake_hub_cache("someone/tiny-ddpm", pipeline)
    panel.model_picker.hub_button.click()
    assert panel.model_picker.hub_field.isVisible()
    panel.model_picker.hub_field.setText("someone/tiny-ddpm")
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS, check_params_cb=lambda ok: ok):
        panel.model_picker.hub_open.click()
    assert panel.model_picker._combo.currentText() == "Hub: someone/tiny-ddpm"
    assert panel.loaded_model.extra["hub_id"] == "someone/tiny-ddpm"
    assert not panel.model_picker.hub_field.isVisible()
    panel.model_picker.hub_button.click()
    panel.model_picker.hub_field.setText("not a hub id")
    panel.model_picker.hub_open.click()
    assert "is not a Hub id" in panel.model_picker.info_text()


def test_offline_and_not_cached_says_so_and_keeps_the_model(qtbot, panel):
    before = panel.loaded_model
    _open(qtbot, panel, "google/ddpm-celebahq-256", ok=False)
    assert "google/ddpm-celebahq-256" in panel.message.text() and "HF_HUB_OFFLINE" in panel.message.text()
    assert panel.loaded_model is before and panel.model_picker.current_path() == before.run_dir
    assert panel.download_dialog is None


def test_online_and_not_cached_downloads_with_progress_then_loads(qtbot, panel, pipeline, fake_hub_cache,
                                                                  monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    reached = []

    def fake_download(repo_id, *, allow_pickle=False, progress=None, should_stop=None):
        for done in (0, 250_000, 1_000_000):
            progress(done, 1_000_000)
            reached.append(done)
        cache = fake_hub_cache(repo_id, pipeline)  # what huggingface_hub leaves behind
        return next((cache / f"models--{repo_id.replace('/', '--')}" / "snapshots").iterdir())

    monkeypatch.setattr(diffusers_pixel, "download", fake_download)
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS, check_params_cb=lambda ok: ok):
        panel.model_picker.select_path("google/ddpm-cifar10-32")
    assert reached == [0, 250_000, 1_000_000]
    assert panel.loaded_model.extra["hub_id"] == "google/ddpm-cifar10-32" and panel.download_dialog is None


def test_cancelling_a_download_keeps_the_model_loaded_before(qtbot, panel, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    started = threading.Event()

    def slow_download(repo_id, *, allow_pickle=False, progress=None, should_stop=None):
        from diffusion_studio.core.model_sources.hub import DownloadCancelled

        progress(10, 100)
        started.set()
        while not should_stop():
            threading.Event().wait(0.01)
        raise DownloadCancelled("download cancelled")

    monkeypatch.setattr(diffusers_pixel, "download", slow_download)
    before = panel.loaded_model
    panel.model_picker.select_path("owner/huge-model")
    qtbot.waitUntil(lambda: panel.download_dialog is not None and started.is_set(), timeout=TIMEOUT_MS)
    dialog = panel.download_dialog
    qtbot.waitUntil(lambda: dialog.progress.maximum() == 1000, timeout=TIMEOUT_MS)
    assert dialog.progress.value() == 100 and "10 B of 100 B" in dialog.progress.format()
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS) as blocker:
        dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()
    assert blocker.args == [False] and "cancelled" in panel.message.text()
    assert panel.loaded_model is before and panel.model_picker.current_path() == before.run_dir


def test_pickled_weights_need_the_checkbox_with_its_warning(qtbot, panel, pipeline, tmp_path):
    import torch

    folder = save_bare_unet(tmp_path / "pickled")
    (folder / diffusers_pixel.WEIGHTS_NAME).unlink()
    torch.save(tiny_unet().state_dict(), folder / diffusers_pixel.PICKLED_WEIGHTS_NAME)
    _open(qtbot, panel, pipeline)
    _open(qtbot, panel, folder, ok=False)
    assert "only pickled weights" in panel.message.text()
    assert panel.model_picker.current_path() == pipeline  # the model before stays chosen and loaded
    assert not panel.model_picker.pickle_warning.isVisible()
    panel.model_picker.select_path(folder, emit=False)
    with qtbot.waitSignal(panel.modelLoaded, timeout=TIMEOUT_MS, check_params_cb=lambda ok: ok):
        panel.model_picker.allow_pickle.setChecked(True)
    assert panel.model_picker.pickle_warning.isVisible() and "weights_only" in panel.model_picker.info_text()


def test_a_big_model_gets_a_few_samples_dpm_solver_20_and_an_estimate(qtbot, panel, tmp_path):
    save_pipeline(tmp_path / "big", unet=tiny_unet(sample_size=128))
    panel.settings_form.set_settings(SamplerSettings(sampler="ddpm", steps=50, batch_size=16, device="cpu"))
    _open(qtbot, panel, tmp_path / "big")
    chosen = panel.settings_form.settings()
    assert (chosen.sampler, chosen.steps, chosen.batch_size) == ("dpm_solver", 20, 4)
    assert "big model" in panel.message.text()
    assert "this chain ≈" in panel.model_picker.estimate.text() and panel.model_picker.estimate.isVisible()


def test_stop_keeps_the_frames_so_far(qtbot, panel, pipeline):
    _open(qtbot, panel, pipeline)
    panel.settings_form.set_settings(SamplerSettings(sampler="ddpm", steps=50, batch_size=2, device="cpu"))
    with qtbot.waitSignal(panel.runFinished, timeout=TIMEOUT_MS) as blocker:
        panel.start_sampling()
        qtbot.waitUntil(lambda: len(panel.current_frames()) >= 3, timeout=TIMEOUT_MS)
        panel.stop()
    assert blocker.args == ["stopped"]
    frames = panel.current_frames()
    assert len(frames) >= 3 and not frames[-1].is_final


def test_the_download_dialog_reports_a_failure_and_closes(qtbot):
    from diffusion_studio.core.errors import InputError

    def fail(progress, should_stop):
        progress(512, 2048)
        raise InputError("there is no model 'owner/typo' on the Hugging Face Hub (check the spelling)")

    dialog = DownloadDialog("owner/typo", fetch=fail)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.failed, timeout=TIMEOUT_MS) as blocker:
        dialog.open()
    assert "check the spelling" in blocker.args[0] and "check the spelling" in dialog.status.text()
    assert dialog.buttons.button(dialog.buttons.StandardButton.Close) is not None
    dialog.buttons.button(dialog.buttons.StandardButton.Close).click()
    assert not dialog.isVisible()
    assert format_bytes(512) == "512 B" and format_bytes(143_000_000) == "143.0 MB"
