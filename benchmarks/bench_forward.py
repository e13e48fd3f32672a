"""Forward explorer: time to produce the displayed frame for a new t, vs a naive reference.

For 512², 2048² and 4096² RGB photos, measures the median time per frame of what the
GUI does when t changes — ``ForwardRenderer.render(t)`` (x_t at display resolution,
as uint8), the copy handed to the image view, the x_t histogram and the numbers
(``timestep_stats``) — without the Qt paint itself. The reference, in the same run, is
the recipe of The Annotated Diffusion Model: torch ``q_sample`` on the full-resolution
image followed by the reverse transform to a PIL image. The reference is given its
x0 tensor and a fixed ε up front (it does not redraw ε per frame), so the ratio is
conservative.

    python benchmarks/bench_forward.py [--sizes 512 2048 4096] [--frames 60] [--reference-frames 7]

Target (issue 2): ≤ 16 ms median per frame at every size, ≥ 10× faster than the reference at 4096².
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diffusion_studio.core.forward import ForwardRenderer, q_sample, timestep_stats  # noqa: E402
from diffusion_studio.core.images import load_image  # noqa: E402
from diffusion_studio.core.paths import resource_path  # noqa: E402
from diffusion_studio.core.schedules import make_schedule  # noqa: E402

TARGET_MS = 16.0
TARGET_RATIO_AT_4096 = 10.0


def photo(size: int) -> np.ndarray:
    """The demo photo resized to size × size (a real photo, not a flat test pattern)."""
    base = Image.fromarray(load_image(resource_path("demo", "astronaut.jpg")))
    return np.asarray(base.resize((size, size), Image.Resampling.BICUBIC))


def timesteps(count: int, T: int, seed: int) -> list[int]:
    # A new t for every frame, like a user scrubbing back and forth.
    return [int(t) for t in np.random.default_rng(seed).integers(0, T, size=count)]


def time_renderer(image: np.ndarray, schedule, frames: int) -> dict[str, float]:
    start = time.perf_counter()
    renderer = ForwardRenderer(image, schedule, seed=0)  # the panel's settings
    setup_s = time.perf_counter() - start
    samples, cpu_samples = [], []
    for t in timesteps(frames + 3, schedule.num_timesteps, 1):
        start, cpu_start = time.perf_counter(), time.thread_time()
        frame = renderer.render(t).copy()  # the panel hands the view a copy
        renderer.histogram(t)
        timestep_stats(schedule, t)
        samples.append(time.perf_counter() - start)
        cpu_samples.append(time.thread_time() - cpu_start)
        assert frame.dtype == np.uint8
    samples, cpu_samples = samples[3:], cpu_samples[3:]  # warm-up
    return {
        "median_ms": 1000 * statistics.median(samples),
        # CPU time of this thread: what the frame costs when other processes compete for the cores
        "median_cpu_ms": 1000 * statistics.median(cpu_samples),
        "p90_ms": 1000 * float(np.percentile(samples, 90)),
        "setup_ms": 1000 * setup_s,
        "frame_shape": list(renderer.shape),
    }


def time_reference(image: np.ndarray, schedule, frames: int) -> dict[str, float]:
    import torch

    # The Annotated Diffusion Model: ToTensor + Lambda(2x − 1) once, then per frame
    # q_sample and reverse_transform = (x+1)/2 → CHW→HWC → ×255 → uint8 → ToPILImage.
    x0 = torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(255).mul(2).sub(1).unsqueeze(0)
    noise = torch.randn_like(x0)
    samples = []
    for t in timesteps(frames + 1, schedule.num_timesteps, 2):
        start = time.perf_counter()
        with torch.no_grad():
            x_t = q_sample(x0, torch.tensor([t]), noise, schedule)
            pixels = ((x_t.squeeze(0) + 1) / 2).permute(1, 2, 0).mul(255).clamp(0, 255).numpy().astype(np.uint8)
            picture = Image.fromarray(pixels)
        samples.append(time.perf_counter() - start)
        assert picture.size == (image.shape[1], image.shape[0])
    samples = samples[1:]
    return {"median_ms": 1000 * statistics.median(samples), "frames": len(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 4096])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--reference-frames", type=int, default=7)
    args = parser.parse_args()

    import torch

    schedule = make_schedule("cosine", 1000)
    results = {}
    for size in args.sizes:
        image = photo(size)
        ours = time_renderer(image, schedule, args.frames)
        reference = time_reference(image, schedule, args.reference_frames)
        results[f"{size}x{size}"] = {
            "renderer": ours,
            "reference_torch_q_sample_to_pil": reference,
            "speedup": reference["median_ms"] / ours["median_ms"],
            "meets_16ms": ours["median_ms"] <= TARGET_MS,
        }
    largest = results.get("4096x4096")
    print(
        json.dumps(
            {
                "benchmark": "forward_frame",
                "what": "median ms per displayed frame for a new t (render + copy + histogram + numbers; no Qt paint)",
                "schedule": schedule.describe(),
                "sizes": results,
                "target_ms": TARGET_MS,
                "target_speedup_at_4096": TARGET_RATIO_AT_4096,
                "meets_targets": all(r["meets_16ms"] for r in results.values())
                and (largest is None or largest["speedup"] >= TARGET_RATIO_AT_4096),
                "device": "cpu",
                "cpu_count": os.cpu_count(),
                "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                "torch_threads": torch.get_num_threads(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "torch": torch.__version__,
                "pillow": metadata.version("pillow"),
                "machine": platform.machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
