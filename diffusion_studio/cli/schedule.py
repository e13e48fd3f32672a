"""``diffusion-studio schedule NAME``: a noise schedule's table as CSV.

    diffusion-studio schedule cosine --timesteps 1000                 # CSV on stdout
    diffusion-studio schedule linear --beta-end 0.03 --csv linear.csv
    diffusion-studio schedule scaled_linear --zero-terminal-snr --csv sd.csv

Schedule parameters become flags (``beta_start`` → ``--beta-start``); a parameter the
schedule does not take, a value it refuses or a folder that cannot be written exits 2
with one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..core.errors import printable
from ..core.schedule_table import SCHEDULE_CSV_COLUMNS, schedule_to_csv, write_schedule_csv
from ..core.schedules import SCHEDULE_ALIASES, SCHEDULE_NAMES, SCHEDULE_PARAMS, make_schedule

__all__ = ["register", "run", "PARAM_FLAGS"]

#: every schedule parameter, as (keyword, flag), in first-seen order
PARAM_FLAGS: tuple[tuple[str, str], ...] = tuple(
    (key, "--" + key.replace("_", "-"))
    for key in dict.fromkeys(key for params in SCHEDULE_PARAMS.values() for key in params)
)


def _names_help() -> str:
    lines = []
    for name in SCHEDULE_NAMES:
        if name in SCHEDULE_ALIASES:
            lines.append(f"  {name}: alias of {SCHEDULE_ALIASES[name]}")
            continue
        params = ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in SCHEDULE_PARAMS[name].items())
        lines.append(f"  {name}: {params}")
    return "schedules and their parameters (defaults):\n" + "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="print or save a noise schedule's table (t, β, α, ᾱ, √ᾱ, √(1−ᾱ), SNR) as CSV",
        description="Print a noise schedule as CSV (columns: " + ", ".join(SCHEDULE_CSV_COLUMNS) + ").",
        epilog=_names_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="schedule name, e.g. linear, scaled_linear, cosine")
    # Values are parsed by make_schedule, so a bad one gets the schedule's own one-line message.
    parser.add_argument("--timesteps", "-T", default="1000", metavar="T", help="number of timesteps (default 1000)")
    group = parser.add_argument_group("schedule parameters (each schedule takes some; see the list below)")
    for key, flag in PARAM_FLAGS:
        takers = [n for n in SCHEDULE_PARAMS if key in SCHEDULE_PARAMS[n] and n not in SCHEDULE_ALIASES]
        group.add_argument(flag, dest=f"param_{key}", default=None, metavar="X", help=", ".join(takers))
    parser.add_argument(
        "--zero-terminal-snr", action="store_true", help="rescale to ᾱ = 0 at the last step (Lin et al. 2024)"
    )
    parser.add_argument("--csv", metavar="FILE", help="write the CSV to FILE (atomically) instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    params = {key: getattr(args, f"param_{key}") for key, _ in PARAM_FLAGS}
    params = {key: value for key, value in params.items() if value is not None}
    schedule = make_schedule(args.name, args.timesteps, zero_terminal_snr=args.zero_terminal_snr, **params)
    if args.csv and args.csv != "-":
        write_schedule_csv(schedule, args.csv)
        print(f"wrote {schedule.num_timesteps} rows of {schedule.describe()} to {printable(args.csv)}")
        return 0
    try:
        sys.stdout.write(schedule_to_csv(schedule))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader left; that is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0
