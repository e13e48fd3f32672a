"""core.export: every format decodes back with the right frames, sizes, durations and loop; errors leave nothing."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from PIL import Image, ImageSequence

from diffusion_studio.core.chain import ChainFrame
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.export import (
    ExportOptions,
    ForwardFrameSource,
    compose_frame,
    compose_frames,
    estimate_size,
    export_frames,
    frames_from_images,
    iter_export,
    parse_t_spec,
    select_frames,
    tile_grid,
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
    # a cancel that arrives while encoding (the last should_stop call) still writes nothing
    for name, kind, checks_before_encoding in (("late.gif", None, 5), ("late.png", None, 5), ("strip.png", "strip", 1)):
        late = iter(range(100))
        result = export_frames(frames, tmp_path / name, kind=kind,
                               should_stop=lambda: next(late) >= checks_before_encoding)  # noqa: B023
        assert result.cancelled
    gen = iter_export(frames, tmp_path / "closed.mp4")
    next(gen)
    gen.close()  # a GUI worker quitting mid-way
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


@pytest.mark.parametrize("name", ["a.gif", "a.png", "frames_dir", "strip.png"])
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
