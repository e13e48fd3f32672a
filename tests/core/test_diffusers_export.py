"""Export to diffusers: a run folder written by our own code becomes a DDPMPipeline folder that
diffusers loads and that samples exactly what our samplers sample from the same noise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDIMPipeline, DDIMScheduler, DDPMPipeline, UNet2DModel
from safetensors.torch import load_file

from diffusion_studio.core.checkpoint import save_checkpoint
from diffusion_studio.core.diffusers_export import CLASS_NAMES_FILE, export_diffusers
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.samplers import DDIMSampler, DDPMSampler
from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.core.unet import UNet

SIZE = 8
TINY = dict(in_channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(4,), dropout=0.0,
            image_size=SIZE)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_unet(seed: int, **settings) -> UNet:
    torch.manual_seed(seed)
    model = UNet(**{**TINY, **settings})
    for p in model.parameters():  # an untrained net's zero-initialised output would sample nothing but noise
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def make_run(folder: Path, schedule, prediction: str = "epsilon", **settings) -> tuple[UNet, UNet]:
    """A run folder as our trainer writes it: raw and EMA weights (different), config.json, train state."""
    raw, ema = _random_unet(0, **settings), _random_unet(1, **settings)
    config = {
        "version": 1, "model": ema.config, "schedule": schedule.to_config(), "prediction": prediction,
        "image_size": SIZE, "channels": ema.config["in_channels"], "train": {}, "dataset": {"source": "test"},
    }
    if ema.num_classes:
        config["class_names"] = [f"class {i}" for i in range(ema.num_classes)]
    save_checkpoint(folder, model=raw, ema_model=ema, train_state={}, config=config, step=7)
    return raw, ema


def _our_chain(model: UNet, sampler, batch: int, seed: int) -> np.ndarray:
    """Our sampler loop, drawing its noise as the diffusers pipelines do: x_T first, then one draw per step."""
    generator = torch.Generator().manual_seed(seed)
    channels = model.config["in_channels"]
    x = torch.randn((batch, channels, SIZE, SIZE), generator=generator)
    with torch.no_grad():
        for t in sampler.timesteps:
            x = sampler.step(model(x, torch.tensor(int(t))), int(t), x, generator=generator).prev_sample
    return (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("schedule, prediction", [
    (make_schedule("cosine", 20), "epsilon"),
    (make_schedule("sigmoid", 20, beta_start=1e-3, beta_end=0.2), "v_prediction"),  # written as trained_betas
])
def test_ddpm_pipeline_samples_what_our_ddpm_sampler_samples(tmp_path, schedule, prediction):
    _raw, ema = make_run(tmp_path / "run", schedule, prediction, in_channels=3)
    result = export_diffusers(tmp_path / "run", tmp_path / "pipe")
    assert result.is_ema and result.step == 7 and result.variance_type == "fixed_small"

    pipe = DDPMPipeline.from_pretrained(tmp_path / "pipe")
    theirs = pipe(batch_size=2, generator=torch.Generator().manual_seed(4), num_inference_steps=20,
                  output_type="np").images
    ours = _our_chain(ema, DDPMSampler(schedule, prediction=prediction), batch=2, seed=4)
    assert ours.std() > 0.05  # pictures, not a constant
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_ddim_pipeline_from_the_export_samples_what_our_ddim_sampler_samples(tmp_path, eta):
    schedule = make_schedule("linear", 50, beta_start=1e-3, beta_end=0.1)
    _raw, ema = make_run(tmp_path / "run", schedule, in_channels=1)
    export_diffusers(tmp_path / "run", tmp_path / "pipe")

    unet = UNet2DModel.from_pretrained(tmp_path / "pipe" / "unet")
    scheduler = DDIMScheduler.from_pretrained(tmp_path / "pipe" / "scheduler")
    theirs = DDIMPipeline(unet=unet, scheduler=scheduler)(
        batch_size=3, generator=torch.Generator().manual_seed(9), eta=eta, num_inference_steps=10, output_type="np",
    ).images
    ours = _our_chain(ema, DDIMSampler(schedule, num_steps=10, eta=eta), batch=3, seed=9)
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


def test_folder_layout_and_weights(tmp_path):
    raw, ema = make_run(tmp_path / "run", make_schedule("cosine", 30))
    export_diffusers(tmp_path / "run", tmp_path / "ema")
    export_diffusers(tmp_path / "run", tmp_path / "raw", use_ema=False)
    files = sorted(p.relative_to(tmp_path / "ema").as_posix() for p in (tmp_path / "ema").rglob("*") if p.is_file())
    assert files == ["model_index.json", "scheduler/scheduler_config.json", "unet/config.json",
                     "unet/diffusion_pytorch_model.safetensors"]
    index = json.loads((tmp_path / "ema" / "model_index.json").read_text())
    assert index["_class_name"] == "DDPMPipeline" and index["unet"] == ["diffusers", "UNet2DModel"]
    for name, model in (("ema", ema), ("raw", raw)):
        weights = load_file(tmp_path / name / "unet" / "diffusion_pytorch_model.safetensors")
        assert weights.keys() == model.state_dict().keys()
        assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    # Nothing but the two exports beside the run: no staging folders left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ema", "raw", "run"]


def test_class_conditional_run_exports_class_embeddings_and_names(tmp_path):
    _raw, ema = make_run(tmp_path / "run", make_schedule("linear", 20), num_classes=3)
    result = export_diffusers(tmp_path / "run", tmp_path / "pipe")
    assert result.num_classes == 3
    names = json.loads((tmp_path / "pipe" / "unet" / CLASS_NAMES_FILE).read_text())
    assert names["class_names"] == ["class 0", "class 1", "class 2"] and names["null_class"] == 3

    pipe = DDPMPipeline.from_pretrained(tmp_path / "pipe")
    assert pipe.unet.config.num_class_embeds == 4
    x, t, labels = torch.randn(4, 1, SIZE, SIZE), torch.tensor([3, 3, 9, 19]), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        torch.testing.assert_close(pipe.unet(x, t, class_labels=labels).sample, ema(x, t, class_labels=labels),
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(pipe.unet(x, t, class_labels=torch.full((4,), 3)).sample, ema(x, t))


def test_learned_variance_exports_as_learned_range(tmp_path):
    make_run(tmp_path / "run", make_schedule("linear", 10), in_channels=1, out_channels=2)
    result = export_diffusers(tmp_path / "run", tmp_path / "pipe")
    assert result.variance_type == "learned_range"
    pipe = DDPMPipeline.from_pretrained(tmp_path / "pipe")
    assert pipe.scheduler.config.variance_type == "learned_range"
    images = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=10,
                  output_type="np").images
    assert images.shape == (2, SIZE, SIZE, 1) and np.isfinite(images).all()


def test_a_step_folder_exports_too(tmp_path):
    make_run(tmp_path / "run", make_schedule("linear", 10))
    step_dir = tmp_path / "run" / "checkpoints" / "step_000007"
    assert export_diffusers(step_dir, tmp_path / "pipe").step == 7


# ---------------------------------------------------------------------------- refusals


@pytest.fixture
def run(tmp_path):
    make_run(tmp_path / "run", make_schedule("linear", 10))
    return tmp_path / "run"


def test_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(InputError, match="not a Diffusion Studio run folder"):
        export_diffusers(tmp_path / "photos", tmp_path / "pipe")
    assert not (tmp_path / "pipe").exists()


def test_refuses_a_run_of_the_earlier_unet_layout(run, tmp_path):
    config_path = run / "config.json"
    config = json.loads(config_path.read_text())
    del config["model"]["layout"]
    config_path.write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"Diffusion Studio 0\.1.*train it again"):
        export_diffusers(run, tmp_path / "pipe")
    assert not (tmp_path / "pipe").exists()


def test_refuses_a_destination_in_use(run, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        export_diffusers(run, busy)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        export_diffusers(run, tmp_path / "a_file")
    with pytest.raises(InputError, match="not a folder"):
        export_diffusers(run, tmp_path / "a_file" / "pipe")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_diffusers(run, empty).path == empty and (empty / "model_index.json").is_file()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc, which no one can write to")
def test_refuses_an_unwritable_destination(run):
    with pytest.raises(InputError, match="proc"):
        export_diffusers(run, Path("/proc/diffusion-studio-export-test"))


def test_refuses_raw_weights_that_are_not_there(run, tmp_path):
    (run / "model.safetensors").unlink()
    for step_dir in (run / "checkpoints").iterdir():
        (step_dir / "model.safetensors").unlink()
    with pytest.raises(InputError, match="no raw weights"):
        export_diffusers(run, tmp_path / "pipe", use_ema=False)
