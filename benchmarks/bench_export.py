"""Export speed, size and colour: our GIF writer against a naive Pillow ``save_all`` of RGB frames.

Two cases from the issue: a 100-frame chain of an 8×8 grid of 32² RGB samples, and a
100-frame 512² forward-process GIF. The chain is synthetic but realistic — the forward
process of 64 RGB crops of the demo photos played backwards (t = 999 → 0), which is what a
well-trained model's x_t looks like — so no model is needed. "ours" is timed end to end
(grid composition, palette, atomic write); "naive" gets the finished RGB frames for free.
PSNR is over all decoded frames against the exact RGB source frames.

    .venv/bin/python benchmarks/bench_export.py [--frames 100]

``--memory`` measures instead the peak memory of exporting N forward-process frames (the
astronaut at 256 px) to GIF, WebP and APNG, each in a fresh process: the streaming writers
against the way export worked before (every composed frame kept, then Pillow's ``save_all``;
reproduced below as ``held_*``). Peak RSS above the process's RSS before the export:

    .venv/bin/python benchmarks/bench_export.py --memory [--memory-frames 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageSequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion_studio.core.export import ExportOptions, ForwardFrameSource, ImageFrame, export_frames, tile_grid  # noqa: E402
from diffusion_studio.core.images import load_image  # noqa: E402
from diffusion_studio.core.paths import resource_path  # noqa: E402
from diffusion_studio.core.schedules import make_schedule  # noqa: E402

FRAME_MS = 80


def chain_frames(schedule, count: int) -> list[ImageFrame]:
    """x_t of 64 RGB 32² crops (uint8 (64, 32, 32, 3) per frame), t from T-1 down to 0, like a reverse chain."""
    rng = np.random.default_rng(0)
    photos = [load_image(resource_path("demo", name)) for name in ("astronaut.jpg", "chelsea.jpg")]
    crops = []
    for i in range(64):
        photo = photos[i % 2]
        y, x = rng.integers(0, photo.shape[0] - 128), rng.integers(0, photo.shape[1] - 128)
        crops.append(np.asarray(Image.fromarray(photo[y : y + 128, x : x + 128]).resize((32, 32), Image.BICUBIC)))
    x0 = np.stack(crops).astype(np.float32) / 127.5 - 1.0
    noise = rng.standard_normal(x0.shape, dtype=np.float32)
    frames = []
    for t in np.linspace(schedule.num_timesteps - 1, 0, count).astype(int):
        x_t = schedule.sqrt_alphas_cumprod[t] * x0 + schedule.sqrt_one_minus_alphas_cumprod[t] * noise
        pixels = np.clip((x_t + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        frames.append(ImageFrame(pixels, t=int(t), alphas_cumprod=float(schedule.alphas_cumprod[t])))
    return frames


def decoded_psnr(path: Path, sources: list[np.ndarray]) -> float:
    with Image.open(path) as image:
        decoded = [np.asarray(frame.convert("RGB"), dtype=np.float64) for frame in ImageSequence.Iterator(image)]
    assert len(decoded) == len(sources), (len(decoded), len(sources))
    mse = np.mean([np.mean((d - s.astype(np.float64)) ** 2) for d, s in zip(decoded, sources)])
    return float(10 * np.log10(255.0**2 / mse))


def naive_gif(sources: list[np.ndarray], path: Path) -> None:
    images = [Image.fromarray(s) for s in sources]
    images[0].save(path, save_all=True, append_images=images[1:], duration=FRAME_MS, loop=0)


def run_case(name: str, frames, sources: list[np.ndarray], options: ExportOptions, folder: Path) -> dict:
    naive_path, ours_path, fast_path = folder / f"{name}_naive.gif", folder / f"{name}_ours.gif", folder / f"{name}_fast.gif"
    start = time.perf_counter()
    naive_gif(sources, naive_path)
    naive_s = time.perf_counter() - start
    start = time.perf_counter()
    export_frames(frames, ours_path, options)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    export_frames(frames, fast_path, options.with_(palette="fast"))
    fast_s = time.perf_counter() - start
    naive_bytes, ours_bytes, fast_bytes = (p.stat().st_size for p in (naive_path, ours_path, fast_path))
    naive_psnr, ours_psnr, fast_psnr = (decoded_psnr(p, sources) for p in (naive_path, ours_path, fast_path))
    h, w = sources[0].shape[:2]
    return {
        "frames": len(sources),
        "frame_size": f"{w}x{h}",
        "naive_pillow": {"seconds": round(naive_s, 3), "bytes": naive_bytes, "psnr_db": round(naive_psnr, 2)},
        "ours_high": {"seconds": round(ours_s, 3), "bytes": ours_bytes, "psnr_db": round(ours_psnr, 2)},
        "ours_fast": {"seconds": round(fast_s, 3), "bytes": fast_bytes, "psnr_db": round(fast_psnr, 2)},
        "high_vs_naive": {
            "time_ratio": round(ours_s / naive_s, 3),
            "size_ratio": round(ours_bytes / naive_bytes, 4),
            "psnr_gain_db": round(ours_psnr - naive_psnr, 2),
        },
        "fast_vs_naive": {
            "time_ratio": round(fast_s / naive_s, 3),
            "size_ratio": round(fast_bytes / naive_bytes, 4),
            "psnr_gain_db": round(fast_psnr - naive_psnr, 2),
        },
    }


# ---------------------------------------------------------------------------- --memory


def _held_export(frames, path: Path, kind: str, options: ExportOptions) -> None:
    """How export worked before streaming: compose every frame, keep them all, then Pillow's save_all."""
    from diffusion_studio.core.export import compose_frame
    from diffusion_studio.core.export.palette import gif_frame

    pictures = [compose_frame(frames[i], options) for i in range(len(frames))]
    durations = [options.frame_duration_ms] * len(pictures)
    if kind == "gif":
        images = [gif_frame(p, options.palette) for p in pictures]
        images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=durations,
                       disposal=1, loop=0)
    elif kind == "webp":
        images = [Image.fromarray(p).convert("RGB") for p in pictures]
        images[0].save(path, format="WEBP", save_all=True, append_images=images[1:], duration=durations, loop=0,
                       quality=options.quality, method=4)
    else:
        images = [Image.fromarray(p) for p in pictures]
        images[0].save(path, format="PNG", save_all=True, append_images=images[1:], duration=durations, loop=0,
                       disposal=0, blend=0, optimize=False, compress_level=6)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(how: str, kind: str, count: int) -> None:
    """One export in this (fresh) process; prints its peak RSS above the RSS before it started."""
    import resource

    schedule = make_schedule("cosine", 1000)
    photo = load_image(resource_path("demo", "astronaut.jpg"))
    ts = np.linspace(0, schedule.num_timesteps - 1, count).astype(int).tolist()
    frames = ForwardFrameSource(photo, schedule, ts, seed=0, max_side=256)
    options = ExportOptions(fps=25, hold_last_s=0.0, quality=80)
    frames[0]  # renderer buffers and imports are in the baseline
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{ 'png' if kind == 'apng' else kind}"
        before = _rss_bytes()
        start = time.perf_counter()
        if how == "streaming":
            export_frames(frames, path, options)
        else:
            _held_export(frames, path, kind, options)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        size = path.stat().st_size
    print(json.dumps({"extra_peak_mb": round(max(0, peak - before) / 2**20, 1), "seconds": round(seconds, 2),
                      "bytes": size}))


def memory_report(count: int) -> dict:
    import subprocess

    cases = {}
    for kind in ("gif", "webp", "apng"):
        runs = {}
        for how in ("held", "streaming"):
            out = subprocess.run([sys.executable, __file__, "--memory-child", how, kind, str(count)],
                                 check=True, capture_output=True, text=True).stdout
            runs[how] = json.loads(out.strip().splitlines()[-1])
        held, streaming = runs["held"], runs["streaming"]
        cases[kind] = {
            "held_before": held, "streaming": streaming,
            "memory_ratio": round(streaming["extra_peak_mb"] / max(held["extra_peak_mb"], 0.1), 3),
            "time_ratio": round(streaming["seconds"] / held["seconds"], 3),
            "size_ratio": round(streaming["bytes"] / held["bytes"], 3),
        }
    return {
        "benchmark": "export_memory",
        "frames": count, "frame_size": "256x171 (astronaut, forward process)",
        "reference": "held: every composed frame kept, then Pillow save_all (the export before streaming), "
                     "in a fresh process each; extra_peak_mb = peak RSS above the RSS before the export",
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--memory", action="store_true", help="peak memory, streaming against holding every frame")
    parser.add_argument("--memory-frames", type=int, default=1000)
    parser.add_argument("--memory-child", nargs=3, metavar=("HOW", "KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        how, kind, count = args.memory_child
        memory_child(how, kind, int(count))
        return
    if args.memory:
        report = memory_report(args.memory_frames)
        report["device"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                            "platform": platform.platform()}
        report["versions"] = {"python": platform.python_version(), "pillow": PIL.__version__}
        print(json.dumps(report, indent=2))
        return
    schedule = make_schedule("cosine", 1000)
    options = ExportOptions(fps=1000 / FRAME_MS, hold_last_s=0.0, padding=2, pad_color=(255, 255, 255),
                            scale=1.0, caption=False, column_labels=False)  # the bare frames, as the reference
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        chain = chain_frames(schedule, args.frames)
        sources = [tile_grid(f.x_t, None, options.padding, options.pad_color) for f in chain]
        results["chain_8x8_grid_32px"] = run_case("chain", chain, sources, options, folder)

        photo = load_image(resource_path("demo", "astronaut.jpg"))
        ts = np.linspace(0, schedule.num_timesteps - 1, args.frames).astype(int).tolist()
        forward = ForwardFrameSource(photo, schedule, ts, seed=0, max_side=512)
        sources = [forward[i].x_t for i in range(len(forward))]
        results["forward_512px"] = run_case("forward", forward, sources, options, folder)
    report = {
        "benchmark": "export_gif",
        "reference": "naive Pillow Image.save(save_all=True) of the RGB frames (Pillow's own quantiser)",
        "cases": results,
        "device": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                   "platform": platform.platform()},
        "versions": {"python": platform.python_version(), "pillow": PIL.__version__, "numpy": np.__version__},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
