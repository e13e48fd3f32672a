"""The Train panel driven like a user would: scan a folder with bad files, train a tiny model,
pause / resume / stop, reopen the run and continue it, and the error paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.paths import runs_dir
from diffusion_studio.core.training import Progress
from diffusion_studio.gui.panels.training import TrainingPanel
from diffusion_studio.gui.state import AppState

#: a model small enough to take a few ms per step on one CPU core
TINY = dict(image_size=8, batch_size=8, steps=100_000, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
            log_every=2, sample_every=6, checkpoint_every=20, num_sample_images=4, sample_steps=3, device="cpu",
            cpu_threads=1, first_samples_after=0)


@pytest.fixture
def panel(qtbot):
    widget = TrainingPanel(AppState())
    qtbot.addWidget(widget)
    yield widget
    widget.request_stop_and_wait(30_000)  # a failed test must not leave the engine writing


def plant_folder(folder: Path) -> Path:
    folder.mkdir()
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        Image.new("RGB", (24, 20), colour).save(folder / f"good_{i}.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a picture")
    good = (folder / "good_0.png").read_bytes()
    (folder / "cut.png").write_bytes(good[: len(good) // 2])
    return folder


def test_folder_scan_reports_usable_and_skipped_files(qtbot, panel, tmp_path):
    folder = plant_folder(tmp_path / "photos")
    with qtbot.waitSignal(panel.dataset_view.datasetChanged, timeout=20_000,
                          check_params_cb=lambda choice: choice is not None):
        panel.dataset_view.set_folder(folder)
    choice = panel.dataset_view.choice
    assert choice.num_usable == 3 and choice.channels == 3 and not choice.is_demo
    assert "3 usable images" in panel.dataset_view.summary_label.text()
    assert panel.dataset_view.thumbnails.count() == 3
    skipped = panel.dataset_view.skipped
    rows = {skipped.topLevelItem(i).text(0): skipped.topLevelItem(i).text(1) for i in range(skipped.topLevelItemCount())}
    assert set(rows) == {"empty.png", "notes.jpg", "cut.png"}
    assert all(reason for reason in rows.values())
    assert "empty" in rows["empty.png"].lower()
    assert panel.controls.start_button.isEnabled()


def test_dropping_a_folder_on_the_panel_scans_it(qtbot, panel, tmp_path):
    folder = plant_folder(tmp_path / "dropped")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    position = panel.rect().center()
    enter = QDragEnterEvent(position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(panel, enter)
    assert enter.isAccepted()
    with qtbot.waitSignal(panel.dataset_view.datasetChanged, timeout=20_000,
                          check_params_cb=lambda choice: choice is not None):
        QApplication.sendEvent(panel, QDropEvent(QPointF(position), Qt.DropAction.CopyAction, mime,
                                                 Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    assert panel.dataset_view.choice.source == str(folder)


def test_empty_folder_and_bad_settings_show_messages(qtbot, panel, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(panel.dataset_view.scanFailed, timeout=20_000):
        panel.dataset_view.set_folder(empty)
    assert "no image files" in panel.message_strip.text()
    assert not panel.controls.start_button.isEnabled()
    assert panel.start() is False and not panel.is_training()
    assert "Cannot start" in panel.message_strip.text()

    panel.dataset_view.use_demo()
    panel.settings_form.editors["lr"].widget.setText("fast")
    assert panel.start() is False
    assert "Learning rate" in panel.message_strip.text()


def _fake_train(events):
    def train(config, should_stop=None, should_pause=None):
        for event in events:
            if isinstance(event, Exception):
                raise event
            yield event
    return train


def _progress(step, event="step", loss=0.5, message="", grid=None):
    return Progress(step=step, total_steps=10, loss=loss, lr=1e-4, images_per_s=100.0, eta_s=1.0, elapsed_s=1.0,
                    bucket_losses=np.full(10, 0.5), sample_grid=grid, gpu_memory_bytes=None, event=event,
                    message=message)


@pytest.mark.parametrize("failure, expected", [
    (_progress(3, "error", float("nan"), "The loss became NaN at step 3"), "The loss became NaN"),
    (InputError("The GPU (cuda:0) ran out of memory with batch size 512"), "batch size 512"),
])
def test_engine_errors_show_in_the_panel_and_the_app_keeps_running(qtbot, panel, monkeypatch, failure, expected):
    import diffusion_studio.core.training as training

    monkeypatch.setattr(training, "train", _fake_train([_progress(1), _progress(2), failure]))
    panel.train_in_subprocess = False  # the fake engine lives in this process
    panel.dataset_view.use_demo()
    with qtbot.waitSignal(panel.trainingStateChanged, timeout=20_000, check_params_cb=lambda s: s == "idle"):
        assert panel.start()
    assert expected in panel.message_strip.text()
    assert not panel.is_training() and panel.controls.start_button.isEnabled()


@pytest.mark.slow
def test_train_pause_resume_stop_then_continue_the_run(qtbot, panel, monkeypatch):
    updates = []  # what the panel was told, in order (its public progressed signal)
    panel.progressed.connect(updates.append)
    panel.dataset_view.use_demo()
    panel.settings_form.set_values(TINY)
    with qtbot.waitSignal(panel.trainingStateChanged, timeout=30_000, check_params_cb=lambda s: s == "training"):
        assert panel.start()
    assert panel.is_training() and panel.status_label.isVisible()
    qtbot.waitUntil(lambda: panel.plots.num_points >= 3 and bool(panel.sample_grid.history), timeout=30_000)
    assert "ETA" in panel.controls.details.text()

    # the loss readout is the window the bars of "Loss by timestep" come from
    assert np.isfinite(panel.plots.recent_loss) and f"loss {panel.plots.recent_loss:.4g}" in panel.plots.summary.text()
    assert panel.plots.bucket_text_at(0).startswith("t 0–")

    # the run is listed on the Runs tab, marked as training, once its first checkpoint is written
    qtbot.waitUntil(lambda: any(training for _, training in panel.runs_list.runs()), timeout=60_000)
    running = [path for path, training in panel.runs_list.runs() if training]
    assert running == [panel.run_dir]

    # pause: "pausing" until the engine says it waits, then "paused"; no ETA while paused
    panel.pause()
    assert panel.training_state == "pausing" and panel.controls.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: panel.training_state == "paused", timeout=20_000)
    paused = [u for u in updates if u.event == "paused"]
    assert len(paused) == 1 and "ETA" not in panel.controls.details.text()
    points = panel.plots.num_points
    panel.resume()
    assert panel.training_state == "training"
    qtbot.waitUntil(lambda: panel.plots.num_points > points, timeout=20_000)
    after = updates[next(i for i, u in enumerate(updates) if u is paused[0]) + 1:]  # (== compares arrays)
    assert after and all(u.step >= paused[0].step for u in after)
    assert min(u.steps.min() for u in after if len(u.steps)) > paused[0].step  # no step twice, none lost

    with qtbot.waitSignal(panel.runFinished, timeout=30_000) as finished:
        panel.stop()
    run_dir = finished.args[0]
    assert run_dir.parent == runs_dir()
    stopped_step = updates[-1].step
    assert updates[-1].event == "stopped" and stopped_step > 0
    assert f"stopped at step {stopped_step:,}" in panel.run_label.text()
    assert "ETA" not in panel.controls.details.text()  # a run that stopped has no ETA
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "train_state.pt").is_file()
    x, y = panel.plots.raw_curve.getData()
    assert len(x) == panel.plots.num_points > 0 and np.all(np.isfinite(y))
    assert panel.sample_grid.view.image() is not None
    assert not panel.is_training() and panel.training_state == "idle"

    # reopen the run from the Runs list: no longer training; its curve and samples come back, Start continues it
    with qtbot.waitSignal(panel.runs_list.refreshed, timeout=20_000):
        panel.runs_list.refresh(select=run_dir)
    assert panel.runs_list.selected_run() == run_dir
    assert (run_dir, False) in panel.runs_list.runs()
    panel.plots.clear()
    with qtbot.waitSignal(panel.runOpened, timeout=20_000):
        panel.runs_list.continue_button.click()
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert panel.plots.num_points == len(metrics) > 0
    assert panel.plots.recent_loss == pytest.approx(metrics[-1]["recent_loss"])  # where the run left off
    assert panel.sample_grid.history
    assert not panel.settings_form.editors["lr"].widget.isEnabled()  # a continued run keeps its optimiser
    assert panel.settings_form.editors["steps"].widget.isEnabled()
    assert panel.settings_form.editors["batch_size"].widget.isEnabled()  # e.g. smaller after running out of memory

    first_steps = []
    panel.plots.append = lambda steps, *a, **k: first_steps.extend(np.asarray(steps).tolist())
    with qtbot.waitSignal(panel.trainingStateChanged, timeout=30_000, check_params_cb=lambda s: s == "training"):
        assert panel.start()
    qtbot.waitUntil(lambda: bool(first_steps), timeout=30_000)
    assert first_steps[0] == stopped_step + TINY["log_every"] - stopped_step % TINY["log_every"]

    # closing the window while training asks; "Yes" stops (saving first) and lets it close
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    assert panel.confirm_close() is False and panel.is_training()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert panel.confirm_close() is True
    assert not panel.is_training()
    assert updates[-1].event == "stopped" and updates[-1].step > stopped_step


# -- the Settings tab's presets -------------------------------------------------------------------------

def _devices(*gpus: str):
    from diffusion_studio.core.device import DeviceInfo

    return [*(DeviceInfo(f"cuda:{i}", "cuda", name, 8 * 2**30, None) for i, name in enumerate(gpus)),
            DeviceInfo("cpu", "cpu", "CPU", 16 * 2**30, 2)]


@pytest.mark.parametrize("gpus, expected", [((), "CPU tiny"), (("NVIDIA Test GPU",), "GPU small")])
def test_a_fresh_settings_tab_shows_the_preset_its_fields_hold(qtbot, monkeypatch, gpus, expected):
    from diffusion_studio.core.training.config import TRAINING_PRESETS
    from diffusion_studio.gui.panels.training import settings_form

    monkeypatch.setattr(settings_form, "detect_devices", lambda ready, failed=None: ready(_devices(*gpus)))
    form = settings_form.SettingsForm()
    qtbot.addWidget(form)
    assert form.preset_name == "CPU tiny" and not form.preset_note.isVisible()
    form.detect_devices()
    assert form.preset_name == expected
    values = form.values()
    assert all(values[key] == value for key, value in TRAINING_PRESETS[expected].items())


def test_a_gpu_found_later_leaves_an_edited_form_alone(qtbot, monkeypatch):
    from diffusion_studio.gui.panels.training import settings_form

    monkeypatch.setattr(settings_form, "detect_devices", lambda ready, failed=None: ready(_devices("NVIDIA Test GPU")))
    form = settings_form.SettingsForm()
    qtbot.addWidget(form)
    form.editors["batch_size"].widget.setValue(16)
    form.detect_devices()
    assert form.values()["batch_size"] == 16 and form.preset_name == "Custom"


def test_picking_a_preset_changes_its_fields_and_says_which(qtbot):
    from diffusion_studio.gui.panels.training.settings_form import SettingsForm

    form = SettingsForm()
    qtbot.addWidget(form)
    form.show()
    form.editors["seed"].widget.setValue(7)  # not a preset's field: the preset still holds
    assert form.preset_name == "CPU tiny"
    form.preset_combo.setCurrentText("GPU small")
    assert form.editors["batch_size"].widget.value() == 128 and form.editors["image_size"].widget.value() == 32
    assert form.editors["seed"].widget.value() == 7
    note = form.preset_note.text()
    assert form.preset_note.isVisible() and "Batch size 64 → 128" in note and "Image size (px) 16 → 32" in note
    assert {"batch_size", "image_size", "lr"} <= set(form.highlighted_fields())
    form.editors["batch_size"].widget.setValue(64)  # an edit: Custom, and the marks go
    assert form.preset_name == "Custom" and not form.highlighted_fields() and not form.preset_note.isVisible()
    form.editors["batch_size"].widget.setValue(128)
    assert form.preset_name == "GPU small"


# -- the plots, the controls and the runs list ------------------------------------------------------------

def test_loss_by_timestep_shows_the_value_under_the_mouse_and_the_readout(qtbot):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QMouseEvent

    from diffusion_studio.gui.panels.training.live_plots import LivePlots

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(900, 300)
    plots.show()
    qtbot.waitExposed(plots)
    plots.set_num_timesteps(1000)
    plots.append([10, 20], [0.4, 0.3], [1e-3, 1e-3])
    plots.set_bucket_losses(np.linspace(0.5, 0.05, 10), 0.21)
    assert "loss 0.21" in plots.summary.text() and "100 steps" in plots.bucket_plot.titleLabel.text
    assert plots.bucket_text_at(350) == "t 300–399: 0.35" and plots.bucket_text_at(1000) == ""

    def hover(plot, x: float) -> str:
        """Move the mouse to ``x`` of ``plot``, half-way up (where it is now: the layout settles after show)."""
        viewport = plots.graphics.viewport()
        at = QPointF(plots.graphics.mapFromScene(plot.vb.mapViewToScene(QPointF(x, plot.vb.viewRect().center().y()))))
        QApplication.sendEvent(viewport, QMouseEvent(QEvent.Type.MouseMove, at, viewport.mapToGlobal(at),
                                                     Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                                     Qt.KeyboardModifier.NoModifier))
        return plots.hover_text

    qtbot.waitUntil(lambda: hover(plots.bucket_plot, 350) == "t 300–399: 0.35", timeout=5000)
    qtbot.waitUntil(lambda: hover(plots.loss_plot, 15) == "", timeout=5000)


def test_a_short_panel_puts_the_plots_in_one_row(qtbot):
    from diffusion_studio.gui.panels.training.live_plots import LivePlots

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.show()
    plots.resize(1200, 600)
    qtbot.waitUntil(lambda: not plots.compact, timeout=5000)
    assert plots.lr_plot.isVisible() and not plots.memory_plot.isVisible()  # no GPU memory measured: no plot
    plots.resize(700, 250)
    qtbot.waitUntil(lambda: plots.compact, timeout=5000)
    assert plots.loss_plot.isVisible() and plots.bucket_plot.isVisible() and not plots.lr_plot.isVisible()
    plots.append([10], [0.4], [2e-4])
    assert "lr 0.0002" in plots.summary.text()  # its plot gave way: the readout says it


def test_the_eta_is_shown_only_while_training(qtbot):
    from diffusion_studio.gui.panels.training.controls import TrainingControls

    controls = TrainingControls()
    qtbot.addWidget(controls)
    controls.set_state("training")
    controls.set_progress(10, 100, 50.0, 20.0, 180.0)
    assert "elapsed 0:20" in controls.details.text() and "ETA 3:00" in controls.details.text()
    for state in ("paused", "stopping", "idle"):
        controls.set_state(state)
        assert "ETA" not in controls.details.text() and "elapsed 0:20" in controls.details.text()


def test_the_runs_list_marks_a_run_that_is_training(qtbot):
    from diffusion_studio.core import paths
    from diffusion_studio.core.checkpoint.lock import RunLock
    from diffusion_studio.core.schedules import make_schedule
    from diffusion_studio.gui.panels.training.runs_list import RunsList
    from tests.core.test_diffusers_export import make_run

    idle, busy = paths.runs_dir() / "idle", paths.runs_dir() / "busy"
    for run in (idle, busy):
        make_run(run, make_schedule("cosine", 20))
    widget = RunsList()
    qtbot.addWidget(widget)
    with RunLock(busy):
        with qtbot.waitSignal(widget.refreshed, timeout=30_000):
            widget.refresh(select=busy)
        assert set(widget.runs()) == {(idle, False), (busy, True)}
        assert "training now" in widget.list.currentItem().text()
        assert widget.sample_button.isEnabled() and not widget.continue_button.isEnabled()  # not twice at once
    with qtbot.waitSignal(widget.refreshed, timeout=30_000):
        widget.refresh(select=busy)
    assert set(widget.runs()) == {(idle, False), (busy, False)} and widget.continue_button.isEnabled()
