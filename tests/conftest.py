"""Shared test set-up: no display, no GPU needed, and nothing written to the user's real folders."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    # platformdirs locations (settings, runs, logs) go to a fresh folder for every test.
    monkeypatch.setenv("DIFFUSION_STUDIO_HOME", str(tmp_path_factory.mktemp("home")))


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
