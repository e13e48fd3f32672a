"""Hub ids through huggingface_hub's cache: cached models open offline; downloads report and cancel."""

from __future__ import annotations

import json

import pytest

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.model_sources import hub


def _folder(tmp_path):
    folder = tmp_path / "src"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline"}))
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights")
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    return folder


def test_hub_ids_are_owner_slash_name_and_not_local_paths(tmp_path, monkeypatch):
    assert hub.looks_like_hub_id("google/ddpm-cifar10-32")
    assert hub.looks_like_hub_id("user.name/my_model-v1.0")
    for spec in ("demo", "runs", "/abs/path", "a/b/c", "../x", "owner/", "/name", "x" * 97 + "/y"):
        assert not hub.looks_like_hub_id(spec)
    (tmp_path / "owner" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not hub.looks_like_hub_id("owner/name")  # a folder of that name on this machine wins


def test_a_cached_model_opens_offline_without_its_pickles(tmp_path, fake_hub_cache):
    cache = fake_hub_cache("google/ddpm-cifar10-32", _folder(tmp_path))
    snapshot = hub.cached_snapshot("google/ddpm-cifar10-32")
    assert snapshot is not None and snapshot.is_relative_to(cache)
    assert (snapshot / "model_index.json").is_file()
    assert hub.hub_cache_dir() == cache


def test_not_cached_and_offline_names_the_id_and_what_to_do(fake_hub_cache):
    assert hub.cached_snapshot("google/ddpm-celebahq-256") is None
    with pytest.raises(InputError, match=r"google/ddpm-celebahq-256 is not in the local Hugging Face cache.*HF_HUB_OFFLINE"):
        hub.download_snapshot("google/ddpm-celebahq-256")


def test_hub_cache_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub.hub_cache_dir() == tmp_path / "home" / "hub"


def test_download_reports_bytes_and_cancels_between_chunks(monkeypatch):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE")
    calls = {}

    def fake_snapshot_download(repo_id, *, tqdm_class, allow_patterns, cache_dir, revision=None):
        # what huggingface_hub does: a bytes bar per snapshot, updated as chunks arrive
        calls.update(repo_id=repo_id, allow_patterns=allow_patterns)
        files = tqdm_class(total=3, unit="it")  # the file counter is not reported
        files.update(1)
        bar = tqdm_class(total=1000, unit="B")
        for _ in range(4):
            bar.update(250)
        return str(cache_dir / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    reports = []
    folder = hub.download_snapshot("owner/model", progress=lambda done, total: reports.append((done, total)))
    assert folder.name == "snapshot" and calls["repo_id"] == "owner/model"
    assert reports == [(250, 1000), (500, 1000), (750, 1000), (1000, 1000)]
    assert not any(p.endswith((".bin", ".ckpt", ".pt")) for p in calls["allow_patterns"])

    asked = iter([False, False, True])
    with pytest.raises(hub.DownloadCancelled, match="stays in the cache"):
        hub.download_snapshot("owner/model", progress=lambda *_: None, should_stop=lambda: next(asked))


def test_download_errors_become_one_line_reasons(monkeypatch):
    import huggingface_hub
    from huggingface_hub import errors

    monkeypatch.delenv("HF_HUB_OFFLINE")

    def unreachable(*args, **kwargs):
        raise errors.LocalEntryNotFoundError("no connection")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(InputError, match="cannot be reached.*connect to the internet"):
        hub.download_snapshot("owner/model")
