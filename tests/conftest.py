"""Shared test set-up: no display, no GPU needed, and nothing written to the user's real folders."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    # platformdirs locations (settings, runs, logs) go to a fresh folder for every test.
    monkeypatch.setenv("DIFFUSION_STUDIO_HOME", str(tmp_path_factory.mktemp("home")))


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
