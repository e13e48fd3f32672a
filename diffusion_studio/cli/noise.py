"""``diffusion-studio noise IMAGE --t 0:1000:25 --gif out.gif``: animate the forward (noising) process.

Renders x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε (Ho et al. 2020, eq. 4) for each t with one fixed ε
(from ``--seed``) and writes an animation whose format follows the extension
(.gif, .webp, .png = APNG, .mp4), plus an optional contact strip and PNG frames.
Exit codes: 0 written, 2 unusable image / options / output path (one line on stderr).
"""

from __future__ import annotations

__all__ = ["register", "run"]


def register(subparsers) -> None:
    from .export_options import add_export_arguments

    p = subparsers.add_parser(
        "noise", help="animate the forward noising process of an image (GIF, WebP, APNG, MP4)",
        description="Noise an image step by step along a schedule and write the frames as an animation "
                    "(format by extension: .gif .webp .png .mp4), a contact strip and/or PNG frames. "
                    "Here --view pred_x0 shows the clean image and pred_noise the fixed noise ε.",
    )
    p.add_argument("image", metavar="IMAGE", help="the image to noise (PNG, JPEG, WebP, TIFF …)")
    p.add_argument("--t", default="0:1000:25", metavar="SPEC",
                   help="timesteps: START:STOP[:STEP] (a STOP ≥ T also adds T-1) or a list 0,10,999 (0:1000:25)")
    p.add_argument("--gif", "-o", "--out", dest="output", metavar="FILE",
                   help="the animation; the extension picks the format: .gif .webp .png (APNG) .mp4")
    p.add_argument("--schedule", default="cosine", help="noise schedule: cosine, linear, scaled_linear, sigmoid … (cosine)")
    p.add_argument("--timesteps", type=int, default=1000, help="number of diffusion steps T (1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fixed noise ε (0)")
    p.add_argument("--max-side", type=int, default=256, help="downscale the image so its longest side is at most this (256)")
    add_export_arguments(p, default_fps=12.0, default_hold=1.0)
    p.set_defaults(func=run)


def _check_flags(args) -> None:
    """The flags of ``noise`` through core.validation: one line naming the flag, before any work."""
    from typing import Annotated

    from pydantic import Field, create_model

    from ..core.schedules import MAX_TIMESTEPS
    from ..core.validation import STRICT, Seed, validated

    # built here, not at import: `diffusion-studio --help` does not pay for pydantic
    NoiseFlags = create_model(  # noqa: N806 - a class
        "NoiseFlags", __config__=STRICT,
        timesteps=(Annotated[int, Field(ge=2, le=MAX_TIMESTEPS)], ...),
        seed=(Seed, ...),
        max_side=(Annotated[int, Field(ge=8, le=4096)], ...),
    )
    flags = {"timesteps": "--timesteps", "seed": "--seed", "max_side": "--max-side"}
    validated(NoiseFlags, {name: getattr(args, name) for name in flags}, what="noise", labels=flags)


def run(args) -> int:
    from ..core.export import ForwardFrameSource, parse_t_spec
    from ..core.images import load_image
    from ..core.schedules import make_schedule
    from .export_options import check_outputs, options_from_args, run_exports

    _check_flags(args)
    options_from_args(args)
    check_outputs(args, args.output)  # a folder where a file should be, a FIFO, a read-only folder …
    schedule = make_schedule(args.schedule, args.timesteps)
    ts = parse_t_spec(args.t, schedule.num_timesteps)
    image = load_image(args.image, mode=None)
    frames = ForwardFrameSource(image, schedule, ts, seed=args.seed, max_side=args.max_side)
    run_exports(frames, args, args.output)
    return 0
