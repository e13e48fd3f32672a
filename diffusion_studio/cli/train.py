"""``diffusion-studio train FOLDER --out RUN_DIR``: train a U-Net on a folder of images (or --demo).

Ctrl-C stops after the current step and saves a checkpoint (a second Ctrl-C aborts).
Exit codes: 0 done or stopped, 2 unusable input / out of GPU memory, 1 training failed (NaN loss).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys

__all__ = ["register", "run"]

EXIT_OK, EXIT_FAILURE = 0, 1


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
    return values


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a diffusion model on a folder of images",
        description="Train a DDPM U-Net on a folder of images (or the built-in digits with --demo). "
                    "Run it under `torchrun --nproc_per_node N` to use N GPUs.",
    )
    p.add_argument("folder", nargs="?", help="folder of images (searched recursively)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to create (or continue with --resume)")
    p.add_argument("--demo", action="store_true", help="train on the built-in 1797 handwritten digits")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR exactly where it stopped")
    g = p.add_argument_group("data and model")
    g.add_argument("--image-size", type=int, default=32, help="side in pixels after resize + centre crop (32)")
    g.add_argument("--channels", type=int, choices=(1, 3), help="1 or 3; default: 1 if every image is grayscale")
    g.add_argument("--preset", default="auto", choices=("auto", "cpu-tiny", "gpu-small", "ddpm-cifar"),
                   help="model size; auto: cpu-tiny on the CPU, gpu-small on a GPU")
    g.add_argument("--base-channels", type=int, help="width of the first level (preset's)")
    g.add_argument("--channel-mults", type=_int_list, help="width multipliers per level, e.g. 1,2,2,2")
    g.add_argument("--num-res-blocks", type=int, help="residual blocks per level")
    g.add_argument("--attention-resolutions", type=_int_list, help="feature-map sizes with self-attention, e.g. 16")
    g.add_argument("--dropout", type=float, help="dropout in residual blocks")
    g.add_argument("--no-hflip", action="store_true", help="no random horizontal flips")
    g = p.add_argument_group("diffusion")
    g.add_argument("--schedule", default="cosine", help="noise schedule (cosine, linear, …)")
    g.add_argument("--timesteps", type=int, default=1000, help="number of diffusion steps T (1000)")
    g.add_argument("--prediction", default="epsilon", choices=("epsilon", "sample", "v_prediction"))
    g.add_argument("--min-snr-gamma", type=float, help="min-SNR-γ loss weighting (Hang et al. 2023; 5 is typical)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=10_000, help="total optimiser steps (10000)")
    g.add_argument("--max-minutes", type=float, help="stop cleanly (with a checkpoint) after this much time")
    g.add_argument("--batch-size", type=int, default=64, help="images per step (per GPU under torchrun) (64)")
    g.add_argument("--lr", type=float, default=2e-4, help="peak learning rate of AdamW (2e-4)")
    g.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine"))
    g.add_argument("--warmup-steps", type=int, default=200, help="linear learning-rate warm-up (200)")
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--grad-clip", type=float, default=1.0, help="clip the gradient norm (0: off) (1.0)")
    g.add_argument("--ema-decay", type=float, default=0.999, help="EMA decay of the sampling weights (0.999)")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("hardware")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    g.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="auto: bf16 (or fp16) on CUDA, fp32 elsewhere")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory layout (default: on for CUDA, off on the CPU where it is slower)")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, faster steps)")
    g.add_argument("--workers", type=int, default=0, help="DataLoader processes when images are streamed (0)")
    g.add_argument("--threads", type=int,
                   help="CPU threads for torch (default: all cores but one; oversubscribed cores slow torch a lot)")
    g = p.add_argument_group("outputs")
    g.add_argument("--log-every", type=int, default=10, help="steps between metrics.jsonl lines (10)")
    g.add_argument("--sample-every", type=int, default=500, help="steps between EMA sample grids (500)")
    g.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints (1000)")
    g.add_argument("--keep-last", type=int, default=3, help="checkpoint folders to keep (3)")
    g.add_argument("--num-samples", type=int, default=16, help="images in each sample grid (16)")
    g.add_argument("--sample-steps", type=int, default=25, help="DDIM steps for sample grids (25)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from ..core.training import TrainConfig

    return TrainConfig(
        out=args.out, folder=args.folder, demo=args.demo, resume=args.resume,
        image_size=args.image_size, channels=args.channels, preset=args.preset,
        base_channels=args.base_channels, channel_mults=args.channel_mults, num_res_blocks=args.num_res_blocks,
        attention_resolutions=args.attention_resolutions, dropout=args.dropout, hflip=not args.no_hflip,
        schedule=args.schedule, timesteps=args.timesteps, prediction=args.prediction,
        min_snr_gamma=args.min_snr_gamma, steps=args.steps, max_minutes=args.max_minutes, batch_size=args.batch_size, lr=args.lr,
        lr_schedule=args.lr_schedule, warmup_steps=args.warmup_steps, weight_decay=args.weight_decay,
        grad_clip=args.grad_clip, ema_decay=args.ema_decay, seed=args.seed, device=args.device,
        precision=args.precision, channels_last=args.channels_last, compile=args.compile,
        workers=args.workers, cpu_threads=args.threads,  # default: all cores but one (see TrainConfig)
        log_every=args.log_every, sample_every=args.sample_every, checkpoint_every=args.checkpoint_every,
        keep_last=args.keep_last, num_sample_images=args.num_samples, sample_steps=args.sample_steps,
    )


class _StopFlag:
    """First Ctrl-C: stop cleanly after this step (and save); second: abort at once."""

    def __init__(self):
        self.requested = False

    def __call__(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..core.training import train

    config = config_from_args(args)
    stop = _StopFlag()
    previous = signal.signal(signal.SIGINT, stop) if _main_thread() else None
    bar, shown = None, 0
    try:
        for progress in train(config, should_stop=lambda: stop.requested):
            if bar is None and progress.total_steps:
                shown = max(0, progress.step - config.log_every)  # the step training started from
                bar = tqdm(total=progress.total_steps, initial=shown, unit="step", dynamic_ncols=True, smoothing=0,
                           disable=args.quiet or _is_worker_rank(), file=sys.stderr)
                if not bar.disable:
                    bar.start_t -= progress.elapsed_s  # the first steps ran before the first report
            bar.update(progress.step - shown)
            shown = progress.step
            if progress.event == "step":
                if progress.message:
                    bar.write(f"step {progress.step}: {progress.message}", file=sys.stderr)
                bar.set_postfix(loss=f"{progress.loss:.4f}", img_s=f"{progress.images_per_s:.0f}", refresh=False)
                bar.refresh()
            elif progress.event in ("checkpoint", "sample") and progress.message and not args.quiet:
                bar.write(f"step {progress.step}: {progress.message}", file=sys.stderr)
            elif progress.event == "error":
                bar.close()
                print(f"diffusion-studio: error: {progress.message}", file=sys.stderr)
                return EXIT_FAILURE
            elif progress.event in ("done", "stopped"):
                bar.refresh()
                bar.close()
                if not _is_worker_rank():
                    loss = "" if math.isnan(progress.loss) else f", last loss {progress.loss:.4f}"
                    print(f"{progress.message}{loss}; run folder: {progress.run_dir}", file=sys.stderr)
        return EXIT_OK
    finally:
        if bar is not None:
            bar.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _is_worker_rank() -> bool:
    import os

    return int(os.environ.get("RANK", "0") or 0) != 0
