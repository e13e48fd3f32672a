"""core.atomic: what may be replaced, the permissions of what is written, leftovers of a crash, clear errors."""

from __future__ import annotations

import errno
import os
import socket
import stat
import tempfile
import time

import pytest

from diffusion_studio.core.atomic import (
    atomic_folder,
    atomic_path,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    new_file_mode,
    remove_stale_temps,
)
from diffusion_studio.core.errors import InputError

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, devices, sockets and umask are POSIX")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_replaces_a_regular_file_and_creates_a_missing_one(tmp_path):
    atomic_write_text(tmp_path / "new.txt", "fresh")
    (tmp_path / "old.txt").write_text("old")
    atomic_write_bytes(tmp_path / "old.txt", b"new")
    assert (tmp_path / "new.txt").read_text() == "fresh" and (tmp_path / "old.txt").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.txt", "old.txt"]


@posix_only
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path, umask_022):
    atomic_write_text(tmp_path / "a.csv", "x")
    assert _mode(tmp_path / "a.csv") == 0o644  # mkstemp alone gives 0600
    os.umask(0o077)
    atomic_write_text(tmp_path / "private.csv", "x")
    assert _mode(tmp_path / "private.csv") == 0o600
    os.umask(0o022)
    (tmp_path / "shared.csv").write_text("old")
    os.chmod(tmp_path / "shared.csv", 0o664)
    atomic_write_text(tmp_path / "shared.csv", "new")
    assert _mode(tmp_path / "shared.csv") == 0o664


@posix_only
def test_umask_is_read_without_changing_it(umask_022):
    assert new_file_mode() == 0o644
    assert os.umask(0o022) == 0o022


@posix_only
def test_a_fifo_is_refused_not_replaced_and_never_opened(tmp_path):
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"out.csv is a FIFO \(named pipe\), not a regular file"):
        atomic_write_text(fifo, "x")  # opening it for writing would block: the test would hang
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@posix_only
def test_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    (tmp_path / "real.txt").write_text("keep")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    for name in ("link.txt", "dangling.txt"):
        with pytest.raises(InputError, match="is a symbolic link, not a regular file"):
            atomic_write_text(tmp_path / name, "x")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "real.txt").read_text() == "keep"
    assert not (tmp_path / "nowhere.txt").exists()


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "out.gif").mkdir()
    with pytest.raises(InputError, match="out.gif is a folder, not a regular file"):
        atomic_write_bytes(tmp_path / "out.gif", b"GIF89a")
    assert (tmp_path / "out.gif").is_dir()


@posix_only
def test_a_character_device_is_refused(char_device):
    # As root, --csv /dev/full once replaced the device with a plain file.
    with pytest.raises(InputError, match="is a character device, not a regular file"):
        atomic_write_text(char_device, "x")
    assert stat.S_ISCHR(os.lstat(char_device).st_mode)


@posix_only
def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.json"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
    except OSError:
        pytest.skip("cannot bind a unix socket here")
    try:
        with pytest.raises(InputError, match="is a socket"):
            atomic_write_text(path, "{}")
    finally:
        server.close()


def _leftover(folder, name, age_s=3600.0, directory=False):
    # What a kill -9 in the middle of a write leaves: our temp name, older than this process.
    path = folder / f".{name}.abcd_123{'.tmp'}"
    if directory:
        path.mkdir()
        (path / "frame_0000.png").write_bytes(b"x")
    else:
        path.write_bytes(b"half")
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


def test_leftovers_of_a_crashed_write_are_removed_by_the_next_write(tmp_path):
    stale = _leftover(tmp_path, "run.csv")
    other = _leftover(tmp_path, "other.csv")  # a leftover of another target is not ours to judge
    unrelated = tmp_path / ".run.csv.notes.tmp"
    unrelated.write_text("not our pattern")
    atomic_write_text(tmp_path / "run.csv", "new")
    assert not stale.exists() and other.exists() and unrelated.exists()
    assert (tmp_path / "run.csv").read_text() == "new"


def test_a_temp_file_newer_than_this_process_is_left_alone(tmp_path):
    fresh = _leftover(tmp_path, "run.csv", age_s=-60)  # could be another program's write in progress
    assert remove_stale_temps(tmp_path / "run.csv") == []
    assert fresh.exists()


@pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")
def test_a_temp_file_locked_by_a_live_writer_is_left_alone(tmp_path):
    import fcntl

    busy = _leftover(tmp_path, "run.csv")
    with open(busy, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert remove_stale_temps(tmp_path / "run.csv") == []
        assert busy.exists()
    assert remove_stale_temps(tmp_path / "run.csv") == [busy]


@posix_only
def test_a_symlink_with_our_temp_name_is_never_followed_or_removed(tmp_path):
    (tmp_path / "precious").write_text("keep")
    trap = tmp_path / ".run.csv.abcd_123.tmp"
    trap.symlink_to(tmp_path / "precious")
    os.utime(trap, (0, 0), follow_symlinks=False)
    atomic_write_text(tmp_path / "run.csv", "x")
    assert trap.is_symlink() and (tmp_path / "precious").read_text() == "keep"


def test_leftover_frame_folders_are_removed_too(tmp_path):
    stale = _leftover(tmp_path, "frames", directory=True)
    with atomic_folder(tmp_path / "frames") as folder:
        (folder / "frame_0000.png").write_bytes(b"png")
    assert not stale.exists()
    assert [p.name for p in (tmp_path / "frames").iterdir()] == ["frame_0000.png"]


@posix_only
def test_frame_folders_get_the_usual_permissions(tmp_path, umask_022):
    with atomic_folder(tmp_path / "frames") as folder:
        (folder / "a.png").write_bytes(b"png")
    assert _mode(tmp_path / "frames") == 0o755  # mkdtemp alone gives 0700


def test_atomic_path_for_writers_that_need_a_name(tmp_path):
    with atomic_path(tmp_path / "v.mp4") as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".v.mp4.")
        temp.write_bytes(b"video")
    assert (tmp_path / "v.mp4").read_bytes() == b"video"
    with pytest.raises(InputError, match="Nothing was written"):
        with atomic_path(tmp_path / "empty.mp4"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "The disk is full; out.csv was not written"),
    (errno.EDQUOT, "The disk is full"),
    (errno.EROFS, "is on a read-only disk"),
    (errno.EACCES, "it is read-only"),
])
def test_write_errors_become_one_clear_sentence_and_leave_nothing(tmp_path, code, words):
    (tmp_path / "out.csv").write_text("old")
    with pytest.raises(InputError, match=words):
        with atomic_write(tmp_path / "out.csv", "w") as handle:
            handle.write("partial")
            raise OSError(code, os.strerror(code))
    assert (tmp_path / "out.csv").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_read_only_file_system_when_creating_the_temp_file(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(InputError, match="read-only disk"):
        atomic_write_text(tmp_path / "x.json", "{}")


def test_a_name_that_is_not_utf8_is_written_and_shown_escaped(tmp_path):
    name = os.fsdecode(b"caf\xe9.csv")
    atomic_write_text(tmp_path / name, "x")
    assert (tmp_path / name).read_text() == "x"
    (tmp_path / os.fsdecode(b"d\xff")).mkdir()
    with pytest.raises(InputError) as info:
        atomic_write_text(tmp_path / os.fsdecode(b"d\xff"), "x")
    assert "d\\xff is a folder" in str(info.value)
    str(info.value).encode("utf-8")  # printable: no lone surrogates in the message


def test_a_folder_whose_permissions_say_yes_but_takes_no_file_is_refused_up_front(tmp_path, monkeypatch):
    # root on /proc, some network mounts: os.access says writable, creating a file fails
    from diffusion_studio.core.atomic import check_writable_dir

    def no_file_here(*args, **kwargs):
        raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(tempfile, "mkstemp", no_file_here)
    with pytest.raises(InputError, match="Nothing can be written in the folder .* choose another place"):
        check_writable_dir(tmp_path)
    monkeypatch.undo()
    assert check_writable_dir(tmp_path) == tmp_path and list(tmp_path.iterdir()) == []  # the probe leaves nothing
