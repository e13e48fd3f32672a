"""Fit (and check) the live preview of a latent model: the linear latent → RGB map of its VAE.

    python scripts/fit_latent_preview.py [MODEL] [--check-prompts "a red seven" "a blue two"] [--steps 20]

MODEL is a Stable Diffusion pipeline folder, a cached Hub id or ``demo`` (the default). Prints one JSON
object: the map W (C × 3) and b, its R² on the fitting images (core.model_sources.latent.preview: the bundled
photos and colour blocks, encoded and decoded by the model's VAE, averaged over each latent pixel's patch),
how long the fit took, and — the check — the mean absolute error of the preview of x̂0 against the VAE's
decode of the same latents (averaged to latent resolution), over every 5th frame of chains for the prompts,
on the [−1, 1] pixel scale; beside it the same error for a map fitted to the photos themselves rather than
to the decoder's output. The app fits the map this way whenever it opens a model; nothing is stored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="demo")
    parser.add_argument("--check-prompts", nargs="*", default=["a red seven", "a blue two", "a yellow four",
                                                                "a green nine", "a white one"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from diffusion_studio.core.model_sources import latent
    from diffusion_studio.core.model_sources.latent.parts import latent_parts
    from diffusion_studio.core.model_sources.latent.preview import _box_average, fit_preview
    from diffusion_studio.core.stopping import StopFlag
    from diffusion_studio.core.text_to_image.generate import (
        GenerationSettings,
        compare_prompt_requests,
        generate,
        suggested_settings,
    )

    loaded = latent.open(args.model, args.device)
    parts = latent_parts(loaded)
    vae = parts.autoencoder
    started = time.perf_counter()
    preview = fit_preview(vae.encode, vae.scale_factor, decode=vae.decode)
    seconds = time.perf_counter() - started
    photos_only = fit_preview(vae.encode, vae.scale_factor)

    size = suggested_settings(parts.native_size, "cpu").width
    settings = GenerationSettings(steps=args.steps, width=size, height=size)
    errors = {"decoder_fit": [], "photo_fit": []}
    for event in generate(loaded, compare_prompt_requests(settings, args.check_prompts), StopFlag(),
                          estimate_time=False):
        for frame in getattr(event, "frames", [])[::5]:
            decoded = loaded.decode(torch.from_numpy(frame.pred_x0.copy())).clamp(-1, 1).permute(0, 2, 3, 1).numpy()
            truth = _box_average(decoded, vae.scale_factor)
            for name, fitted in (("decoder_fit", preview), ("photo_fit", photos_only)):
                guess = np.clip(fitted.rgb_float(frame.pred_x0), -1, 1)
                errors[name].append(float(np.abs(guess - truth).mean()))
    print(json.dumps({
        "model": f"{args.model}: {parts.describe(loaded)}",
        "weights_C_by_RGB": [[round(float(v), 4) for v in row] for row in preview.weights],
        "bias_RGB": [round(float(v), 4) for v in preview.bias],
        "r2_on_fitting_images": round(preview.r2, 4),
        "latent_pixels_fitted": preview.samples,
        "fit_seconds": round(seconds, 3),
        "check": f"{len(args.check_prompts)} prompts × {args.steps} steps at {size}², every 5th frame's x̂0",
        "preview_mean_abs_error": round(float(np.mean(errors["decoder_fit"])), 4),
        "photo_fitted_map_mean_abs_error": round(float(np.mean(errors["photo_fit"])), 4),
    }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
