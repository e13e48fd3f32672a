"""``diffusion-studio schedule``: CSV on stdout or to a file, parameters as flags, one-line refusals."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from diffusion_studio.cli import COMMANDS, main
from diffusion_studio.core.schedule_table import read_schedule_csv, schedule_to_csv
from diffusion_studio.core.schedules import make_schedule


def test_is_a_registered_command():
    assert "schedule" in COMMANDS


def test_csv_on_stdout(capsys):
    assert main(["schedule", "cosine", "--timesteps", "50"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == schedule_to_csv(make_schedule("cosine", 50))
    assert out.splitlines()[0] == "t,beta,alpha,alphas_cumprod,sqrt_alphas_cumprod,sqrt_one_minus_alphas_cumprod,snr"
    assert len(out.splitlines()) == 51


def test_parameters_as_flags_and_zero_terminal_snr(capsys):
    argv = ["schedule", "linear", "-T", "20", "--beta-start", "2e-4", "--beta-end", "0.05", "--zero-terminal-snr"]
    assert main(argv) == 0
    columns = read_schedule_csv(capsys.readouterr().out)
    expected = make_schedule("linear", 20, beta_start=2e-4, beta_end=0.05, zero_terminal_snr=True)
    np.testing.assert_array_equal(columns["beta"], expected.betas)
    assert columns["alphas_cumprod"][-1] == 0.0 and columns["snr"][-1] == 0.0

    assert main(["schedule", "sigmoid_alphas_cumprod", "-T", "30", "--start", "-2", "--end", "4", "--tau", "0.5"]) == 0
    columns = read_schedule_csv(capsys.readouterr().out)
    expected = make_schedule("sigmoid_alphas_cumprod", 30, start=-2, end=4, tau=0.5)
    np.testing.assert_array_equal(columns["alphas_cumprod"], expected.alphas_cumprod)

    assert main(["schedule", "laplace", "-T", "10", "--mu", "1", "--b", "0.7", "--max-beta", "0.99"]) == 0
    assert read_schedule_csv(capsys.readouterr().out)["beta"].max() <= 0.99


def test_csv_to_a_file(tmp_path, capsys):
    target = tmp_path / "sd.csv"
    assert main(["schedule", "scaled_linear", "--timesteps", "100", "--csv", str(target)]) == 0
    out, _ = capsys.readouterr()
    assert "wrote 100 rows" in out and str(target) in out
    assert target.read_text() == schedule_to_csv(make_schedule("scaled_linear", 100))
    assert [p.name for p in tmp_path.iterdir()] == ["sd.csv"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["schedule", "linear", "--beta-end", "1"], "beta_end must be strictly between 0 and 1"),
        (["schedule", "linear", "--beta-end", "1.5"], "beta_end must be strictly between 0 and 1"),
        (["schedule", "linear", "--beta-start", "0.05"], "must not exceed beta_end"),
        (["schedule", "linear", "--beta-end", "nan"], "finite number"),
        (["schedule", "linear", "--beta-end", "lots"], "must be a number"),
        (["schedule", "linear", "--timesteps", "-5"], "between 2 and"),
        (["schedule", "linear", "--timesteps", "1"], "between 2 and"),
        (["schedule", "linear", "--timesteps", "ten"], "whole number"),
        (["schedule", "linear", "--s", "0.1"], "has no parameter s"),
        (["schedule", "cosine", "--max-beta", "1"], "max_beta must be strictly between 0 and 1"),
        (["schedule", "sigmoid_alphas_cumprod", "--start", "3", "--end", "-3"], "end > start"),
        (["schedule", "nonsense"], "unknown schedule"),
    ],
)
def test_bad_parameters_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("diffusion-studio: error:")


def test_unwritable_target_exits_2(tmp_path, capsys):
    assert main(["schedule", "linear", "--csv", str(tmp_path / "missing" / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1


def test_a_device_a_fifo_or_a_folder_is_never_replaced(tmp_path, capsys, char_device):
    # issue 13: as root, `--csv /dev/full` replaced the device with a plain file
    (tmp_path / "folder.csv").mkdir()
    targets = [(char_device, "character device"), (str(tmp_path / "folder.csv"), "is a folder")]
    if os.name == "posix":
        os.mkfifo(tmp_path / "pipe.csv")
        targets.append((str(tmp_path / "pipe.csv"), "FIFO"))
    for target, words in targets:
        assert main(["schedule", "linear", "-T", "10", "--csv", target]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1  # a folder was an IsADirectoryError traceback
    assert stat.S_ISCHR(os.lstat(char_device).st_mode) and (tmp_path / "folder.csv").is_dir()


def test_the_csv_gets_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["schedule", "linear", "-T", "10", "--csv", str(tmp_path / "a.csv")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.csv").stat().st_mode) == 0o644  # was 0600


def test_help_lists_schedules_and_parameters(capsys):
    assert main(["schedule", "--help"]) == 0
    out = capsys.readouterr().out
    for text in ("--beta-start", "--max-beta", "--tau", "--zero-terminal-snr", "--csv", "sigmoid_alphas_cumprod: --start -3"):
        assert text in out


def test_python_dash_m_runs_it(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, "-m", "diffusion_studio", "schedule", "cosine", "--timesteps", "10"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == schedule_to_csv(make_schedule("cosine", 10))
    bad = subprocess.run(
        [sys.executable, "-m", "diffusion_studio", "schedule", "linear", "--beta-end", "2"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
