"""Folder scans on planted good and bad files, decoding, the demo digits, and resumable batches."""

import io
import json
import os
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion_studio.core.data import (
    BatchSource,
    ScanReport,
    choose_batch_source,
    demo_dataset_tensor,
    iter_scan,
    load_images_tensor,
    scan_folder,
)
from diffusion_studio.core.errors import InputError

RNG = np.random.default_rng(0)


def _rgb(w=48, h=40):
    # Left half dark, right half bright: an image whose mirror differs from it.
    arr = RNG.integers(0, 60, (h, w, 3), dtype=np.uint8)
    arr[:, w // 2 :] += 180
    return Image.fromarray(arr)


def _bomb_png() -> bytes:
    """A tiny PNG whose header claims 100000 × 100000 pixels."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    chunk = b"IHDR" + struct.pack(">II", 100_000, 100_000) + bytes(data[24:29])
    data[12:29] = chunk
    data[29:33] = struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    return bytes(data)


GOOD = [
    "a/good.png", "a/good.jpg", "a/deep/good.webp", "b/good.bmp", "b/good.tiff", "b/good.gif",
    "rotated.jpg", "rgba.png", "palette.png", "cmyk.jpg", "sixteen.png", "onebit.png",
]
BAD = {  # file → kind in the summary
    "bad/corrupt.png": "not an image", "bad/truncated.jpg": "truncated", "bad/empty.png": "empty",
    "bad/text.png": "not an image", "bad/bomb.png": "too large", "bad/truncated.png": "truncated",
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    for sub in ("a/deep", "b", "bad", ".git", ".cache"):
        (root / sub).mkdir(parents=True)
    img = _rgb()
    img.save(root / "a/good.png")
    img.save(root / "a/good.jpg", quality=92)
    img.save(root / "a/deep/good.webp")
    img.save(root / "b/good.bmp")
    img.save(root / "b/good.tiff")
    img.convert("P").save(root / "b/good.gif")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display: 48×40 stored, 40×48 shown
    img.save(root / "rotated.jpg", exif=exif.tobytes())
    rgba = img.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(root / "rgba.png")
    palette = img.convert("P")
    palette.info["transparency"] = 0
    palette.save(root / "palette.png", transparency=0)
    img.convert("CMYK").save(root / "cmyk.jpg")
    Image.fromarray((np.arange(48 * 40).reshape(40, 48) * 30).astype(np.uint16)).save(root / "sixteen.png")
    img.convert("1").save(root / "onebit.png")
    # Bad ones.
    png = (root / "a/good.png").read_bytes()
    jpg = (root / "a/good.jpg").read_bytes()
    (root / "bad/corrupt.png").write_bytes(png[:16] + bytes(RNG.integers(0, 255, 300, dtype=np.uint8)))
    (root / "bad/truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    (root / "bad/truncated.png").write_bytes(png[: len(png) // 2])
    (root / "bad/empty.png").write_bytes(b"")
    (root / "bad/text.png").write_text("this is not a picture")
    (root / "bad/bomb.png").write_bytes(_bomb_png())
    # Ignored: hidden files and folders, other extensions.
    img.save(root / ".hidden.png")
    img.save(root / ".git/inside.png")
    img.save(root / ".cache/inside.jpg")
    (root / "notes.txt").write_text("notes")
    (root / "b/data.csv").write_text("1,2")
    return root


def test_scan_report_on_planted_folder(planted):
    report = scan_folder(planted)
    assert sorted(report.usable) == sorted(str(planted / p) for p in GOOD)
    reasons = {entry["path"]: entry for entry in report.skipped}
    assert sorted(reasons) == sorted(str(planted / p) for p in BAD)
    for path, kind in BAD.items():
        entry = reasons[str(planted / path)]
        assert entry["kind"] == kind, entry
        assert entry["reason"] and path.split("/")[-1] in entry["reason"]
    assert report.channels == 3
    assert report.modes["CMYK"] == 1 and report.modes["I;16"] == 1 and report.modes["1"] == 1
    assert report.modes["P"] >= 2 and report.modes["RGBA"] == 1
    assert report.summary() == "12 usable images, 6 skipped (2 not an image, 2 truncated, 1 empty, 1 too large)"
    assert report.sizes["min_side"] == 40 and report.sizes["max_side"] == 48


def test_scan_progress_items(planted):
    items = list(iter_scan(planted, thumb_size=32))
    assert [item.done for item in items] == list(range(1, 19))
    assert all(item.total == 18 for item in items)
    rotated = next(item for item in items if item.path.endswith("rotated.jpg"))
    assert rotated.size == (40, 48) and rotated.thumbnail.shape == (32, 27, 3)
    good_png = next(item for item in items if item.path.endswith("a/good.png"))
    assert good_png.usable and good_png.mode == "RGB" and good_png.thumbnail.dtype == np.uint8
    assert good_png.thumbnail.shape == (27, 32, 3) and good_png.channels == 3
    bad = [item for item in items if not item.usable]
    assert all(item.thumbnail is None and item.reason for item in bad) and len(bad) == 6


def test_scan_order_and_results_do_not_depend_on_threads(planted):
    one = scan_folder(planted, threads=1)
    four = scan_folder(planted, threads=4)
    assert one == four
    assert one.usable == sorted(one.usable, key=lambda p: Path(p).parts)  # folder by folder


def test_closing_the_scan_early_stops_it(planted):
    scan = iter_scan(planted, threads=2)
    first = next(scan)
    scan.close()  # the GUI's "cancel": returns at once, nothing left running
    assert first.done == 1 and first.total == 18


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_lowered_pillow_bomb_limit_is_respected(planted, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # every 48×40 planted image is now "too large"
    report = scan_folder(planted / "a")
    assert report.usable == [] and len(report.skipped) == 3
    assert all(entry["kind"] == "too large" for entry in report.skipped), report.skipped


def test_broken_symlink_and_symlinked_folder_loop(tmp_path):
    _rgb().save(tmp_path / "ok.png")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)  # followed once, then reported
    report = scan_folder(tmp_path)
    assert report.usable == [str(tmp_path / "ok.png")]
    assert [(Path(e["path"]).name, e["kind"]) for e in report.skipped] == [
        ("dangling.png", "broken link"), ("loop", "link loop")]
    assert "broken link" in report.summary() and "link loop" in report.summary()


posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and permissions are POSIX")


@posix_only
def test_fifos_devices_and_sockets_are_skipped_with_a_reason_and_never_opened(tmp_path):
    _rgb().save(tmp_path / "ok.png")
    os.mkfifo(tmp_path / "a.png")  # opening it would block: `train` once hung here forever
    (tmp_path / "null.jpg").symlink_to("/dev/null")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s.png"))
    try:
        report = scan_folder(tmp_path)
    finally:
        sock.close()
    assert report.usable == [str(tmp_path / "ok.png")]
    reasons = {Path(e["path"]).name: e for e in report.skipped}
    assert "FIFO (named pipe), not a file; it was not opened" in reasons["a.png"]["reason"]
    assert "character device" in reasons["null.jpg"]["reason"] and "socket" in reasons["s.png"]["reason"]
    assert {e["kind"] for e in report.skipped} == {"not a file"}
    assert report.summary() == "1 usable image, 3 skipped (3 not a file)"


@posix_only
def test_a_fifo_reaching_the_decoder_is_refused_too(tmp_path):
    os.mkfifo(tmp_path / "late.png")  # e.g. swapped in after the scan
    tensor, skipped = load_images_tensor([str(tmp_path / "late.png")], 8, 3)
    assert len(tensor) == 0 and skipped[0]["kind"] == "not a file"


def test_names_that_are_not_utf8_are_used_reported_and_saved_escaped(tmp_path):
    folder = tmp_path / "data"
    (folder / os.fsdecode(b"sub\xff")).mkdir(parents=True)
    _rgb().save(folder / os.fsdecode(b"caf\xe9.png"))
    _rgb().save(folder / os.fsdecode(b"sub\xff") / "ok.png")
    (folder / os.fsdecode(b"bad\xfe.png")).write_bytes(b"not an image")
    report = scan_folder(folder)
    assert len(report.usable) == 2 and report.names_not_utf8 == 3
    assert report.summary().endswith("; 3 file names are not valid UTF-8 (shown escaped)")
    assert "bad\\xfe.png" in report.skipped[0]["reason"]
    saved = report.save(tmp_path / "scan_report.json")  # raised UnicodeEncodeError before
    text = saved.read_text(encoding="utf-8")
    assert "\\udce9" in text and json.loads(text)["names_note"].startswith("Some file names are not valid UTF-8")
    assert ScanReport.load(saved) == report  # the exact paths come back
    tensor, skipped = load_images_tensor(report.usable, 8, 3)
    assert len(tensor) == 2 and not skipped


@posix_only
@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_subfolder_is_reported(tmp_path):
    _rgb().save(tmp_path / "ok.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    _rgb().save(locked / "hidden_from_us.png")
    locked.chmod(0)
    try:
        report = scan_folder(tmp_path)
    finally:
        locked.chmod(0o755)
    assert report.usable == [str(tmp_path / "ok.png")]
    assert [(e["path"], e["kind"]) for e in report.skipped] == [(str(locked), "unreadable folder")]


def test_an_unreadable_subfolder_is_reported_even_as_root(tmp_path, monkeypatch):
    _rgb().save(tmp_path / "ok.png")
    (tmp_path / "locked").mkdir()
    real_scandir = os.scandir

    def deny(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", deny)
    report = scan_folder(tmp_path)
    assert report.usable == [str(tmp_path / "ok.png")]
    (entry,) = report.skipped
    assert entry["kind"] == "unreadable folder" and "Permission denied" in entry["reason"]
    assert report.summary() == "1 usable image, 1 skipped (1 unreadable folder)"


@posix_only
def test_linked_folders_are_followed_once_and_file_link_loops_reported(tmp_path):
    (tmp_path / "real").mkdir()
    _rgb().save(tmp_path / "real" / "a.png")
    (tmp_path / "via_link").symlink_to(tmp_path / "real", target_is_directory=True)  # a second way in
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "up").symlink_to(tmp_path, target_is_directory=True)  # a loop
    (tmp_path / "self.png").symlink_to(tmp_path / "self.png")  # a link to itself
    report = scan_folder(tmp_path)
    assert report.usable == [str(tmp_path / "real" / "a.png")]
    kinds = {str(Path(e["path"]).relative_to(tmp_path)): e["kind"] for e in report.skipped}
    assert kinds == {"other/up": "link loop", "self.png": "link loop", "via_link": "link loop"}


def test_only_unreadable_subfolders_is_no_image_files_with_a_note(tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": (_ for _ in ()).throw(PermissionError(13, "denied"))
                        if str(path).endswith("locked") else real_scandir(path))
    with pytest.raises(InputError, match="no image files .*1 subfolders could not be scanned"):
        scan_folder(tmp_path)


def test_a_damaged_scan_report_is_an_input_error(tmp_path):
    path = tmp_path / "scan_report.json"
    path.write_text("[" * 100_000)
    with pytest.raises(InputError, match="nested too deeply|not valid JSON"):
        ScanReport.load(path)
    path.write_text(json.dumps({"root": "/x"}))
    with pytest.raises(InputError, match="incomplete or damaged"):
        ScanReport.load(path)


def test_exif_rotation_is_applied(planted):
    tensor, skipped = load_images_tensor([str(planted / "rotated.jpg"), str(planted / "a/good.png")], 16, 3)
    assert not skipped and tensor.shape == (2, 3, 16, 16)
    rotated, upright = tensor.float()
    # Upright: dark left, bright right. Rotated 90° clockwise on display: dark top, bright bottom.
    assert upright[:, :, :8].mean() + 100 < upright[:, :, 8:].mean()
    assert rotated[:, :8, :].mean() + 100 < rotated[:, 8:, :].mean()


def test_grayscale_folder_gives_one_channel(tmp_path):
    gray = np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))
    Image.fromarray(gray).save(tmp_path / "l.png")
    Image.fromarray(np.stack([gray] * 3, -1)).save(tmp_path / "rgb_but_gray.png")
    Image.fromarray(gray).convert("1").save(tmp_path / "bits.bmp")
    Image.fromarray(gray.astype(np.uint16) * 200).save(tmp_path / "deep.tif")
    report = scan_folder(tmp_path)
    assert report.channels == 1 and len(report.usable) == 4
    tensor, _ = load_images_tensor(report.usable, 8, report.channels)
    assert tensor.shape == (4, 1, 8, 8)
    _rgb().save(tmp_path / "colour.png")
    assert scan_folder(tmp_path).channels == 3


def test_bad_folders_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        scan_folder(tmp_path / "missing")
    with pytest.raises(InputError, match="no image files"):
        scan_folder(tmp_path)
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    with pytest.raises(InputError, match="no image files"):
        iter_scan(tmp_path)  # raised at once, before iterating
    with pytest.raises(InputError, match="not a folder"):
        scan_folder(tmp_path / "readme.txt")


def test_all_bad_folder_scans_with_zero_usable(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    report = scan_folder(tmp_path)
    assert report.usable == [] and report.summary() == "0 usable images, 1 skipped (1 empty)"


def test_report_save_and_load(planted, tmp_path):
    report = scan_folder(planted)
    path = report.save(tmp_path / "scan_report.json")
    data = json.loads(path.read_text())
    assert data["root"] == str(planted) and data["channels"] == 3 and data["summary"] == report.summary()
    assert {"path", "reason"} <= set(data["skipped"][0])
    assert ScanReport.load(path) == report
    path.write_text("{broken")
    with pytest.raises(InputError, match="not valid JSON"):
        ScanReport.load(path)


def test_load_images_tensor_skips_and_reports_progress(planted):
    paths = [str(planted / p) for p in GOOD] + [str(planted / "bad/text.png")]
    calls = []
    tensor, skipped = load_images_tensor(paths, 12, 3, progress=lambda done, total: calls.append((done, total)))
    assert tensor.shape == (12, 3, 12, 12) and tensor.dtype == torch.uint8
    assert [s["path"] for s in skipped] == [paths[-1]] and skipped[0]["kind"] == "not an image"
    assert calls[-1] == (13, 13) and len(calls) == 13
    # Transparency is composited on white: the semi-transparent RGBA image is lighter than the original.
    assert tensor[GOOD.index("rgba.png")].float().mean() > tensor[0].float().mean() + 30


def test_demo_dataset():
    digits8 = demo_dataset_tensor(8)
    sheet = np.asarray(Image.open(__import__("diffusion_studio.core.paths", fromlist=["x"]).resource_path(
        "demo", "digits_8x8_sheet.png")))
    assert digits8.shape == (1797, 1, 8, 8)
    assert np.array_equal(digits8[61, 0].numpy(), sheet[8:16, 8:16])  # row 1, column 1 of the sheet
    digits = demo_dataset_tensor(16)
    assert digits.shape == (1797, 1, 16, 16) and digits.dtype == torch.uint8
    assert int(digits.max()) > 200 and int(digits.min()) == 0
    # Smooth upscaling: more distinct grey levels than the 17 of the 8×8 source.
    assert len(torch.unique(digits[:50])) > 40
    digits[0] = 0
    assert demo_dataset_tensor(16)[0].any()  # callers get a copy, not the cache
    with pytest.raises(InputError):
        demo_dataset_tensor(2)


def _numbered(n, size=4):
    # Image i is filled with i (left column marked) so batches can be traced back to indices.
    data = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).repeat(1, 1, size, size)
    data[:, :, :, 0] = 255
    return data


def _ids(batch):
    return [round(v) for v in ((batch[:, 0, 0, 1] + 1) * 127.5).tolist()]


def test_batch_shapes_range_and_flip():
    source = BatchSource(_numbered(10), 16, "cpu", seed=0, hflip=True)
    batch = source.next_batch()
    assert batch.shape == (16, 1, 4, 4) and batch.dtype == torch.float32
    assert batch.min() >= -1 and batch.max() <= 1
    left_marked = batch[:, 0, 0, 0] == 1.0
    right_marked = batch[:, 0, 0, -1] == 1.0
    assert left_marked.any() and right_marked.any() and bool((left_marked ^ right_marked).all())
    no_flip = BatchSource(_numbered(10), 16, "cpu", seed=0, hflip=False).next_batch()
    assert bool((no_flip[:, 0, 0, 0] == 1.0).all())
    # An epoch is a permutation: the first 10 samples are 10 different images.
    assert sorted(_ids(no_flip)[:10]) == list(range(10))


def test_exact_resume_in_memory():
    first = BatchSource(_numbered(10), 4, "cpu", seed=3)
    for _ in range(4):
        first.next_batch()
    state = first.state_dict()
    expected = [first.next_batch() for _ in range(6)]  # crosses epoch boundaries
    resumed = BatchSource(_numbered(10), 4, "cpu", seed=99)
    assert resumed.load_state_dict(state) is True
    for batch in expected:
        assert torch.equal(resumed.next_batch(), batch)
    assert resumed.state_dict() == first.state_dict()
    other_seed = BatchSource(_numbered(10), 4, "cpu", seed=4)
    assert not all(torch.equal(other_seed.next_batch(), b) for b in expected[:3])


def test_state_dict_survives_weights_only(tmp_path):
    source = BatchSource(_numbered(5), 2, "cpu", seed=1)
    source.next_batch()
    torch.save({"data": source.state_dict()}, tmp_path / "s.pt")
    assert torch.load(tmp_path / "s.pt", weights_only=True)["data"] == source.state_dict()
    changed = BatchSource(_numbered(6), 2, "cpu", seed=1)
    assert changed.load_state_dict(source.state_dict()) is False  # dataset changed: starts the epoch afresh


def test_sharding_is_disjoint():
    n = 12
    ranks = [BatchSource(_numbered(n), 3, "cpu", seed=5, rank=r, world_size=2, hflip=False) for r in range(2)]
    seen = [sum((_ids(src.next_batch()) for _ in range(2)), []) for src in ranks]
    assert not set(seen[0]) & set(seen[1])
    assert len(set(seen[0]) | set(seen[1])) == 12  # together the two shards cover the epoch
    # Uneven split (11 over 2 ranks): shards are padded to equal length, so every rank's cursor
    # stays identical and rank 0's saved state resumes all of them exactly.
    uneven = [BatchSource(_numbered(11), 4, "cpu", seed=5, rank=r, world_size=2, hflip=False) for r in range(2)]
    first_epoch = [_ids(src.next_batch()) + _ids(src.next_batch())[:2] for src in uneven]
    both = first_epoch[0] + first_epoch[1]
    assert len(both) == 12 and set(both) == set(range(11))  # all 11 images, plus one padded repeat
    for _ in range(3):
        for src in uneven:
            src.next_batch()
        assert uneven[0].state_dict() | {"rank": 0} == uneven[1].state_dict() | {"rank": 0}
    resumed = BatchSource(_numbered(11), 4, "cpu", seed=5, rank=1, world_size=2, hflip=False)
    resumed.load_state_dict(uneven[0].state_dict())
    assert torch.equal(resumed.next_batch(), uneven[1].next_batch())
    tiny = [BatchSource(_numbered(1), 2, "cpu", seed=0, rank=r, world_size=3) for r in range(3)]
    assert all(src.next_batch().shape == (2, 1, 4, 4) for src in tiny)  # fewer images than ranks still works


def test_streaming_matches_memory_and_resumes(planted):
    paths = [str(planted / p) for p in GOOD]
    in_memory, _ = load_images_tensor(paths, 8, 3)
    memory = BatchSource(in_memory, 5, "cpu", seed=2)
    stream = BatchSource(paths, 5, "cpu", seed=2, workers=0, image_size=8, channels=3)
    assert not stream.in_memory and memory.in_memory
    for _ in range(4):
        assert torch.equal(stream.next_batch(), memory.next_batch())
    state = stream.state_dict()
    expected = [stream.next_batch() for _ in range(3)]
    resumed = BatchSource(paths, 5, "cpu", seed=2, image_size=8, channels=3)
    resumed.load_state_dict(state)
    assert all(torch.equal(resumed.next_batch(), b) for b in expected)


def test_streaming_skips_files_deleted_after_the_scan(tmp_path):
    for i in range(6):
        _rgb().save(tmp_path / f"img{i}.png")
    report = scan_folder(tmp_path)
    source = BatchSource(report.usable, 4, "cpu", seed=0, image_size=8, channels=3)
    (tmp_path / "img2.png").unlink()
    (tmp_path / "img4.png").write_bytes(b"garbage")
    for _ in range(5):
        assert source.next_batch().shape == (4, 3, 8, 8)
    assert sorted(e["path"] for e in source.unreadable) == [str(tmp_path / "img2.png"), str(tmp_path / "img4.png")]
    for path in report.usable:
        (tmp_path / path).unlink(missing_ok=True)
    with pytest.raises(InputError, match="can be read any more"):
        BatchSource(report.usable, 4, "cpu", seed=0, image_size=8, channels=3).next_batch()


def test_streaming_with_worker_processes(planted):
    paths = [str(planted / p) for p in GOOD]
    with_workers = BatchSource(paths, 4, "cpu", seed=7, workers=2, image_size=8, channels=3)
    without = BatchSource(paths, 4, "cpu", seed=7, workers=0, image_size=8, channels=3)
    for _ in range(5):
        assert torch.equal(with_workers.next_batch(), without.next_batch())
    with_workers.close()


def test_choose_batch_source(planted):
    paths = [str(planted / p) for p in GOOD] + [str(planted / "bad/empty.png")]
    small = choose_batch_source(paths, image_size=8, channels=3, batch_size=4, seed=0)
    assert small.in_memory and small.num_items == 12 and len(small.skipped) == 1
    big = choose_batch_source(paths, image_size=8, channels=3, batch_size=4, seed=0, memory_budget_bytes=100)
    assert not big.in_memory and big.next_batch().shape == (4, 3, 8, 8)
    with pytest.raises(InputError, match="could not be decoded"):
        choose_batch_source([str(planted / "bad/empty.png")], image_size=8, channels=3, batch_size=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batches_on_cuda_match_cpu(planted):
    data = _numbered(37, size=8)
    on_gpu = BatchSource(data, 16, "cuda", seed=4)
    on_cpu = BatchSource(data, 16, "cpu", seed=4)
    assert on_gpu._data.device.type == "cuda"  # small data lives on the device
    for _ in range(5):
        batch = on_gpu.next_batch()
        assert batch.device.type == "cuda" and torch.equal(batch.cpu(), on_cpu.next_batch())
    paths = [str(planted / p) for p in GOOD]
    streamed = BatchSource(paths, 4, "cuda", seed=1, workers=2, image_size=8, channels=3)
    reference = BatchSource(paths, 4, "cpu", seed=1, image_size=8, channels=3)
    for _ in range(4):
        assert torch.equal(streamed.next_batch().cpu(), reference.next_batch())
    chosen = choose_batch_source(paths, image_size=8, channels=3, batch_size=4, device="cuda", seed=1)
    assert chosen.in_memory and chosen._data.device.type == "cuda"
