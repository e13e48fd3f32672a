"""Text to image with our loop: settings, streaming in lockstep, stopping, comparisons, SDEdit, views, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ._latent_helpers import SIZE, open_toy, toy_folder

from diffusion_studio.core.chain import LatentFrame  # noqa: E402
from diffusion_studio.core.errors import InputError  # noqa: E402
from diffusion_studio.core.model_sources.latent.parts import latent_parts  # noqa: E402
from diffusion_studio.core.model_sources.latent.preview import LatentPreview, fit_preview  # noqa: E402
from diffusion_studio.core.sampling import FrameBatch, SamplerSettings, build_sampler  # noqa: E402
from diffusion_studio.core.stopping import StopFlag  # noqa: E402
from diffusion_studio.core.text_to_image import views  # noqa: E402
from diffusion_studio.core.text_to_image.generate import (  # noqa: E402
    ChainPlanned,
    GenerationRequest,
    GenerationSettings,
    TimeEstimate,
    compare_guidance_requests,
    compare_prompt_requests,
    generate,
    sdedit_start_t,
    suggested_settings,
)
from diffusion_studio.core.validation import ConfigError, validated  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BASE = GenerationSettings(prompt="a photo of a cat", steps=4, width=SIZE, height=SIZE, seed=2)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return open_toy(toy_folder(tmp_path_factory))


def _run(loaded, requests, stop=None, **kw):
    events = list(generate(loaded, requests, stop or StopFlag(), **kw))
    frames: dict[int, list] = {}
    for event in events:
        if isinstance(event, FrameBatch):
            frames.setdefault(event.chain, []).extend(event.frames)
    return events, frames


def test_settings_are_validated_with_the_setting_named():
    with pytest.raises(ConfigError, match="sampler"):
        validated(GenerationSettings, {"sampler": "ddpm"}, what="generate")
    with pytest.raises(ConfigError, match="steps must be ≥ 1"):
        validated(GenerationSettings, {"steps": 0}, what="generate")
    with pytest.raises(ConfigError, match="guidance_scale must be ≤ 100"):
        validated(GenerationSettings, {"guidance_scale": 1000}, what="generate")
    assert GenerationSettings(sampler="DPM++2M").sampler == "dpm_solver"
    assert BASE.guidance_weight == 6.5 and "s = 7.5 (w = 6.5)" in BASE.describe()
    cpu, gpu = suggested_settings(512, "cpu"), suggested_settings(512, "cuda")
    assert (cpu.width, cpu.steps) == (256, 10) and (gpu.width, gpu.steps) == (512, 25)


def test_a_run_plans_estimates_then_streams_latent_frames_with_guidance_views(toy):
    events, frames = _run(toy, [GenerationRequest("one", BASE)], min_interval_s=0.0)
    plan, estimate = events[0], events[1]
    assert isinstance(plan, ChainPlanned) and plan.latent_shape == (4, 16, 16) and plan.stride == 1
    sampler = build_sampler(toy.schedule, "epsilon", SamplerSettings(sampler="dpm_solver", steps=4),
                            model_options=toy.extra["sampler_options"])
    assert plan.timesteps == tuple(sampler.timesteps) == (801, 601, 401, 201)  # leading, as the config says
    assert isinstance(estimate, TimeEstimate) and estimate.model_calls == 4 and estimate.seconds_per_step > 0
    assert "per step × 4 steps on cpu" in estimate.describe()
    chain = frames[0]
    assert [f.index for f in chain] == [0, 1, 2, 3, 4] and chain[-1].is_final
    for frame in chain:
        assert isinstance(frame, LatentFrame) and frame.x_t.shape == (1, 4, 16, 16)
        assert set(frame.extras) == {"eps_conditional", "eps_unconditional", "guidance_added"}
        added = frame.extras["guidance_added"]
        expected = 6.5 * (frame.extras["eps_conditional"] - frame.extras["eps_unconditional"])
        assert np.allclose(added, expected, atol=1e-5)


def test_an_empty_prompt_is_unconditional_and_a_long_one_comes_with_a_notice(toy):
    events, frames = _run(toy, [GenerationRequest("empty", BASE.with_(prompt="", negative_prompt=""))],
                          estimate_time=False)
    assert frames[0][-1].is_final and events[0].notices == ()
    # with no prompt the conditional and unconditional inputs are one: guidance adds nothing
    assert np.allclose(frames[0][1].extras["guidance_added"], 0.0, atol=1e-5)
    long = BASE.with_(prompt="a big red cat " * 30, steps=1)
    events, _ = _run(toy, [GenerationRequest("long", long)], estimate_time=False)
    assert events[0].notices and events[0].notices[0].startswith("The prompt is 120 tokens long")


def test_sizes_must_fit_the_vae(toy):
    with pytest.raises(InputError, match="multiples of 2 for this model"):
        next(generate(toy, [GenerationRequest("odd", BASE.with_(width=33))], StopFlag()))


def test_stop_at_any_step_keeps_the_frames_so_far(toy):
    stop = StopFlag()
    seen = []
    for event in generate(toy, [GenerationRequest("one", BASE.with_(steps=8))], stop, min_interval_s=0.0):
        if isinstance(event, FrameBatch):
            seen.extend(event.frames)
            if len(seen) >= 3:
                stop.set()
    assert [f.index for f in seen] == [0, 1, 2] and not seen[-1].is_final


def test_guidance_comparison_runs_in_lockstep_from_the_same_noise(toy):
    requests = compare_guidance_requests(BASE, (1.0, 7.5))
    assert [r.label for r in requests] == ["s = 1  (w = 0)", "s = 7.5  (w = 6.5)"]
    events, frames = _run(toy, requests, min_interval_s=0.0, estimate_time=False)
    order = [event.chain for event in events if isinstance(event, FrameBatch)]
    assert order[:4] == [0, 1, 0, 1]  # one step of each chain in turn
    assert np.array_equal(frames[0][0].x_t, frames[1][0].x_t)  # same seed, same x_T
    assert not np.allclose(frames[0][-1].x_t, frames[1][-1].x_t)
    assert np.allclose(frames[0][2].extras["guidance_added"], 0.0)  # s = 1: guidance adds nothing
    # the s = 1 chain is the conditional model alone: the same final latents as a lone run at s = 1
    _, alone = _run(toy, [GenerationRequest("s1", BASE.with_(guidance_scale=1.0))], estimate_time=False)
    assert np.allclose(alone[0][-1].x_t, frames[0][-1].x_t, atol=1e-5)


def test_two_prompts_side_by_side(toy):
    requests = compare_prompt_requests(BASE, ["a photo of a cat", "a drawing of a dog"])
    assert [r.settings.prompt for r in requests] == ["a photo of a cat", "a drawing of a dog"]
    _, frames = _run(toy, requests, estimate_time=False)
    assert np.array_equal(frames[0][0].x_t, frames[1][0].x_t)
    assert not np.allclose(frames[0][-1].x_t, frames[1][-1].x_t)
    with pytest.raises(InputError, match="compare 1 to 8 prompts"):
        compare_prompt_requests(BASE, [])


def test_image_to_image_starts_at_the_strengths_timestep_from_the_photo(toy):
    photo = np.zeros((20, 30, 3), np.uint8)
    photo[:, :15] = (255, 0, 0)
    settings = BASE.with_(steps=10, strength=0.5, sampler="ddim")
    events, frames = _run(toy, [GenerationRequest("sdedit", settings, photo)], estimate_time=False)
    plan = events[0]
    sampler = build_sampler(toy.schedule, "epsilon", SamplerSettings(sampler="ddim", steps=10),
                            model_options=toy.extra["sampler_options"])
    assert plan.start_t == sdedit_start_t(sampler, 0.5) == int(sampler.timesteps[5])
    assert plan.timesteps == tuple(int(t) for t in sampler.timesteps[5:]) and len(frames[0]) == 6
    assert plan.start_image.shape == (SIZE, SIZE, 3) and plan.start_image[:, 0, 0].min() > 200
    assert sdedit_start_t(sampler, 1.0) == int(sampler.timesteps[0])
    with pytest.raises(InputError, match="keeps no step of 10"):
        sdedit_start_t(sampler, 0.05)


def test_a_model_without_latent_parts_is_refused(toy):
    from diffusion_studio.core.model_sources import open_model

    with pytest.raises(InputError, match="is not a text-to-image"):
        next(generate(open_model("demo", "cpu"), [GenerationRequest("x", BASE)], StopFlag()))


# ---------------------------------------------------------------------------- views


def test_the_preview_fit_recovers_a_linear_vae():
    # an "encoder" whose latents are a known linear function of each 2×2 patch's mean colour
    true = np.array([[0.9, -0.2, 0.1, 0.3], [0.1, 0.8, -0.3, 0.2], [-0.4, 0.2, 1.1, 0.1]], np.float32)  # 3 × 4

    def encode(pixels):
        patches = torch.nn.functional.avg_pool2d(pixels, 2)  # (N, 3, h, w)
        return torch.einsum("nchw,ck->nkhw", patches, torch.from_numpy(true)) + 0.25

    preview = fit_preview(encode, 2)  # on the bundled photos (2 × 5 crops) and 4 colour-block images
    # fitted to what a decoder shows: a decoder that inverts the map gives the same fit
    decoded = fit_preview(encode, 2, decode=lambda z: torch.nn.functional.interpolate(
        torch.einsum("nkhw,kc->nchw", z - 0.25, torch.linalg.pinv(torch.from_numpy(true))), scale_factor=2))
    assert decoded.r2 > 0.999 and np.allclose(decoded.rgb_float(np.ones((1, 4, 1, 1), np.float32)),
                                              preview.rgb_float(np.ones((1, 4, 1, 1), np.float32)), atol=1e-2)
    assert preview.r2 > 0.999 and preview.samples == 14 * 8 * 8
    pixels = torch.rand(1, 3, 8, 8) * 2 - 1
    rgb = preview.rgb_float(encode(pixels).numpy())
    expected = torch.nn.functional.avg_pool2d(pixels, 2).permute(0, 2, 3, 1).numpy()
    assert rgb.shape == (1, 4, 4, 3) and np.abs(rgb - expected).max() < 0.01
    assert preview.rgb(np.full((1, 4, 2, 2), np.nan, np.float32)).dtype == np.uint8


def test_channel_strips_histograms_and_guidance_views():
    latent = np.stack([np.full((3, 5), v, np.float32) for v in (-2.5, 0.0, 2.5, 10.0)])
    strip = views.channel_strip(latent, gap=1)
    assert strip.shape == (3, 4 * 5 + 3) and strip.dtype == np.uint8
    assert (strip[0, 0], strip[0, 6], strip[0, 12], strip[0, 18]) == (0, 128, 255, 255)
    centres, density = views.latent_histogram(np.random.default_rng(0).standard_normal(100_000))
    assert abs(density.sum() * (centres[1] - centres[0]) - 1.0) < 1e-9
    assert np.abs(density - views.normal_density(centres)).max() < 0.02
    frame = LatentFrame(0, 10, 0.5, latent[None], latent[None], latent[None], False,
                        {name: latent[None] for name, _ in views.GUIDANCE_VIEWS})
    image, labels = views.guidance_strips(frame, background=(10, 20, 30))
    assert image.shape == (3 * 3 + 2 * 4, strip.shape[1] + 3, 3) and len(labels) == 3
    assert tuple(image[3, 0]) == (10, 20, 30) and tuple(image[0, 5]) == (10, 20, 30)  # row and channel gaps
    assert tuple(image[0, 0]) == (0, 0, 0)  # −2.5σ is black
    assert views.guidance_strips(LatentFrame(0, 10, 0.5, latent[None], latent[None], latent[None], False)) == (None, ())


def test_decodes_are_cached_and_display_frames_render_when_read(toy, tmp_path):
    _, frames = _run(toy, [GenerationRequest("one", BASE)], estimate_time=False)
    parts = latent_parts(toy)
    decoder = views.DecodedPixels(toy.decode)
    first = decoder.get(("k", 0), frames[0][-1].pred_x0)
    assert first.shape == (1, SIZE, SIZE, 3) and decoder.get(("k", 0), None) is first and decoder.decodes == 1
    previews = views.display_frames(frames[0], parts.preview)
    assert previews[0].x_t.shape == (1, 16, 16, 3) and previews[0].pred_noise.shape == (1, 16, 4 * 16 + 6, 1)
    decoder = views.DecodedPixels(toy.decode)
    decoded = views.display_frames(frames[0], parts.preview, decoder=decoder, scale_factor=parts.scale_factor)
    assert [f.t for f in decoded] == [f.t for f in frames[0]] and decoder.decodes == 0  # nothing rendered yet
    assert decoded[-1].x_t.shape == (1, SIZE, SIZE, 3) and decoder.decodes == 1  # final x_t is its x̂0: one decode
    assert decoded[1].pred_noise.shape == (1, SIZE, 2 * (4 * 16 + 6), 1) and decoder.decodes == 1
    assert decoded[1].x_t.shape == (1, SIZE, SIZE, 3) and decoder.decodes == 1  # x_t: the preview, enlarged

    from diffusion_studio.core.export import ExportOptions, export_frames

    result = export_frames(decoded, tmp_path / "chain.gif", ExportOptions(view="side_by_side", max_frames=3))
    assert result.path.exists() and result.frame_count == 3 and decoder.decodes == 3  # only what was exported
    pair = views.side_by_side([previews, previews[:3]])
    assert len(pair) == len(previews) and pair[0].x_t.shape == (2, 16, 16, 3)
    assert pair[-1].parts[1][0] is frames[0][2]  # a stopped second chain pairs with its nearest frame


def test_preview_json_round_trip_shape():
    preview = LatentPreview(np.eye(4, 3, dtype=np.float32), np.zeros(3, np.float32), 0.9, 10)
    assert preview.to_json()["weights"][0] == [1.0, 0.0, 0.0]
