"""Tiny random diffusers pixel models saved with ``save_pretrained``, for the core, CLI and GUI tests.

Nothing is downloaded: the networks are built here from a config, with random weights large enough
that a chain makes pictures rather than plain noise.
"""

from __future__ import annotations

from pathlib import Path

SIZE = 8
TINY_UNET = dict(
    sample_size=SIZE, layers_per_block=1, block_out_channels=(8, 16), norm_num_groups=4, attention_head_dim=4,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
)


def tiny_unet(seed: int = 0, channels: int = 3, **config):
    import torch
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(**{**TINY_UNET, "in_channels": channels, "out_channels": channels, **config})
    for p in unet.parameters():  # zero-initialised output layers would sample nothing but noise
        torch.nn.init.normal_(p, std=0.05)
    return unet.eval()


def tiny_scheduler(**config):
    from diffusers import DDPMScheduler

    return DDPMScheduler(**{"num_train_timesteps": 50, "beta_schedule": "squaredcos_cap_v2", **config})


def save_pipeline(folder: Path, *, channels: int = 3, seed: int = 0, scheduler=None, unet=None) -> Path:
    """A DDPMPipeline folder (model_index.json, unet/, scheduler/) as ``save_pretrained`` writes it."""
    from diffusers import DDPMPipeline

    DDPMPipeline(unet=unet or tiny_unet(seed, channels), scheduler=scheduler or tiny_scheduler()).save_pretrained(
        folder)
    return Path(folder)


def save_bare_unet(folder: Path, *, with_scheduler: bool = True, channels: int = 3, seed: int = 0,
                   scheduler=None) -> Path:
    """A UNet2DModel folder (config.json + weights), with ``scheduler_config.json`` beside it or not."""
    tiny_unet(seed, channels).save_pretrained(folder)
    if with_scheduler:
        (scheduler or tiny_scheduler()).save_config(folder)
    return Path(folder)


def update_json(path: Path, changes: dict) -> None:
    """Rewrite the JSON object in ``path`` with ``changes`` merged in (a config edited by hand)."""
    import json

    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
