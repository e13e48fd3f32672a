"""``diffusion-studio playground``: writes the reverse / forward animation; bad input → exit 2 and one line."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageSequence

from diffusion_studio.cli import main

# Small and fast: the ideal denoiser (no training), a short chain, few particles, small pictures.
QUICK = ["--train-seconds", "0", "--steps", "8", "--particles", "100", "--size", "96", "--points", "300"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("diffusion-studio: error: ") and "\n" not in err, err
    assert "Traceback" not in err
    return err


def test_learned_run_writes_a_gif_and_says_what_it_did(tmp_path, capsys):
    out = tmp_path / "moons.gif"
    code = main(["playground", "--data", "moons", "--train-seconds", "1", "--sampler", "ddim", "--steps", "10",
                 "--particles", "200", "--size", "96", "--gif", str(out), "--samples-csv", str(tmp_path / "s.csv")])
    assert code == 0
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.size == (96, 96)
        assert len(list(ImageSequence.Iterator(gif))) == 11  # the start, 10 steps … the last is the samples
    printed = capsys.readouterr().out
    assert "Trained the MLP" in printed and "Sampled with the learned MLP" in printed and "Wrote" in printed
    samples = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    assert samples.shape == (200, 2) and np.isfinite(samples).all()


@pytest.mark.parametrize("sampler", ["ddpm", "dpm_solver"])
def test_ideal_denoiser_and_every_sampler(tmp_path, sampler):
    out = tmp_path / "run.webp"
    assert main(["playground", "--data", "gaussians", "--sampler", sampler, *QUICK, "--gif", str(out),
                 "--view", "side_by_side", "--quiet"]) == 0
    with Image.open(out) as image:
        assert image.format == "WEBP" and image.n_frames == 9 and image.width > 3 * 96


def test_forward_animation_from_a_csv_and_an_image(tmp_path):
    csv = tmp_path / "points.csv"
    csv.write_text("x,y\n" + "".join(f"{np.cos(a):.4f},{np.sin(a):.4f}\n" for a in np.linspace(0, 6, 50)))
    out = tmp_path / "forward.gif"
    assert main(["playground", "--data", str(csv), "--animation", "forward", "--t", "0:1000:250", *QUICK,
                 "--field", "ideal", "--gif", str(out), "--strip", str(tmp_path / "strip.png")]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 5  # 0, 250, 500, 750 and T−1
    assert (tmp_path / "strip.png").exists()
    logo = tmp_path / "logo.png"
    image = np.full((40, 40), 255, np.uint8)
    image[10:30, 18:22] = 0
    Image.fromarray(image).save(logo)
    assert main(["playground", "--data", str(logo), *QUICK, "--gif", str(tmp_path / "logo.gif")]) == 0


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("args, message", [
    (["--data", "spiral"], "neither a built-in data set"),
    (["--data", "{csv_text}"], "line 2: 'hello' is not a number"),
    (["--data", "{csv_nan}"], "is not a finite number"),
    (["--data", "{csv_one}"], "single point"),
    (["--data", "{white}"], "no dark pixels"),
    (["--points", "1"], "number of points must be 2"),
    (["--points", "100000"], "number of points must be 2"),
    (["--particles", "0"], "--particles must be ≥ 1"),
    (["--particles", "999999999"], "--particles must be ≤ 20000"),
    (["--steps", "0"], "--steps must be ≥ 1"),
    (["--steps", "5000"], "steps must be between 1 and 1000"),
    (["--sampler", "euler"], "--sampler must be one of"),
    (["--train-seconds", "-1"], "--train-seconds must be 0 … 3600"),
    (["--train-seconds", "nan"], "--train-seconds must be 0 … 3600"),
    (["--train-seconds", "1", "--prediction", "score"], "--prediction must be one of"),
    (["--train-seconds", "1", "--min-snr", "-2"], "--min-snr must be ≥ 0"),
    (["--size", "8"], "--size must be 64 … 2048"),
    (["--eta", "-1"], "--eta must be ≥ 0"),
    (["--schedule", "wiggly"], "unknown schedule"),
    (["--timesteps", "1"], "number of timesteps must be between"),
    (["--denoiser", "learned"], "needs training"),
    (["--fps", "0"], "--fps must be ≥ 0.1"),
    (["--gif", "{tmp}/x.bmp"], "unknown extension"),
    (["--gif", "{tmp}/missing/x.gif"], "does not exist"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    files = {
        "csv_text": _write(tmp_path, "text.csv", "0,0\n1,hello\n"),
        "csv_nan": _write(tmp_path, "nan.csv", "0,0\nnan,1\n2,2\n"),
        "csv_one": _write(tmp_path, "one.csv", "x,y\n3,4\n"),
        "white": str(tmp_path / "white.png"),
        "tmp": str(tmp_path),
    }
    Image.fromarray(np.full((20, 20, 3), 250, np.uint8)).save(files["white"])
    argv = ["playground", *QUICK, *[a.format(**files) for a in args]]
    if "--gif" not in args:
        argv += ["--gif", str(tmp_path / "out.gif")]
    assert main(argv) == 2
    assert message in _one_line_error(capsys)
    assert not (tmp_path / "out.gif").exists()


def test_nothing_to_write_and_a_read_only_folder_fail_before_any_work(tmp_path, capsys):
    assert main(["playground", *QUICK]) == 2
    assert "Nothing to write" in _one_line_error(capsys)
    if os.name != "nt" and os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        assert main(["playground", *QUICK, "--gif", str(locked / "x.gif")]) == 2
        assert "read-only" in _one_line_error(capsys)


def test_argparse_usage_errors_also_exit_2(capsys):
    assert main(["playground", "--points", "many"]) == 2
    assert "invalid int value" in capsys.readouterr().err


SMALL_OR_ABSURD = st.one_of(st.integers(-5, 40), st.integers(20_001, 10**12))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.one_of(SMALL_OR_ABSURD, st.just(10_000)), particles=SMALL_OR_ABSURD,
       steps=st.one_of(st.integers(-3, 30), st.sampled_from([999, 1000, 1001, 10**6])), size=st.sampled_from([-1, 0, 63, 64, 65, 5000]),
       sampler=st.sampled_from(["ddpm", "ddim", "dpm_solver", "DDIM", "plms", ""]),
       eta=st.sampled_from([-0.5, 0.0, 0.7, float("inf")]))
def test_generated_flags_either_work_or_exit_2_with_one_line(tmp_path_factory, capsys, points, particles, steps,
                                                               size, sampler, eta):
    folder = tmp_path_factory.mktemp("flags")
    out = folder / "run.gif"
    argv = ["playground", "--train-seconds", "0", "--points", str(points), "--particles", str(particles),
            "--steps", str(steps), "--size", str(size), "--sampler", sampler, "--eta", str(eta),
            "--frames", "2", "--gif", str(out)]
    capsys.readouterr()
    code = main(argv)
    most_steps = {"ddpm": 10**12, "ddim": 1000, "dpm_solver": 999}.get(sampler.lower(), 0)
    valid = (2 <= points <= 10_000 and 1 <= particles <= 20_000 and 1 <= steps <= most_steps
             and 64 <= size <= 2048 and 0 <= eta < float("inf"))
    assert code == (0 if valid else 2)
    if valid:
        assert out.exists()
    else:
        assert not out.exists()
        _one_line_error(capsys)
