"""core.sampling: settings → sampler, SDEdit start images, chains as events, many samples in chunks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion_studio.core.chain import ChainFrame, ChainProgress, run_chain
from diffusion_studio.core.checkpoint import load_model, save_checkpoint
from diffusion_studio.core.sampling import (
    ChainRequest,
    ChainStarted,
    FrameBatch,
    ModelReady,
    SamplerSettings,
    StopFlag,
    build_sampler,
    chunk_size_for,
    prepare_start_image,
    sample_chains,
    sample_in_chunks,
)
from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.core.unet import UNet
from diffusion_studio.core.validation import ConfigError, validated

T, SIZE = 40, 8


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    torch.manual_seed(0)
    model = UNet(in_channels=1, out_channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                 attention_resolutions=(), dropout=0.0, image_size=SIZE)
    for p in model.parameters():  # an untrained net outputs zeros: give it something to say
        torch.nn.init.normal_(p, std=0.05)
    config = {"version": 1, "model": model.config, "schedule": make_schedule("linear", T).to_config(),
              "prediction": "epsilon", "image_size": SIZE, "channels": 1, "train": {}, "dataset": {}}
    folder = tmp_path_factory.mktemp("run")
    save_checkpoint(folder, model=model, ema_model=model, train_state={}, config=config, step=1)
    return load_model(folder)


def test_settings_accept_aliases_and_refuse_bad_values_with_one_line():
    assert SamplerSettings(sampler="DPM++2M").sampler == "dpm_solver"
    for bad, words in (({"sampler": "euler"}, "unknown sampler 'euler'"), ({"steps": 0}, "--steps must be ≥ 1"),
                       ({"eta": float("nan")}, "--eta must be a finite number"), ({"seed": 2**64}, "--seed must be ≤"),
                       ({"batch_size": 0}, "batch_size must be ≥ 1")):
        with pytest.raises(ConfigError, match=words):
            validated(SamplerSettings, bad, what="sample", labels={"steps": "--steps", "eta": "--eta", "seed": "--seed"})


def test_every_sampler_clips_x0_unless_the_model_says_otherwise(loaded):
    for name in ("ddpm", "ddim", "dpm_solver"):
        sampler = build_sampler(loaded.schedule, loaded.prediction, SamplerSettings(sampler=name, steps=10))
        assert sampler.clip_sample and sampler.num_steps == 10 and sampler.prediction == "epsilon"
    latent = build_sampler(loaded.schedule, "v_prediction", SamplerSettings(sampler="ddim", steps=5), clip_sample=False)
    assert not latent.clip_sample and latent.prediction == "v_prediction"


def test_steps_beyond_t_mean_the_whole_chain(loaded):
    assert build_sampler(loaded.schedule, "epsilon", SamplerSettings(sampler="ddpm", steps=10**5)).num_steps == T
    assert build_sampler(loaded.schedule, "epsilon", SamplerSettings(sampler="ddim", steps=10**5)).num_steps == T
    assert build_sampler(loaded.schedule, "epsilon", SamplerSettings(sampler="dpm_solver", steps=10**5)).num_steps == T - 1


def test_start_image_is_centre_square_in_model_range():
    image = np.zeros((30, 50, 3), dtype=np.uint8)
    image[:, 6:44] = 255  # the centre square (columns 10…39) is white, the far sides black
    x0 = prepare_start_image(image, SIZE, 1)
    assert x0.shape == (1, SIZE, SIZE) and x0.dtype == np.float32
    assert np.allclose(x0, 1.0)
    assert prepare_start_image(image[:, :, :1], SIZE, 3).shape == (3, SIZE, SIZE)


def test_sample_chains_yields_model_then_chain_then_frames_in_order(loaded):
    settings = SamplerSettings(sampler="ddim", steps=5, batch_size=2, seed=1)
    events = list(sample_chains(loaded, [ChainRequest("a", settings), ChainRequest("b", settings.with_(seed=2))],
                                StopFlag(), min_interval_s=0.0))
    assert isinstance(events[0], ModelReady)
    started = [e for e in events if isinstance(e, ChainStarted)]
    assert [s.label for s in started] == ["a", "b"] and started[0].settings == settings
    assert started[0].timesteps == tuple(build_sampler(loaded.schedule, "epsilon", settings).timesteps.tolist())
    for chain in (0, 1):
        frames = [f for e in events if isinstance(e, FrameBatch) and e.chain == chain for f in e.frames]
        assert [f.index for f in frames] == list(range(6)) and frames[-1].is_final


def test_sdedit_request_starts_at_its_t(loaded):
    settings = SamplerSettings(sampler="ddim", steps=10, batch_size=1)
    image = np.full((16, 16), 200, dtype=np.uint8)
    events = list(sample_chains(loaded, [ChainRequest("sdedit", settings, start_image=image, start_t=15)],
                                StopFlag(), min_interval_s=0.0))
    started = next(e for e in events if isinstance(e, ChainStarted))
    assert started.timesteps[0] <= 15


@pytest.mark.parametrize("how", ["stop flag", "generator closed"])
def test_an_interrupted_chain_leaves_the_thread_out_of_inference_mode(loaded, how):
    # Worker threads are pooled: a chain abandoned inside torch.inference_mode() would break the
    # next job on that thread (training: "does not require grad").
    settings = SamplerSettings(sampler="ddpm", steps=T, batch_size=1)
    stop = StopFlag()
    chains = sample_chains(loaded, [ChainRequest("x", settings)], stop, min_interval_s=0.0)
    first = next(item for item in chains if isinstance(item, FrameBatch))
    assert first.frames and torch.is_inference_mode_enabled()  # suspended inside the chain
    if how == "stop flag":
        stop.set()
        rest = list(chains)
        assert not any(isinstance(batch, FrameBatch) and batch.done for batch in rest)
    else:
        chains.close()
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()


def test_chunks_are_panel_chains_with_consecutive_seeds(loaded):
    settings = SamplerSettings(sampler="ddim", steps=4, seed=5)
    events = list(sample_in_chunks(loaded, settings, 5, stride=2, chunk_size=2))
    progress, merged = events[:-1], events[-1]
    assert all(isinstance(p, ChainProgress) for p in progress)
    assert [p.step for p in progress][-1] == progress[-1].total == 3 * 4  # three chunks of four steps
    assert all(b.step >= a.step for a, b in zip(progress, progress[1:]))
    assert [f.index for f in merged] == [0, 2, 4] and merged[-1].is_final
    assert merged[-1].x_t.shape == (5, SIZE, SIZE, 1)
    sampler = build_sampler(loaded.schedule, loaded.prediction, settings)
    for k, rows in enumerate((slice(0, 2), slice(2, 4), slice(4, 5))):
        alone = [f for f in run_chain(loaded.model, sampler, num_samples=rows.stop - rows.start, seed=5 + k,
                                      image_size=SIZE, channels=1, stride=2) if isinstance(f, ChainFrame)]
        for ours, reference in zip(merged, alone):
            assert np.array_equal(ours.x_t[rows], reference.x_t)
            assert np.array_equal(ours.pred_x0[rows], reference.pred_x0)


def test_chunk_size_depends_on_the_model_not_the_machine(loaded):
    first = chunk_size_for(loaded)
    assert first == chunk_size_for(loaded) >= 1
    assert chunk_size_for(loaded, budget_bytes=1) == 1


def test_a_stopped_chunked_run_yields_no_samples(loaded):
    stop = StopFlag()
    stop.set()
    events = list(sample_in_chunks(loaded, SamplerSettings(sampler="ddim", steps=4), 3, stride=4, chunk_size=2,
                                   should_stop=stop))
    assert not any(isinstance(e, list) for e in events)


def test_frame_batches_count_every_step_even_between_kept_frames(loaded, monkeypatch):
    from diffusion_studio.core import chain

    monkeypatch.setattr(chain, "stride_for_budget", lambda *args, **kwargs: 7)  # as for a big batch
    settings = SamplerSettings(sampler="ddpm", steps=T, batch_size=2)
    events = list(sample_chains(loaded, [ChainRequest("a", settings)], StopFlag(), min_interval_s=0.0))
    batches = [e for e in events if isinstance(e, FrameBatch)]
    steps = [b.steps_done for b in batches]
    assert steps == sorted(steps) and steps[-1] == T and batches[-1].done
    assert len(set(steps)) == T  # one report per model call at min_interval_s = 0, frames or not
    frames = [f for b in batches for f in b.frames]
    assert [f.index for f in frames] == [0, 7, 14, 21, 28, 35, T] and frames[-1].is_final


def test_a_chain_estimate_is_its_model_calls_at_its_batch_size(loaded):
    from diffusion_studio.core.sampling import StepTime, estimate_chain_seconds, time_model_step

    timed = time_model_step(loaded)
    assert timed is not None and timed.fixed >= 0 and timed.per_sample >= 0 and 0 < timed.for_batch(1) < 5
    step = StepTime(fixed=0.02, per_sample=0.5)
    settings = SamplerSettings(sampler="ddim", steps=20, batch_size=3)
    assert estimate_chain_seconds(loaded, settings, step) == pytest.approx(20 * (0.02 + 3 * 0.5))
    assert estimate_chain_seconds(loaded, settings.with_(sampler="ddpm", steps=10_000), step) == pytest.approx(
        T * 1.52)  # DDPM never runs more than T steps


def test_big_models_get_a_few_samples_with_dpm_solver_20(loaded):
    from diffusion_studio.core.sampling import StepTime, is_big_model, settings_for_big_model

    assert not is_big_model(loaded, StepTime(0.01, 0.001)) and is_big_model(loaded, StepTime(0.0, 1.2))
    assert not is_big_model(loaded, None)
    big = settings_for_big_model(SamplerSettings(sampler="ddpm", steps=1000, batch_size=16, seed=7))
    assert (big.sampler, big.steps, big.batch_size, big.seed) == ("dpm_solver", 20, 4, 7)
    assert settings_for_big_model(SamplerSettings(batch_size=2)).batch_size == 2


def test_the_frames_of_a_256_px_rgb_batch_stay_within_the_frame_budget():
    from diffusion_studio.core.chain import DEFAULT_FRAME_BUDGET_BYTES, estimate_chain_bytes, stride_for_budget

    for steps, batch in ((1000, 16), (50, 16), (20, 4), (1000, 64)):
        stride = stride_for_budget(steps, batch, 256, 3)
        assert estimate_chain_bytes(steps, batch, 256, 3, stride) <= DEFAULT_FRAME_BUDGET_BYTES
        assert stride == 1 or estimate_chain_bytes(steps, batch, 256, 3, stride - 1) > DEFAULT_FRAME_BUDGET_BYTES


@pytest.mark.parametrize("lockstep", [False, True])
def test_out_of_memory_in_a_chain_is_a_message_naming_half_the_batch(loaded, monkeypatch, lockstep):
    from diffusion_studio.core.errors import InputError

    calls = []
    real_forward = loaded.model.forward

    def forward(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(loaded.model, "forward", forward)
    settings = SamplerSettings(sampler="ddim", steps=5, batch_size=6, device="cpu")
    with pytest.raises(InputError, match="ran out of memory with batch size 6 .* Try a batch size of 3"):
        list(sample_chains(loaded, [ChainRequest("a", settings)], StopFlag(), min_interval_s=0.0, lockstep=lockstep))
    monkeypatch.undo()
    assert list(sample_in_chunks(loaded, settings, 2, stride=5))  # the model is untouched: it samples again
