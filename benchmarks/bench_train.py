"""Training throughput: our trainer vs diffusers' UNet2DModel with a diffusers-style loop.

    .venv/bin/python benchmarks/bench_train.py [--device cpu|cuda] [--preset cpu-tiny] [--steps 30]

Both train the same images (random pixels, decoded once, in memory) with the same batch and
image size. The reference is what examples/unconditional_image_generation/train_unconditional.py
does per step: DDPMScheduler.add_noise, MSE on ε, backward, gradient clipping at 1, AdamW,
EMAModel.step — in fp32 (that script's default). Ours runs as users run it: `train()` with
its defaults for the device (fp32 on the CPU; bf16 autocast + channels_last on CUDA).
The diffusers model is our preset's exact twin, built by diffusers from ``UNetConfig.to_diffusers()``
(our U-Net is UNet2DModel layer for layer): the same network and parameter count (both are printed).

Each implementation runs in its own subprocess (so peak memory is its own), alternating
``--rounds`` times; the best of each is compared. On the CPU with one thread the ratio uses
images per CPU-second (on a shared machine wall time measures the neighbours); wall-clock
figures are printed too. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _model_config(preset: str, image_size: int, channels: int) -> dict:
    from diffusion_studio.core.unet import preset_config

    return preset_config(preset, image_size, channels)


def _make_folder(root: Path, count: int, image_size: int, channels: int) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        shape = (image_size, image_size) if channels == 1 else (image_size, image_size, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / f"{i:04d}.png")
    return root


def run_ours(args) -> dict:
    import torch

    from diffusion_studio.core.training import TrainConfig, train
    from diffusion_studio.core.unet import UNet, count_parameters

    config = TrainConfig(out=str(Path(args.workdir) / f"ours_{time.time_ns()}"), folder=args.folder,
                         image_size=args.image_size, channels=args.channels, preset=args.preset,
                         batch_size=args.batch_size, steps=args.warmup + args.steps, device=args.device,
                         log_every=math.gcd(args.warmup, args.steps), sample_every=10**9, checkpoint_every=10**9, hflip=False,
                         cpu_threads=args.threads, num_sample_images=1, sample_steps=1)
    base_rss = _rss_mb()
    start = None
    for progress in train(config):
        if progress.event == "step" and progress.step == args.warmup:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = (time.perf_counter(), time.process_time())
        if progress.event == "step" and progress.step == args.warmup + args.steps:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            elapsed = (time.perf_counter() - start[0], time.process_time() - start[1])
            break
    params = count_parameters(UNet(**_model_config(args.preset, args.image_size, args.channels)))
    return _result(args, elapsed, params, base_rss, torch)


def run_diffusers(args) -> dict:
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, UNet2DModel
    from diffusers.training_utils import EMAModel

    from diffusion_studio.core.data import load_images_tensor, scan_folder

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    report = scan_folder(args.folder)
    data, _ = load_images_tensor(report.usable, args.image_size, args.channels)
    data = data.to(device)
    from diffusion_studio.core.unet import UNetConfig

    # Our U-Net is UNet2DModel layer for layer: the same network, built by diffusers.
    ours = UNetConfig.parse(_model_config(args.preset, args.image_size, args.channels))
    torch.manual_seed(0)
    model = UNet2DModel(**ours.to_diffusers()).to(device).train()
    ema = EMAModel(model.parameters(), decay=0.999, use_ema_warmup=True)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0.0)
    generator = torch.Generator(device="cpu").manual_seed(0)
    base_rss = _rss_mb()
    start = None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = (time.perf_counter(), time.process_time())
        index = torch.randint(0, len(data), (args.batch_size,), generator=generator).to(device)
        clean = data.index_select(0, index).float() / 127.5 - 1.0
        noise = torch.randn(clean.shape, device=device)
        timesteps = torch.randint(0, 1000, (args.batch_size,), device=device).long()
        noisy = scheduler.add_noise(clean, noise, timesteps)
        loss = F.mse_loss(model(noisy, timesteps).sample.float(), noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        ema.step(model.parameters())
        float(loss)  # train_unconditional logs loss.detach().item() every step
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = (time.perf_counter() - start[0], time.process_time() - start[1])
    return _result(args, elapsed, sum(p.numel() for p in model.parameters()), base_rss, torch)


def _result(args, elapsed: tuple[float, float], params: int, base_rss: float, torch) -> dict:
    images = args.steps * args.batch_size
    out = {"images_per_s": images / elapsed[0], "images_per_cpu_s": images / elapsed[1], "params": params,
           "peak_rss_mb": round(_rss_mb(), 1), "rss_growth_mb": round(_rss_mb() - base_rss, 1)}
    if args.device.startswith("cuda"):
        out["cuda_max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="cpu-tiny")
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (ours logs every gcd(warmup, steps))")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--which", choices=("ours", "diffusers"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    args.image_size = args.image_size or (32 if gpu else 16)
    args.batch_size = args.batch_size or (128 if gpu else 32)
    if args.which:  # child process: one measurement
        print(json.dumps((run_ours if args.which == "ours" else run_diffusers)(args)))
        return

    import diffusers
    import torch

    results: dict[str, list[dict]] = {"ours": [], "diffusers": []}
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        _make_folder(images, 256, args.image_size, args.channels)
        for _ in range(args.rounds):
            for which in ("ours", "diffusers"):
                cmd = [sys.executable, __file__, "--which", which, "--folder", str(images), "--workdir", tmp,
                       "--device", args.device, "--preset", args.preset, "--image-size", str(args.image_size),
                       "--channels", str(args.channels), "--batch-size", str(args.batch_size),
                       "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
                results[which].append(json.loads(done.stdout.strip().splitlines()[-1]))
    # On a shared CPU wall time mostly measures the neighbours; CPU time of a 1-thread run measures the work.
    key = "images_per_cpu_s" if not gpu and args.threads == 1 else "images_per_s"
    best = {k: max(v, key=lambda r: r[key]) for k, v in results.items()}
    device_name = torch.cuda.get_device_name(0) if gpu and torch.cuda.is_available() else platform.processor() or platform.machine()
    print(json.dumps({
        "benchmark": "train_images_per_s",
        "device": args.device, "device_name": device_name, "threads": args.threads,
        "preset": args.preset, "image_size": args.image_size, "channels": args.channels,
        "batch_size": args.batch_size, "timed_steps": args.steps, "rounds": args.rounds,
        "ours": best["ours"], "diffusers_unet2d": best["diffusers"],
        "all_rounds_images_per_s": {k: [round(r["images_per_s"], 1) for r in v] for k, v in results.items()},
        "all_rounds_images_per_cpu_s": {k: [round(r["images_per_cpu_s"], 1) for r in v] for k, v in results.items()},
        "ratio_measure": key,
        "ratio_ours_over_diffusers": round(best["ours"][key] / best["diffusers"][key], 3),
        "ratio_wall_best": round(max(r["images_per_s"] for r in results["ours"])
                                 / max(r["images_per_s"] for r in results["diffusers"]), 3),
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                     "python": platform.python_version()},
    }, indent=1))


if __name__ == "__main__":
    main()
