"""``diffusion-studio generate MODEL "PROMPT"``: text to image with a Stable Diffusion model, step by step.

MODEL is a Stable-Diffusion-layout pipeline folder or a Hub id (``owner/name``; downloaded into the
Hugging Face cache when online and not there yet). Writes the image (VAE-decoded) into ``--out-dir``
and, with ``--gif``/``--chain``, the denoising chain in any export format. ``--guidance`` takes a list
(``1,3,7.5,12``) to compare guidance scales side by side, ``--compare-prompt`` a second prompt;
``--init-image`` with ``--strength`` is image-to-image (SDEdit in latent space).

Guidance convention (diffusers): ε̃ = ε̂(∅) + s·(ε̂(c) − ε̂(∅)); s = 1 is no guidance; Ho & Salimans'
w = s − 1. Exit codes: 0 done, 2 unusable model or options (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run"]


def _scales(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a guidance scale or a list like 1,3,7.5,12, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one guidance scale")
    return values


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="text to image with a Stable Diffusion model, step by step (image, chain, comparisons)",
        description="Generate an image from a prompt with a Stable-Diffusion-layout model (a diffusers pipeline "
                    "folder or a Hub id), with Diffusion Studio's own samplers on the model's schedule. Guidance "
                    "scale s as in diffusers: ε̃ = ε̂(∅) + s·(ε̂(c) − ε̂(∅)); s = 1 is no guidance, and Ho & "
                    "Salimans' weight is w = s − 1.",
    )
    p.add_argument("model", metavar="MODEL", help="a Stable Diffusion pipeline folder, or a Hub id (owner/name)")
    p.add_argument("prompt", metavar="PROMPT", help='the prompt; "" generates unconditionally')
    p.add_argument("--negative-prompt", default="", metavar="TEXT",
                   help="what to steer away from (the unconditional input of guidance; empty by default)")
    p.add_argument("--guidance", type=_scales, default=[7.5], metavar="S[,S…]",
                   help="guidance scale s (7.5); a list such as 1,3,7.5,12 compares them side by side")
    p.add_argument("--compare-prompt", metavar="TEXT", help="a second prompt, generated side by side from the same seed")
    p.add_argument("--steps", type=int, help="sampler steps (10 on a CPU, 25 on a GPU)")
    p.add_argument("--seed", type=int, default=0, help="random seed; diffusers' torch.Generator().manual_seed(S) (0)")
    p.add_argument("--sampler", default="dpm_solver", help="ddim or dpm_solver (DPM-Solver++ 2M) (dpm_solver)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM noise η (0: deterministic)")
    p.add_argument("--width", type=int, help="pixels, a multiple of the VAE's factor (256 on a CPU, the model's own "
                                             "size on a GPU)")
    p.add_argument("--height", type=int, help="pixels (as --width)")
    p.add_argument("--init-image", metavar="FILE", help="image-to-image: start from this photo (SDEdit)")
    p.add_argument("--strength", type=float, default=0.6,
                   help="with --init-image: how much is redrawn, 0–1; the chain keeps its last steps×strength steps (0.6)")
    p.add_argument("--out-dir", default="generated", help="folder for the image(s) (./generated)")
    p.add_argument("--gif", metavar="FILE", help="also write the denoising chain as a GIF")
    p.add_argument("--chain", metavar="FILE",
                   help="also write the chain in the format of FILE's extension (.gif .webp .png .mp4, or a folder)")
    p.add_argument("--decode", choices=("preview", "vae"), default="preview",
                   help="how the chain shows x_t and x̂0: the fast linear preview (latent resolution) or the VAE "
                        "decode of every frame (slow on a CPU) (preview)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (auto)")
    p.add_argument("--precision", default="auto", help="auto (float16 on a GPU), float32, float16, bfloat16 (auto)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="also load pickled .bin weights (with torch's weights_only loader); only for files you trust")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from .export_options import add_export_arguments

    add_export_arguments(p, default_fps=8.0, default_hold=1.5, default_pad_color="black")
    p.set_defaults(func=run)


def _settings(args, loaded):
    from ..core.model_sources.latent.parts import latent_parts
    from ..core.text_to_image.generate import GenerationSettings, suggested_settings
    from ..core.validation import validated

    defaults = suggested_settings(latent_parts(loaded).native_size, loaded.device.type)
    fields = {"prompt": args.prompt, "negative_prompt": args.negative_prompt, "guidance_scale": args.guidance[0],
              "steps": args.steps or defaults.steps, "seed": args.seed, "sampler": args.sampler, "eta": args.eta,
              "width": args.width or defaults.width, "height": args.height or args.width or defaults.height,
              "strength": args.strength}
    labels = {"prompt": "PROMPT", "negative_prompt": "--negative-prompt", "guidance_scale": "--guidance",
              "steps": "--steps", "seed": "--seed", "sampler": "--sampler", "eta": "--eta", "width": "--width",
              "height": "--height", "strength": "--strength"}
    return validated(GenerationSettings, fields, what="generate", labels=labels)


def _requests(args, settings):
    from ..core.errors import InputError
    from ..core.text_to_image.generate import (
        GenerationRequest,
        compare_guidance_requests,
        compare_prompt_requests,
    )

    if len(args.guidance) > 1 and args.compare_prompt is not None:
        raise InputError("compare either guidance scales (--guidance 1,7.5) or prompts (--compare-prompt), not both")
    init = _init_image(args.init_image) if args.init_image else None
    if len(args.guidance) > 1:
        requests = compare_guidance_requests(settings, args.guidance)
    elif args.compare_prompt is not None:
        requests = compare_prompt_requests(settings, [args.prompt, args.compare_prompt])
    else:
        requests = [GenerationRequest(args.prompt or "(empty prompt)", settings)]
    return [GenerationRequest(r.label, r.settings, init) for r in requests]


def _init_image(path: str):
    from ..core.images import load_image

    return load_image(path, mode="RGB")


def _check_options(args) -> None:
    from ..core.errors import InputError
    from .export_options import options_from_args

    if args.gif and not str(args.gif).lower().endswith(".gif"):
        raise InputError(f"--gif needs a path ending in .gif, got {args.gif}; use --chain for other formats")
    if args.eta and args.sampler.strip().lower() != "ddim":
        raise InputError(f"--eta is DDIM's noise; the {args.sampler} sampler has none")
    if args.steps is not None and not 1 <= args.steps <= 1000:
        raise InputError(f"--steps must be between 1 and 1000, got {args.steps}")
    options_from_args(args)  # export flags out of range fail before any model is loaded


def _open(args):
    from ..core.model_sources import latent

    if latent.needs_download(args.model):
        _download(args)
    return latent.open(args.model, args.device, allow_pickle=args.allow_pickle, precision=args.precision)


def _download(args) -> None:
    from ..core.model_sources import latent

    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(desc=f"downloading {args.model}", unit="B", unit_scale=True, file=sys.stderr, leave=False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total or None
            bar.update(done - bar.n)

    try:
        folder = latent.download(args.model, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(f"downloaded {args.model} into the Hugging Face cache ({folder})")


def _png(path: Path, image) -> None:
    import io

    from PIL import Image

    from ..core.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def _file_label(request, index: int, count: int, compare_guidance: bool) -> str:
    if count == 1:
        return "image"
    if compare_guidance:
        return f"image_s{request.settings.guidance_scale:g}"
    return f"image_{index + 1}"


def run(args) -> int:
    from ..core.atomic import check_writable_dir
    from ..core.sampling import FrameBatch
    from ..core.model_sources.latent.parts import latent_parts
    from ..core.text_to_image import views
    from ..core.text_to_image.generate import ChainPlanned, TimeEstimate, generate

    _check_options(args)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_writable_dir(out_dir)
    for path in (args.gif, args.chain):
        if path:
            check_writable_dir(Path(path).resolve().parent)
    loaded = _open(args)
    parts = latent_parts(loaded)
    settings = _settings(args, loaded)
    requests = _requests(args, settings)
    print(parts.describe(loaded))
    print(f"{settings.describe(guidance=len(args.guidance) == 1)} — guidance as in diffusers: "
          f"ε̃ = ε̂(∅) + s·(ε̂(c) − ε̂(∅)), w = s − 1")
    if len(requests) > 1:
        print("side by side: " + " | ".join(request.label for request in requests))

    frames: dict[int, list] = {i: [] for i in range(len(requests))}
    total_steps = 0
    bar = None
    for event in generate(loaded, requests, lambda: False, min_interval_s=0.0):
        if isinstance(event, ChainPlanned):
            total_steps += len(event.timesteps)
            for notice in event.notices:
                print(f"note: {notice}", file=sys.stderr)
        elif isinstance(event, TimeEstimate):
            print(f"estimated time: {event.describe()}")
            if not args.quiet:
                from tqdm import tqdm

                bar = tqdm(total=total_steps, desc="generating", unit="step", file=sys.stderr, leave=False)
        elif isinstance(event, FrameBatch):
            frames[event.chain].extend(event.frames)
            if bar is not None:
                bar.update(sum(1 for f in event.frames if not f.is_final))
    if bar is not None:
        bar.close()

    decoder = views.DecodedPixels(loaded.decode)
    compare_guidance = len(args.guidance) > 1
    finals = []
    for index, request in enumerate(requests):
        final = frames[index][-1]
        image = decoder.get((index, final.index, "pred_x0"), final.x_t)[0]
        finals.append(image)
        _png(out_dir / f"{_file_label(request, index, len(requests), compare_guidance)}.png", image)
    if len(requests) > 1:
        from ..core.export import tile_grid

        import numpy as np

        _png(out_dir / "compare.png", tile_grid(np.stack(finals), columns=len(finals), pad_color=(0, 0, 0)))
    names = "image.png" if len(requests) == 1 else f"{len(requests)} images and compare.png"
    print(f"wrote {names} to {out_dir} ({settings.width}×{settings.height}, {loaded.device})")
    animations = [path for path in (args.gif, args.chain) if path]
    if animations or args.strip or args.frames_dir:
        from ..core.export import export_frames
        from .export_options import options_from_args, run_exports

        shown = views.side_by_side([
            views.display_frames(frames[i], parts.preview, decoder=decoder if args.decode == "vae" else None,
                                 scale_factor=parts.scale_factor, decode_x_t=True, key=i)
            for i in range(len(requests))])
        run_exports(shown, args, animations[0] if animations else None)  # with --strip / --frames-dir
        for path in animations[1:]:
            print(export_frames(shown, path, options_from_args(args)).summary())
    return 0
