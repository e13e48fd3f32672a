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
            log_every=2, sample_every=6, checkpoint_every=1000, num_sample_images=4, sample_steps=3, device="cpu",
            cpu_threads=1)


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
    panel.dataset_view.use_demo()
    panel.settings_form.set_values(TINY)
    with qtbot.waitSignal(panel.trainingStateChanged, timeout=30_000, check_params_cb=lambda s: s == "training"):
        assert panel.start()
    assert panel.is_training() and panel.status_label.isVisible()
    qtbot.waitUntil(lambda: panel.plots.num_points >= 3 and bool(panel.sample_grid.history), timeout=30_000)

    # pause: the engine really waits (it polls should_pause) and no step arrives meanwhile
    control = panel._control
    panel.pause()
    assert panel.training_state == "paused" and panel.controls.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: control.paused_polls >= 2, timeout=10_000)
    points = panel.plots.num_points
    polls = control.paused_polls
    qtbot.waitUntil(lambda: control.paused_polls >= polls + 3, timeout=10_000)
    assert panel.plots.num_points == points
    panel.resume()
    qtbot.waitUntil(lambda: panel.plots.num_points > points, timeout=20_000)

    with qtbot.waitSignal(panel.runFinished, timeout=30_000) as finished:
        panel.stop()
    run_dir = finished.args[0]
    assert run_dir.parent == runs_dir()
    stopped_step = panel._last_update.step
    assert panel._last_update.event == "stopped" and stopped_step > 0
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "train_state.pt").is_file()
    x, y = panel.plots.raw_curve.getData()
    assert len(x) == panel.plots.num_points > 0 and np.all(np.isfinite(y))
    assert panel.sample_grid.view.image() is not None
    assert not panel.is_training() and panel.training_state == "idle"

    # reopen the run from the Runs list: its curve and samples come back, Start continues it
    with qtbot.waitSignal(panel.runs_list.refreshed, timeout=20_000):
        panel.runs_list.refresh(select=run_dir)
    assert panel.runs_list.selected_run() == run_dir
    panel.plots.clear()
    with qtbot.waitSignal(panel.runOpened, timeout=20_000):
        panel.runs_list.continue_button.click()
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert panel.plots.num_points == len(metrics) > 0
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
    assert panel._last_update.event == "stopped" and panel._last_update.step > stopped_step
