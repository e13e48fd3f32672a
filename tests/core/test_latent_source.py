"""Opening Stable-Diffusion-layout pipelines: what loads, and a clear reason for everything that does not."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch

from ._latent_helpers import open_toy, toy_folder

from diffusion_studio.core.errors import InputError  # noqa: E402
from diffusion_studio.core.model_sources import latent, open_model  # noqa: E402
from diffusion_studio.core.model_sources.latent.layout import looks_like_latent_pipeline, read_layout  # noqa: E402
from diffusion_studio.core.model_sources.latent.parts import LatentParts, latent_parts  # noqa: E402
from diffusion_studio.core.sampling import SamplerSettings, sampler_for  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return toy_folder(tmp_path_factory, "epsilon")


@pytest.fixture
def copy_of(toy_dir, tmp_path):
    def make():
        folder = tmp_path / "copy"
        shutil.copytree(toy_dir, folder)
        return folder

    return make


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_a_pipeline_folder_opens_as_a_latent_model_through_open_model(toy_dir):
    loaded = open_model(toy_dir, device="cpu")
    parts = latent_parts(loaded)
    assert isinstance(parts, LatentParts) and loaded.source == "latent" and loaded.decode is not None
    assert (loaded.channels, loaded.image_size, loaded.prediction) == (4, 8, "epsilon")
    assert not loaded.clip_sample and loaded.schedule.name == "scaled_linear"
    assert parts.scale_factor == 2 and parts.native_size == 16 and parts.dtype == "float32"
    assert all(not p.requires_grad for p in loaded.model.parameters())
    line = parts.describe(loaded)
    assert "16² px from 8×8×4 latents" in line and "ε-prediction" in line and "U-Net" in line
    # its scheduler config fixes DDIM's last step (SD: set_alpha_to_one = false) and the spacing
    ddim = sampler_for(loaded, SamplerSettings(sampler="ddim", steps=10))
    assert ddim.final_alpha_cumprod == pytest.approx(loaded.schedule.alphas_cumprod[0]) and ddim.spacing == "leading"
    # the VAE maps pixels to latents and back with the pipeline's scaling
    pixels = torch.zeros(1, 3, 16, 16)
    latents = parts.autoencoder.encode(pixels)
    assert latents.shape == (1, 4, 8, 8) and loaded.decode(latents).shape == (1, 3, 16, 16)
    assert open_model("demo", device="cpu").source == "run"  # our own runs still reach the runs source


def test_v_prediction_comes_from_the_scheduler_config(tmp_path_factory):
    loaded = open_toy(toy_folder(tmp_path_factory, "v_prediction"))
    assert loaded.prediction == "v_prediction" and "v-prediction" in latent_parts(loaded).family


def test_a_cached_hub_id_opens_offline_and_an_uncached_one_says_what_to_do(toy_dir, fake_hub_cache):
    fake_hub_cache("someone/tiny-sd", toy_dir)
    assert latent.can_open("someone/tiny-sd")
    assert latent_parts(open_model("someone/tiny-sd", device="cpu")).family
    assert not latent.can_open("someone/not-here")
    with pytest.raises(InputError, match="not in the local Hugging Face cache; download it first"):
        latent.open("someone/not-here", "cpu")


def test_other_kinds_of_folders_are_refused_with_their_reason(tmp_path, copy_of):
    pixel = tmp_path / "ddpm"
    (pixel / "unet").mkdir(parents=True)
    (pixel / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline",
                                                        "unet": ["diffusers", "UNet2DModel"]}))
    assert not latent.can_open(pixel) and not latent.can_open(tmp_path / "missing") and not latent.can_open("x" * 5000)
    with pytest.raises(InputError, match="pixel-space model: open it in the Sample panel"):
        read_layout(pixel)
    sdxl = copy_of()
    _edit_json(sdxl / "model_index.json", _class_name="StableDiffusionXLPipeline")
    assert looks_like_latent_pipeline(sdxl)
    with pytest.raises(InputError, match="SDXL"):
        latent.open(sdxl, "cpu")
    with pytest.raises(InputError, match="does not exist"):
        latent.open(tmp_path / "nothing", "cpu")


def test_components_that_do_not_belong_together_are_named(copy_of):
    folder = copy_of()
    _edit_json(folder / "unet" / "config.json", cross_attention_dim=48)
    with pytest.raises(InputError, match="attends to 48-wide text features but the text encoder gives 32"):
        latent.open(folder, "cpu")
    _edit_json(folder / "unet" / "config.json", cross_attention_dim=32, in_channels=9)
    with pytest.raises(InputError, match="inpainting"):
        latent.open(folder, "cpu")
    _edit_json(folder / "unet" / "config.json", in_channels=4, _class_name="UNet2DModel")
    with pytest.raises(InputError, match="unet is a UNet2DModel, not a UNet2DConditionModel"):
        latent.open(folder, "cpu")


@pytest.mark.parametrize("component", ["unet", "vae", "text_encoder", "tokenizer", "scheduler"])
def test_a_missing_component_is_named_with_what_it_is(copy_of, component):
    folder = copy_of()
    shutil.rmtree(folder / component)
    with pytest.raises(InputError, match=rf"has no {component}/ \(.+\); a Stable Diffusion pipeline folder has"):
        latent.open(folder, "cpu")


def test_truncated_or_garbage_weights_are_caught_before_loading(copy_of):
    folder = copy_of()
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"unet/diffusion_pytorch_model.safetensors is truncated .*download it again"):
        latent.open(folder, "cpu")
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + b"\x00" * 64)
    with pytest.raises(InputError, match="not a safetensors file"):
        latent.open(folder, "cpu")


def test_weights_that_do_not_fit_the_config_give_the_librarys_reason(copy_of):
    folder = copy_of()
    _edit_json(folder / "vae" / "config.json", block_out_channels=[16, 48])
    with pytest.raises(InputError, match="cannot load the VAE of .*: "):
        latent.open(folder, "cpu")


def test_bad_configs_are_refused_with_the_setting_named(copy_of):
    folder = copy_of()
    text_config = folder / "text_encoder" / "config.json"
    good = text_config.read_text()
    text_config.write_text("{not json")
    with pytest.raises(InputError, match="text_encoder/config.json is not valid JSON"):
        latent.open(folder, "cpu")
    text_config.unlink()
    with pytest.raises(InputError, match="text_encoder has no config.json"):
        latent.open(folder, "cpu")
    text_config.write_text(good)
    _edit_json(folder / "unet" / "config.json", block_out_channels=[32, 10**9])  # refused before any allocation
    with pytest.raises(InputError, match=r"unet/config.json: block_out_channels\[1\] must be ≤ 8192"):
        latent.open(folder, "cpu")


def test_scheduler_settings_we_cannot_follow_are_refused(copy_of):
    folder = copy_of()
    scheduler = folder / "scheduler" / "scheduler_config.json"
    _edit_json(scheduler, timestep_spacing="sideways")
    with pytest.raises(InputError, match="unknown timestep_spacing 'sideways'"):
        latent.open(folder, "cpu")
    _edit_json(scheduler, timestep_spacing="leading", prediction_type="noise")
    with pytest.raises(InputError, match="unknown prediction_type 'noise'"):
        latent.open(folder, "cpu")


def test_pickled_weights_are_refused_unless_allowed_and_then_load_weights_only(copy_of):
    folder = copy_of()
    reference = latent.open(folder, "cpu")
    state = latent_parts(reference).text.text_encoder.state_dict()
    (folder / "text_encoder" / "model.safetensors").unlink()
    torch.save(state, folder / "text_encoder" / "pytorch_model.bin")
    with pytest.raises(InputError, match=r"text_encoder has only pickled weights \(pytorch_model.bin\).*--allow-pickle"):
        latent.open(folder, "cpu")
    loaded = latent.open(folder, "cpu", allow_pickle=True)
    prompt = latent_parts(loaded).text.encode("a cat").embeddings
    assert torch.equal(prompt, latent_parts(reference).text.encode("a cat").embeddings)


def test_without_the_latent_extra_one_line_says_how_to_install_it(toy_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers → ImportError
    with pytest.raises(InputError, match=r'pip install "diffusion-studio\[latent\]"'):
        latent.open(toy_dir, "cpu")


def test_precisions_follow_the_device():
    cpu = torch.device("cpu")
    assert latent.torch_dtype(cpu) == torch.float32 and latent.torch_dtype(torch.device("cuda", 0)) == torch.float16
    assert latent.torch_dtype(torch.device("cuda", 0), "float32") == torch.float32
    with pytest.raises(InputError, match="float16 is for GPUs"):
        latent.torch_dtype(cpu, "float16")
    with pytest.raises(InputError, match="unknown precision"):
        latent.torch_dtype(cpu, "int8")


def test_the_preview_is_fitted_to_the_models_vae(toy_dir):
    preview = latent_parts(open_toy(toy_dir)).preview
    assert preview.weights.shape == (4, 3) and preview.bias.shape == (3,) and preview.samples == 14 * 8 * 8
    assert np.all(np.isfinite(preview.weights)) and preview.r2 <= 1.0


def test_the_bundled_demo_model_draws_what_it_is_asked_for():
    from diffusion_studio.core.stopping import StopFlag
    from diffusion_studio.core.text_to_image.generate import GenerationSettings, compare_prompt_requests, generate

    loaded = latent.open(latent.DEMO_SPEC, "cpu")
    assert latent_parts(loaded).native_size == 32 and latent_parts(loaded).text.max_tokens == 14
    assert open_model("demo", device="cpu").source == "run"  # to open_model, "demo" stays the pixel model
    settings = GenerationSettings(steps=10, width=32, height=32, guidance_scale=5.0, seed=1)
    finals = {}
    for event in generate(loaded, compare_prompt_requests(settings, ["a red seven", "a blue two"]), StopFlag(),
                          estimate_time=False):
        for frame in getattr(event, "frames", []):
            if frame.is_final:
                finals[event.chain] = loaded.decode(torch.from_numpy(frame.x_t.copy()))[0]
    red, blue = finals[0], finals[1]
    bright = lambda image: image[:, image.mean(0) > -0.5]  # noqa: E731 - the strokes, not the black ground
    assert bright(red)[0].mean() > bright(red)[2].mean() + 0.5  # red strokes
    assert bright(blue)[2].mean() > bright(blue)[0].mean() + 0.5  # blue strokes


def test_a_missing_demo_model_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(latent, "demo_folder", lambda: tmp_path / "not-installed")
    with pytest.raises(InputError, match="bundled demo text-to-image model is missing"):
        latent.open("demo", "cpu")


def test_the_pixel_sampling_paths_send_a_latent_model_to_text_to_image(toy_dir, tmp_path, capsys):
    from diffusion_studio.cli import main
    from diffusion_studio.core.sampling import load_for_sampling

    with pytest.raises(InputError, match="is a text-to-image \\(latent\\) model: open it in the Text to image tab"):
        load_for_sampling(toy_dir, "cpu")
    assert main(["sample", str(toy_dir), "--out-dir", str(tmp_path), "--quiet", "--device", "cpu"]) == 2
    assert "diffusion-studio generate" in capsys.readouterr().err
