"""Training data path: folder scan, decoding into memory, and batch throughput, vs plain references.

In one run, on a generated folder (small PNG/JPEG images like CIFAR/MNIST exports, and a few
12-megapixel phone-size JPEGs made from the demo photo), measures:

- scan: ``core.data.scan_folder`` (full decode, EXIF, mode conversion, thumbnails, per-file
  reasons) against the bare minimum a safe scan needs — Pillow ``Image.open(p).load()`` on every
  file, one after the other. ms per image and the ratio.
- decode: ``load_images_tensor`` (resize + centre crop into one uint8 tensor) against the
  torchvision-style per-image pipeline (open → RGB → resize short side → centre crop → array).
- batches: ``BatchSource`` in memory (uint8 data, index + flip + convert per batch) against a
  ``DataLoader(TensorDataset(float data), shuffle=True)`` with a per-sample random flip, the
  usual recipe; and streaming ``BatchSource`` (workers=0) against a DataLoader over a
  map-style PIL dataset (workers=0). Images per second, on the CPU or the GPU when present.

    python benchmarks/bench_data.py [--small 400] [--photos 8] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diffusion_studio.core.data import BatchSource, load_images_tensor, scan_folder  # noqa: E402
from diffusion_studio.core.paths import resource_path  # noqa: E402


def make_folder(root: Path, small: int, photos: int) -> tuple[list[Path], list[Path]]:
    rng = np.random.default_rng(0)
    base = Image.open(resource_path("demo", "astronaut.jpg")).convert("RGB")
    small_paths = []
    for i in range(small):
        left, top = rng.integers(0, base.width - 128, 2)
        tile = base.crop((left, top, left + 128, top + 128)).resize((64, 64) if i % 2 else (128, 128))
        path = root / "small" / (f"{i:05d}.png" if i % 2 else f"{i:05d}.jpg")
        path.parent.mkdir(parents=True, exist_ok=True)
        tile.save(path, quality=90)
        small_paths.append(path)
    photo_paths = []
    big = base.resize((4000, 3000), Image.Resampling.BICUBIC)
    for i in range(photos):
        path = root / "photos" / f"IMG_{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        big.rotate(i * 7).save(path, quality=90)
        photo_paths.append(path)
    return small_paths, photo_paths


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def reference_scan(paths: list[Path]) -> None:
    for path in paths:
        with Image.open(path) as img:
            img.load()


def reference_decode(paths: list[Path], size: int) -> np.ndarray:
    out = []
    for path in paths:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            w, h = img.size
            scale = size / min(w, h)
            img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
            left, top = (img.width - size) // 2, (img.height - size) // 2
            out.append(np.asarray(img.crop((left, top, left + size, top + size))))
    return np.stack(out)


class _PilDataset(torch.utils.data.Dataset):
    def __init__(self, paths, size):
        self.paths, self.size = paths, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        array = reference_decode([self.paths[i]], self.size)[0]
        x = torch.from_numpy(array).permute(2, 0, 1).float() / 127.5 - 1
        return x.flip(-1) if torch.rand(()) < 0.5 else x


def images_per_s(next_batch, batch_size: int, batches: int, device: torch.device, rounds: int = 3) -> float:
    """Best of a few rounds: this machine is shared, and the best round is the least disturbed."""
    next_batch()  # warm-up
    best = 0.0
    for _ in range(rounds):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(batches):
            next_batch()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, batches * batch_size / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=400)
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    result: dict = {"benchmark": "data", "device": str(device), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        small, photos = make_folder(root, args.small, args.photos)

        ours = timed(lambda: scan_folder(root / "small"), 3)
        ref = timed(lambda: reference_scan(small), 3)
        result["scan_small_ms_per_image"] = round(1000 * ours / len(small), 3)
        result["scan_small_reference_ms_per_image"] = round(1000 * ref / len(small), 3)
        result["scan_small_speedup"] = round(ref / ours, 2)
        ours = timed(lambda: scan_folder(root / "photos"))
        ref = timed(lambda: reference_scan(photos))
        result["scan_12mp_jpeg_ms_per_image"] = round(1000 * ours / len(photos), 1)
        result["scan_12mp_jpeg_reference_ms_per_image"] = round(1000 * ref / len(photos), 1)
        result["scan_12mp_jpeg_speedup"] = round(ref / ours, 2)

        paths = [str(p) for p in small]
        ours = timed(lambda: load_images_tensor(paths, 32, 3), 3)
        ref = timed(lambda: reference_decode(small, 32), 3)
        result["decode_small_images_per_s"] = round(len(small) / ours)
        result["decode_small_reference_images_per_s"] = round(len(small) / ref)
        result["decode_small_speedup"] = round(ref / ours, 2)
        photo_strs = [str(p) for p in photos]
        ours = timed(lambda: load_images_tensor(photo_strs, 64, 3))
        ref = timed(lambda: reference_decode(photos, 64))
        result["decode_12mp_jpeg_images_per_s"] = round(len(photos) / ours, 1)
        result["decode_12mp_jpeg_reference_images_per_s"] = round(len(photos) / ref, 1)
        result["decode_12mp_jpeg_speedup"] = round(ref / ours, 2)

        batch, n = 128, 8192
        data = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
        source = BatchSource(data, batch, device, seed=0)
        ours = images_per_s(source.next_batch, batch, 50, device)
        floats = data.float() / 127.5 - 1
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(floats), batch_size=batch, shuffle=True)

        def reference_batches():
            it = iter(loader)

            def step():
                nonlocal it
                try:
                    (x,) = next(it)
                except StopIteration:
                    it = iter(loader)
                    (x,) = next(it)
                flip = torch.rand(len(x)) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
                return x.to(device)
            return step

        ref = images_per_s(reference_batches(), batch, 50, device)
        result["batches_in_memory_images_per_s"] = round(ours)
        result["batches_in_memory_reference_images_per_s"] = round(ref)
        result["batches_in_memory_speedup"] = round(ours / ref, 2)

        stream = BatchSource(paths, 32, device, seed=0, workers=0, image_size=32, channels=3)
        ours = images_per_s(stream.next_batch, 32, 8, device)
        pil_dataset = _PilDataset(small, 32)
        endless = torch.utils.data.RandomSampler(pil_dataset, num_samples=40 * 32 + len(small))
        ref_iter = iter(torch.utils.data.DataLoader(pil_dataset, batch_size=32, sampler=endless))
        ref = images_per_s(lambda: next(ref_iter).to(device), 32, 8, device)
        result["batches_streamed_images_per_s"] = round(ours)
        result["batches_streamed_reference_images_per_s"] = round(ref)
        result["batches_streamed_speedup"] = round(ours / ref, 2)

    result["versions"] = {
        "python": platform.python_version(), "torch": torch.__version__, "pillow": metadata.version("pillow"),
        "numpy": np.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
