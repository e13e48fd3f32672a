"""Toy Stable Diffusion pipelines for the latent tests: tiny random components saved as diffusers saves them.

Built once per test module (``toy_folder``), opened with our source (``open_toy``), and turned into the
diffusers ``StableDiffusionPipeline`` over the *same* module objects (``reference_pipeline``), so the two
loops differ only in the loop. Nothing is downloaded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from diffusion_studio.core.model_sources.latent.parts import latent_parts  # noqa: E402
from diffusion_studio.core.model_sources.latent.toy import save_toy_pipeline  # noqa: E402
from diffusion_studio.core.model_sources import latent  # noqa: E402

SIZE = 32  # pixels; the tiny VAE's factor is 2, so latents are 16 × 16 × 4


def toy_folder(tmp_path_factory, prediction: str = "epsilon", name: str | None = None) -> Path:
    folder = tmp_path_factory.mktemp(name or f"toy_{prediction}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # diffusers' note that SD configs should say steps_offset = 1
        return save_toy_pipeline(folder, "tiny", prediction=prediction)


def open_toy(folder: Path, **options):
    return latent.open(folder, "cpu", **options)


def reference_pipeline(loaded, sampler: str = "ddim", *, img2img: bool = False):
    """diffusers' pipeline over ``loaded``'s own modules, with the scheduler ``sampler`` names.

    The toy's scheduler config is Stable Diffusion's (steps_offset = 1, leading spacing): our samplers
    shift their timesteps as diffusers' do.
    """
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        StableDiffusionImg2ImgPipeline,
        StableDiffusionPipeline,
    )

    parts = latent_parts(loaded)
    kind = DDIMScheduler if sampler == "ddim" else DPMSolverMultistepScheduler
    config = dict(loaded.config["scheduler"])
    pipeline_class = StableDiffusionImg2ImgPipeline if img2img else StableDiffusionPipeline
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = pipeline_class(unet=loaded.model.unet, vae=parts.autoencoder.vae, text_encoder=parts.text.text_encoder,
                              tokenizer=parts.text.tokenizer, scheduler=kind.from_config(config), safety_checker=None,
                              feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe
