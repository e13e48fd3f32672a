"""A schedule as a table: CSV text for the CLI, the GUI's export and spreadsheets.

Columns (one row per 0-based timestep t):
``t, beta, alpha, alphas_cumprod, sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod, snr``.
Floats are written with 17 significant digits, so reading the CSV back gives the
exact float64 values.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np

from .atomic import atomic_write_text
from .schedules import NoiseSchedule

__all__ = ["SCHEDULE_CSV_COLUMNS", "schedule_to_csv", "write_schedule_csv", "read_schedule_csv"]

SCHEDULE_CSV_COLUMNS: tuple[str, ...] = (
    "t",
    "beta",
    "alpha",
    "alphas_cumprod",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "snr",
)


def _format(value: float) -> str:
    if math.isinf(value):  # SNR is never inf for a valid schedule, but never write "1e309"
        return "inf" if value > 0 else "-inf"
    return f"{value:.17g}"


def schedule_to_csv(schedule: NoiseSchedule) -> str:
    """The schedule's table as CSV text with a header row and ``\\n`` line ends."""
    table = schedule.table()
    columns = [np.asarray(table[name]) for name in SCHEDULE_CSV_COLUMNS]
    out = io.StringIO()
    out.write(",".join(SCHEDULE_CSV_COLUMNS) + "\n")
    for row in zip(*(column.tolist() for column in columns)):
        t, *values = row
        out.write(",".join([str(int(t)), *(_format(v) for v in values)]) + "\n")
    return out.getvalue()


def write_schedule_csv(schedule: NoiseSchedule, path: str | os.PathLike) -> None:
    """Write :func:`schedule_to_csv` atomically; a missing or read-only folder raises InputError."""
    atomic_write_text(path, schedule_to_csv(schedule))


def read_schedule_csv(text: str) -> dict[str, np.ndarray]:
    """Parse CSV text written by :func:`schedule_to_csv` back into float64 columns (``t`` as int)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0].split(",")
    rows = np.array([[float(cell) for cell in line.split(",")] for line in lines[1:]], dtype=np.float64)
    columns = {name: rows[:, i] for i, name in enumerate(header)}
    if "t" in columns:
        columns["t"] = columns["t"].astype(np.int64)
    return columns
