"""Generated command lines for ``schedule``, ``noise`` and ``sample`` (its export flags): exit 0 or 2, never a traceback.

Each case runs ``cli.main`` in this process (no interpreter start-up per case) under the
watchdog and memory ceiling of ``_bounds``. Arguments mix good values with the kinds of bad
ones people and scripts produce: non-finite numbers, huge and negative integers, text where a
number goes, empty strings, names that are not UTF-8, folders, FIFOs and devices as outputs.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from PIL import Image

from diffusion_studio.cli.schedule import PARAM_FLAGS
from diffusion_studio.core.schedules import SCHEDULE_NAMES

from ._bounds import assert_clean_exit, bounded, run_cli

PROFILE = settings.get_profile("diffusion-studio")

NOT_UTF8 = os.fsdecode(b"caf\xe9")
#: what people and scripts put where a number goes when it goes wrong
bad_numbers = st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0", "-1", "1e-300", str(2**64),
                               str(-(2**63)), "1e9", str(10**30), "abc", "", " 7 ", "0x10", "١٢"])


def flag(name: str, good, bad=None, *, present: int = 4, clean: bool = False) -> st.SearchStrategy[list[str]]:
    """``[]`` (the flag left out), ``[name, good value]``, or now and then ``[name, bad value]``
    (never when ``clean``): half the command lines are right, so they run to the end and their
    outputs are checked; the other half are nearly right, each flag bad one time in ten."""
    choices = ["absent"] * (9 - present) + ["good"] * present + (["bad"] if bad is not None and not clean else [])

    def pick(choice: str):
        if choice == "absent":
            return st.just([])
        return (good if choice == "good" else bad).map(lambda value: [name, value])

    return st.sampled_from(choices).flatmap(pick)


MAGIC = {".gif": b"GIF8", ".webp": b"RIFF", ".png": b"\x89PNG", ".apng": b"\x89PNG", ".mp4": None,
         ".jpg": b"\xff\xd8", ".csv": b"t,beta"}


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """Where outputs may go: a folder, a missing folder, a file, a FIFO, a device, a name that is not UTF-8."""
    root = tmp_path_factory.mktemp("cli")
    (root / "folder").mkdir()
    (root / "taken.gif").mkdir()
    (root / "file.txt").write_text("x")
    y, x = np.mgrid[0:10, 0:14]
    Image.fromarray(np.stack([x * 18, y * 25, 255 - x * 18], -1).astype(np.uint8)).save(root / "img.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (root / "empty.png").write_bytes(b"")
    Image.fromarray(np.zeros((10, 14, 3), np.uint8)).save(root / f"{NOT_UTF8}.png")
    if os.name == "posix":
        os.mkfifo(root / "fifo.png")
        os.mkfifo(root / "fifo.gif")
        if os.geteuid() == 0:  # a device node of our own: a wrong write would replace this one, not /dev/null
            os.mknod(root / "device.gif", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return root


def _snapshot(root: Path) -> dict[str, int | bytes]:
    kinds = {name: stat.S_IFMT(os.lstat(root / name).st_mode) for name in os.listdir(root)
             if name.startswith(("fifo", "device", "folder", "taken"))}
    return {**kinds, "file.txt": (root / "file.txt").read_bytes(), "img.png": (root / "img.png").read_bytes()}


def _outputs(argv: list[str]) -> list[tuple[str, str]]:
    """(path, what) for each output the command line asks for."""
    wanted = {"--gif": "animation", "--strip": "image", "--frames-dir": "folder", "--csv": "csv"}
    return [(argv[i + 1], wanted[arg]) for i, arg in enumerate(argv[:-1]) if arg in wanted and argv[i + 1] != "-"]


def assert_outputs_are_what_was_asked(argv: list[str], root: Path, before: dict) -> None:
    """Nothing that was not a regular file was replaced; after exit 0, each output is there, as asked,
    with the usual permissions (0644 files, 0755 folders under the test's umask 022)."""
    assert _snapshot(root) == before, f"{list(argv)!r} changed what it must not touch"
    for path, what in _outputs(argv):
        info = os.lstat(path)
        if what == "folder":
            assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o755, path
            assert any(name.startswith("frame_") for name in os.listdir(path)), path
            continue
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o644, (path, oct(info.st_mode))
        magic = MAGIC[".csv"] if what == "csv" else MAGIC.get(Path(path).suffix.lower())
        if magic:
            with open(path, "rb") as handle:
                assert handle.read(len(magic)) == magic, f"{path} is not the {what} {argv!r} asked for"


@pytest.fixture(scope="module", autouse=True)
def usual_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def export_flags(root: Path, strip_and_folder: bool, clean: bool) -> st.SearchStrategy[list[str]]:
    some = functools.partial(flag, clean=clean)
    ints = lambda low, high: st.integers(low, high).map(str)  # noqa: E731
    floats = lambda low, high: st.floats(low, high).map(lambda v: f"{v:g}")  # noqa: E731
    parts = [
        some("--view", st.sampled_from(["x_t", "pred_x0", "pred_noise", "side_by_side"]), st.just("nope")),
        some("--frames", ints(1, 6), bad_numbers | ints(-3, 0)),
        some("--spacing", st.sampled_from(["even", "dense"]), st.just("x")),
        some("--t-range", st.sampled_from(["0:500", "-1:999", "0:0"]),
             st.sampled_from(["500:0", "a:b", "1e9:2e9", f"0:{2**70}", "3", ":"])),
        some("--fps", floats(0.1, 100), bad_numbers | floats(100.01, 1e6)),
        some("--hold", floats(0, 60), bad_numbers),
        some("--no-loop", st.just(None)).map(lambda args: args[:1]),
        some("--scale", floats(0.05, 8), bad_numbers | st.sampled_from(["33", "0.04"])),
        some("--columns", ints(1, 8), bad_numbers | ints(-3, 0)),
        some("--padding", ints(0, 64), bad_numbers | st.just("65")),
        some("--pad-color", st.sampled_from(["white", "#123456", "black"]), st.sampled_from(["nope", "#12"])),
        some("--caption", st.just(None)).map(lambda args: args[:1]),
        some("--palette", st.sampled_from(["high", "fast"]), st.just("other")),
        some("--quality", ints(1, 100), bad_numbers | st.just("101")),
    ]
    if strip_and_folder:
        strip_names = st.sampled_from(["strip.png", "strip.jpg", "strip.webp", f"{NOT_UTF8}.png"])
        parts += [
            some("--strip", strip_names.map(lambda name: str(root / name)), bad_outputs(root), present=2),
            some("--strip-frames", ints(1, 12), bad_numbers | st.just("101")),
            some("--frames-dir", st.sampled_from(["frames", "folder"]).map(lambda n: str(root / n)),
                 bad_outputs(root), present=2),
        ]
    return st.tuples(*parts).map(lambda groups: [arg for group in groups for arg in group])


def good_animations(root: Path):
    names = ["out.gif", "out.webp", "out.png", "out.apng", "out.mp4", f"{NOT_UTF8}.gif"]
    return st.sampled_from(names).map(lambda name: str(root / name))


def bad_outputs(root: Path):
    names = ["out", "folder", "folder/", "taken.gif", "missing/out.gif", "file.txt", "out.bmp", "fifo.gif",
             "device.gif", ""]
    return st.sampled_from(names).map(lambda name: str(root / name) if name else name)


@st.composite
def noise_argv(draw, root: Path) -> list[str]:
    clean = draw(st.booleans())
    some = functools.partial(flag, clean=clean)
    images = ["img.png", f"{NOT_UTF8}.png"]
    bad_images = ["corrupt.png", "empty.png", "folder", "missing.png"] + (["fifo.png"] if os.name == "posix" else [])
    image = draw(st.sampled_from(images if clean else images * 4 + bad_images))
    argv = ["noise", str(root / image)]
    argv += draw(some("--t", st.sampled_from(["0:1000:250", "0:100:40", "0,10,999", "0:1000000000:300"]),
                      st.sampled_from(["5000:6000", "0:1000000000:1", "0:10:0", "-5:3", "a:b", "", "1,2,x",
                                       "0:1000:-1", f"{2**70}:{2**71}", "7" * 5000])))
    argv += draw(some("--timesteps", st.sampled_from(["1000", "100", "2", "100000"]),
                      bad_numbers | st.sampled_from(["1", "100001", "1e3"])))
    argv += draw(some("--schedule", st.sampled_from(["cosine", "linear", "sigmoid"]), st.sampled_from(["nope", ""])))
    argv += draw(some("--seed", st.integers(0, 2**63 - 1).map(str), bad_numbers))
    argv += draw(some("--max-side", st.integers(8, 4096).map(str), bad_numbers | st.just("4097")))
    argv += draw(some("--gif", good_animations(root), bad_outputs(root), present=7))
    argv += draw(export_flags(root, strip_and_folder=True, clean=clean))
    if "--t" in argv and argv[argv.index("--t") + 1] == "0:1000000000:1" and "--timesteps" not in argv:
        argv += ["--timesteps", "100000"]  # the runaway the issue names: refused, not run for hours
    return argv


def _bounded_frames(argv: list[str]) -> list[str]:
    # A valid request for thousands of frames is real work, not bad input: cap it so a case stays short.
    return argv if "--frames" in argv else argv + ["--frames", "4"]


def check_command(name: str, argv: list[str], root: Path) -> tuple[int, str]:
    """Run one generated command line and check every promise; return (exit status, stdout)."""
    before = _snapshot(root)
    with bounded(name):
        code, out, err = run_cli(argv)
    event(f"exit {code}")
    assert_clean_exit(code, err, argv)
    assert_outputs_are_what_was_asked(argv if code == 0 else [], root, before)
    return code, out


@settings(PROFILE, max_examples=120)
@given(data=st.data())
def test_noise_with_generated_arguments(places, data):
    check_command("cli: noise", _bounded_frames(data.draw(noise_argv(places))), places)


@st.composite
def schedule_argv(draw, root: Path) -> list[str]:
    clean = draw(st.booleans())
    some = functools.partial(flag, clean=clean)
    name = draw(st.sampled_from(list(SCHEDULE_NAMES) + ([] if clean else ["nope", "", "COSINE"])))
    argv = ["schedule", name]
    argv += draw(some("--timesteps", st.sampled_from(["1000", "2", "100000", "50"]),
                      bad_numbers | st.sampled_from(["1", "100001", "1e3", "10.5"])))
    for _, option in draw(st.lists(st.sampled_from(PARAM_FLAGS), max_size=3, unique=True)):
        argv += [option, draw(st.floats(-10, 10).map(lambda v: f"{v:g}") | (st.nothing() if clean else bad_numbers))]
    argv += draw(st.sampled_from([[], ["--zero-terminal-snr"]]))
    csv_names = st.sampled_from(["out.csv", f"{NOT_UTF8}.csv", "table"]).map(lambda name: str(root / name))
    argv += draw(some("--csv", csv_names | st.just("-"), bad_outputs(root)))
    return argv


@settings(PROFILE, max_examples=200)
@given(data=st.data())
def test_schedule_with_generated_arguments(places, data):
    argv = data.draw(schedule_argv(places))
    code, out = check_command("cli: schedule", argv, places)
    if code == 0 and ("--csv" not in argv or argv[-1] == "-"):
        assert out.startswith("t,beta,")  # the table on stdout


@settings(PROFILE, max_examples=40)
@given(data=st.data())
def test_sample_demo_with_generated_export_flags(places, data, tmp_path_factory):
    # `sample` itself is being reworked; only its export flags are generated, the run stays tiny.
    out_dir = tmp_path_factory.mktemp("samples")
    argv = ["sample", "demo", "--num", "1", "--steps", "2", "--quiet", "--out-dir", str(out_dir)]
    clean = data.draw(st.booleans())
    argv += data.draw(flag("--gif", good_animations(places), bad_outputs(places), present=6, clean=clean))
    argv += data.draw(export_flags(places, strip_and_folder=False, clean=clean))
    check_command("cli: sample demo (export flags)", argv, places)
