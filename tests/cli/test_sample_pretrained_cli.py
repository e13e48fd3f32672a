"""``diffusion-studio sample`` on diffusers models: a pipeline folder, a cached Hub id, a download with a progress
bar that Ctrl-C cancels, and the refusals (exit 2, one line)."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from PIL import Image

from diffusion_studio.cli import main
from diffusion_studio.core.model_sources import hub
from tests.diffusers_models import SIZE, save_bare_unet, save_pipeline, update_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return save_pipeline(tmp_path_factory.mktemp("models") / "pipe")


def _sample(model, out_dir, *extra):
    return main(["sample", str(model), "--out-dir", str(out_dir), "--device", "cpu", "--quiet", "--num", "3",
                 "--steps", "5", *extra])


def test_a_pipeline_folder_samples_pngs_and_a_gif(pipeline, tmp_path, capsys):
    assert _sample(pipeline, tmp_path / "out", "--gif", str(tmp_path / "chain.gif")) == 0
    first = np.asarray(Image.open(tmp_path / "out" / "sample_000.png"))
    assert first.shape == (SIZE, SIZE, 3) and first.std() > 5
    assert Image.open(tmp_path / "chain.gif").n_frames == 6
    out = capsys.readouterr().out
    assert "wrote 3 samples" in out and "8px" in out


def test_a_cached_hub_id_samples_offline_like_its_folder(pipeline, tmp_path, fake_hub_cache):
    fake_hub_cache("google/ddpm-cifar10-32", pipeline)
    assert _sample("google/ddpm-cifar10-32", tmp_path / "hub", "--sampler", "ddim") == 0
    assert _sample(pipeline, tmp_path / "folder", "--sampler", "ddim") == 0
    for i in range(3):
        name = f"sample_{i:03d}.png"
        assert np.array_equal(np.asarray(Image.open(tmp_path / "hub" / name)),
                              np.asarray(Image.open(tmp_path / "folder" / name)))


def test_offline_and_not_cached_exits_2_naming_the_id(tmp_path, capsys):
    assert _sample("google/ddpm-celebahq-256", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "google/ddpm-celebahq-256 is not in the local Hugging Face cache" in err and "HF_HUB_OFFLINE" in err


def test_online_and_not_cached_downloads_with_a_bar_on_stderr(pipeline, tmp_path, monkeypatch, capsys):
    import shutil

    def fake_download(repo_id, *, allow_patterns, progress=None, should_stop=None, revision=None):
        for done in (0, 400, 1000):
            progress(done, 1000)
        snapshot = tmp_path / "snapshot"
        shutil.copytree(pipeline, snapshot, dirs_exist_ok=True)
        return snapshot

    monkeypatch.setattr(hub, "download_snapshot", fake_download)
    code = main(["sample", "owner/new-model", "--out-dir", str(tmp_path / "out"), "--device", "cpu", "--num", "2",
                 "--steps", "3"])
    assert code == 0
    assert "downloading owner/new-model" in capsys.readouterr().err


def test_ctrl_c_cancels_the_download_cleanly(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE")

    def fake_snapshot_download(repo_id, *, tqdm_class, allow_patterns, cache_dir, revision=None, **_):
        bar = tqdm_class(total=10_000, unit="B")
        bar.update(100)
        signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C while bytes arrive
        bar.update(100)
        raise AssertionError("the download went on after Ctrl-C")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setattr(hub, "cached_snapshot", lambda *a, **k: None)
    assert _sample("owner/big-model", tmp_path / "out") == 130
    assert "download cancelled" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # our handler is gone again


@pytest.mark.parametrize("edit, message", [
    (lambda f: (f / "diffusion_pytorch_model.safetensors").rename(f / "diffusion_pytorch_model.bin"),
     "only pickled weights"),
    (lambda f: (f / "config.json").write_text("{not json"), "not valid JSON"),
    (lambda f: update_json(f / "config.json", {"_class_name": "UNet2DConditionModel"}), "Text to image tab"),
    (lambda f: (f / "diffusion_pytorch_model.safetensors").write_bytes(b"\x10\x00"), "not a valid safetensors"),
])
def test_unusable_models_exit_2_with_one_line(tmp_path, capsys, edit, message):
    folder = save_bare_unet(tmp_path / "unet")
    edit(folder)
    assert _sample(folder, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_half_precision_on_the_cpu_exits_2(pipeline, tmp_path, capsys):
    assert _sample(pipeline, tmp_path / "out", "--dtype", "float16") == 2
    assert "runs only on a GPU" in capsys.readouterr().err
