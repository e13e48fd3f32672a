"""``diffusion-studio noise``: writes the forward animation (format by extension), strip and frames; bad input → exit 2."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageSequence

from diffusion_studio.cli import main
from tests.property._bounds import run_cli


@pytest.fixture
def photo(tmp_path):
    y, x = np.mgrid[0:48, 0:64]
    image = np.stack([x * 4, y * 5, 255 - x * 4], -1).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    return path


def test_noise_gif_with_options(tmp_path, photo, capsys):
    out = tmp_path / "forward.gif"
    code = main(["noise", str(photo), "--t", "0:100:20", "--timesteps", "100", "--schedule", "linear",
                 "--gif", str(out), "--fps", "5", "--hold", "1", "--scale", "2", "--caption",
                 "--strip", str(tmp_path / "strip.png"), "--frames-dir", str(tmp_path / "frames")])
    assert code == 0
    with Image.open(out) as im:
        frames = list(ImageSequence.Iterator(im))
        assert len(frames) == 6  # 0, 20, 40, 60, 80 and T-1 = 99
        assert im.size[0] == 128 and im.size[1] > 96  # scaled ×2, plus the caption bar
        assert im.info["loop"] == 0
        im.seek(5)
        assert im.info["duration"] == 1200
    assert len(list((tmp_path / "frames").glob("frame_*_t*.png"))) == 6
    with Image.open(tmp_path / "strip.png") as strip:
        assert strip.width > 6 * 64
    assert "Wrote" in capsys.readouterr().out


@pytest.mark.parametrize("ext,fmt", [("webp", "WEBP"), ("png", "PNG")])
def test_noise_format_by_extension(tmp_path, photo, ext, fmt):
    out = tmp_path / f"forward.{ext}"
    assert main(["noise", str(photo), "--t", "0,500,999", "-o", str(out), "--no-loop", "--frames", "2"]) == 0
    with Image.open(out) as im:
        assert im.format == fmt and im.n_frames == 2


def test_noise_mp4(tmp_path, photo):
    pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "forward.mp4"
    assert main(["noise", str(photo), "--t", "0:1000:100", "--gif", str(out), "--hold", "0"]) == 0
    assert out.stat().st_size > 1000


@pytest.mark.parametrize(
    "args,message",
    [
        (["--gif", "{tmp}/x.bmp"], "unknown extension"),
        (["--gif", "{tmp}/missing/x.gif"], "does not exist"),
        (["--gif", "{tmp}/x.gif", "--t", "5000:6000"], "select no t"),
        (["--gif", "{tmp}/x.gif", "--fps", "0"], "noise: --fps must be ≥ 0.1, got 0"),
        (["--gif", "{tmp}/x.gif", "--schedule", "nope"], "nope"),
        ([], "Nothing to write"),
        # issue 13: values that passed and broke later, or ran away
        (["--gif", "{tmp}/x.gif", "--hold", "nan"], "--hold must be a finite number"),  # was a traceback
        (["--gif", "{tmp}/x.gif", "--fps", "inf"], "--fps must be a finite number"),
        (["--gif", "{tmp}/x.gif", "--frames", "-1"], "--frames must be ≥ 1, got -1"),
        (["--gif", "{tmp}/x.gif", "--max-side", "1000000000"], "--max-side must be ≤ 4096, got 1000000000"),
        (["--gif", "{tmp}/x.gif", "--seed", str(2**64)], "--seed must be ≤ 9223372036854775807"),
        (["--gif", "{tmp}/x.gif", "--timesteps", str(10**9)], "--timesteps must be ≤ 100000"),
        (["--gif", "{tmp}/x.gif", "--timesteps", "100000", "--t", "0:1000000000:1"],
         "100000 frames are more than one export writes (10000)"),
        (["--gif", "{tmp}/x.gif", "--t-range", "500:0"], "--t-range must run from low to high"),
        (["--gif", "{tmp}/x.gif", "--quality", "0"], "--quality must be ≥ 1"),
        (["--gif", "{tmp}/x.gif", "--strip-frames", "1000000"], "--strip-frames must be ≤ 100"),
        (["--gif", "{tmp}/"], "names a folder; an animation needs a file name"),  # reported a GIF it did not write
        (["--gif", "{tmp}/noext"], "has no extension"),
    ],
)
def test_noise_bad_options_exit_2(tmp_path, photo, capsys, args, message):
    code = main(["noise", str(photo)] + [a.format(tmp=tmp_path) for a in args])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_a_folder_or_device_as_the_output_is_refused_before_the_image_is_read(tmp_path, photo, capsys, char_device):
    (tmp_path / "frames.gif").mkdir()
    for output, words in [(str(tmp_path), "names a folder"), (str(tmp_path / "frames.gif"), "is a folder"),
                          (char_device, "character device, not a regular file")]:
        assert main(["noise", str(tmp_path / "missing.png"), "--gif", output]) == 2
        err = capsys.readouterr().err
        assert words in err and "missing.png" not in err and err.count("\n") == 1
    assert (tmp_path / "frames.gif").is_dir() and list((tmp_path / "frames.gif").iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="FIFOs are POSIX")
def test_a_fifo_as_the_image_is_refused_without_hanging(tmp_path, capsys):
    os.mkfifo(tmp_path / "a.png")
    assert main(["noise", str(tmp_path / "a.png"), "--gif", str(tmp_path / "x.gif")]) == 2
    assert "FIFO (named pipe), not a file" in capsys.readouterr().err


def test_names_that_are_not_utf8_are_written_and_printed(tmp_path, photo):
    out = tmp_path / os.fsdecode(b"caf\xe9.gif")
    code, printed, err = run_cli(["noise", str(photo), "--t", "0,999", "--gif", str(out)])
    assert code == 0 and out.exists() and "caf\\xe9.gif" in printed, err


def test_noise_bad_image_exit_2(tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert main(["noise", str(bad), "--gif", str(tmp_path / "x.gif")]) == 2
    assert "notes.png" in capsys.readouterr().err
    assert not (tmp_path / "x.gif").exists()


def test_sample_command_shares_the_export_flags():
    from diffusion_studio.cli import build_parser
    from diffusion_studio.cli.export_options import options_from_args

    args = build_parser().parse_args(["sample", "RUN", "--gif", "c.gif", "--fps", "5", "--caption", "--view",
                                      "pred_x0", "--frames", "20", "--spacing", "dense", "--scale", "3"])
    options = options_from_args(args)
    assert (options.fps, options.caption, options.view, options.max_frames) == (5, True, "pred_x0", 20)
    assert options.spacing == "dense_near_0" and options.scale == 3
    assert options.pad_color == (0, 0, 0) and options.hold_last_s == 1.5  # chain defaults: black grid, longer hold
