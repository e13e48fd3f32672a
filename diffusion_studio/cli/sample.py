"""``diffusion-studio sample RUN_DIR``: sample images from a trained model (PNGs, and a chain GIF).

RUN_DIR is a run folder, a checkpoint step folder, a ``.safetensors`` file with its
``config.json``, or ``demo`` for the bundled demo model. Writes ``sample_000.png`` …
and ``grid.png`` into ``--out-dir``; with ``--gif`` also the denoising chain as a GIF.
Exit codes: 0 done, 2 unusable run folder or options (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np

__all__ = ["register", "run", "DEFAULT_GIF_FRAMES"]

#: Frames in a ``--gif`` when ``--stride`` is not given (plus the final frame).
DEFAULT_GIF_FRAMES = 60


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sample", help="sample images from a trained model (PNGs, optional chain GIF)",
        description="Sample images from a run folder (or 'demo' for the bundled demo model) "
                    "and write each sample and a grid as PNGs; --gif also writes the denoising chain.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder, step folder, .safetensors file, or 'demo'")
    p.add_argument("--num", type=int, default=16, help="number of samples (16)")
    p.add_argument("--sampler", default="ddim", help="ddpm, ddim or dpm_solver (ddim)")
    p.add_argument("--steps", type=int, default=50,
                   help="sampler steps (50); for ddpm, a value ≥ T runs the full chain")
    p.add_argument("--eta", type=float, help="DDIM noise η: 0 deterministic, 1 like DDPM (0)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same samples on any device (0)")
    p.add_argument("--out-dir", default="samples", help="folder for the PNGs (./samples)")
    p.add_argument("--gif", metavar="PATH", help="also write the denoising chain (x_t, batch grid) as a GIF")
    p.add_argument("--stride", type=int, help=f"keep every N-th step in the GIF (default: about {DEFAULT_GIF_FRAMES} frames)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (auto)")
    p.add_argument("--raw-weights", action="store_true", help="use the raw weights, not the EMA weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from .export_options import add_export_arguments

    add_export_arguments(p, default_fps=12.5, default_hold=1.5, default_pad_color="black", strip_and_folder=False)
    p.set_defaults(func=run)


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def _resolve_run(run_dir: str) -> Path:
    from ..core.checkpoint import DEMO_MODEL_DIR
    from ..core.errors import InputError

    if run_dir == "demo":
        demo = Path(DEMO_MODEL_DIR)
        if not demo.exists():
            raise InputError(f"the bundled demo model is missing from this installation ({demo})")
        return demo
    return Path(run_dir)


def _check_options(args) -> None:
    from ..core.errors import InputError

    if args.num < 1:
        raise InputError(f"--num must be at least 1, got {args.num}")
    if args.steps < 1:
        raise InputError(f"--steps must be at least 1, got {args.steps}")
    if args.stride is not None and args.stride < 1:
        raise InputError(f"--stride must be at least 1, got {args.stride}")
    if args.gif and not str(args.gif).lower().endswith(".gif"):
        raise InputError(f"--gif needs a path ending in .gif, got {args.gif}")
    from .export_options import options_from_args

    options_from_args(args)  # export flags out of range fail before sampling


def _make_sampler(loaded, args):
    from ..core.samplers import SAMPLER_ALIASES, make_sampler

    name = SAMPLER_ALIASES.get(args.sampler.lower(), args.sampler.lower())
    T = loaded.schedule.num_timesteps
    num_steps = None if name == "ddpm" and args.steps >= T else args.steps
    return make_sampler(name, loaded.schedule, prediction=loaded.prediction, num_steps=num_steps, eta=args.eta)


def _write_gif(frames, path: Path, args) -> None:
    """The chain (x_t batch grid by default) as a GIF, with the export flags (core.export)."""
    from ..core.export import write_chain_gif
    from .export_options import options_from_args

    write_chain_gif(frames, path, options_from_args(args))


def run(args) -> int:
    from ..core.atomic import atomic_write_bytes, check_writable_dir
    from ..core.chain import ChainFrame, chain_frame_count, run_chain
    from ..core.checkpoint import load_model
    from ..core.device import pick_device
    from ..core.export import tile_grid

    _check_options(args)
    device = pick_device(args.device)
    loaded = load_model(_resolve_run(args.run_dir), device=device, prefer_ema=not args.raw_weights)
    sampler = _make_sampler(loaded, args)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_writable_dir(out_dir)
    if args.gif:
        check_writable_dir(Path(args.gif).resolve().parent)

    num_steps = sampler.num_steps
    if args.gif:
        stride = args.stride or max(1, math.ceil(num_steps / DEFAULT_GIF_FRAMES))
    else:
        stride = num_steps  # only the first and the final frame are kept in memory
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=num_steps, desc=f"{sampler.describe()}", unit="step", file=sys.stderr, leave=False)
    frames: list[ChainFrame] = []
    done = 0
    try:
        for item in run_chain(loaded.model, sampler, num_samples=args.num, seed=args.seed,
                              image_size=loaded.image_size, channels=loaded.channels, device=device,
                              stride=stride, progress=bar is not None):
            step = item.index + 1 if isinstance(item, ChainFrame) else item.step
            if bar is not None:
                bar.update(min(step, num_steps) - done)
                done = min(step, num_steps)
            if isinstance(item, ChainFrame) and (args.gif or item.is_final):
                frames.append(item)
    finally:
        if bar is not None:
            bar.close()
    assert frames and frames[-1].is_final
    if args.gif:
        assert len(frames) == chain_frame_count(num_steps, stride)

    samples = frames[-1].x_t
    for i, image in enumerate(samples):
        atomic_write_bytes(out_dir / f"sample_{i:03d}.png", _png_bytes(image))
    atomic_write_bytes(out_dir / "grid.png", _png_bytes(tile_grid(samples, pad_color=(0, 0, 0))))
    print(f"wrote {len(samples)} samples and grid.png to {out_dir} ({sampler.describe()}, seed {args.seed}, "
          f"{loaded.image_size}px, {device})")
    if args.gif:
        _write_gif(frames, Path(args.gif), args)
        print(f"wrote the chain ({len(frames)} frames, every {stride} steps) to {args.gif}")
    return 0
