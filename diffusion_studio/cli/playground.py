"""``diffusion-studio playground --data moons --train-seconds 20 --sampler ddim --gif moons.gif``.

The 2D playground from the command line: a data set (a built-in name, a CSV of x,y points or an
image whose dark pixels become points), an MLP trained for ``--train-seconds`` on the CPU (or,
with 0, the ideal denoiser of the data), a reverse run of ``--particles`` particles through
DDPM / DDIM / DPM-Solver++, and the animation written with the export options of ``noise`` and
``sample`` (format by extension). ``--animation forward`` writes the forward process instead.
Exit codes: 0 written, 2 unusable data, options or output path (one line on stderr).
"""

from __future__ import annotations

import sys

__all__ = ["register", "run"]

_FLAG_LABELS = {
    "prediction": "--prediction", "min_snr_gamma": "--min-snr", "max_seconds": "--train-seconds",
    "max_steps": "--train-steps", "seed": "--seed", "sampler": "--sampler", "steps": "--steps",
    "particles": "--particles", "eta": "--eta", "spacing": "--timestep-spacing", "batch_size": "--batch-size",
}


def register(subparsers) -> None:
    from .export_options import add_export_arguments

    p = subparsers.add_parser(
        "playground", help="the 2D playground: train a small model on 2D points and animate its sampling",
        description="Diffusion on 2D points: load or generate a data set, train a small MLP for a few seconds "
                    "(or use the exact ideal denoiser), sample a particle cloud and write the reverse (or "
                    "forward) process as an animation (.gif .webp .png .mp4).",
    )
    p.add_argument("--data", default="moons", metavar="SET",
                   help="moons, swissroll, gaussians, checkerboard, circles, a .csv of x,y points, or an image "
                        "(its dark pixels) (moons)")
    p.add_argument("--points", type=int, default=1000, help="points of a built-in set or drawn from an image (1000)")
    p.add_argument("--schedule", default="cosine", help="noise schedule: cosine, linear, … (cosine)")
    p.add_argument("--timesteps", type=int, default=1000, help="number of diffusion steps T (1000)")
    p.add_argument("--train-seconds", type=float, default=20.0,
                   help="train the MLP this long on the CPU; 0 uses the ideal denoiser instead (20)")
    p.add_argument("--train-steps", type=int, default=1_000_000, help="stop training after this many steps too")
    p.add_argument("--prediction", default="epsilon", help="what the MLP predicts: epsilon, sample (x0) or "
                                                           "v_prediction (epsilon)")
    p.add_argument("--min-snr", type=float, default=0.0, metavar="GAMMA", help="min-SNR-γ loss weighting; 0 = off (0)")
    p.add_argument("--batch-size", type=int, default=256, help="training batch size (256)")
    p.add_argument("--denoiser", choices=("learned", "ideal"),
                   help="sample with the trained MLP or the ideal denoiser (learned; ideal when --train-seconds 0)")
    p.add_argument("--sampler", default="ddim", help="ddpm, ddim or dpm_solver (ddim)")
    p.add_argument("--steps", type=int, help="sampler steps (ddpm 100, ddim 50, dpm_solver 20; ≥ T: the full chain)")
    p.add_argument("--timestep-spacing", default="leading", help="sampler timestep spacing: leading, trailing or linspace (leading)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM noise η: 0 deterministic, 1 like DDPM (0)")
    p.add_argument("--particles", type=int, default=2000, help="particles to sample (2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, training and starting noise (0)")
    p.add_argument("--animation", choices=("reverse", "forward"), default="reverse",
                   help="animate the reverse run or the forward process of the data (reverse)")
    p.add_argument("--t", default=None, metavar="SPEC",
                   help="forward animation timesteps START:STOP[:STEP] or a list (about 50 frames over 0 … T−1)")
    p.add_argument("--size", type=int, default=400, help="picture size in pixels (400)")
    p.add_argument("--paths", type=int, default=12, help="reverse animation: draw the paths of this many particles (12)")
    p.add_argument("--field", choices=("none", "ideal", "learned"), default="none",
                   help="forward animation: draw a denoiser's score field as arrows (none)")
    p.add_argument("--no-heatmap", action="store_true", help="leave out the density q(x_t)")
    p.add_argument("--samples-csv", metavar="FILE", help="also write the final samples as x,y rows")
    p.add_argument("--gif", "-o", "--out", dest="output", metavar="FILE",
                   help="the animation; the extension picks the format: .gif .webp .png (APNG) .mp4")
    p.add_argument("--quiet", action="store_true", help="print only the files written")
    add_export_arguments(p, default_fps=15.0, default_hold=1.5)
    p.set_defaults(func=run)


def _check(args) -> None:
    from ..core.errors import InputError

    if not (args.output or args.strip or args.frames_dir or args.samples_csv):
        raise InputError("Nothing to write: give --gif FILE (or -o FILE), --strip FILE, --frames-dir DIR or --samples-csv FILE")
    if not 0 <= args.train_seconds <= 3600 or args.train_seconds != args.train_seconds:
        raise InputError(f"--train-seconds must be 0 … 3600, got {args.train_seconds:g}")
    if not 64 <= args.size <= 2048:
        raise InputError(f"--size must be 64 … 2048 pixels, got {args.size}")
    if not 0 <= args.paths <= 1000:
        raise InputError(f"--paths must be 0 … 1000, got {args.paths}")
    if args.denoiser == "learned" and args.train_seconds == 0:
        raise InputError("--denoiser learned needs training: give --train-seconds above 0")
    if args.field == "learned" and args.train_seconds == 0:
        raise InputError("--field learned needs training: give --train-seconds above 0")


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text)


def run(args) -> int:
    from ..core.errors import InputError
    from ..core.export import parse_t_spec
    from ..core.playground import load_points
    from ..core.playground.render import ForwardFrames, RenderStyle, ReverseFrames
    from ..core.playground.trajectories import build_sampler
    from ..core.schedules import make_schedule
    from .export_options import options_from_args, run_exports

    _check(args)
    options_from_args(args)  # bad export options fail before any work
    _check_outputs(args)
    schedule = make_schedule(args.schedule, args.timesteps)
    data = load_points(args.data, args.points, seed=args.seed)
    sample_config = _sample_config(args)
    build_sampler(sample_config, schedule, "epsilon")  # steps T cannot take fail here, before any training
    train_config = _train_config(args) if args.train_seconds > 0 else None
    try:
        style = RenderStyle(size=args.size, heatmap=not args.no_heatmap, paths=args.paths,
                            field=None if args.field == "none" else args.field)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    ts = parse_t_spec(args.t or f"0:{schedule.num_timesteps}:{max(1, schedule.num_timesteps // 50)}",
                      schedule.num_timesteps) if args.animation == "forward" else []
    _say(args, f"Data: {data.describe()}; schedule {schedule.describe()}")

    learned = _train(args, data.points, schedule, train_config) if train_config is not None else None
    denoiser_kind = args.denoiser or ("learned" if learned is not None else "ideal")
    if args.animation == "forward":
        frames = ForwardFrames(data.points, schedule, ts, seed=args.seed, style=style,
                               snapshot=learned.snapshot() if learned is not None else None)
        samples = None
        if args.samples_csv:
            samples = _sample(args, denoiser_kind, learned, data.points, schedule, sample_config).samples
    else:
        trajectories = _sample(args, denoiser_kind, learned, data.points, schedule, sample_config)
        samples = trajectories.samples
        frames = ReverseFrames(trajectories, schedule, points=None if args.no_heatmap else data.points, style=style)
    if samples is not None and args.samples_csv:
        _write_samples(samples, args.samples_csv)
    if args.output or args.strip or args.frames_dir:
        run_exports(frames, args, args.output)
    return 0


def _train_config(args):
    from ..core.playground.training import MLPTrainConfig

    return MLPTrainConfig.from_dict(
        {"prediction": args.prediction, "min_snr_gamma": args.min_snr, "max_seconds": args.train_seconds,
         "max_steps": args.train_steps, "batch_size": args.batch_size, "seed": args.seed}, labels=_FLAG_LABELS)


def _sample_config(args):
    from ..core.playground.trajectories import SampleConfig

    return SampleConfig.from_dict(
        {"sampler": str(args.sampler).strip().lower(), "steps": args.steps, "particles": args.particles,
         "eta": args.eta, "spacing": args.timestep_spacing, "seed": args.seed}, labels=_FLAG_LABELS)


def _train(args, points, schedule, config):
    import torch

    from ..core.device import cpu_threads_leaving_one_core
    from ..core.playground.training import train_mlp

    torch.set_num_threads(max(1, cpu_threads_leaving_one_core()))
    gen = train_mlp(points, schedule, config)
    last = None
    while True:
        try:
            last = next(gen)
        except StopIteration as done:
            learned = done.value
            break
        except KeyboardInterrupt:
            print("diffusion-studio: training interrupted", file=sys.stderr)
            raise
    _say(args, f"Trained the MLP ({config.prediction}{', min-SNR γ = %g' % config.min_snr_gamma if config.min_snr_gamma else ''}): "
               f"{last.step} steps in {last.elapsed_s:.1f} s ({last.steps_per_s:.0f} steps/s), last loss {last.loss:.4f}")
    return learned


def _sample(args, kind, learned, points, schedule, config):
    from ..core.playground import mean_nearest_distance
    from ..core.playground.ideal import IdealDenoiser
    from ..core.playground.trajectories import run_trajectories

    denoiser = learned if kind == "learned" else IdealDenoiser(points, schedule)
    trajectories = run_trajectories(denoiser, schedule, config)
    distance = mean_nearest_distance(trajectories.samples, points)
    _say(args, f"Sampled with the {denoiser.label}: {config.describe()}; mean distance to the nearest data "
               f"point {distance:.4f}")
    return trajectories


def _write_samples(samples, path) -> None:
    import io

    import numpy as np

    from ..core.atomic import atomic_write_text

    buffer = io.StringIO()
    buffer.write("x,y\n")
    np.savetxt(buffer, samples, delimiter=",", fmt="%.6g")
    atomic_write_text(path, buffer.getvalue())
    print(f"Wrote {path} ({len(samples)} samples)")


def _check_outputs(args) -> None:
    """Every output's folder is writable and every extension known, before any training starts."""
    from pathlib import Path

    from ..core.atomic import check_writable_dir
    from ..core.export import output_kind

    if args.output:
        output_kind(args.output)
    if args.strip:
        output_kind(args.strip, "strip")
    for path in (args.output, args.strip, args.samples_csv, args.frames_dir):
        if path:
            parent = Path(path).expanduser().parent
            check_writable_dir(parent if str(parent) else Path("."))
