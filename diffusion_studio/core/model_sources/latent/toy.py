"""Toy Stable-Diffusion-layout pipelines built from configs — nothing is downloaded.

The tests, ``benchmarks/bench_latent.py`` and ``scripts/train_demo_latent_model.py`` need real
``UNet2DConditionModel`` / ``AutoencoderKL`` / ``CLIPTextModel`` components and a CLIP tokenizer, in the
layout ``StableDiffusionPipeline.save_pretrained`` writes, without any weights from the Hub. These are
the same classes Stable Diffusion uses, only narrow: ``TOY_SIZES["tiny"]`` has ≈ 1.2 M parameters
(milliseconds a step), ``"small"`` ≈ 29 M (a stand-in for timing), ``"demo"`` is what
``scripts/train_demo_latent_model.py`` trains on the demo digits. Random weights give noise.

Needs the ``latent`` extra (diffusers, transformers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

__all__ = ["TOY_SIZES", "TOY_WORDS", "scheduler_config", "toy_components", "save_toy_pipeline",
           "write_clip_tokenizer"]

#: Words the toy tokenizer knows whole (anything else is spelled in letters, as CLIP's BPE does).
TOY_WORDS: tuple[str, ...] = (
    "a", "an", "the", "of", "photo", "picture", "drawing", "handwritten", "digit", "number", "cat", "dog",
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "red", "green", "blue", "yellow", "white", "black", "big", "small", "thin", "bold",
)

#: Component widths per size. The VAE's factor is 2^(len(vae_channels) − 1).
TOY_SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"unet_channels": (32, 64), "vae_channels": (16, 32), "text_width": 32, "text_layers": 2,
             "heads": 4, "sample_size": 8, "layers_per_block": 1, "groups": 8},
    "small": {"unet_channels": (64, 128, 256), "vae_channels": (32, 64, 64, 64), "text_width": 256,
              "text_layers": 4, "heads": 8, "sample_size": 32, "layers_per_block": 2, "groups": 32},
    # the demo model of scripts/train_demo_latent_model.py: 32 px colour digits from 8 × 8 × 4 latents
    "demo": {"unet_channels": (32, 64), "vae_channels": (16, 32, 32), "text_width": 64, "text_layers": 2,
             "heads": 4, "sample_size": 8, "layers_per_block": 1, "groups": 8, "max_tokens": 16},
}


def write_clip_tokenizer(folder: str | Path, words: Sequence[str] = TOY_WORDS, max_length: int = 77) -> Path:
    """A CLIP BPE tokenizer folder (vocab.json, merges.txt, configs) knowing ``words`` whole and every letter,
    digit and common punctuation mark, with CLIP's special tokens. Loads with ``CLIPTokenizer.from_pretrained``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}
    symbols = list("abcdefghijklmnopqrstuvwxyz0123456789") + list(",.!?'-")
    for symbol in symbols:
        vocab.setdefault(symbol, len(vocab))
        vocab.setdefault(symbol + "</w>", len(vocab))
    merges: list[str] = []
    for word in words:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        merged = pieces[0]
        for piece in pieces[1:]:  # left to right: ((p h) o) …, each step a merge and a vocabulary entry
            if f"{merged} {piece}" not in merges:
                merges.append(f"{merged} {piece}")
            merged += piece
            vocab.setdefault(merged, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(special))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {**special, "model_max_length": max_length, "tokenizer_class": "CLIPTokenizer"}))
    return folder


def scheduler_config(prediction: str = "epsilon", **changes) -> dict[str, Any]:
    """Stable Diffusion's scheduler config (scaled_linear 0.00085 … 0.012, T = 1000), as a DDIMScheduler."""
    config = {"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_schedule": "scaled_linear",
              "beta_start": 0.00085, "beta_end": 0.012, "clip_sample": False, "set_alpha_to_one": False,
              "steps_offset": 1, "prediction_type": prediction, "timestep_spacing": "leading"}
    config.update(changes)
    return config


def toy_components(size: str = "tiny", *, seed: int = 0, tokenizer_folder: str | Path,
                   words: Sequence[str] = TOY_WORDS) -> dict[str, Any]:
    """unet, vae, text_encoder (random, seeded) and tokenizer (written to ``tokenizer_folder``) of ``size``."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    spec = TOY_SIZES[size]
    positions = spec.get("max_tokens", 77)  # SD's CLIP reads 77; a short demo vocabulary needs fewer
    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(tokenizer_folder, words, positions))
    torch.manual_seed(seed)
    width = spec["text_width"]
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=width, intermediate_size=width * 4, num_hidden_layers=spec["text_layers"],
        num_attention_heads=spec["heads"], max_position_embeddings=positions, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, hidden_act="quick_gelu"))
    levels = len(spec["unet_channels"])
    unet = UNet2DConditionModel(
        sample_size=spec["sample_size"], in_channels=4, out_channels=4, block_out_channels=spec["unet_channels"],
        layers_per_block=spec["layers_per_block"], norm_num_groups=spec["groups"], cross_attention_dim=width,
        attention_head_dim=spec["heads"],
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (levels - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",))
    vae_levels = len(spec["vae_channels"])
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=spec["vae_channels"],
        down_block_types=("DownEncoderBlock2D",) * vae_levels, up_block_types=("UpDecoderBlock2D",) * vae_levels,
        layers_per_block=1, norm_num_groups=min(spec["groups"], spec["vae_channels"][0]),
        sample_size=spec["sample_size"] * 2 ** (vae_levels - 1))
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer}


def save_toy_pipeline(folder: str | Path, size: str = "tiny", *, prediction: str = "epsilon", seed: int = 0,
                      components: dict[str, Any] | None = None, words: Sequence[str] = TOY_WORDS,
                      **scheduler_changes) -> Path:
    """Write a ``StableDiffusionPipeline`` folder (safetensors) of toy components; return the folder.

    ``components`` (from :func:`toy_components`, e.g. trained) are saved instead of new random ones;
    ``words`` must then be the words their tokenizer was written with."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    folder = Path(folder)
    parts = components or toy_components(size, seed=seed, tokenizer_folder=folder / "tokenizer", words=words)
    scheduler = DDIMScheduler.from_config(scheduler_config(prediction, **scheduler_changes))
    pipeline = StableDiffusionPipeline(**parts, scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.save_pretrained(folder, safe_serialization=True)
    write_clip_tokenizer(folder / "tokenizer", words, parts["tokenizer"].model_max_length)  # the BPE files, as Hub models have them (transformers 5 writes
    return folder                               # only tokenizer.json)
