"""Shared test set-up: no display, no GPU needed, and nothing written to the user's real folders."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    # platformdirs locations (settings, runs, logs) go to a fresh folder for every test, and the
    # Hugging Face cache is an empty one that nothing can download into: tests never download.
    monkeypatch.setenv("DIFFUSION_STUDIO_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf_cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def fake_hub_cache(tmp_path, monkeypatch):
    """Lay out models in a Hugging Face cache as huggingface_hub does, without any network.

    ``fake_hub_cache(repo_id, folder)`` copies ``folder`` (e.g. a pipeline written by
    ``save_pretrained``) in as the cached snapshot of ``repo_id``'s main branch and returns the cache.
    """
    import shutil

    cache = tmp_path / "hf_cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))

    def add(repo_id: str, folder, commit: str = "0123456789abcdef0123456789abcdef01234567"):
        storage = cache / f"models--{repo_id.replace('/', '--')}"
        (storage / "refs").mkdir(parents=True, exist_ok=True)
        (storage / "refs" / "main").write_text(commit)
        shutil.copytree(folder, storage / "snapshots" / commit, dirs_exist_ok=True)
        return cache

    return add


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one torch thread avoids OpenMP oversubscription.

    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def char_device(tmp_path):
    """A character device a failing test cannot harm: as root, a node like /dev/null's made in tmp_path
    (so a write that wrongly replaced it would not replace the system's); otherwise /dev/null itself,
    which only root could replace."""
    import stat

    if os.name != "posix":
        pytest.skip("character devices are POSIX")
    if os.geteuid() != 0:
        return "/dev/null"
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError:
        pytest.skip("cannot make a device node here")
    return str(node)
