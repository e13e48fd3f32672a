"""The Sample panel with a class-conditional model: the class picker and guidance, its views, the sweep, SDEdit,
the digits judge's numbers, a learned variance's plot, and an unconditional model that offers none of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QThreadPool

from diffusion_studio.gui.panels.sampling import SamplingPanel
from diffusion_studio.gui.panels.sampling.settings import SamplerSettings
from diffusion_studio.gui.state import AppState

TIMEOUT_MS = 30000
SIZE, T = 16, 40


def _make_run(folder, *, classes=tuple("0123456789"), out_channels=1):
    from diffusion_studio.core.checkpoint import save_checkpoint
    from diffusion_studio.core.schedules import make_schedule
    from diffusion_studio.core.unet import UNet

    torch.manual_seed(0)
    model = UNet(in_channels=1, out_channels=out_channels, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                 attention_resolutions=(), dropout=0.0, image_size=SIZE, num_classes=len(classes) or None)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    config = {"version": 1, "model": model.config, "schedule": make_schedule("linear", T).to_config(),
              "prediction": "epsilon", "image_size": SIZE, "channels": 1, "train": {},
              "dataset": {"source": "demo:digits"}, **({"class_names": list(classes)} if classes else {})}
    save_checkpoint(folder, model=model, ema_model=model, train_state={"step": 2}, config=config, step=2)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {"digits": _make_run(root / "digits"), "plain": _make_run(root / "plain", classes=()),
            "variance": _make_run(root / "variance", out_channels=2)}


@pytest.fixture
def open_panel(qtbot, runs):
    panels = []

    def opened(name):
        widget = SamplingPanel(AppState())
        qtbot.addWidget(widget)
        widget.resize(1366, 700)
        widget.show()
        qtbot.waitExposed(widget)
        with qtbot.waitSignal(widget.modelLoaded, timeout=TIMEOUT_MS, check_params_cb=lambda ok: ok):
            widget.model_picker.select_path(runs[name])
        panels.append(widget)
        return widget

    yield opened
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def _settings(panel, **changes):
    form = panel.settings_form
    form.set_settings(SamplerSettings(sampler="ddim", steps=6, batch_size=2, seed=1, device="auto").with_(**changes))


def _run(qtbot, panel, start):
    with qtbot.waitSignal(panel.runFinished, timeout=TIMEOUT_MS) as blocker:
        start()
    assert blocker.args == ["done"], panel.message.text()


def test_the_class_picker_lists_any_and_the_classes_and_guidance_shows_both_numbers(open_panel):
    panel = open_panel("digits")
    form = panel.settings_form
    assert form.condition_shown()
    assert form.class_names == tuple("0123456789") and form.class_name() is None
    assert form.settings().guidance_scale == 1.0  # "any": no class, nothing to guide
    assert not panel.sweep_controls.available and "Choose a class" in panel.sweep_controls.note.text()
    form.set_class("7")
    form.set_guidance_scale(4.0)
    assert form.settings().class_name == "7" and form.settings().guidance_scale == 4.0
    assert "s = 4 (w = 3)" in form.guidance_text() and "4·ε̂(c) − 3·ε̂(∅)" in form.guidance_text()
    form.set_guidance_scale(1.0)
    assert "the conditional model alone" in form.guidance_text()
    assert panel.sweep_controls.available and panel.sweep_controls.button.isEnabled()


def test_an_unconditional_model_offers_no_class_and_no_sweep(open_panel):
    panel = open_panel("plain")
    assert panel.settings_form.class_names == () and not panel.settings_form.condition_shown()
    assert not panel.sweep_controls.available and not panel.sweep_controls.button.isEnabled()
    assert "class-conditional model" in panel.sweep_controls.note.text()


def test_a_guided_chain_shows_its_three_noise_views_and_the_judges_reading(qtbot, open_panel):
    panel = open_panel("digits")
    _settings(panel, class_name="3", guidance_scale=3.0)
    _run(qtbot, panel, panel.start_sampling)
    assert "class 3, s = 3 (w = 2)" in panel.chains[0].label
    frame = panel.current_frames()[-1]
    assert set(frame.extras) == {"eps_conditional", "eps_unconditional", "guidance_added"}
    assert panel.viewer.view_offered("guidance")
    panel.viewer.set_view("guidance")
    title = panel.viewer.views[0].image_view.title()
    assert "ε, no class │ ε, class │ guidance adds" in title
    assert "Digits judge: read as 3:" in panel.viewer.scores_text()
    # without guidance the view is gone again
    _settings(panel, class_name="3", guidance_scale=1.0)
    _run(qtbot, panel, panel.start_sampling)
    assert not panel.viewer.view_offered("guidance") and panel.viewer.view == "x_t"


def test_a_sweep_shows_every_scale_side_by_side_paired_by_step_and_exports_a_row_each(qtbot, open_panel):
    panel = open_panel("digits")
    _settings(panel, class_name="5", guidance_scale=4.0)
    panel.sweep_controls.scales.setText("1, 2.5, 6")
    assert panel.sweep_controls.weights.text().startswith("w = 0, 1.5, 5")
    _run(qtbot, panel, panel.sweep_controls.button.click)
    assert [c.label for c in panel.chains] == ["s = 1 (w = 0)", "s = 2.5 (w = 1.5)", "s = 6 (w = 5)"]
    assert all(panel.viewer.views[k].isVisible() for k in range(3)) and not panel.viewer.views[3].isVisible()
    assert panel.progress.value() == panel.progress.maximum() == 3 * 6
    panel.viewer.timeline.set_index(3)
    shown = [panel.viewer.views[k].frame.t for k in range(3)]
    assert len(set(shown)) == 1  # paired by step
    view = panel.viewer.views[0]  # three side by side: the line under each is t alone, the rest in its tooltip
    assert view.stats_text() == f"t = {shown[0]}"
    assert set(panel.viewer.views[0].frame.extras) == {"eps_conditional", "eps_unconditional", "guidance_added"}
    assert panel.viewer.scores_text().count("read as 5") == 3
    frames = panel.frames_for_export()
    assert frames[-1].x_t.shape == (6, SIZE, SIZE, 1)
    dialog = panel.open_export_dialog()
    assert dialog.form.columns.value() == 2  # a row per scale
    dialog.reject()


def test_bad_sweep_scales_are_explained_and_run_nothing(open_panel):
    panel = open_panel("digits")
    _settings(panel, class_name="5", guidance_scale=4.0)
    panel.sweep_controls.scales.setText("1, lots")
    panel.sweep_controls.button.click()
    assert panel.sweep_controls.error.isVisibleTo(panel) and "numbers separated by commas" in \
        panel.sweep_controls.error.text()
    assert not panel.running and panel.chains == []


def test_sdedit_turns_the_image_into_the_chosen_class(qtbot, open_panel):
    panel = open_panel("digits")
    panel.state.set_image(np.random.default_rng(0).integers(0, 255, (20, 20), dtype=np.uint8), "three.png")
    panel.state.set_timestep(500)
    _settings(panel, class_name="8", guidance_scale=3.0)
    _run(qtbot, panel, panel.start_sdedit)
    assert "class 8, s = 3 (w = 2)" in panel.chains[0].label
    assert "eps_conditional" in panel.current_frames()[-1].extras


def test_a_learned_variance_model_plots_sigma_between_beta_tilde_and_beta(qtbot, open_panel):
    panel = open_panel("variance")
    assert panel.viewer.variance_plot.isVisibleTo(panel)
    _settings(panel, sampler="ddpm", steps=T, class_name="2")
    _run(qtbot, panel, panel.start_sampling)
    steps = panel.viewer.variance_plot.steps
    assert len(steps) == T and all(s.beta_tilde * 0.999 <= s.mean <= s.beta * 1.001 for s in steps[:-1])
    digits = open_panel("digits")
    assert not digits.viewer.variance_plot.isVisibleTo(digits)
