"""``diffusion-studio generate``: images, chains, comparisons and image-to-image from a toy Stable Diffusion
folder, and exit status 2 with a reason for every input it cannot use."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from ..core._latent_helpers import toy_folder

from diffusion_studio.cli import COMMANDS, main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return toy_folder(tmp_path_factory)


def _generate(model, out, *extra, prompt="a photo of a cat"):
    return main(["generate", str(model), prompt, "--out-dir", str(out), "--device", "cpu", "--quiet",
                 "--steps", "3", "--width", "32", "--height", "32", *extra])


def test_generate_is_a_command():
    assert "generate" in COMMANDS


def test_writes_the_image_and_the_chain_in_any_format(model, tmp_path, capsys):
    out = tmp_path / "out"
    assert _generate(model, out, "--guidance", "7.5", "--seed", "4", "--gif", str(tmp_path / "chain.gif"),
                     "--chain", str(tmp_path / "chain.webp"), "--view", "side_by_side") == 0
    image = np.asarray(Image.open(out / "image.png"))
    assert image.shape == (32, 32, 3)
    printed = capsys.readouterr().out
    assert "s = 7.5 (w = 6.5)" in printed and "ε̃ = ε̂(∅) + s·(ε̂(c) − ε̂(∅))" in printed
    assert "estimated time: about" in printed and "wrote image.png" in printed
    gif, webp = Image.open(tmp_path / "chain.gif"), Image.open(tmp_path / "chain.webp")
    assert gif.n_frames == 4 and webp.n_frames == 4  # 3 steps and the final image
    # the same seed gives the same image
    again = tmp_path / "again"
    assert _generate(model, again, "--guidance", "7.5", "--seed", "4") == 0
    assert np.array_equal(np.asarray(Image.open(again / "image.png")), image)


def test_guidance_scales_and_prompts_side_by_side(model, tmp_path, capsys):
    out = tmp_path / "scales"
    assert _generate(model, out, "--guidance", "1,7.5,12", "--gif", str(tmp_path / "c.gif")) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["compare.png", "image_s1.png", "image_s12.png", "image_s7.5.png"]
    assert np.asarray(Image.open(out / "compare.png")).shape == (32 + 4, 3 * 32 + 4 * 2, 3)
    assert "side by side: s = 1  (w = 0) | s = 7.5  (w = 6.5) | s = 12  (w = 11)" in capsys.readouterr().out
    out = tmp_path / "prompts"
    assert _generate(model, out, "--compare-prompt", "a drawing of a dog") == 0
    assert sorted(p.name for p in out.iterdir()) == ["compare.png", "image_1.png", "image_2.png"]


def test_image_to_image_and_an_empty_prompt(model, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((50, 40, 3), 200, np.uint8)).save(photo)
    assert _generate(model, tmp_path / "i2i", "--init-image", str(photo), "--strength", "0.7", "--sampler", "ddim",
                     prompt="") == 0
    assert (tmp_path / "i2i" / "image.png").is_file()


def test_a_long_prompt_is_truncated_with_a_note(model, tmp_path, capsys):
    assert _generate(model, tmp_path / "long", prompt="a big red cat " * 30) == 0
    assert "note: The prompt is 120 tokens long and the text encoder reads 75" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--width", "33"], "multiples of 2"),
    (["--sampler", "ddpm"], "unknown sampler 'ddpm'"),
    (["--gif", "chain.webp"], "--gif needs a path ending in .gif"),
    (["--guidance", "200"], "--guidance must be ≤ 100"),
    (["--steps", "0"], "--steps must be between 1 and 1000"),
    (["--eta", "0.5"], "--eta is DDIM's noise"),
    (["--guidance", "1,7.5", "--compare-prompt", "x"], "not both"),
    (["--precision", "float16"], "float16 is for GPUs"),
    (["--init-image", "nothing.png"], "nothing.png"),
])
def test_bad_options_exit_2_with_a_reason(model, tmp_path, capsys, extra, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _generate(model, tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("diffusion-studio: error:") and message in err and len(err.strip().splitlines()) == 1


def test_unusable_models_exit_2_with_a_reason(model, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    shutil.rmtree(broken / "vae")
    assert _generate(broken, tmp_path / "out") == 2
    assert "has no vae/" in capsys.readouterr().err
    index = json.loads((model / "model_index.json").read_text())
    other = tmp_path / "ddpm"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({**index, "_class_name": "DDPMPipeline"}))
    assert _generate(other, tmp_path / "out") == 2
    assert "pixel-space model" in capsys.readouterr().err
    assert _generate("someone/not-cached", tmp_path / "out") == 2  # tests run offline with an empty cache
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err
