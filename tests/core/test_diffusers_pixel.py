"""diffusers pixel models (core.model_sources.diffusers_pixel): every layout opens; our chains are the pipelines'
samples; everything unusable is refused with a reason, before anything is built from it."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch
from diffusers import DDIMPipeline, DDPMPipeline, DDPMScheduler

from diffusion_studio.core.chain import run_chain
from diffusion_studio.core.diffusers_export import export_diffusers
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.model_sources import diffusers_pixel, hub, open_model
from diffusion_studio.core.sampling import SamplerSettings, sample_chains, sampler_for
from diffusion_studio.core.schedules import make_schedule, to_diffusers_config
from tests.diffusers_models import SIZE, save_bare_unet, save_pipeline, tiny_scheduler, tiny_unet, update_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------------- opening


def test_a_pipeline_folder_opens_with_its_facts(tmp_path):
    save_pipeline(tmp_path / "pipe")
    loaded = open_model(tmp_path / "pipe", device="cpu")
    assert loaded.source == "diffusers" and loaded.image_size == SIZE and loaded.channels == 3
    assert loaded.prediction == "epsilon" and loaded.variance == "fixed_small" and loaded.clip_sample
    assert loaded.schedule == make_schedule("cosine", 50)
    assert loaded.num_parameters == sum(p.numel() for p in tiny_unet().parameters())
    assert loaded.model(torch.zeros(2, 3, SIZE, SIZE), torch.tensor([3, 4])).shape == (2, 3, SIZE, SIZE)
    line = loaded.describe()
    assert "8×8 RGB" in line and "ε-prediction" in line and "squaredcos_cap_v2 T = 50" in line and "k params" in line
    assert loaded.extra["notes"] == () and loaded.extra["dtype"] == "float32"
    # its unet/ folder and its weights file open the same model, with the pipeline's scheduler
    for spec in (tmp_path / "pipe" / "unet", tmp_path / "pipe" / "unet" / diffusers_pixel.WEIGHTS_NAME):
        assert open_model(spec, device="cpu").schedule == loaded.schedule


def test_a_bare_unet_folder_opens_with_or_without_a_scheduler_config(tmp_path):
    scheduler = tiny_scheduler(prediction_type="v_prediction", clip_sample=False, variance_type="fixed_large")
    with_config = open_model(save_bare_unet(tmp_path / "a", scheduler=scheduler), device="cpu")
    assert with_config.prediction == "v_prediction" and not with_config.clip_sample
    assert with_config.variance == "fixed_large" and with_config.schedule.num_timesteps == 50

    without = open_model(save_bare_unet(tmp_path / "b", with_scheduler=False), device="cpu")
    assert without.schedule == make_schedule("linear", 1000, beta_start=1e-4, beta_end=0.02)
    assert without.prediction == "epsilon" and "no scheduler config" in without.extra["notes"][0]


def test_a_cached_hub_id_opens_offline_and_an_uncached_one_says_what_to_do(tmp_path, fake_hub_cache):
    fake_hub_cache("someone/tiny-ddpm", save_pipeline(tmp_path / "pipe"))
    loaded = open_model("someone/tiny-ddpm", device="cpu")
    assert loaded.extra["hub_id"] == "someone/tiny-ddpm" and loaded.image_size == SIZE
    with pytest.raises(hub.NotCachedError, match=r"google/ddpm-cifar10-32 is neither a folder here nor .*cache.*"
                                                 r"HF_HUB_OFFLINE is set") as info:
        open_model("google/ddpm-cifar10-32", device="cpu")
    assert info.value.repo_id == "google/ddpm-cifar10-32"
    with pytest.raises(InputError, match="HF_HUB_OFFLINE"):  # asked to download while offline
        open_model("google/ddpm-cifar10-32", device="cpu", download=True)


def test_downloading_fetches_configs_first_then_only_the_unet_weights(tmp_path, monkeypatch):
    source = save_pipeline(tmp_path / "pipe")
    (source / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"a pickle we never want")
    asked = []

    def fake_download(repo_id, *, allow_patterns, progress=None, should_stop=None, revision=None):
        from huggingface_hub.utils import filter_repo_objects

        asked.append(tuple(allow_patterns))
        snapshot = tmp_path / "snapshot"
        for name in filter_repo_objects([str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()],
                                        allow_patterns=list(allow_patterns)):
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / name, snapshot / name)
        progress(10, 10)
        return snapshot

    monkeypatch.setattr(hub, "download_snapshot", fake_download)
    reports = []
    loaded = open_model("owner/pixels", device="cpu", download=True, progress=lambda *a: reports.append(a))
    assert loaded.image_size == SIZE and reports
    assert asked[0] == ("*.json",) and not any(".bin" in p for p in asked[1])
    assert not (tmp_path / "snapshot" / "unet" / "diffusion_pytorch_model.bin").exists()


def test_a_hub_model_with_only_pickled_weights_is_refused_before_they_are_fetched(tmp_path, monkeypatch):
    source = save_pipeline(tmp_path / "pipe")
    asked = []

    def fake_download(repo_id, *, allow_patterns, progress=None, should_stop=None, revision=None):
        asked.append(tuple(allow_patterns))
        return source

    monkeypatch.setattr(hub, "download_snapshot", fake_download)
    monkeypatch.setattr(hub, "repo_files", lambda repo_id: ["model_index.json", "unet/config.json",
                                                            "unet/diffusion_pytorch_model.bin"])
    with pytest.raises(InputError, match=r"owner/old has only pickled weights on the Hub .*--allow-pickle"):
        open_model("owner/old", device="cpu", download=True)
    assert asked == [("*.json",)]  # nothing but the configs was fetched


def test_a_class_conditional_export_keeps_its_class_names_and_null_label(tmp_path):
    from tests.core.test_diffusers_export import make_run

    make_run(tmp_path / "run", make_schedule("cosine", 20), num_classes=3)
    export_diffusers(tmp_path / "run", tmp_path / "pipe")
    loaded = open_model(tmp_path / "pipe", device="cpu")
    assert loaded.class_names == ("class 0", "class 1", "class 2") and loaded.extra["null_class"] == 3
    x, t = torch.randn(2, 1, SIZE, SIZE), torch.tensor([5, 5])
    unconditional = loaded.model(x, t)
    torch.testing.assert_close(unconditional, loaded.model(x, t, class_labels=torch.tensor([3, 3])))
    assert not torch.allclose(unconditional, loaded.model(x, t, class_labels=torch.tensor([0, 1])))


def test_an_exported_run_opens_with_our_schedule_back(tmp_path):
    from tests.core.test_diffusers_export import make_run

    schedule = make_schedule("quadratic", 20)  # exported as trained_betas: comes back by name
    make_run(tmp_path / "run", schedule, prediction="v_prediction")
    export_diffusers(tmp_path / "run", tmp_path / "pipe")
    loaded = open_model(tmp_path / "pipe", device="cpu")
    assert loaded.schedule == schedule and loaded.prediction == "v_prediction" and loaded.step == 7


# ---------------------------------------------------------------------------- exact


def _recorder(network, inputs):
    def model(x, t, **conditioning):
        inputs.append(x.clone())
        return network(x, t, **conditioning)

    return model


def _our_chain(loaded, settings):
    inputs = []
    frames = list(run_chain(_recorder(loaded.model, inputs), sampler_for(loaded, settings), num_samples=2,
                            seed=settings.seed, image_size=loaded.image_size, channels=loaded.channels))
    return inputs, frames[-1].x_t


def _their_chain(pipeline, **call):
    inputs = []
    pipeline.set_progress_bar_config(disable=True)
    handle = pipeline.unet.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].clone()))
    try:
        images = pipeline(batch_size=2, output_type="np", **call).images
    finally:
        handle.remove()
    return inputs, images


def _assert_same_chain(ours, theirs, atol):
    our_inputs, our_final = ours
    their_inputs, their_images = theirs
    assert len(our_inputs) == len(their_inputs)
    for step, (a, b) in enumerate(zip(our_inputs, their_inputs)):
        torch.testing.assert_close(a, b, rtol=0, atol=atol, msg=f"x_t of step {step}")
    # the final frame is our uint8 conversion of the samples; theirs is (x/2 + 0.5) in float
    theirs_uint8 = np.clip(np.floor(their_images * 255.0 + 0.5), 0, 255)
    assert np.abs(our_final.astype(float) - theirs_uint8).max() <= (0 if atol == 0 else 1)
    assert our_final.std() > 5  # pictures, not a constant


def _with_float64_schedule(pipeline, loaded):
    """diffusers keeps ᾱ in float32, so 1 − ᾱ_t near t = 0 is off by ~1e-3 of itself; give it ours in float64."""
    from tests.core.test_samplers import _float64_oracle

    _float64_oracle(pipeline.scheduler, loaded.schedule)
    return pipeline


SCHEDULERS = {
    "cosine": dict(beta_schedule="squaredcos_cap_v2"),
    "our quadratic as trained_betas": to_diffusers_config(make_schedule("quadratic", 50)),
}


def _pipeline_folder(tmp_path, scheduler: str):
    config = {"num_train_timesteps": 50, **SCHEDULERS[scheduler]}
    return save_pipeline(tmp_path / "pipe", scheduler=DDPMScheduler.from_config(config))


@pytest.mark.parametrize("scheduler", list(SCHEDULERS), ids=list(SCHEDULERS))
def test_our_ddpm_chain_is_ddpm_pipelines(tmp_path, scheduler):
    folder = _pipeline_folder(tmp_path, scheduler)
    loaded = open_model(folder, device="cpu")
    ours = _our_chain(loaded, SamplerSettings(sampler="ddpm", steps=50, seed=3))
    for float64, atol in ((False, 2e-4), (True, 0.0)):  # float32 round-off; none at all given the same ᾱ
        pipeline = DDPMPipeline.from_pretrained(folder)
        if float64:
            _with_float64_schedule(pipeline, loaded)
        theirs = _their_chain(pipeline, num_inference_steps=50, generator=torch.Generator().manual_seed(3))
        _assert_same_chain(ours, theirs, atol)


@pytest.mark.parametrize("eta", [0.0, 0.6])
@pytest.mark.parametrize("scheduler", list(SCHEDULERS), ids=list(SCHEDULERS))
def test_our_ddim_chain_is_ddim_pipelines(tmp_path, scheduler, eta):
    folder = _pipeline_folder(tmp_path, scheduler)
    loaded = open_model(folder, device="cpu")
    ours = _our_chain(loaded, SamplerSettings(sampler="ddim", steps=10, eta=eta, seed=5))
    for float64, atol in ((False, 2e-4), (True, 0.0)):
        pipeline = DDIMPipeline.from_pretrained(folder)
        if float64:
            _with_float64_schedule(pipeline, loaded)
        theirs = _their_chain(pipeline, num_inference_steps=10, eta=eta, generator=torch.Generator().manual_seed(5))
        _assert_same_chain(ours, theirs, atol)


def test_the_scheduler_configs_spacing_reaches_our_ddim(tmp_path):
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=50, beta_schedule="squaredcos_cap_v2", timestep_spacing="trailing",
                              set_alpha_to_one=False)
    save_pipeline(tmp_path / "pipe", scheduler=scheduler)
    loaded = open_model(tmp_path / "pipe", device="cpu")
    sampler = sampler_for(loaded, SamplerSettings(sampler="ddim", steps=10))
    assert sampler.spacing == "trailing" and not sampler.set_alpha_to_one
    pipeline = _with_float64_schedule(DDIMPipeline.from_pretrained(tmp_path / "pipe"), loaded)
    theirs = _their_chain(pipeline, num_inference_steps=10, generator=torch.Generator().manual_seed(0))
    _assert_same_chain(_our_chain(loaded, SamplerSettings(sampler="ddim", steps=10, seed=0)), theirs, 0.0)


def test_the_sample_panels_generator_runs_on_a_diffusers_model(tmp_path):
    from diffusion_studio.core.sampling import ChainRequest, FrameBatch, ModelReady
    from diffusion_studio.core.stopping import StopFlag

    save_pipeline(tmp_path / "pipe")
    photo = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    requests = [ChainRequest("plain", SamplerSettings(sampler="dpm_solver", steps=5, batch_size=2, device="cpu")),
                ChainRequest("sdedit", SamplerSettings(steps=10, batch_size=2, device="cpu"), start_image=photo,
                             start_t=25)]
    events = list(sample_chains(str(tmp_path / "pipe"), requests, StopFlag(), device="cpu"))
    assert isinstance(events[0], ModelReady) and events[0].loaded.source == "diffusers"
    finals = [f for e in events if isinstance(e, FrameBatch) for f in e.frames if f.is_final]
    assert len(finals) == 2 and finals[0].x_t.shape == (2, SIZE, SIZE, 3)


# ---------------------------------------------------------------------------- refused


def test_pickled_weights_are_refused_unless_allowed_and_then_read_weights_only(tmp_path):
    folder = save_bare_unet(tmp_path / "unet")
    weights = folder / diffusers_pixel.WEIGHTS_NAME
    from safetensors.torch import load_file

    torch.save(load_file(weights), folder / "diffusion_pytorch_model.bin")
    weights.unlink()
    with pytest.raises(InputError, match=r"only pickled weights .*convert them .*save_pretrained.*--allow-pickle"):
        open_model(folder, device="cpu")
    loaded = open_model(folder, device="cpu", allow_pickle=True)
    assert "weights_only" in loaded.extra["notes"][0]
    torch.testing.assert_close(loaded.model.unet.state_dict(), tiny_unet().state_dict())


class _Payload:
    def __reduce__(self):
        return (print, ("this pickle ran code",))


def test_allowed_pickles_still_never_run_code(tmp_path, capsys):
    folder = save_bare_unet(tmp_path / "unet")
    (folder / diffusers_pixel.WEIGHTS_NAME).unlink()
    torch.save({"conv_in.weight": _Payload()}, folder / "diffusion_pytorch_model.bin")
    with pytest.raises(InputError, match="damaged or holds more than plain tensors"):
        open_model(folder, device="cpu", allow_pickle=True)
    assert "ran code" not in capsys.readouterr().out


def test_pickles_need_a_torch_whose_weights_only_loader_is_safe(tmp_path, monkeypatch):
    folder = save_bare_unet(tmp_path / "unet")
    (folder / diffusers_pixel.WEIGHTS_NAME).unlink()
    torch.save(tiny_unet().state_dict(), folder / "diffusion_pytorch_model.bin")
    monkeypatch.setattr(torch, "__version__", "2.5.1")
    with pytest.raises(InputError, match=r"torch ≥ 2.6"):
        open_model(folder, device="cpu", allow_pickle=True)


def test_text_to_image_models_are_sent_to_the_text_to_image_panel(tmp_path):
    folder = save_bare_unet(tmp_path / "unet")
    update_json(folder / "config.json", {"_class_name": "UNet2DConditionModel"})
    with pytest.raises(InputError, match="Text to image tab.*diffusion-studio generate"):
        open_model(folder, device="cpu")
    sd = tmp_path / "sd"
    sd.mkdir()
    (sd / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "text_encoder": ["transformers", "CLIPTextModel"], "vae": ["diffusers", "AutoencoderKL"]}))
    # a Stable Diffusion folder goes to the latent source, which says what this one lacks
    with pytest.raises(InputError, match="has no unet/.*a Stable Diffusion pipeline folder has"):
        open_model(sd, device="cpu")


@pytest.mark.parametrize("file, change, message", [
    ("config.json", {"sample_size": 8, "block_out_channels": [8, 17]}, "cannot build"),  # 17 channels in 4 groups
    ("config.json", {"sample_size": [8, 16]}, "only square"),
    ("config.json", {"time_embedding_type": None}, "cannot build"),  # diffusers: UnboundLocalError
    ("config.json", {"sample_size": None}, "sample_size"),
    ("config.json", {"block_out_channels": [100_000, 16]}, "block_out_channels"),
    ("config.json", {"layers_per_block": 1000}, "layers_per_block"),
    ("config.json", {"in_channels": 1, "out_channels": 1}, "do not fit"),
    ("config.json", {"out_channels": 4}, "do not fit"),
    ("config.json", {"_class_name": "AutoencoderKL"}, "not a UNet2DModel"),
    ("config.json", {"class_embed_type": "timestep"}, "not supported"),
    ("scheduler_config.json", {"_class_name": "ScoreSdeVeScheduler"}, "not a discrete β-schedule scheduler"),
    ("scheduler_config.json", {"prediction_type": "flow"}, "prediction_type"),
    ("scheduler_config.json", {"variance_type": "learned"}, "variance_type"),
    ("scheduler_config.json", {"beta_schedule": "exponential"}, "beta_schedule"),
    ("scheduler_config.json", {"timestep_spacing": "random"}, "timestep_spacing"),
    ("scheduler_config.json", {"variance_type": "learned_range"}, "needs 6"),
])
def test_configs_that_do_not_describe_these_weights_are_refused(tmp_path, file, change, message):
    folder = save_bare_unet(tmp_path / "unet")
    update_json(folder / file, change)
    with pytest.raises(InputError, match=message):
        open_model(folder, device="cpu")


def test_half_precision_is_refused_on_the_cpu_and_half_weights_run_in_float32_there(tmp_path):
    save_pipeline(tmp_path / "pipe", unet=tiny_unet().half())
    with pytest.raises(InputError, match="float16 runs only on a GPU"):
        open_model(tmp_path / "pipe", device="cpu", dtype="float16")
    loaded = open_model(tmp_path / "pipe", device="cpu")
    assert loaded.extra["dtype"] == "float32" and next(loaded.model.parameters()).dtype == torch.float32


def test_weights_in_diffusers_old_attention_names_are_renamed(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = save_bare_unet(tmp_path / "unet")
    state = load_file(folder / diffusers_pixel.WEIGHTS_NAME)
    old_names = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}
    legacy = {}
    for name, tensor in state.items():
        for new, old in old_names.items():
            name = name.replace(new, old)
        legacy[name] = tensor
    assert any(".query." in n for n in legacy)
    save_file(legacy, folder / diffusers_pixel.WEIGHTS_NAME)
    loaded = open_model(folder, device="cpu")
    torch.testing.assert_close(loaded.model.unet.state_dict(), tiny_unet().state_dict())


def test_without_diffusers_the_message_says_how_to_install_it(tmp_path, monkeypatch):
    folder = save_bare_unet(tmp_path / "unet")
    monkeypatch.setitem(sys.modules, "diffusers", None)  # what an uninstalled package looks like to import
    with pytest.raises(InputError, match=r'pip install "diffusion-studio\[diffusers\]"'):
        open_model(folder, device="cpu")
