"""The Runs list's "Export to diffusers…": the selected run becomes a pipeline folder the Sample panel (and
diffusers) opens; a refusal is shown, not raised."""

from __future__ import annotations

import pytest

from diffusion_studio.core import paths
from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.gui.panels.training.runs_list import RunsList, export_folder_for

TIMEOUT_MS = 30000


@pytest.fixture
def runs(qtbot):
    from tests.core.test_diffusers_export import make_run

    run = paths.runs_dir() / "digits"
    make_run(run, make_schedule("cosine", 20))
    widget = RunsList()
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.refreshed, timeout=TIMEOUT_MS):
        widget.refresh(select=run)
    return widget, run


def test_export_writes_a_pipeline_folder_and_says_where(qtbot, runs, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from diffusion_studio.core.model_sources import open_model

    widget, run = runs
    assert widget.export_button.isEnabled()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    with qtbot.waitSignal(widget.exportFinished, timeout=TIMEOUT_MS) as blocker:
        widget.export_button.click()
    ok, where = blocker.args
    assert ok and where == str(tmp_path / "digits-diffusers")
    assert where in widget.export_label.text() and "DDPMPipeline.from_pretrained" in widget.export_label.text()
    assert open_model(where, device="cpu").source == "diffusers"
    assert export_folder_for(run, tmp_path) == tmp_path / "digits-diffusers-2"  # the name is taken now


def test_a_refused_export_is_shown(qtbot, runs, tmp_path):
    widget, run = runs
    (run / "model.safetensors").write_bytes(b"not weights")
    (run / "model_ema.safetensors").write_bytes(b"not weights")
    with qtbot.waitSignal(widget.exportFinished, timeout=TIMEOUT_MS) as blocker:
        widget.export_selected(tmp_path)
    assert blocker.args[0] is False and "not a valid safetensors file" in widget.export_label.text()
    assert widget.export_button.isEnabled()
