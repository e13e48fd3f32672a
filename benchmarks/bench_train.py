"""Training throughput: our trainer in several precision/layout settings vs diffusers' UNet2DModel.

    .venv/bin/python benchmarks/bench_train.py [--device cpu|cuda] [--preset cpu-tiny] [--steps 30]

Both train the same images (random pixels, decoded once, in memory) with the same batch and
image size. The reference is what examples/unconditional_image_generation/train_unconditional.py
does per step: DDPMScheduler.add_noise, MSE on ε, backward, gradient clipping at 1, AdamW,
EMAModel.step. The diffusers model is our preset's exact twin, built by diffusers from
``UNetConfig.to_diffusers()`` (our U-Net is UNet2DModel layer for layer): the same network and
parameter count (both are printed).

On CUDA (``--device cuda``) it runs the matrix of issue 18 for each ``--image-sizes`` (default 32
and 64 px, preset gpu-small): ours with its defaults, fp32, bf16, bf16 + channels_last and
bf16 + channels_last + torch.compile; diffusers in fp32 and bf16 autocast; peak memory of each;
the speed-up of each switch and ours-with-defaults over diffusers fp32 (goal ≥ 1.5×). Then
``--extras``: one sampling run (DDIM 50 steps, 64 samples, the preview sampler) and the
out-of-memory path (an absurd batch is refused with the estimate, a batch that really runs out
of memory ends with the message and leaves the run intact, and a resume with a smaller batch works).

On the CPU it compares ours (defaults: fp32) with diffusers fp32 at one size. Each measurement runs in
its own subprocess (so peak memory is its own), alternating ``--rounds`` times; the best of each is
compared. On the CPU with one thread the ratio uses images per CPU-second (on a shared machine wall
time measures the neighbours). Prints one JSON object.
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

#: (label, implementation, precision, channels_last, compile); None: the trainer's default for the device
CUDA_MATRIX = (
    ("ours_defaults", "ours", "auto", None, False),
    ("ours_fp32", "ours", "fp32", False, False),
    ("ours_bf16", "ours", "bf16", False, False),
    ("ours_bf16_channels_last", "ours", "bf16", True, False),
    ("ours_bf16_channels_last_compile", "ours", "bf16", True, True),
    ("diffusers_fp32", "diffusers", "fp32", False, False),
    ("diffusers_bf16", "diffusers", "bf16", False, False),
)
CPU_MATRIX = (
    ("ours_defaults", "ours", "auto", None, False),
    ("diffusers_fp32", "diffusers", "fp32", False, False),
)
#: speed-ups reported: (name, faster, slower)
SWITCHES = (
    ("bf16_over_fp32", "ours_bf16", "ours_fp32"),
    ("channels_last_over_nchw_in_bf16", "ours_bf16_channels_last", "ours_bf16"),
    ("compile_over_eager", "ours_bf16_channels_last_compile", "ours_bf16_channels_last"),
    ("ours_defaults_over_diffusers_fp32", "ours_defaults", "diffusers_fp32"),
    ("ours_bf16_over_diffusers_bf16", "ours_bf16", "diffusers_bf16"),
    ("ours_fp32_over_diffusers_fp32", "ours_fp32", "diffusers_fp32"),
)


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


def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_ours(args) -> dict:
    import torch

    from diffusion_studio.core.training import TrainConfig, train

    config = TrainConfig(out=str(Path(args.workdir) / f"ours_{time.time_ns()}"), folder=args.folder,
                         image_size=args.image_size, channels=args.channels, preset=args.preset,
                         batch_size=args.batch_size, steps=args.warmup + args.steps, device=args.device,
                         precision=args.precision, channels_last=args.channels_last, compile=args.compile,
                         log_every=math.gcd(args.warmup, args.steps), sample_every=10**9, checkpoint_every=10**9,
                         hflip=False, cpu_threads=args.threads, num_sample_images=1, sample_steps=1)
    base_rss = _rss_mb()
    start = elapsed = None
    for progress in train(config):
        if progress.event == "step" and progress.step == args.warmup:
            _synchronize(args.device)
            start = (time.perf_counter(), time.process_time())
        if progress.event == "step" and progress.step == args.warmup + args.steps:
            _synchronize(args.device)
            elapsed = (time.perf_counter() - start[0], time.process_time() - start[1])
            break
    from diffusion_studio.core.unet import estimate_parameters

    params = estimate_parameters(_model_config(args.preset, args.image_size, args.channels))
    return _result(args, elapsed, params, base_rss, torch)


def run_diffusers(args) -> dict:
    import contextlib

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
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == "bf16"
                else contextlib.nullcontext())
    base_rss = _rss_mb()
    start = None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            _synchronize(args.device)
            start = (time.perf_counter(), time.process_time())
        index = torch.randint(0, len(data), (args.batch_size,), generator=generator).to(device)
        clean = data.index_select(0, index).float() / 127.5 - 1.0
        noise = torch.randn(clean.shape, device=device)
        timesteps = torch.randint(0, 1000, (args.batch_size,), device=device).long()
        noisy = scheduler.add_noise(clean, noise, timesteps)
        with autocast:
            prediction = model(noisy, timesteps).sample
        loss = F.mse_loss(prediction.float(), noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        ema.step(model.parameters())
        float(loss)  # train_unconditional logs loss.detach().item() every step
    _synchronize(args.device)
    elapsed = (time.perf_counter() - start[0], time.process_time() - start[1])
    return _result(args, elapsed, sum(p.numel() for p in model.parameters()), base_rss, torch)


def _result(args, elapsed: tuple[float, float], params: int, base_rss: float, torch) -> dict:
    images = args.steps * args.batch_size
    out = {"images_per_s": images / elapsed[0], "images_per_cpu_s": images / elapsed[1], "params": params,
           "peak_rss_mb": round(_rss_mb(), 1), "rss_growth_mb": round(_rss_mb() - base_rss, 1)}
    if args.device.startswith("cuda"):
        out["cuda_peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def run_extras(args) -> dict:
    """Sampling (DDIM 50, 64 samples) and the out-of-memory path, on a small fresh run."""
    import torch

    from diffusion_studio.core.errors import InputError
    from diffusion_studio.core.training import TrainConfig, TrainingError, train
    from diffusion_studio.core.training import budget, trainer
    from diffusion_studio.core.training.previews import sample_images

    out: dict = {}
    run = Path(args.workdir) / f"extras_{time.time_ns()}"
    common = dict(folder=args.folder, image_size=args.image_size, channels=args.channels, preset=args.preset,
                  device=args.device, sample_every=10**9, checkpoint_every=10**9, num_sample_images=1,
                  sample_steps=1, hflip=False)
    done = list(train(TrainConfig(out=str(run), steps=20, batch_size=args.batch_size, **common)))[-1]
    out["trained_steps"] = done.step
    holder = {}
    real_init = trainer.Trainer.__init__

    def keep(self, *a, **k):  # to sample from this run's EMA model
        real_init(self, *a, **k)
        holder["trainer"] = self

    trainer.Trainer.__init__ = keep
    try:
        list(train(TrainConfig(out=str(run), resume=True, steps=21)))
    finally:
        trainer.Trainer.__init__ = real_init
    t = holder["trainer"]
    _synchronize(args.device)
    began = time.perf_counter()
    images = sample_images(t.ema.model, t.schedule, prediction="epsilon", num_images=64,
                           image_size=args.image_size, channels=args.channels, device=t.device, num_steps=50)
    _synchronize(args.device)
    seconds = time.perf_counter() - began
    out["ddim50_64_samples_s"] = round(seconds, 3)
    out["ddim50_samples_per_s"] = round(64 / seconds, 1)
    out["samples_finite"] = bool(torch.isfinite(images).all())

    # An absurd batch is refused with the estimate before anything is allocated …
    try:
        list(train(TrainConfig(out=str(run), resume=True, steps=30, batch_size=2**24)))
        out["absurd_batch"] = "accepted (unexpected)"
    except TrainingError as exc:
        out["absurd_batch"] = str(exc)
    # … and a batch that really runs out of GPU memory (estimate bypassed) ends with the message, run intact.
    # Not on the CPU: there the operating system may kill the process instead of failing an allocation.
    if args.device.startswith("cuda"):
        check = budget.check_training_fits
        trainer.check_training_fits = lambda *a, **k: None
        try:
            list(train(TrainConfig(out=str(run), resume=True, steps=30, batch_size=args.oom_batch_size)))
            out["real_out_of_memory"] = f"batch {args.oom_batch_size} fitted (no out-of-memory)"
        except InputError as exc:
            out["real_out_of_memory"] = str(exc)
        finally:
            trainer.check_training_fits = check
    resumed = list(train(TrainConfig(out=str(run), resume=True, steps=25, batch_size=max(1, args.batch_size // 2))))
    out["resume_with_smaller_batch"] = f"{resumed[-1].event} at step {resumed[-1].step}"
    return out


def _child(args, label: str, which: str, precision: str, channels_last, compile_: bool, images: Path, tmp: str,
           image_size: int) -> dict:
    cmd = [sys.executable, __file__, "--which", which, "--folder", str(images), "--workdir", tmp,
           "--device", args.device, "--preset", args.preset, "--image-size", str(image_size),
           "--channels", str(args.channels), "--batch-size", str(args.batch_size), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--threads", str(args.threads), "--precision", precision,
           "--oom-batch-size", str(args.oom_batch_size)]
    if channels_last is not None:
        cmd.append("--channels-last" if channels_last else "--no-channels-last")
    if compile_:
        cmd.append("--compile")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"label": label, "failed": done.stderr.strip().splitlines()[-1:] or ["(no output)"]}
    return {"label": label, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", help="default: cpu-tiny on the CPU, gpu-small on CUDA")
    parser.add_argument("--image-sizes", help="comma-separated; default: 16 on the CPU, 32,64 on CUDA")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (ours logs every gcd(warmup, steps))")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--extras", action=argparse.BooleanOptionalAction, default=None,
                        help="sampling and out-of-memory checks (default: on CUDA only)")
    parser.add_argument("--oom-batch-size", type=int, default=2**16, help="a batch that runs out of GPU memory")
    parser.add_argument("--which", choices=("ours", "diffusers", "extras"), help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--image-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    args.preset = args.preset or ("gpu-small" if gpu else "cpu-tiny")
    args.batch_size = args.batch_size or (128 if gpu else 32)
    if args.which:  # child process: one measurement
        runner = {"ours": run_ours, "diffusers": run_diffusers, "extras": run_extras}[args.which]
        print(json.dumps(runner(args)))
        return

    import diffusers
    import torch

    sizes = [int(s) for s in (args.image_sizes or ("32,64" if gpu else "16")).split(",")]
    matrix = CUDA_MATRIX if gpu else CPU_MATRIX
    key = "images_per_cpu_s" if not gpu and args.threads == 1 else "images_per_s"
    report: dict = {
        "benchmark": "train_images_per_s", "device": args.device,
        "device_name": torch.cuda.get_device_name(0) if gpu and torch.cuda.is_available()
        else platform.processor() or platform.machine(),
        "threads": args.threads, "preset": args.preset, "channels": args.channels, "batch_size": args.batch_size,
        "timed_steps": args.steps, "rounds": args.rounds, "ratio_measure": key, "sizes": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            images = Path(tmp) / f"images_{size}"
            images.mkdir()
            _make_folder(images, 256, size, args.channels)
            rounds: dict[str, list[dict]] = {label: [] for label, *_ in matrix}
            for _ in range(args.rounds):
                for label, which, precision, channels_last, compile_ in matrix:
                    rounds[label].append(_child(args, label, which, precision, channels_last, compile_, images, tmp,
                                                size))
            best = {label: max((r for r in results if "failed" not in r), key=lambda r: r[key], default=results[0])
                    for label, results in rounds.items()}
            speedups = {name: round(best[a][key] / best[b][key], 3) for name, a, b in SWITCHES
                        if a in best and b in best and key in best[a] and key in best[b]}
            report["sizes"][str(size)] = {
                "results": best, "speedups": speedups,
                "all_rounds": {label: [round(r.get(key, float("nan")), 1) for r in results]
                               for label, results in rounds.items()},
            }
            if args.extras or (args.extras is None and gpu):
                extras = _child(args, "extras", "extras", "auto", None, False, images, tmp, size)
                report["sizes"][str(size)]["extras"] = extras
    if not gpu:  # the figure the README's table has shown since the first version
        only = report["sizes"][str(sizes[0])]["results"]
        report["ratio_ours_over_diffusers"] = round(only["ours_defaults"][key] / only["diffusers_fp32"][key], 3)
    report["versions"] = {"torch": torch.__version__, "diffusers": diffusers.__version__,
                          "python": platform.python_version()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
