"""``diffusion-studio sample``: PNGs and a GIF from a tiny run folder written by core.checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion_studio.cli import COMMANDS, main
from diffusion_studio.core.checkpoint import save_checkpoint
from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.core.unet import UNet, preset_config

SIZE = 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with a tiny untrained U-Net (8 px, grayscale) and a 50-step schedule."""
    torch.manual_seed(0)
    model_config = preset_config("cpu-tiny", SIZE, 1, base_channels=8, channel_mults=(1, 2), attention_resolutions=())
    model = UNet.from_config(model_config)
    config = {
        "version": 1, "model": model.config, "schedule": make_schedule("linear", 50).to_config(),
        "prediction": "epsilon", "image_size": SIZE, "channels": 1, "train": {}, "dataset": {"source": "test"},
    }
    folder = tmp_path_factory.mktemp("run")
    save_checkpoint(folder, model=model, ema_model=model, train_state={"step": 3}, config=config, step=3)
    return folder


def _sample(run_dir, out_dir, *extra):
    return main(["sample", str(run_dir), "--out-dir", str(out_dir), "--device", "cpu", "--quiet", *extra])


def test_sample_is_a_command():
    assert "sample" in COMMANDS


def test_writes_each_sample_and_a_grid(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert _sample(run_dir, out, "--num", "5", "--sampler", "ddim", "--steps", "10", "--seed", "3") == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["grid.png"] + [f"sample_{i:03d}.png" for i in range(5)]
    first = np.asarray(Image.open(out / "sample_000.png"))
    assert first.shape == (SIZE, SIZE) and first.dtype == np.uint8
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape == (2 * (SIZE + 2) + 2, 3 * (SIZE + 2) + 2)  # 5 samples → 3 columns, 2 rows, 2 px padding
    assert np.array_equal(grid[2:2 + SIZE, 2:2 + SIZE], first)
    assert "wrote 5 samples" in capsys.readouterr().out


def test_same_seed_same_pngs_different_seed_different(run_dir, tmp_path):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert _sample(run_dir, tmp_path / name, "--num", "2", "--steps", "5", "--seed", seed) == 0
    read = lambda name: (tmp_path / name / "grid.png").read_bytes()  # noqa: E731
    assert read("a") == read("b") and read("a") != read("c")


@pytest.mark.parametrize("sampler,extra", [("ddpm", ["--steps", "1000"]), ("dpm_solver", ["--steps", "8"]),
                                           ("ddim", ["--steps", "10", "--eta", "1"])])
def test_every_sampler_runs(run_dir, tmp_path, sampler, extra):
    assert _sample(run_dir, tmp_path, "--num", "2", "--sampler", sampler, *extra) == 0
    assert (tmp_path / "grid.png").is_file()


def test_gif_has_one_frame_per_stride_plus_the_final(run_dir, tmp_path, capsys):
    gif = tmp_path / "chain.gif"
    assert _sample(run_dir, tmp_path / "out", "--num", "4", "--steps", "10", "--gif", str(gif), "--stride", "3") == 0
    assert "(5 frames, every 3 steps)" in capsys.readouterr().out  # steps 0, 3, 6, 9 and the final samples
    with Image.open(gif) as image:
        assert image.n_frames >= 2  # GIF writers may merge identical neighbours
        assert image.size[0] > SIZE and image.size[1] > SIZE  # the batch as a grid
        image.seek(image.n_frames - 1)
        last = np.asarray(image.convert("L"))
    grid = np.asarray(Image.open(tmp_path / "out" / "grid.png"))
    assert np.abs(last.astype(int) - grid.astype(int)).max() <= 8  # the GIF ends on the samples


def test_bad_run_folder_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _sample(tmp_path / "empty", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run folder" in err
    assert _sample(tmp_path / "missing", tmp_path / "out") == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [(["--num", "0"], "--num"), (["--sampler", "euler"], "unknown sampler"),
                                           (["--sampler", "ddpm", "--eta", "0.5"], "eta"),
                                           (["--gif", "chain.png"], ".gif")])
def test_bad_options_exit_2(run_dir, tmp_path, capsys, extra, message):
    assert _sample(run_dir, tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_many_samples_are_drawn_in_chunks_that_fit_the_budget(run_dir, tmp_path, monkeypatch):
    from diffusion_studio.core import sampling

    monkeypatch.setattr(sampling, "ACTIVATION_BUDGET_BYTES", 1)  # one sample per chunk
    assert _sample(run_dir, tmp_path / "many", "--num", "3", "--steps", "4", "--seed", "7", "--gif",
                   str(tmp_path / "c.gif")) == 0
    monkeypatch.undo()
    assert _sample(run_dir, tmp_path / "one", "--num", "1", "--steps", "4", "--seed", "8") == 0
    # chunk k is drawn from seed + k: the second chunk is the one-sample run with seed 8
    second = np.asarray(Image.open(tmp_path / "many" / "sample_001.png"))
    assert np.array_equal(second, np.asarray(Image.open(tmp_path / "one" / "sample_000.png")))
    assert Image.open(tmp_path / "c.gif").n_frames > 2


@pytest.mark.parametrize("where,message", [
    (lambda tmp: ["--out-dir", str(tmp / "a_file")], "is a file"),
    (lambda tmp: ["--out-dir", str(tmp / "a_file" / "below")], "is a file"),
    (lambda tmp: ["--gif", str(tmp / "a_folder.gif")], "is a folder"),
    (lambda tmp: ["--gif", str(tmp / "missing" / "chain.gif")], "does not exist"),
])
def test_an_unusable_output_place_is_refused_before_any_sampling(run_dir, tmp_path, capsys, monkeypatch, where,
                                                                  message):
    from diffusion_studio.core import sampling

    (tmp_path / "a_file").write_text("keep me")
    (tmp_path / "a_folder.gif").mkdir()
    called = []
    monkeypatch.setattr(sampling, "sample_in_chunks", lambda *a, **k: called.append(1) or iter(()))
    out = ["--out-dir", str(tmp_path / "out")]
    assert main(["sample", str(run_dir), "--device", "cpu", "--quiet", *out, *where(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not called and (tmp_path / "a_file").read_text() == "keep me"


def test_out_of_memory_while_sampling_is_one_line_naming_a_smaller_num(run_dir, tmp_path, capsys, monkeypatch):
    from diffusion_studio.core import chain

    real_run_chain = chain.run_chain

    def fails_after_a_step(*args, **kwargs):
        for index, item in enumerate(real_run_chain(*args, **kwargs)):
            if index == 2:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            yield item

    monkeypatch.setattr(chain, "run_chain", fails_after_a_step)
    assert _sample(run_dir, tmp_path / "out", "--num", "8", "--steps", "5") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ran out of memory with batch size 8" in err and "--num 4" in err, err
    assert not list((tmp_path / "out").glob("*.png"))
