"""``diffusion-studio sample MODEL``: sample images from a trained model (PNGs, and a chain GIF).

MODEL is a run folder, a checkpoint step folder, a ``.safetensors`` file with its
``config.json``, ``demo`` for the bundled demo model, a diffusers pipeline or UNet2DModel
folder, or a Hub id (``google/ddpm-cifar10-32``): from the local Hugging Face cache, or
downloaded into it with a progress bar when the machine is online (Ctrl-C cancels; what was
fetched stays for next time). Writes ``sample_000.png`` … and ``grid.png`` into ``--out-dir``;
with ``--gif`` also the denoising chain as a GIF.

A class-conditional model takes ``--class C`` (a class name, or its 0-based index) and ``--guidance S``:
classifier-free guidance in diffusers' convention, ε̃ = ε̂(∅) + S·(ε̂(c) − ε̂(∅)), S = 1 + w for Ho &
Salimans' weight w (S = 1: no guidance; the line printed at the end states both numbers). A model trained on
the demo digits is also judged by the digits classifier ("read as 7: 15 of 16").
Exit codes: 0 done, 2 unusable model or options (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import io
import math
import signal
import sys
from pathlib import Path

import numpy as np

__all__ = ["register", "run", "DEFAULT_GIF_FRAMES"]

#: Frames in a ``--gif`` when ``--stride`` is not given (plus the final frame).
DEFAULT_GIF_FRAMES = 60


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sample", help="sample images from a trained model (PNGs, optional chain GIF)",
        description="Sample images from a run folder ('demo' for the bundled demo model), a diffusers "
                    "pipeline or UNet2DModel folder, or a Hub id (from the local Hugging Face cache, downloaded "
                    "when online), and write each sample and a grid as PNGs; --gif also writes the denoising chain.",
    )
    p.add_argument("run_dir", metavar="MODEL",
                   help="run folder, step folder, .safetensors file, 'demo', diffusers folder, or Hub id")
    p.add_argument("--num", type=int, default=16,
                   help="number of samples (16); many are drawn in chunks that fit in memory, chunk k from seed+k")
    p.add_argument("--sampler", default="ddim", help="ddpm, ddim or dpm_solver (ddim)")
    p.add_argument("--steps", type=int, default=50,
                   help="sampler steps (50); for ddpm, a value ≥ T runs the full chain")
    p.add_argument("--eta", type=float, help="DDIM noise η: 0 deterministic, 1 like DDPM (0)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same samples on any device (0)")
    p.add_argument("--class", dest="class_name", metavar="C",
                   help="the class to sample from a class-conditional model: its name or 0-based index "
                        "(default: any class, the unconditional model)")
    p.add_argument("--guidance", type=float, default=1.0, metavar="S",
                   help="classifier-free guidance scale s as in diffusers: ε̃ = ε̂(∅) + s·(ε̂(c) − ε̂(∅)); "
                        "s = 1 + w for Ho & Salimans' weight w; 1 is no guidance (default), needs --class")
    p.add_argument("--out-dir", default="samples", help="folder for the PNGs (./samples)")
    p.add_argument("--gif", metavar="PATH", help="also write the denoising chain (x_t, batch grid) as a GIF")
    p.add_argument("--stride", type=int, help=f"keep every N-th step in the GIF (default: about {DEFAULT_GIF_FRAMES} frames)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (auto)")
    p.add_argument("--raw-weights", action="store_true", help="use the raw weights, not the EMA weights")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"),
                   help="a diffusers model's precision on a GPU: auto is its weights' dtype; the CPU runs float32")
    p.add_argument("--allow-pickle", action="store_true",
                   help="read a diffusers model's pickled diffusion_pytorch_model.bin when it has no safetensors "
                        "(torch's weights_only loader); only for models from a source you trust")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from .export_options import add_export_arguments

    add_export_arguments(p, default_fps=12.5, default_hold=1.5, default_pad_color="black", strip_and_folder=False)
    p.set_defaults(func=run)


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def _settings(args):
    from ..core.sampling import SamplerSettings
    from ..core.validation import validated

    labels = {"sampler": "--sampler", "steps": "--steps", "eta": "--eta", "seed": "--seed", "device": "--device",
              "class_name": "--class", "guidance_scale": "--guidance"}
    fields = {"sampler": args.sampler, "steps": args.steps, "seed": args.seed, "device": args.device,
              "class_name": args.class_name, "guidance_scale": args.guidance}
    if args.eta is not None:
        fields["eta"] = args.eta
    return validated(SamplerSettings, fields, what="sample", labels=labels)


def _check_options(args) -> None:
    from ..core.errors import InputError, printable

    if not 1 <= args.num <= 100_000:
        raise InputError(f"--num must be between 1 and 100000, got {args.num}")
    if args.stride is not None and args.stride < 1:
        raise InputError(f"--stride must be at least 1, got {args.stride}")
    if args.eta is not None and args.sampler.lower() != "ddim":
        raise InputError(f"--eta is DDIM's noise; the {args.sampler} sampler has none")
    if args.gif and not str(args.gif).lower().endswith(".gif"):
        raise InputError(f"--gif needs a path ending in .gif, got {args.gif}")
    out_dir = Path(args.out_dir)
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)  # what mkdir would build on
    if existing is not None and not existing.is_dir():
        where = "" if existing == out_dir else f" ({printable(existing)})"
        raise InputError(f"--out-dir {printable(out_dir)}{where} is a file, not a folder; give a folder for the PNGs")
    if args.gif:
        from ..core.export import check_output_path

        check_output_path(args.gif, "gif")  # a folder, a device or an unwritable place: refused before sampling
    from .export_options import options_from_args

    options_from_args(args)  # export flags out of range fail before sampling


def _write_gif(frames, path: Path, args) -> None:
    """The chain (x_t batch grid by default) as a GIF, with the export flags (core.export)."""
    from ..core.export import write_chain_gif
    from .export_options import options_from_args

    write_chain_gif(frames, path, options_from_args(args))


class _DownloadBar:
    """Bytes downloaded, as a tqdm bar on stderr (each snapshot the Hub sends restarts the count)."""

    def __init__(self, label: str, quiet: bool):
        self.label, self.quiet, self.bar = label, quiet, None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if self.bar is None or done < self.bar.n:
            self.close()
            self.bar = tqdm(total=total or None, desc=f"downloading {self.label}", unit="B", unit_scale=True,
                            unit_divisor=1024, file=sys.stderr, leave=False)
        self.bar.total = total or self.bar.total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def _ctrl_c_sets(stop):
    """While a model opens, Ctrl-C asks the download to stop between chunks (a second one interrupts)."""
    def on_interrupt(_signum, _frame):
        if stop():
            raise KeyboardInterrupt
        stop.set()

    try:
        previous = signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # not the main thread (an embedding program): keep its handler
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _open_model(args, settings):
    from ..core.sampling import load_for_sampling
    from ..core.stopping import StopFlag

    stop, bar = StopFlag(), _DownloadBar(str(args.run_dir), args.quiet)
    try:
        with _ctrl_c_sets(stop):
            loaded = load_for_sampling(args.run_dir, settings.device, prefer_ema=not args.raw_weights,
                                       allow_pickle=args.allow_pickle, dtype=args.dtype, download=True,
                                       progress=bar, should_stop=stop)
    finally:
        bar.close()
    for note in loaded.extra.get("notes", ()):
        print(f"diffusion-studio: note: {note}", file=sys.stderr)
    return loaded


def _print_judgement(loaded, samples: np.ndarray, class_index: int | None) -> None:
    """For a model trained on the demo digits: what the independent digits classifier reads in the samples."""
    from ..core.conditioning import describe_judgement, judge_for

    judge = judge_for(loaded)
    if judge is None:
        return
    asked = None if class_index is None else loaded.class_names[class_index]
    print(f"digits judge: {describe_judgement(judge.score(samples, asked=class_index), asked, len(samples))}")


def run(args) -> int:
    from ..core.atomic import atomic_write_bytes, check_writable_dir
    from ..core.errors import InputError, printable
    from ..core.chain import DEFAULT_FRAME_BUDGET_BYTES, stride_for_budget
    from ..core.export import tile_grid
    from ..core.model_sources.hub import DownloadCancelled
    from ..core.conditioning import check_condition, model_rows_per_sample
    from ..core.sampling import chunk_size_for, sample_in_chunks, sampler_for

    _check_options(args)
    settings = _settings(args)
    try:
        loaded = _open_model(args, settings)
    except DownloadCancelled as exc:
        print(f"diffusion-studio: interrupted: {exc}", file=sys.stderr)
        return 130
    class_index = check_condition(loaded, settings.class_name, settings.guidance_scale)  # before any file
    sampler = sampler_for(loaded, settings)
    out_dir = Path(args.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out-dir {printable(out_dir)} cannot be made: {exc.strerror or exc}") from None
    check_writable_dir(out_dir)

    num_steps = sampler.num_steps
    if args.gif:
        # about DEFAULT_GIF_FRAMES frames, fewer if the whole batch's frames would not fit the budget
        stride = args.stride or max(1, math.ceil(num_steps / DEFAULT_GIF_FRAMES))
        stride = max(stride, stride_for_budget(num_steps, args.num, loaded.image_size, loaded.channels,
                                               DEFAULT_FRAME_BUDGET_BYTES))
    else:
        stride = num_steps  # only the first and the final frame are kept in memory
    chunk = max(1, chunk_size_for(loaded) // model_rows_per_sample(settings.guidance_scale, class_index))
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        chunks = math.ceil(args.num / chunk)
        bar = tqdm(total=num_steps * chunks, desc=f"{sampler.describe()}" + (f", {chunks} chunks" if chunks > 1 else ""),
                   unit="step", file=sys.stderr, leave=False)
    frames = []
    try:
        for item in sample_in_chunks(loaded, settings, args.num, stride=stride, chunk_size=chunk):
            if isinstance(item, list):
                frames = item
            elif bar is not None:
                bar.update(item.step - bar.n)
    finally:
        if bar is not None:
            bar.close()

    samples = frames[-1].x_t
    for i, image in enumerate(samples):
        atomic_write_bytes(out_dir / f"sample_{i:03d}.png", _png_bytes(image))
    atomic_write_bytes(out_dir / "grid.png", _png_bytes(tile_grid(samples, pad_color=(0, 0, 0))))
    device = next(loaded.model.parameters()).device
    condition = settings.describe_condition()
    print(f"wrote {len(samples)} samples and grid.png to {out_dir} ({sampler.describe()}, {condition}seed {args.seed}, "
          f"{loaded.image_size}px, {device})")
    _print_judgement(loaded, samples, class_index)
    if args.gif:
        _write_gif(frames, Path(args.gif), args)
        print(f"wrote the chain ({len(frames)} frames, every {stride} steps) to {args.gif}")
    return 0

