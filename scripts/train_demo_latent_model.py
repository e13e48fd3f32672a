"""Train the demo text-to-image model: a tiny Stable-Diffusion-layout pipeline on the demo digits, coloured.

What it learns: prompts such as "a red seven", "a handwritten blue two" or "four" → a 32 × 32 picture of
that digit in that colour, through exactly the machinery of Stable Diffusion — a CLIP text encoder, a
``UNet2DConditionModel`` with cross-attention on 8 × 8 × 4 latents, an ``AutoencoderKL`` (4× per side),
SD's scaled-linear schedule (T = 1000, ε-prediction), 10 % empty prompts so classifier-free guidance works.
Small enough to train on a CPU in minutes, so the app has a model whose guidance, latents and previews
mean something without a 4 GB download. Nothing is downloaded: the digits ship with the app
(UCI handwritten digits, CC BY 4.0, see resources/LICENSES.md).

    python scripts/train_demo_latent_model.py [--out resources/demo_latent] [--vae-steps 800]
        [--unet-steps 3000] [--batch 32] [--threads 1] [--seed 0]

Stage 1 fits the VAE (MSE + 1e-6·KL) and sets its scaling_factor to 1/std of the dataset's latents,
as Stable Diffusion's 0.18215 was chosen. Stage 2 encodes the coloured digits once (posterior means),
then trains the U-Net and the text encoder together on noised latents (an EMA of the U-Net is saved).
The folder it writes is a diffusers StableDiffusionPipeline (safetensors, float16 weights) that
``StableDiffusionPipeline.from_pretrained`` and Diffusion Studio's Text to image panel both open.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

COLOURS = {"red": (1.0, 0.15, 0.1), "green": (0.15, 0.9, 0.2), "blue": (0.2, 0.4, 1.0), "yellow": (1.0, 0.9, 0.1),
           "white": (1.0, 1.0, 1.0)}
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEMPLATES = ("a {colour} {digit}", "a handwritten {colour} {digit}", "a {colour} digit {digit}", "{digit}",
             "a handwritten {digit}", "{colour}")


def digits(size: int) -> tuple[torch.Tensor, np.ndarray]:
    from diffusion_studio.core.data.decode import demo_dataset_tensor
    from diffusion_studio.core.paths import resource_path

    images = demo_dataset_tensor(size).float() / 255.0  # (N, 1, S, S) in [0, 1]
    labels = np.array([int(c) for c in resource_path("demo", "digits_labels.txt").read_text().strip()])
    return images, labels[: len(images)]


def coloured(gray: torch.Tensor, colours: list[str]) -> torch.Tensor:
    """Strokes in the colour on black, in [−1, 1]."""
    rgb = torch.tensor([COLOURS[c] for c in colours], dtype=torch.float32).view(-1, 3, 1, 1)
    return gray * rgb * 2.0 - 1.0


def prompt_for(colour: str, digit: int, rng: random.Random) -> str:
    if rng.random() < 0.1:
        return ""  # the unconditional input of classifier-free guidance
    return rng.choice(TEMPLATES).format(colour=colour, digit=DIGITS[digit])


def train_vae(vae, gray, steps: int, batch: int, rng: random.Random, log) -> float:
    optimiser = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    vae.train()
    for step in range(1, steps + 1):
        index = torch.randint(0, len(gray), (batch,))
        x = coloured(gray[index], [rng.choice(list(COLOURS)) for _ in range(batch)])
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample()).sample
        loss = F.mse_loss(recon, x) + 1e-6 * posterior.kl().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        for group in optimiser.param_groups:
            group["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
        if step % 100 == 0 or step == steps:
            log(f"vae step {step}/{steps}: loss {loss.item():.4f}")
    vae.eval()
    return float(loss.item())


@torch.no_grad()
def encode_dataset(vae, gray, labels) -> tuple[torch.Tensor, list[tuple[str, int]]]:
    latents, keys = [], []
    for colour in COLOURS:
        for start in range(0, len(gray), 256):
            chunk = gray[start : start + 256]
            latents.append(vae.encode(coloured(chunk, [colour] * len(chunk))).latent_dist.mean)
            keys += [(colour, int(d)) for d in labels[start : start + 256]]
    return torch.cat(latents), keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="resources/demo_latent")
    parser.add_argument("--vae-steps", type=int, default=800)
    parser.add_argument("--unet-steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {text}", flush=True)

    from diffusers import DDPMScheduler

    from diffusion_studio.core.model_sources.latent.toy import save_toy_pipeline, scheduler_config, toy_components

    out = Path(args.out)
    parts = toy_components("demo", seed=args.seed, tokenizer_folder=out / "tokenizer")
    unet, vae, text_encoder, tokenizer = parts["unet"], parts["vae"], parts["text_encoder"], parts["tokenizer"]
    gray, labels = digits(32)
    log(f"{len(gray)} digits; U-Net {sum(p.numel() for p in unet.parameters()) / 1e6:.2f} M, "
        f"VAE {sum(p.numel() for p in vae.parameters()) / 1e6:.2f} M, "
        f"text encoder {sum(p.numel() for p in text_encoder.parameters()) / 1e6:.2f} M parameters")

    train_vae(vae, gray, args.vae_steps, args.batch, rng, log)
    vae.requires_grad_(False)
    means, keys = encode_dataset(vae, gray, labels)
    scaling = float(1.0 / means.std())
    vae.register_to_config(scaling_factor=scaling)
    latents = means * scaling
    log(f"scaling_factor = {scaling:.4f} (1/std of the latents); {len(latents)} coloured digits encoded")

    noise_scheduler = DDPMScheduler.from_config(scheduler_config("epsilon"))
    alphas_cumprod = noise_scheduler.alphas_cumprod
    prompts = sorted({t.format(colour=c, digit=d) for t in TEMPLATES for c in COLOURS for d in DIGITS} | {""})
    tokens = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                       return_tensors="pt").input_ids
    token_of = {prompt: i for i, prompt in enumerate(prompts)}
    ema = copy.deepcopy(unet).requires_grad_(False)
    trainable = list(unet.parameters()) + list(text_encoder.parameters())
    optimiser = torch.optim.AdamW(trainable, lr=1e-3, weight_decay=1e-2)
    unet.train()
    text_encoder.train()
    for step in range(1, args.unet_steps + 1):
        index = torch.randint(0, len(latents), (args.batch,))
        z0 = latents[index]
        ids = tokens[[token_of[prompt_for(*keys[i], rng)] for i in index.tolist()]]
        t = torch.randint(0, 1000, (args.batch,))
        noise = torch.randn_like(z0)
        a = alphas_cumprod[t].view(-1, 1, 1, 1)
        z_t = a.sqrt() * z0 + (1 - a).sqrt() * noise  # Ho et al. eq. 4
        condition = text_encoder(ids)[0]
        loss = F.mse_loss(unet(z_t, t, encoder_hidden_states=condition).sample, noise)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        warm = min(1.0, step / 200)
        for group in optimiser.param_groups:
            group["lr"] = 1e-3 * warm * 0.5 * (1 + math.cos(math.pi * step / args.unet_steps))
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for e, p in zip(ema.parameters(), unet.parameters()):
                e.lerp_(p, 1 - decay)
        if step % 100 == 0 or step == args.unet_steps:
            log(f"unet step {step}/{args.unet_steps}: loss {loss.item():.4f}")
    text_encoder.eval()
    components = {"unet": ema.half(), "vae": vae.half(), "text_encoder": text_encoder.half(), "tokenizer": tokenizer}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_toy_pipeline(out, "demo", components=components)
    log(f"saved {out} ({sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
