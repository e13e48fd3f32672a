"""Text to image: our loop with live previews vs diffusers' StableDiffusionPipeline, same components, same run.

Ours is ``core.text_to_image.generate`` as the Text to image panel runs it: the prompts encoded, one guided
U-Net call per step (conditional and unconditional batched), our sampler's step, every frame kept as
latents with the guidance views (ε̂(c), ε̂(∅), w·Δ), **the linear preview of x_t and x̂0 made for every
frame**, and the final latents decoded by the VAE. The reference is ``StableDiffusionPipeline.__call__``
on the very same module objects with the matching diffusers scheduler (steps_offset 0, as ours), from
the prompt to decoded pixels (``output_type="np"``). Runs alternate (ours, reference, …) after a warm-up;
the ratio is the median of per-pair ratios. Target (issue 16): ours / reference ≤ 1.10.

Also measured: the live preview's cost per frame against one full VAE decode of the same latents, and
the CPU time per step of the tiny model the tests use (the README's figure).

    python benchmarks/bench_latent.py [--model small|tiny] [--sampler dpm_solver|ddim] [--steps 10]
        [--size 256] [--guidance 7.5] [--repeats 3] [--threads N] [--device auto]

Models are built from configs (``core.model_sources.latent.toy``), nothing is downloaded: ``small`` is a
25 M-parameter U-Net on 32 × 32 × 4 latents with an 8× VAE (256 px), ``tiny`` the tests' model.
Untrained weights do not change the speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from diffusion_studio.core.model_sources import latent  # noqa: E402
from diffusion_studio.core.model_sources.latent.parts import latent_parts  # noqa: E402
from diffusion_studio.core.model_sources.latent.toy import save_toy_pipeline  # noqa: E402
from diffusion_studio.core.sampling import FrameBatch  # noqa: E402
from diffusion_studio.core.stopping import StopFlag  # noqa: E402
from diffusion_studio.core.text_to_image.generate import GenerationRequest, GenerationSettings, generate  # noqa: E402

TARGET_RATIO = 1.10
PROMPT, NEGATIVE = "a photo of a red cat", "blue"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_pipeline(loaded, sampler: str):
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, StableDiffusionPipeline

    parts = latent_parts(loaded)
    kind = DDIMScheduler if sampler == "ddim" else DPMSolverMultistepScheduler
    config = dict(loaded.config["scheduler"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = StableDiffusionPipeline(unet=loaded.model.unet, vae=parts.autoencoder.vae,
                                       text_encoder=parts.text.text_encoder, tokenizer=parts.text.tokenizer,
                                       scheduler=kind.from_config(config), safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.scheduler = kind.from_config(config, steps_offset=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def time_ours(loaded, settings) -> tuple[float, int]:
    """Seconds from the prompt to decoded pixels, with a live preview of x_t and x̂0 for every frame."""
    preview = latent_parts(loaded).preview
    start = time.perf_counter()
    final, previews = None, 0
    for event in generate(loaded, [GenerationRequest("bench", settings)], StopFlag(), estimate_time=False):
        if isinstance(event, FrameBatch):
            for frame in event.frames:
                preview.rgb(frame.x_t), preview.rgb(frame.pred_x0)  # what the panel shows for every frame
                previews += 1
                final = frame
    pixels = loaded.decode(torch.from_numpy(final.x_t.copy()))
    np.asarray((pixels / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1))
    _sync(loaded.device)
    return time.perf_counter() - start, previews


def time_reference(pipe, settings, device) -> float:
    start = time.perf_counter()
    pipe(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=settings.steps, guidance_scale=settings.guidance_scale,
         height=settings.height, width=settings.width, generator=torch.Generator().manual_seed(settings.seed),
         output_type="np")
    _sync(device)
    return time.perf_counter() - start


def preview_vs_decode(loaded, latent_shape, repeats: int) -> dict:
    parts = latent_parts(loaded)
    z = torch.randn((1, *latent_shape), generator=torch.Generator().manual_seed(0))
    array = z.numpy()
    parts.preview.rgb(array)
    start = time.perf_counter()
    for _ in range(200):
        parts.preview.rgb(array)
    preview_s = (time.perf_counter() - start) / 200
    loaded.decode(z)
    decodes = []
    for _ in range(repeats):
        start = time.perf_counter()
        loaded.decode(z)
        _sync(loaded.device)
        decodes.append(time.perf_counter() - start)
    decode_s = statistics.median(decodes)
    return {"preview_ms_per_frame": round(preview_s * 1e3, 4), "vae_decode_ms_per_frame": round(decode_s * 1e3, 2),
            "decode_over_preview": round(decode_s / preview_s, 1)}


def tiny_cpu_seconds_per_step(folder: Path, steps: int = 20) -> float:
    """The tests' model on one CPU thread (as the tests run it), guided, 32 px: seconds per step."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loaded = latent.open(folder, "cpu")
        settings = GenerationSettings(prompt=PROMPT, negative_prompt=NEGATIVE, steps=steps, width=32, height=32)
        time_ours(loaded, settings)
        runs = [time_ours(loaded, settings)[0] for _ in range(3)]
    finally:
        torch.set_num_threads(threads)
    return statistics.median(runs) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small", choices=("small", "tiny"))
    parser.add_argument("--sampler", default="dpm_solver", choices=("dpm_solver", "ddim"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, help="pixels (the model's own: 256 small, 16 tiny)")
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            folder = save_toy_pipeline(Path(tmp) / args.model, args.model)
            tiny_folder = folder if args.model == "tiny" else save_toy_pipeline(Path(tmp) / "tiny", "tiny")
        loaded = latent.open(folder, args.device)
        parts = latent_parts(loaded)
        size = args.size or parts.native_size
        settings = GenerationSettings(prompt=PROMPT, negative_prompt=NEGATIVE, guidance_scale=args.guidance,
                                      steps=args.steps, sampler=args.sampler, width=size, height=size, seed=0)
        pipe = reference_pipeline(loaded, args.sampler)
        device = loaded.device

        time_ours(loaded, settings)  # warm-up: first calls allocate
        time_reference(pipe, settings, device)
        ours, reference, frames = [], [], 0
        for _ in range(args.repeats):
            seconds, frames = time_ours(loaded, settings)
            ours.append(seconds)
            reference.append(time_reference(pipe, settings, device))
        ratio = statistics.median(o / r for o, r in zip(ours, reference))
        latent_shape = (loaded.channels, size // parts.scale_factor, size // parts.scale_factor)
        previews = preview_vs_decode(loaded, latent_shape, args.repeats)
        tiny_step = tiny_cpu_seconds_per_step(tiny_folder)

    result = {
        "benchmark": "latent",
        "model": f"toy '{args.model}': {parts.describe(loaded)}",
        "image": f"{size}x{size} px from {latent_shape[1]}x{latent_shape[2]}x{latent_shape[0]} latents",
        "sampler": args.sampler,
        "steps": args.steps,
        "guidance_scale": args.guidance,
        "frames_with_live_preview": frames,
        "ours_s_per_image": round(statistics.median(ours), 3),
        "diffusers_pipeline_s_per_image": round(statistics.median(reference), 3),
        "ours_runs_s": [round(v, 3) for v in ours],
        "diffusers_runs_s": [round(v, 3) for v in reference],
        "ours_over_diffusers": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        **previews,
        "tiny_test_model_cpu_ms_per_step_1_thread": round(tiny_step * 1e3, 2),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": _version("diffusers"),
        "transformers": _version("transformers"),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
