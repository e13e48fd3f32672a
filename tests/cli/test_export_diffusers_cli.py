"""``diffusion-studio export-diffusers``: the bundled demo model and a run folder as diffusers pipelines."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import DDPMPipeline

from diffusion_studio.cli import COMMANDS, main
from diffusion_studio.core.checkpoint import DEMO_MODEL_DIR, load_model, save_checkpoint
from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.core.unet import UNet


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def run_dir(tmp_path):
    model = UNet(in_channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(),
                 image_size=8)
    config = {"version": 1, "model": model.config, "schedule": make_schedule("linear", 20).to_config(),
              "prediction": "epsilon", "image_size": 8, "channels": 1, "train": {}, "dataset": {}}
    save_checkpoint(tmp_path / "run", model=model, ema_model=model, train_state={}, config=config, step=2)
    return tmp_path / "run"


def _refusal(capsys, *argv) -> str:
    assert main(["export-diffusers", *map(str, argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("diffusion-studio: error: ") and "\n" not in err
    return err


def test_export_diffusers_is_a_command(capsys):
    assert "export_diffusers" in COMMANDS
    assert main(["export-diffusers", "--help"]) == 0  # the subcommand's help, not the app
    assert "OUT_DIR" in capsys.readouterr().out


def test_the_demo_model_exports_and_diffusers_runs_it(tmp_path, capsys):
    out = tmp_path / "demo_pipeline"
    assert main(["export-diffusers", "demo", str(out)]) == 0
    said = capsys.readouterr().out
    assert "EMA weights of step 2000" in said and "10 classes + the null label" in said
    assert "DDPMPipeline.from_pretrained" in said

    pipe = DDPMPipeline.from_pretrained(out)
    ours = load_model(DEMO_MODEL_DIR).model
    x, t, labels = torch.randn(2, 1, 16, 16), torch.tensor([999, 20]), torch.tensor([7, 10])  # a 7; no class
    with torch.no_grad():
        torch.testing.assert_close(pipe.unet(x, t, class_labels=labels).sample, ours(x, t, labels), rtol=1e-5,
                                   atol=1e-5)
    assert pipe.scheduler.config.beta_schedule == "squaredcos_cap_v2" and pipe.scheduler.config.num_train_timesteps == 1000


def test_a_run_exports_its_raw_weights_when_asked(run_dir, tmp_path, capsys):
    assert main(["export-diffusers", str(run_dir), str(tmp_path / "pipe"), "--raw-weights"]) == 0
    assert "raw weights of step 2" in capsys.readouterr().out
    assert json.loads((tmp_path / "pipe" / "unet" / "config.json").read_text())["sample_size"] == 8


def test_refusals_are_one_line_and_exit_2(run_dir, tmp_path, capsys):
    assert "only EMA weights" in _refusal(capsys, "demo", tmp_path / "x", "--raw-weights")
    assert "not a Diffusion Studio run folder" in _refusal(capsys, tmp_path, tmp_path / "y")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert "not empty" in _refusal(capsys, run_dir, busy)

    config = json.loads((run_dir / "config.json").read_text())
    del config["model"]["layout"]
    (run_dir / "config.json").write_text(json.dumps(config))
    assert "Diffusion Studio 0.1" in _refusal(capsys, run_dir, tmp_path / "z")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists() and not (tmp_path / "z").exists()
