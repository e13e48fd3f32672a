"""A class-conditional run trained by our trainer, exported to diffusers and opened again: same network, same
classes, same guided samples — the learned variance included."""

from __future__ import annotations

import json

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel

from diffusion_studio.core.diffusers_export import export_diffusers
from diffusion_studio.core.sampling import (
    ChainRequest,
    FrameBatch,
    SamplerSettings,
    StopFlag,
    load_for_sampling,
    sample_chains,
)
from diffusion_studio.core.training import train

from ._training_helpers import tiny_config
from .test_labels import labelled_folder


def _final(loaded, settings):
    events = sample_chains(loaded, [ChainRequest("x", settings)], StopFlag())
    return [f for e in events if isinstance(e, FrameBatch) for f in e.frames][-1].x_t


def test_a_trained_class_run_exports_and_samples_the_same_guided_images(tmp_path):
    folder = labelled_folder(tmp_path / "pets", {"cat": 3, "dog": 4, "owl": 3})
    run = tmp_path / "run"
    list(train(tiny_config(run, demo=False, folder=str(folder), steps=3, learned_variance=True)))
    result = export_diffusers(run, tmp_path / "export")
    assert result.num_classes == 3 and result.variance_type == "learned_range"
    names = json.loads((tmp_path / "export" / "unet" / "class_names.json").read_text())
    assert names["class_names"] == ["cat", "dog", "owl"] and names["null_class"] == 3
    assert DDPMScheduler.from_pretrained(tmp_path / "export", subfolder="scheduler").config.variance_type == \
        "learned_range"

    ours = load_for_sampling(run, "cpu")
    theirs = UNet2DModel.from_pretrained(tmp_path / "export", subfolder="unet").eval()
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    t, labels = torch.tensor([0, 10, 30, 49]), torch.tensor([0, 1, 2, 3])  # 3: no class
    with torch.no_grad():
        assert torch.allclose(ours.model(x, t, labels), theirs(x, t, class_labels=labels).sample, atol=1e-5)

    exported = load_for_sampling(tmp_path / "export", "cpu")
    assert exported.class_names == ("cat", "dog", "owl") and exported.variance == "learned_range"
    for sampler in ("ddpm", "dpm_solver"):
        settings = SamplerSettings(sampler=sampler, steps=10, batch_size=2, seed=4, class_name="dog",
                                   guidance_scale=3.0)
        assert np.array_equal(_final(ours, settings), _final(exported, settings))
