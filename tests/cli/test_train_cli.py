"""`diffusion-studio train`: exit codes, files, resume, planted bad files, flags reaching the config."""

import json

import numpy as np
import pytest
from PIL import Image

from diffusion_studio.cli import COMMANDS, main
from diffusion_studio.cli.train import config_from_args

TINY_FLAGS = ["--image-size", "8", "--batch-size", "4", "--base-channels", "8", "--channel-mults", "1,2",
              "--num-res-blocks", "1", "--attention-resolutions", "4", "--timesteps", "50", "--log-every", "1",
              "--sample-every", "2", "--num-samples", "4", "--sample-steps", "2", "--threads", "1", "--quiet"]


def _folder(root, good=3):
    root.mkdir()
    rng = np.random.default_rng(1)
    for i in range(good):
        Image.fromarray(rng.integers(0, 255, (9, 11, 3), dtype=np.uint8)).save(root / f"photo_{i}.jpg")
    (root / "zero.png").write_bytes(b"")
    (root / "readme.png").write_text("not an image")
    return root


def test_train_is_a_command():
    assert "train" in COMMANDS


def test_empty_folder_exits_2_with_a_reason(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), "--out", str(tmp_path / "run")] + TINY_FLAGS) == 2
    assert "no image files" in capsys.readouterr().err


def test_only_bad_files_exits_2_and_writes_the_report(tmp_path, capsys):
    folder = _folder(tmp_path / "images", good=0)
    assert main(["train", str(folder), "--out", str(tmp_path / "run")] + TINY_FLAGS) == 2
    err = capsys.readouterr().err
    assert "none of the 2" in err and "\n" not in err.strip()  # one line
    report = json.loads((tmp_path / "run" / "scan_report.json").read_text())
    assert len(report["skipped"]) == 2 and not report["usable"]


def test_missing_folder_and_no_data_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope"), "--out", str(tmp_path / "run")]) == 2
    assert main(["train", "--out", str(tmp_path / "run")]) == 2
    assert "--demo" in capsys.readouterr().err


def test_folder_with_planted_bad_files_trains_then_resumes(tmp_path, capsys):
    folder = _folder(tmp_path / "images")
    run = tmp_path / "run"
    assert main(["train", str(folder), "--out", str(run), "--steps", "2"] + TINY_FLAGS) == 0
    assert "finished 2 steps" in capsys.readouterr().err
    for name in ("model.safetensors", "model_ema.safetensors", "samples/step_000002.png", "metrics.jsonl"):
        assert (run / name).is_file()
    report = json.loads((run / "scan_report.json").read_text())
    assert len(report["usable"]) == 3 and {e["path"].rsplit("/", 1)[-1] for e in report["skipped"]} == {
        "zero.png", "readme.png"}
    # The same --out again without --resume is refused; with it, training continues.
    assert main(["train", str(folder), "--out", str(run), "--steps", "3"] + TINY_FLAGS) == 2
    assert main(["train", "--out", str(run), "--resume", "--steps", "3"] + TINY_FLAGS) == 0
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_nan_loss_exits_1(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--demo", "--out", str(run), "--steps", "30", "--lr", "1e30", "--warmup-steps", "0",
                 "--grad-clip", "0"] + TINY_FLAGS)
    assert code == 1
    err = capsys.readouterr().err
    assert ("NaN" in err or "infinite" in err) and "--lr" in err
    assert not (run / "model.safetensors").exists()


def test_flags_reach_the_config():
    from diffusion_studio.cli import build_parser

    args = build_parser().parse_args([
        "train", "imgs", "--out", "r", "--preset", "ddpm-cifar", "--channel-mults", "1,2,2,2",
        "--attention-resolutions", "16", "--min-snr-gamma", "5", "--ema-decay", "0.9999", "--lr", "1e-4",
        "--prediction", "v_prediction", "--compile", "--keep-last", "2", "--workers", "3", "--precision", "bf16",
    ])
    config = config_from_args(args)
    assert config.channel_mults == (1, 2, 2, 2) and config.attention_resolutions == (16,)
    assert config.min_snr_gamma == 5 and config.ema_decay == 0.9999 and config.lr == 1e-4
    assert config.prediction == "v_prediction" and config.compile and config.keep_last == 2
    assert config.workers == 3 and config.precision == "bf16" and config.preset == "ddpm-cifar"
    assert config.folder == "imgs" and config.out == "r" and not config.demo


def test_progress_bar_and_messages_on_stderr(tmp_path, capsys):
    flags = [f for f in TINY_FLAGS if f != "--quiet"]
    assert main(["train", "--demo", "--out", str(tmp_path / "run"), "--steps", "2"] + flags) == 0
    err = capsys.readouterr().err
    assert "2/2" in err and "loss=" in err and "step 2: samples at step 2" in err


def test_flags_left_out_are_not_given(tmp_path):
    from diffusion_studio.cli import build_parser

    config = config_from_args(build_parser().parse_args(["train", "--out", "r", "--demo", "--no-hflip"]))
    assert config.given == {"out", "demo", "hflip"} and config.steps == 10_000 and not config.hflip


def test_help_shows_defaults_and_ranges_from_the_config(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for words in ("--image-size IMAGE_SIZE side in pixels after resize + centre crop (default 32; 8–1024)",
                  "--threads CPU_THREADS", "(default 10000; 1–2147483647; may change on --resume)",
                  "--restart", "--channels-last, --no-channels-last", "{epsilon,sample,v_prediction}"):
        assert words in text, words


def test_a_plain_resume_keeps_the_runs_steps(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--demo", "--out", str(run), "--steps", "2", "--checkpoint-every", "1"] + TINY_FLAGS) == 0
    (run / "model.safetensors").unlink()  # fall back to the step-1 checkpoint: there is a step left to do
    for folder in sorted((run / "checkpoints").iterdir())[1:]:
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "continuing at step 1" in err and "finished 2 steps" in err  # not 10 000


@pytest.mark.parametrize("flags, words", [
    (["--lr", "inf"], "train: --lr must be a finite number, got inf"),
    (["--max-minutes", "inf"], "train: --max-minutes must be a finite number"),
    (["--grad-clip", "nan"], "train: --grad-clip must be a finite number"),
    (["--threads", "100000"], "train: --threads must be ≤ 1024"),
    (["--seed", str(2**64)], "train: --seed must be ≤"),
    (["--steps", "-5"], "train: --steps must be ≥ 1"),
    (["--resume", "--restart"], "choose one"),
])
def test_bad_values_exit_2_naming_the_flag_before_any_work(tmp_path, capsys, flags, words):
    run = tmp_path / "run"
    assert main(["train", "--demo", "--out", str(run)] + flags) == 2
    err = capsys.readouterr().err
    assert words in err and "e.g. inf" not in err and err.count("\n") == 1
    assert not run.exists()


def test_a_batch_that_cannot_fit_exits_2_with_the_estimate(tmp_path, capsys, monkeypatch):
    from diffusion_studio.core import device

    monkeypatch.setattr(device, "available_memory", lambda d: (16 * 2**30, "available RAM"))
    assert main(["train", "--demo", "--out", str(tmp_path / "run"), "--batch-size", "100000"]) == 2
    err = capsys.readouterr().err
    assert "batch size 100000 at 32 px needs about" in err and "of available RAM; try --batch-size" in err
    assert not (tmp_path / "run").exists()


def test_the_cli_says_how_many_files_it_skipped(tmp_path, capsys):
    folder = _folder(tmp_path / "images")
    assert main(["train", str(folder), "--out", str(tmp_path / "run"), "--steps", "1"] + TINY_FLAGS) == 0
    err = capsys.readouterr().err
    assert "3 usable images, 2 skipped" in err and "scan_report.json" in err


@pytest.mark.slow
def test_sigterm_stops_with_a_checkpoint(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from diffusion_studio.core.checkpoint import read_metrics, read_weights_step

    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "diffusion_studio", "train", "--demo", "--out", str(run), "--steps", "100000"]
        + TINY_FLAGS, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").exists() or not read_metrics(run):  # training has begun
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopped at step" in err
    step = read_weights_step(run / "model.safetensors")
    assert step is not None and step >= 1
