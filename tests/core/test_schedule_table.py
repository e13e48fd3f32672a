"""The schedule table as CSV: header, exact values, atomic writes and clear refusals."""

import os

import numpy as np
import pytest

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.schedule_table import (
    SCHEDULE_CSV_COLUMNS,
    read_schedule_csv,
    schedule_to_csv,
    write_schedule_csv,
)
from diffusion_studio.core.schedules import make_schedule


def test_csv_has_the_columns_and_exact_values():
    s = make_schedule("cosine", 25, zero_terminal_snr=True)
    text = schedule_to_csv(s)
    lines = text.splitlines()
    assert lines[0] == "t,beta,alpha,alphas_cumprod,sqrt_alphas_cumprod,sqrt_one_minus_alphas_cumprod,snr"
    assert len(lines) == 26 and lines[1].startswith("0,") and lines[-1].startswith("24,")
    columns = read_schedule_csv(text)
    assert tuple(columns) == SCHEDULE_CSV_COLUMNS
    np.testing.assert_array_equal(columns["t"], np.arange(25))
    for name, values in s.table().items():
        np.testing.assert_array_equal(columns[name], values)  # 17 digits round-trip exactly
    assert columns["snr"][-1] == 0.0 and "nan" not in text.lower()


def _lock(folder, monkeypatch):
    """Make ``folder`` read-only; as root (CI containers) permissions are not enforced, so
    os.access is made to report the folder read-only, which is what check_writable_dir asks."""
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(folder) else real_access(p, mode, **kw))


def test_write_is_atomic_and_refuses_a_read_only_folder(tmp_path, monkeypatch):
    target = tmp_path / "linear.csv"
    write_schedule_csv(make_schedule("linear", 10), target)
    assert target.read_text().startswith("t,beta")
    assert [p.name for p in tmp_path.iterdir()] == ["linear.csv"]  # no temp file left behind

    with pytest.raises(InputError, match="does not exist"):
        write_schedule_csv(make_schedule("linear", 10), tmp_path / "missing" / "x.csv")

    locked = tmp_path / "locked"
    locked.mkdir()
    _lock(locked, monkeypatch)
    try:
        with pytest.raises(InputError, match="read-only"):
            write_schedule_csv(make_schedule("linear", 10), locked / "x.csv")
        assert not (locked / "x.csv").exists()
    finally:
        locked.chmod(0o755)
