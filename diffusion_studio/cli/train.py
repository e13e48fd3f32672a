"""``diffusion-studio train FOLDER --out RUN_DIR``: train a U-Net on a folder of images (or --demo).

Every flag but ``--quiet`` is generated from ``TrainConfig``'s fields (type, default, help, choices,
range); a flag left out is "not given", so a ``--resume`` keeps the run's recorded value for it.
Ctrl-C or SIGTERM stops after the current step and saves a checkpoint (a second one aborts).
Exit codes: 0 done or stopped, 2 unusable input / out of memory, 1 training failed (NaN loss).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading

from ..core.training.config import RUN, SETTINGS, flag_labels
from .config_flags import add_setting_flags, given_values

__all__ = ["register", "run", "config_from_args"]

EXIT_OK, EXIT_FAILURE = 0, 1
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a diffusion model on a folder of images",
        description="Train a DDPM U-Net on a folder of images (or the built-in digits with --demo). "
                    "Run it under `torchrun --nproc_per_node N` to use N GPUs. Flags left out keep their "
                    "defaults for a new run and the run's recorded values for --resume.",
    )
    add_setting_flags(p, SETTINGS, positional=("folder",), required=("out",), first_group=RUN)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    """The TrainConfig of the flags given; a bad value exits 2 with a line naming its flag."""
    from ..core.training import TrainConfig

    return TrainConfig.from_dict(given_values(args, SETTINGS), labels=flag_labels(), what="train")


class _StopFlag:
    """First Ctrl-C / SIGTERM: stop cleanly after this step (and save); second: abort at once."""

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
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS} if main_thread else {}
    worker_rank = int(os.environ.get("RANK", "0") or 0) != 0
    bar = None
    try:
        for progress in train(config, should_stop=lambda: stop.requested):
            if progress.event == "start":
                if not worker_rank:
                    print(f"{progress.run_dir}: {progress.message}", file=sys.stderr)
                bar = tqdm(total=progress.total_steps, initial=progress.step, unit="step", dynamic_ncols=True,
                           smoothing=0, disable=args.quiet or worker_rank, file=sys.stderr)
                continue
            bar.update(progress.step - bar.n)
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
                if not worker_rank:
                    loss = "" if math.isnan(progress.loss) else f", last loss {progress.loss:.4f}"
                    print(f"{progress.message}{loss}; run folder: {progress.run_dir}", file=sys.stderr)
        return EXIT_OK
    finally:
        if bar is not None:
            bar.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
