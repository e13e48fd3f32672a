"""The reverse chain: frames, stride, memory, reproducibility, stopping, SDEdit and pairing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion_studio.core.chain import (
    ChainFrame,
    ChainProgress,
    LatentFrame,
    chain_frame_count,
    estimate_chain_bytes,
    nearest_frame_index,
    pair_by_noise_level,
    run_chain,
    sample_hw,
    stride_for_budget,
    to_uint8_images,
)
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.forward import q_sample
from diffusion_studio.core.images import float_to_uint8
from diffusion_studio.core.samplers import DDIMSampler, DDPMSampler, DPMSolverSampler
from diffusion_studio.core.schedules import make_schedule

SCHEDULE = make_schedule("linear", 100)
SIZE, CHANNELS = 8, 3


class DummyModel:
    """ε̂ as a fixed deterministic function of (x, t); records that it ran under inference mode."""

    def __init__(self):
        self.calls = 0
        self.inference_mode = []

    def __call__(self, x, t):
        self.calls += 1
        self.inference_mode.append(torch.is_inference_mode_enabled())
        assert t.dtype == torch.long and t.shape == (x.shape[0],)
        return 0.9 * x + 0.05 * torch.sin(t.float() / 10.0).view(-1, 1, 1, 1)


def _chain(sampler, **kw):
    kw = {"num_samples": 2, "seed": 0, "image_size": SIZE, "channels": CHANNELS, **kw}
    return list(run_chain(DummyModel(), sampler, **kw))


@pytest.mark.parametrize("stride", [1, 3, 7, 20, 50])
def test_stride_keeps_first_and_final_frames_and_bytes_match_the_estimate(stride):
    sampler = DDIMSampler(SCHEDULE, num_steps=20)
    frames = _chain(sampler, stride=stride)
    indices = [f.index for f in frames]
    assert indices == list(range(0, 20, stride)) + [20]
    assert len(frames) == chain_frame_count(20, stride)
    assert frames[0].t == sampler.timesteps[0] and not frames[0].is_final
    assert frames[-1].is_final and frames[-1].t == -1 and frames[-1].alphas_cumprod == 1.0
    assert [f.t for f in frames[:-1]] == sampler.timesteps[::stride].tolist()
    for frame in frames:
        for view in (frame.x_t, frame.pred_x0, frame.pred_noise):
            assert view.dtype == np.uint8 and view.shape == (2, SIZE, SIZE, CHANNELS)
            assert not view.flags.writeable
    assert sum(f.nbytes for f in frames) == estimate_chain_bytes(20, 2, SIZE, CHANNELS, stride)


def test_memory_math_for_a_1000_step_chain_of_64_images_at_64px():
    per_frame = 3 * 64 * 64 * 64 * 3  # three uint8 views of 64 RGB images at 64²: 2.25 MiB
    assert estimate_chain_bytes(1000, 64, 64, 3, stride=1) == 1001 * per_frame  # ≈ 2.2 GiB: too much
    stride = stride_for_budget(1000, 64, 64, 3, budget_bytes=1 << 30)
    assert stride == 3
    assert estimate_chain_bytes(1000, 64, 64, 3, stride=3) == 335 * per_frame == 790_364_160 < 1 << 30
    assert estimate_chain_bytes(1000, 64, 64, 3, stride=2) > 1 << 30
    assert estimate_chain_bytes(1000, 64, 64, 1, stride=1) < 1 << 30  # grayscale fits at stride 1


def test_non_square_chains_keep_latent_frames_as_float_and_their_final_is_the_chains_result():
    sampler = DDIMSampler(SCHEDULE, num_steps=6)
    kw = {"num_samples": 2, "seed": 4, "image_size": (4, 6), "channels": CHANNELS, "stride": 2}
    latents = list(run_chain(DummyModel(), sampler, keep_latents=True, **kw))
    images = list(run_chain(DummyModel(), sampler, **kw))
    assert [f.index for f in latents] == [f.index for f in images] == [0, 2, 4, 6]
    for latent, image in zip(latents, images):
        assert isinstance(latent, LatentFrame) and (latent.t, latent.is_final) == (image.t, image.is_final)
        for view in (latent.x_t, latent.pred_x0, latent.pred_noise):
            assert view.dtype == np.float32 and view.shape == (2, CHANNELS, 4, 6) and not view.flags.writeable
        assert image.x_t.shape == (2, 4, 6, CHANNELS)
        assert np.array_equal(to_uint8_images(torch.from_numpy(latent.x_t.copy())), image.x_t)
    assert sum(f.nbytes for f in latents) == estimate_chain_bytes(6, 2, (4, 6), CHANNELS, 2, bytes_per_value=4)
    assert stride_for_budget(6, 2, (4, 6), CHANNELS, budget_bytes=latents[0].nbytes * 4, bytes_per_value=4) == 2
    assert sample_hw(5) == (5, 5) and sample_hw((3, 7)) == (3, 7)
    with pytest.raises(InputError, match="at least 1×1"):
        sample_hw((0, 4))


def test_auto_stride_respects_the_budget():
    sampler = DDPMSampler(SCHEDULE)
    budget = 30 * 3 * 2 * SIZE * SIZE * CHANNELS  # room for 30 frames
    frames = _chain(sampler, stride="auto", frame_budget_bytes=budget)
    assert sum(f.nbytes for f in frames) <= budget
    assert len(frames) == chain_frame_count(100, stride_for_budget(100, 2, SIZE, CHANNELS, budget))


@pytest.mark.parametrize("sampler_cls", [DDPMSampler, DDIMSampler, DPMSolverSampler])
def test_same_seed_same_frames_and_final_equals_a_manual_loop(sampler_cls):
    options = {"num_steps": 10} if sampler_cls is not DDPMSampler else {}
    if sampler_cls is DDIMSampler:
        options["eta"] = 1.0
    a = _chain(sampler_cls(SCHEDULE, **options), stride=2)
    b = _chain(sampler_cls(SCHEDULE, **options), stride=2)
    assert all(np.array_equal(fa.x_t, fb.x_t) and np.array_equal(fa.pred_x0, fb.pred_x0) for fa, fb in zip(a, b))
    c = _chain(sampler_cls(SCHEDULE, **options), stride=2, seed=1)
    assert not np.array_equal(a[-1].x_t, c[-1].x_t)

    # The same loop written out by hand: CPU generator for the start noise and each step's noise.
    sampler, model = sampler_cls(SCHEDULE, **options), DummyModel()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((2, CHANNELS, SIZE, SIZE), generator=generator)
    for t in sampler.timesteps.tolist():
        x = sampler.step(model(x, torch.full((2,), t)), t, x, generator=generator).prev_sample
    assert np.array_equal(a[-1].x_t, float_to_uint8(x))


def test_frames_show_x_t_x0_and_noise_of_the_same_step():
    sampler = DDIMSampler(SCHEDULE, num_steps=5, clip_sample=False)
    frames = _chain(sampler)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((2, CHANNELS, SIZE, SIZE), generator=generator)
    t = int(sampler.timesteps[0])
    eps = DummyModel()(x, torch.full((2,), t))
    assert np.array_equal(frames[0].x_t, float_to_uint8(x))
    assert np.array_equal(frames[0].pred_x0, float_to_uint8(sampler.predict_x0(eps, t, x)))
    assert np.array_equal(frames[0].pred_noise, float_to_uint8(eps / 2.5))
    assert np.array_equal(frames[-1].pred_x0, frames[-1].x_t)


def test_uint8_conversion_matches_core_images_and_survives_nan():
    x = torch.tensor([[[[-2.0, -1.0, -0.5, 0.0], [0.25, 0.999, 1.0, 3.0]]]])
    assert np.array_equal(to_uint8_images(x), float_to_uint8(x))
    weird = torch.tensor([[[[float("nan"), float("inf"), -float("inf")]]]])
    assert to_uint8_images(weird).flatten().tolist() == [128, 255, 0]


def test_runs_under_inference_mode_with_one_model_call_per_step():
    model = DummyModel()
    list(run_chain(model, DDIMSampler(SCHEDULE, num_steps=7), num_samples=1, seed=0, image_size=SIZE,
                   channels=1, device=torch.device("cpu")))
    assert model.calls == 7 and all(model.inference_mode)


def test_should_stop_ends_between_steps_without_a_final_frame():
    model, seen = DummyModel(), []

    def should_stop():
        return model.calls >= 4

    for frame in run_chain(model, DDPMSampler(SCHEDULE), num_samples=1, seed=0, image_size=SIZE, channels=1,
                           should_stop=should_stop):
        seen.append(frame)
    assert model.calls == 4
    assert [f.index for f in seen] == [0, 1, 2, 3] and not any(f.is_final for f in seen)


def test_progress_records_fill_the_steps_between_frames():
    items = _chain(DDIMSampler(SCHEDULE, num_steps=10), stride=5, progress=True)
    kinds = ["F" if isinstance(i, ChainFrame) else "p" for i in items]
    assert kinds == ["F", "p", "p", "p", "p", "F", "p", "p", "p", "p", "F"]
    assert isinstance(items[1], ChainProgress) and items[1].step == 2 and items[1].total == 10


def test_sdedit_from_a_clean_image_noises_it_to_the_chain_start():
    sampler = DDIMSampler(SCHEDULE, num_steps=20)  # timesteps 95, 90, …, 0
    x0 = torch.linspace(-1, 1, CHANNELS * SIZE * SIZE).reshape(CHANNELS, SIZE, SIZE)
    frames = _chain(sampler, start_image=x0, start_t=52)
    assert frames[0].t == 50 and len(frames) == 11 + 1 and frames[-1].index == 11
    generator = torch.Generator().manual_seed(0)
    x0_batch = x0.expand(2, *x0.shape)
    expected = q_sample(x0_batch, 50, torch.randn(x0_batch.shape, generator=generator), SCHEDULE)
    assert np.array_equal(frames[0].x_t, float_to_uint8(expected))
    # Giving the already-noised x_t as ``start`` runs the same deterministic chain (η = 0).
    again = _chain(DDIMSampler(SCHEDULE, num_steps=20), start=expected, start_t=50)
    assert np.array_equal(again[-1].x_t, frames[-1].x_t)
    # At small t the chain keeps the image: the result is close to x0.
    close = _chain(DDIMSampler(SCHEDULE, num_steps=20, clip_sample=False), start_image=x0, start_t=5)
    assert np.abs(close[-1].x_t.astype(int) - float_to_uint8(x0_batch).astype(int)).mean() < 40


def test_bad_arguments_raise_input_errors():
    sampler = DDIMSampler(SCHEDULE, num_steps=5)
    for bad in (dict(stride=0), dict(stride=1.5), dict(num_samples=0), dict(start=torch.zeros(2, 3, SIZE, SIZE)),
                dict(start=torch.zeros(3, 4, 4), start_t=50), dict(start=torch.zeros(3, SIZE, SIZE),
                                                                  start_image=torch.zeros(3, SIZE, SIZE), start_t=5)):
        with pytest.raises(InputError):
            _chain(sampler, **bad)


def test_pairing_by_noise_level_uses_nearest_alpha_and_pairs_finals():
    long = _chain(DDPMSampler(SCHEDULE), stride=1)
    short = _chain(DDIMSampler(SCHEDULE, num_steps=10))
    pairs = pair_by_noise_level(long, short)
    assert len(pairs) == len(long)
    short_alphas = np.array([f.alphas_cumprod for f in short])
    for a, b in pairs[:-1]:
        assert abs(b.alphas_cumprod - a.alphas_cumprod) == pytest.approx(np.abs(short_alphas - a.alphas_cumprod).min())
    assert pairs[-1][0].is_final and pairs[-1][1].is_final
    assert pairs[0][1].index == 0  # both start from pure-ish noise
    assert nearest_frame_index(short, float(SCHEDULE.alphas_cumprod[50]), by="log_snr") == 4  # DDIM 10 visits 90, 80, …: t = 50 is frame 4
    with pytest.raises(ValueError):
        nearest_frame_index([], 0.5)
