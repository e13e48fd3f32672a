"""core.export: every format decodes back with the right frames, sizes, durations and loop; errors leave nothing."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tracemalloc
from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image, ImageSequence

from diffusion_studio.core.chain import ChainFrame
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.export import (
    MAX_EXPORT_FRAMES,
    ExportOptions,
    ForwardFrameSource,
    ImageFrame,
    compose_frame,
    compose_frames,
    estimate_size,
    export_frames,
    frames_from_images,
    iter_export,
    parse_t_spec,
    select_frames,
    tile_grid,
    write_chain_gif,
)
from diffusion_studio.core.schedules import make_schedule

#: the bare pixels: no enlarging, no caption, no column labels (the defaults are made for people)
PLAIN = ExportOptions(scale=1.0, caption=False, column_labels=False)


def make_chain(n_frames=6, batch=4, size=8, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    ts = np.linspace(999, 0, n_frames - 1).astype(int).tolist() + [-1]
    frames = []
    for i, t in enumerate(ts):
        arr = lambda: rng.integers(0, 256, (batch, size, size, channels), dtype=np.uint8)  # noqa: E731
        frames.append(ChainFrame(i, t, 1.0 if t < 0 else 0.5, arr(), arr(), arr(), t < 0))
    return frames


def gradient_frames(n=5, h=24, w=32):
    """Smooth RGB images, different per frame (so no two consecutive frames merge)."""
    y, x = np.mgrid[0:h, 0:w]
    return [np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 40 * i)], -1).astype(np.uint8) for i in range(n)]


def decode(path):
    with Image.open(path) as im:
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()  # WebP sets the duration when the frame is decoded
            durations.append(im.info.get("duration"))
        im.seek(0)
        return frames, durations, im.info.get("loop"), im.format


@pytest.mark.parametrize("ext,fmt", [(".gif", "GIF"), (".webp", "WEBP"), (".png", "PNG")])
@pytest.mark.parametrize("loop", [True, False])
def test_animation_round_trip(tmp_path, ext, fmt, loop):
    images = gradient_frames(5)
    path = tmp_path / f"anim{ext}"
    options = PLAIN.with_(fps=10, hold_last_s=0.5, loop=loop)
    result = export_frames(frames_from_images(images), path, options)
    frames, durations, loop_value, decoded_format = decode(path)
    assert decoded_format == fmt
    assert len(frames) == result.frame_count == 5
    assert frames[0].shape == (24, 32, 3) and (result.width, result.height) == (32, 24)
    assert durations[:-1] == [100] * 4 and durations[-1] == 600
    if fmt == "GIF":
        assert loop_value == (0 if loop else None)
    else:
        assert loop_value == (0 if loop else 1)
    assert result.playback_s == pytest.approx(1.0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def test_gif_colours_are_good_on_smooth_and_noisy_frames(tmp_path):
    rng = np.random.default_rng(1)
    smooth = gradient_frames(3, 64, 64)
    noisy = [np.clip(f.astype(int) + rng.normal(0, 60, f.shape), 0, 255).astype(np.uint8) for f in smooth]
    frames = noisy + smooth
    export_frames(frames_from_images(frames), tmp_path / "a.gif", PLAIN)
    decoded, _, _, _ = decode(tmp_path / "a.gif")
    assert len(decoded) == 6
    for source, got in zip(frames, decoded):
        assert _psnr(source, got) > 27  # Pillow's default conversion gets ~24–25 dB on noise


def test_grey_frames_are_exact_in_gif(tmp_path):
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (16, 16, 1), dtype=np.uint8) for _ in range(3)]
    export_frames(frames_from_images(frames), tmp_path / "g.gif", PLAIN)
    decoded, _, _, _ = decode(tmp_path / "g.gif")
    for source, got in zip(frames, decoded):
        np.testing.assert_array_equal(got[..., 0], source[..., 0])


def test_mp4_round_trip(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    images = gradient_frames(6, 24, 31)  # odd width: padded to even for yuv420p
    result = export_frames(frames_from_images(images), tmp_path / "a.mp4", PLAIN.with_(fps=10, hold_last_s=0.4))
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "a.mp4"))
    meta = reader.__next__()
    decoded = list(reader)
    assert meta["size"] == (32, 24)
    assert meta["fps"] == pytest.approx(10)
    assert len(decoded) == result.frame_count == 6 + 4


def test_mp4_without_ffmpeg_says_how_to_get_it_and_writes_nothing(tmp_path, monkeypatch):
    from diffusion_studio.core.export import api

    monkeypatch.setattr(api, "mp4_backend", lambda: None)
    with pytest.raises(InputError, match=r"MP4 export needs ffmpeg.*diffusion-studio\[video\]"):
        export_frames(frames_from_images(gradient_frames(3, 8, 8)), tmp_path / "a.mp4", ExportOptions())
    assert list(tmp_path.iterdir()) == []


def test_png_folder_and_strip(tmp_path):
    frames = make_chain(6, batch=1, size=16)
    result = export_frames(frames, tmp_path / "frames", PLAIN.with_(max_frames=3))
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == ["frame_0000_t0999.png", "frame_0001_t0499.png", "frame_0002_final.png"]
    assert result.frame_count == 3
    with Image.open(tmp_path / "frames" / names[0]) as im:
        assert im.size == (16, 16)
    # exporting into the same folder again replaces the frames
    export_frames(frames, tmp_path / "frames", PLAIN.with_(max_frames=3))
    assert len(list((tmp_path / "frames").iterdir())) == 3

    strip = export_frames(frames, tmp_path / "strip.png", PLAIN.with_(strip_frames=4, padding=2), kind="strip")
    with Image.open(tmp_path / "strip.png") as im:
        assert im.width == 4 * 16 + 5 * 2 and im.height > 16 + 8
    assert strip.frame_count == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_grid_layout_and_side_by_side():
    batch = np.zeros((5, 4, 6, 3), np.uint8)
    batch[:] = np.arange(1, 6, dtype=np.uint8)[:, None, None, None]
    grid = tile_grid(batch, columns=3, padding=1, pad_color=(200, 10, 10))
    assert grid.shape == (2 * 4 + 3, 3 * 6 + 4, 3)
    assert tuple(grid[0, 0]) == (200, 10, 10)
    assert grid[1, 1, 0] == 1 and grid[1, 1 + 6 + 1, 0] == 2 and grid[1 + 4 + 1, 1, 0] == 4
    assert tuple(grid[-2, -2]) == (200, 10, 10)  # the empty sixth cell is background
    frame = make_chain(2, batch=4, size=8)[0]
    one = compose_frame(frame, PLAIN.with_(padding=2))
    assert one.shape == (2 * 8 + 3 * 2, 2 * 8 + 3 * 2, 3)
    three = compose_frame(frame, PLAIN.with_(padding=2, view="side_by_side"))
    assert three.shape == (one.shape[0], 3 * one.shape[1] + 2 * 4, 3)
    follow = compose_frame(frame, PLAIN.with_(sample_index=2, scale=3))
    np.testing.assert_array_equal(follow[::3, ::3], frame.x_t[2])


def test_caption_adds_a_bar_and_keeps_sizes_equal():
    frames = make_chain(4, batch=1, size=64)
    plain = compose_frames(frames, PLAIN)
    captioned = compose_frames(frames, PLAIN.with_(caption=True))
    assert {c.shape for c in captioned} == {captioned[0].shape}
    assert captioned[0].shape[1] == plain[0].shape[1] and captioned[0].shape[0] > plain[0].shape[0]
    bar = captioned[0][plain[0].shape[0] :]
    assert bar.min() < 100 and bar.max() > 200  # dark text on the white bar


def test_select_frames_even_and_dense():
    frames = [ChainFrame(i, t, 0.5, None, None, None, t < 0) for i, t in enumerate(list(range(999, -1, -1)) + [-1])]
    even = select_frames(frames, max_frames=5)
    assert len(even) == 5 and even[0] == 0 and even[-1] == len(frames) - 1
    dense = select_frames(frames, max_frames=10, spacing="dense_near_0")
    ts = [frames[i].t for i in dense]
    assert ts == sorted(ts, reverse=True) and len(ts) == 10
    assert sum(t < 250 for t in ts) > sum(t > 750 for t in ts)
    in_range = select_frames(frames, t_range=(0, 99))
    assert [frames[i].t for i in in_range][0] == 99 and frames[in_range[-1]].is_final


def test_parse_t_spec():
    assert parse_t_spec("0:1000:250", 1000) == [0, 250, 500, 750, 999]
    assert parse_t_spec("0:100:50", 1000) == [0, 50]
    assert parse_t_spec("5, 10,999", 1000) == [5, 10, 999]
    for bad in ("1000:2000", "a:b", "0:10:0", "0,5000"):
        with pytest.raises(InputError):
            parse_t_spec(bad, 1000)


def test_forward_source_and_estimate(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    source = ForwardFrameSource(image, make_schedule("cosine", 100), [0, 50, 99], seed=3)
    assert len(source) == 3 and source[0].t == 0
    assert np.abs(source[0].x_t.astype(int) - image).mean() < 4  # t = 0 is almost clean
    assert np.abs(source[2].x_t.astype(int) - image).mean() > 40
    estimate = estimate_size(source, "out.gif", PLAIN)
    result = export_frames(source, tmp_path / "f.gif", PLAIN)
    assert estimate.frame_count == 3 and (estimate.width, estimate.height) == (60, 40)
    assert 0.5 < estimate.bytes / result.bytes_written < 2


def test_progress_and_cancel_leave_no_file(tmp_path):
    frames = frames_from_images(gradient_frames(4))
    progress = list(iter_export(frames, tmp_path / "p.gif"))
    assert progress[-1].fraction == 1.0 and len(progress) >= 4
    calls = iter(range(100))
    for name in ("c.gif", "c.mp4", "c_frames"):
        result = export_frames(frames, tmp_path / name, should_stop=lambda: next(calls) >= 2)
        assert result.cancelled
    # a cancel that arrives at the last should_stop call (after the last frame is encoded) still writes nothing
    (tmp_path / "probe").mkdir()
    for name, kind in (("late.gif", None), ("late.png", None), ("late.webp", None), ("strip.png", "strip")):
        calls = []
        export_frames(frames, tmp_path / "probe" / name, kind=kind, should_stop=lambda: calls.append(1) and False)  # noqa: B023
        late = iter(range(100))
        result = export_frames(frames, tmp_path / name, kind=kind,
                               should_stop=lambda: next(late) >= len(calls) - 1)  # noqa: B023
        assert result.cancelled
    shutil.rmtree(tmp_path / "probe")
    for name in ("closed.mp4", "closed.webp"):
        gen = iter_export(frames, tmp_path / name)
        next(gen)
        next(gen)  # the WebP encoder thread is waiting for the next frame
        gen.close()  # a GUI worker quitting mid-way: the thread ends, nothing is written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.gif"]


def test_unknown_extension_and_missing_folder(tmp_path):
    frames = frames_from_images(gradient_frames(2))
    with pytest.raises(InputError, match="unknown extension"):
        export_frames(frames, tmp_path / "a.bmp")
    with pytest.raises(InputError, match="does not exist"):
        export_frames(frames, tmp_path / "missing" / "a.gif")
    with pytest.raises(InputError, match="same size"):
        export_frames(frames_from_images([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)]), tmp_path / "x.gif")
    with pytest.raises(InputError, match="no x̂0"):
        export_frames(frames, tmp_path / "y.gif", ExportOptions(view="pred_x0"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(InputError, match="read-only"):
            export_frames(frames_from_images(gradient_frames(2)), folder / "a.gif")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("name", ["a.gif", "a.webp", "a.mp4", "frames_dir", "strip.png"])
def test_permission_denied_while_writing_is_an_input_error(tmp_path, monkeypatch, name):
    # what a read-only folder does to a non-root user, simulated so the test also runs as root
    import tempfile

    def deny(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", deny)
    monkeypatch.setattr(tempfile, "mkdtemp", deny)
    kind = "strip" if name.startswith("strip") else None
    with pytest.raises(InputError, match="read-only"):
        export_frames(frames_from_images(gradient_frames(2)), tmp_path / name, kind=kind)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["a.gif", "a.png", "a.webp", "frames_dir", "strip.png"])
def test_disk_full_leaves_no_partial_file(tmp_path, monkeypatch, name):
    real_save = Image.Image.save

    def full_disk(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)  # a partial file exists …
        raise OSError(errno.ENOSPC, "No space left on device")  # … then the disk fills up

    monkeypatch.setattr(Image.Image, "save", full_disk)
    kind = "strip" if name.startswith("strip") else None
    with pytest.raises(InputError, match="disk is full"):
        export_frames(frames_from_images(gradient_frames(3)), tmp_path / name, kind=kind)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_survives_a_failed_export(tmp_path, monkeypatch):
    path = tmp_path / "keep.gif"
    path.write_bytes(b"old")
    monkeypatch.setattr(Image.Image, "save", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(InputError):
        export_frames(frames_from_images(gradient_frames(2)), path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.gif"]


# -- streaming: one frame at a time, the same files as before --------------------------------------


def _sequences():
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    changing = []
    for i in range(5):  # a patch that changes: sub-rectangles and transparency come into play
        frame = base.copy()
        frame[5 : 10 + i, 3:20] = rng.integers(0, 256, (5 + i, 17, 3), dtype=np.uint8)
        changing.append(frame)
    changing.insert(3, changing[2].copy())  # identical neighbours merge into one longer frame
    grey = [np.full((16, 16, 1), 10 * i, np.uint8) for i in range(4)]
    return {"changing": changing, "smooth": gradient_frames(5), "grey": grey,
            "one": gradient_frames(1), "all_the_same": gradient_frames(1) * 3}


@pytest.mark.parametrize("name", list(_sequences()))
@pytest.mark.parametrize("loop", [True, False])
def test_streamed_gif_and_webp_are_byte_for_byte_what_pillow_save_all_writes(tmp_path, name, loop):
    from diffusion_studio.core.export.palette import gif_frame

    images = _sequences()[name]
    options = PLAIN.with_(fps=12.5, hold_last_s=1.0, loop=loop)
    export_frames(frames_from_images(images), tmp_path / "new.gif", options)
    pictures = [gif_frame(image, "high") for image in images]  # what the export did before streaming
    durations = [80] * len(images)
    durations[-1] += 1000
    pictures[0].save(tmp_path / "old.gif", format="GIF", save_all=True, append_images=pictures[1:],
                     duration=durations, disposal=1, **({"loop": 0} if loop else {}))
    assert (tmp_path / "new.gif").read_bytes() == (tmp_path / "old.gif").read_bytes()
    export_frames(frames_from_images(images), tmp_path / "new.webp", options)
    rgb = [Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).convert("RGB") for image in images]
    rgb[0].save(tmp_path / "old.webp", format="WEBP", save_all=True, append_images=rgb[1:], duration=durations,
                loop=0 if loop else 1, lossless=False, quality=90, method=4)
    assert (tmp_path / "new.webp").read_bytes() == (tmp_path / "old.webp").read_bytes()


@pytest.mark.parametrize("ext", [".png", ".webp"])
@pytest.mark.parametrize("name", list(_sequences()))
def test_apng_and_lossless_webp_give_back_every_frame(tmp_path, ext, name):
    images = _sequences()[name]
    export_frames(frames_from_images(images), tmp_path / f"a{ext}", PLAIN.with_(fps=12.5, hold_last_s=1.0, quality=100))
    expected, expected_ms = [], []
    for image in images:
        if expected and np.array_equal(expected[-1], image):
            expected_ms[-1] += 80  # merged, as Pillow merges them
        else:
            expected.append(image)
            expected_ms.append(80)
    expected_ms[-1] += 1000
    frames, durations, _, _ = decode(tmp_path / f"a{ext}")
    assert len(frames) == len(expected)
    for got, want in zip(frames, expected):
        np.testing.assert_array_equal(got, np.repeat(want, 3, -1) if want.shape[-1] == 1 else want)
    if len(frames) > 1:  # a single frame is a still PNG / WebP, without a duration (as Pillow writes it)
        assert [round(d) for d in durations] == expected_ms


class CountingFrames(Sequence):
    """Frames made on demand (like ForwardFrameSource); remembers which were asked for."""

    def __init__(self, count, size=96):
        self.count, self.size, self.asked = count, size, []
        self.ts = list(range(count - 1, -1, -1))  # known without making the frames

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        self.asked.append(index)
        rng = np.random.default_rng(index)
        return ImageFrame(rng.integers(0, 256, (self.size, self.size, 3), dtype=np.uint8), t=self.ts[index])


@pytest.mark.parametrize("name", ["a.gif", "a.webp", "a.png", "frames_dir"])
def test_export_memory_does_not_grow_with_the_number_of_frames(tmp_path, name):
    # numpy arrays and Python objects are traced; holding every frame (as before) would peak at ≥ 60 frames.
    frame_bytes = 96 * 96 * 3
    tracemalloc.start()
    try:
        options = PLAIN.with_(fps=50, hold_last_s=0, quality=50, palette="fast")
        export_frames(CountingFrames(60), tmp_path / name, options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * frame_bytes, f"peak {peak / frame_bytes:.1f} frames"


def test_a_folder_given_as_the_animation_is_refused_before_any_frame_is_made(tmp_path):
    (tmp_path / "somefolder").mkdir()
    (tmp_path / "out.gif").mkdir()
    frames = CountingFrames(5)
    for path, kind, words in [
        (tmp_path / "somefolder", "animation", "names a folder"),
        (f"{tmp_path / 'new'}/", "animation", "names a folder"),
        (tmp_path / "out.gif", None, "out.gif is a folder; give a file name for the GIF"),
        (tmp_path / "out.gif", "animation", "is a folder"),
        (tmp_path / "noext", "animation", "has no extension"),
    ]:
        with pytest.raises(InputError, match=words):
            export_frames(frames, path, kind=kind)
    with pytest.raises(InputError, match="is a folder"):
        write_chain_gif(frames, tmp_path / "out.gif")  # `sample --gif` goes through here
    assert frames.asked == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gif", "somefolder"]


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev/null are POSIX")
def test_fifos_devices_and_symlinks_are_never_replaced_by_an_export(tmp_path, char_device):
    os.mkfifo(tmp_path / "pipe.gif")
    (tmp_path / "real.gif").write_bytes(b"GIF89a")
    (tmp_path / "link.gif").symlink_to(tmp_path / "real.gif")
    (tmp_path / "file_not_folder").write_bytes(b"x")
    frames = CountingFrames(3)
    for path, kind, words in [
        (tmp_path / "pipe.gif", None, r"FIFO \(named pipe\), not a regular file"),
        (char_device, "animation", "character device"),
        (tmp_path / "link.gif", None, "symbolic link"),
        (tmp_path / "file_not_folder", "frames", "not a folder"),
        (tmp_path / "pipe.gif", "frames", "not a folder"),
    ]:
        with pytest.raises(InputError, match=words):
            export_frames(frames, path, kind=kind)
    assert frames.asked == [] and (tmp_path / "real.gif").read_bytes() == b"GIF89a"
    assert stat.S_ISCHR(os.lstat(char_device).st_mode)


def test_too_many_frames_are_refused_before_work(tmp_path):
    frames = CountingFrames(MAX_EXPORT_FRAMES + 1, size=4)
    with pytest.raises(InputError, match=f"{MAX_EXPORT_FRAMES + 1} frames are more than one export writes"):
        export_frames(frames, tmp_path / "a.gif")
    assert frames.asked == [] and list(tmp_path.iterdir()) == []
    export_frames(frames, tmp_path / "a.gif", ExportOptions(max_frames=3))  # picking fewer is the way out
    assert len(frames.asked) == 3


def test_a_frame_too_large_is_refused_before_it_is_allocated(tmp_path):
    frame = ImageFrame(np.zeros((4, 2048, 2048, 3), np.uint8))  # a 2×2 grid of 2048² samples …
    with pytest.raises(InputError, match=r"Each frame would be 131264×131264 pixels .*67 megapixels"):
        export_frames([frame], tmp_path / "a.gif", ExportOptions(scale=32))  # … ×32 would be 50 GB
    with pytest.raises(InputError, match="megapixels"):
        export_frames([frame] * 3, tmp_path / "s.png", ExportOptions(scale=8, strip_frames=3), kind="strip")
    assert list(tmp_path.iterdir()) == []


def test_a_frame_wider_than_the_format_allows_is_refused(tmp_path):
    wide = frames_from_images([np.zeros((2, 17000, 3), np.uint8)] * 2)
    with pytest.raises(InputError, match="WEBP frames can be at most 16383 pixels wide"):
        export_frames(wide, tmp_path / "a.webp", PLAIN)
    export_frames(wide, tmp_path / "a.gif", PLAIN)  # GIF stores up to 65535
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]


@pytest.mark.skipif(os.name != "posix", reason="umask is POSIX")
@pytest.mark.parametrize("name, kind", [("a.gif", None), ("a.webp", None), ("a.mp4", None),
                                        ("s.png", "strip"), ("frames", None)])
def test_exports_get_the_usual_permissions(tmp_path, name, kind):
    if name.endswith(".mp4"):
        pytest.importorskip("imageio_ffmpeg")
    old = os.umask(0o022)
    try:
        export_frames(frames_from_images(gradient_frames(3)), tmp_path / name, kind=kind)
    finally:
        os.umask(old)
    path = tmp_path / name
    if path.is_dir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        assert {stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()} == {0o644}
    else:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # they were 0600


# -- options: one validation layer ----------------------------------------------------------------


@pytest.mark.parametrize("changes, words", [
    ({"fps": 0}, "fps must be ≥ 0.1, got 0"),
    ({"fps": float("nan")}, "fps must be a finite number"),
    ({"hold_last_s": float("inf")}, "hold_last_s must be a finite number"),
    ({"scale": 1e9}, "scale must be ≤ 32"),
    ({"max_frames": -1}, "max_frames must be ≥ 1, got -1"),
    ({"max_frames": 10**9}, f"max_frames must be ≤ {MAX_EXPORT_FRAMES}"),
    ({"t_range": (5, 1)}, "t_range must run from low to high"),
    ({"pad_color": (1, 2, 300)}, r"pad_color\[2\] must be ≤ 255"),
    ({"view": "nope"}, "view must be one of 'x_t', 'pred_x0', 'pred_noise' or 'side_by_side', got 'nope'"),
    ({"quality": "high"}, "quality must be a whole number"),
    ({"strip_frames": 10**6}, "strip_frames must be ≤ 100"),
])
def test_bad_options_are_one_line_naming_the_option(changes, words):
    with pytest.raises(InputError, match=words) as info:
        ExportOptions(**changes)
    assert str(info.value).startswith("export options: ") and "\n" not in str(info.value)
    with pytest.raises(InputError, match=words.split(" must")[0]):
        ExportOptions().with_(**changes)


def test_options_accept_numpy_numbers_and_lists():
    options = ExportOptions(fps=np.float32(5), grid_columns=np.int64(3), pad_color=[1, 2, 3], t_range=[0, 9])
    assert options.pad_color == (1, 2, 3) and options.t_range == (0, 9) and type(options.grid_columns) is int


def test_defaults_are_made_for_people():
    """A 16 px sample is enlarged (crisp, nearest) to ≥ 256 px, with t written under it."""
    frame = make_chain(2, batch=1, size=16, channels=1)[0]
    image = compose_frame(frame, ExportOptions())
    plain = compose_frame(frame, PLAIN)
    assert plain.shape == (16, 16, 1)
    assert image.shape[1] == 256 and image.shape[0] > 256  # ×16, plus the caption bar
    np.testing.assert_array_equal(image[:256:16, ::16], plain)  # every source pixel a 16×16 block
    np.testing.assert_array_equal(image[:256].reshape(16, 16, 16, 16).std(axis=(1, 3)), 0)
    big = make_chain(2, batch=1, size=300)[0]
    assert compose_frame(big, ExportOptions(caption=False)).shape[:2] == (300, 300)  # large enough: as it is
    assert compose_frame(frame, ExportOptions(scale=2.0, caption=False)).shape[:2] == (32, 32)  # a number is kept


def test_side_by_side_columns_are_labelled_over_each_column():
    frame = make_chain(2, batch=4, size=8)[0]  # a 2×2 grid of 8 px samples per column
    bare = compose_frame(frame, PLAIN.with_(view="side_by_side", scale=8.0))
    labelled = compose_frame(frame, PLAIN.with_(view="side_by_side", scale=8.0, column_labels=True))
    bar_height = labelled.shape[0] - bare.shape[0]
    assert bar_height > 10 and labelled.shape[1] == bare.shape[1]
    np.testing.assert_array_equal(labelled[bar_height:], bare)
    bar = labelled[:bar_height].min(axis=(0, 2))  # the darkest pixel in each column of the bar
    thirds = np.array_split(bar, 3)
    assert all(third.min() < 100 for third in thirds), "a dark label over each of the three columns"
    single = compose_frame(frame, PLAIN.with_(scale=8.0, column_labels=True))
    assert single.shape == compose_frame(frame, PLAIN.with_(scale=8.0)).shape  # one view: no labels


def test_column_labels_say_guess_for_a_chain_and_truth_for_the_forward_process():
    from diffusion_studio.core.export.compose import column_labels

    chain = column_labels(make_chain(2)[0])
    assert chain["pred_x0"][:3] == ("x", "0", True) and chain["pred_noise"][:3] == ("ε", None, True)
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    forward = column_labels(ForwardFrameSource(image, make_schedule("cosine", 50), [10])[0])
    assert forward["pred_x0"][:3] == ("x", "0", False) and forward["pred_noise"][:3] == ("ε", None, False)
    assert chain["x_t"][:2] == forward["x_t"][:2] == ("x", "t")
