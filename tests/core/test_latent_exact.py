"""Our text-to-image loop gives diffusers' StableDiffusionPipeline's images (DDIM and DPM-Solver++, with and
without guidance, ε- and v-prediction), and its prompt embeddings, to float32 round-off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ._latent_helpers import SIZE, open_toy, reference_pipeline, toy_folder

from diffusion_studio.core.chain import LatentFrame  # noqa: E402
from diffusion_studio.core.text_to_image.generate import GenerationRequest, GenerationSettings, generate  # noqa: E402
from diffusion_studio.core.model_sources.latent.parts import latent_parts  # noqa: E402
from diffusion_studio.core.stopping import StopFlag  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPT, NEGATIVE = "a photo of a red cat", "blue"


@pytest.fixture(scope="module", params=["epsilon", "v_prediction"])
def toy(request, tmp_path_factory):
    return open_toy(toy_folder(tmp_path_factory, request.param))


def _final_latents(loaded, settings, init_image=None) -> torch.Tensor:
    frames = [frame for event in generate(loaded, [GenerationRequest("test", settings, init_image)], StopFlag(),
                                          estimate_time=False) for frame in getattr(event, "frames", [])]
    assert all(isinstance(f, LatentFrame) for f in frames) and frames[-1].is_final
    return torch.from_numpy(frames[-1].x_t.copy())


def _close(ours: torch.Tensor, theirs: torch.Tensor, rtol: float = 2e-6) -> None:
    scale = float(theirs.abs().max())
    assert float((ours - theirs).abs().max()) <= rtol * max(scale, 1.0) * 8, (float((ours - theirs).abs().max()), scale)


def test_prompt_embeddings_are_the_pipelines(toy):
    pipe = reference_pipeline(toy)
    text = latent_parts(toy).text
    long_prompt = " ".join(["a big red cat"] * 30)
    for prompt, negative in ((PROMPT, NEGATIVE), ("", ""), (long_prompt, "")):
        theirs, theirs_negative = pipe.encode_prompt(prompt, "cpu", 1, True, negative or None)
        assert torch.equal(text.encode(prompt).embeddings, theirs)
        assert torch.equal(text.encode(negative).embeddings, theirs_negative)


@pytest.mark.parametrize("sampler", ["ddim", "dpm_solver"])
@pytest.mark.parametrize("scale", [1.0, 7.5])
def test_generation_matches_stable_diffusion_pipeline(toy, sampler, scale):
    settings = GenerationSettings(prompt=PROMPT, negative_prompt=NEGATIVE, guidance_scale=scale, steps=6,
                                  sampler=sampler, width=SIZE, height=SIZE, seed=3)
    ours = _final_latents(toy, settings)
    pipe = reference_pipeline(toy, sampler)
    call = dict(negative_prompt=NEGATIVE, num_inference_steps=6, guidance_scale=scale, height=SIZE, width=SIZE)
    theirs = pipe(PROMPT, generator=torch.Generator().manual_seed(3), output_type="latent", **call).images
    _close(ours, theirs)
    # and the images: our VAE decode through diffusers' post-processing ((x + 1) / 2, clipped)
    images = pipe(PROMPT, generator=torch.Generator().manual_seed(3), output_type="pt", **call).images
    _close((toy.decode(ours) / 2 + 0.5).clamp(0, 1), images)


def test_image_to_image_matches_the_img2img_pipeline(toy):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)  # cropped and resized to 32 × 32 by us
    settings = GenerationSettings(prompt=PROMPT, guidance_scale=5.0, steps=10, sampler="ddim", width=SIZE,
                                  height=SIZE, seed=1, strength=0.6)
    ours = _final_latents(toy, settings, init_image=photo)

    from diffusion_studio.core.images import uint8_to_float
    from diffusion_studio.core.text_to_image.generate import fit_image

    pixels = torch.from_numpy(uint8_to_float(fit_image(photo, SIZE, SIZE)))[None]
    init_latents = latent_parts(toy).autoencoder.encode(pixels)  # the posterior mean, as diffusers' "argmax" mode
    pipe = reference_pipeline(toy, "ddim", img2img=True)
    theirs = pipe(PROMPT, image=init_latents, strength=0.6, num_inference_steps=10, guidance_scale=5.0,
                  generator=torch.Generator().manual_seed(1), output_type="latent").images
    _close(ours, theirs)
