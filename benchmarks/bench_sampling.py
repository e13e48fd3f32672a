"""Sampling: our sampler loop + frame capture vs diffusers' scheduler loop, same model, same run.

Ours is ``core.chain.run_chain`` (model call, our sampler's step, and a uint8 frame of
x_t, x̂0 and ε̂ copied to the CPU every ``--stride`` steps — stride 1 is the worst case).
The reference is the plain diffusers loop with the matching scheduler
(``DDIMScheduler`` / ``DDPMScheduler`` / ``DPMSolverMultistepScheduler``) configured from
the same betas: ``out = model(x, t); x = scheduler.step(out, t, x).prev_sample``. Runs
alternate (ours, reference, ours, …); the reported ratio is the median of the per-pair
ratios. ``loop_only_ms_per_step`` times both loops again with a model that returns a fixed
tensor: what is left is the sampler step, the frame capture and the loop itself.

    python benchmarks/bench_sampling.py [--device auto] [--model demo|cpu-tiny|gpu-small|ddpm-cifar]
        [--sampler ddim] [--steps 50] [--num 16] [--stride 1] [--repeats 5]

``--model trivial`` (ε̂ = 0.9·x, 64 px RGB) isolates the loop's own cost. ``--model demo`` loads the bundled demo model when it is installed (else an untrained
cpu-tiny U-Net of the demo's size, 16 px grayscale); presets build an untrained U-Net
(weights do not change the speed). ``ddpm-cifar`` is Ho et al.'s 35.7 M model at 32 px RGB.
Target (issue 6): ours / reference ≤ 1.1.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from diffusion_studio.core.chain import run_chain  # noqa: E402
from diffusion_studio.core.samplers import make_sampler  # noqa: E402
from diffusion_studio.core.schedules import make_schedule  # noqa: E402

TARGET_RATIO = 1.1
MODEL_SIZES = {"demo": (16, 1), "cpu-tiny": (16, 1), "gpu-small": (32, 3), "ddpm-cifar": (32, 3), "trivial": (64, 3)}


class TrivialModel(torch.nn.Module):
    """ε̂ = 0.9·x: almost free, so the timing is the loop itself (sampler step + frame capture)."""

    def forward(self, x, t):
        return 0.9 * x


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def build_model(name: str, device: torch.device):
    """(model, schedule, prediction, image_size, channels, description)."""
    from diffusion_studio.core.unet import UNet, count_parameters, preset_config

    if name == "trivial":
        size, channels = MODEL_SIZES[name]
        return TrivialModel(), make_schedule("linear", 1000), "epsilon", size, channels, "trivial model 0.9·x"
    if name == "demo":
        from diffusion_studio.core.checkpoint import DEMO_MODEL_DIR, load_model

        from diffusion_studio.core.errors import InputError

        try:
            loaded = load_model(DEMO_MODEL_DIR, device=device)
        except InputError:  # not installed (or still being trained): same size, untrained
            name_for_preset = "cpu-tiny"
        else:
            params = count_parameters(loaded.model)
            return (loaded.model, loaded.schedule, loaded.prediction, loaded.image_size, loaded.channels,
                    f"bundled demo model ({params / 1e6:.2f} M parameters)")
    else:
        name_for_preset = name
    size, channels = MODEL_SIZES[name]
    model = UNet.from_config(preset_config(name_for_preset, size, channels)).to(device).eval()
    params = count_parameters(model)
    return (model, make_schedule("linear", 1000), "epsilon", size, channels,
            f"untrained {name_for_preset} U-Net ({params / 1e6:.2f} M parameters)")


def diffusers_scheduler(sampler_name: str, schedule, prediction: str, steps: int, eta: float):
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    common = dict(num_train_timesteps=schedule.num_timesteps, trained_betas=schedule.betas.tolist(),
                  prediction_type=prediction)
    if sampler_name == "ddim":
        scheduler, step_kw = DDIMScheduler(**common), {"eta": eta}
    elif sampler_name == "ddpm":
        scheduler, step_kw = DDPMScheduler(**common), {}
    else:
        scheduler, step_kw = DPMSolverMultistepScheduler(**common), {}
    scheduler.set_timesteps(steps)
    return scheduler, step_kw


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ours(model, sampler, args, size, channels, device) -> float:
    start = time.perf_counter()
    frames = 0
    for _ in run_chain(model, sampler, num_samples=args.num, seed=0, image_size=size, channels=channels,
                       device=device, stride=args.stride):
        frames += 1
    _sync(device)
    return time.perf_counter() - start


def time_reference(model, scheduler, step_kw, args, size, channels, device) -> float:
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        x = torch.randn((args.num, channels, size, size), generator=generator).to(device)
        scheduler.set_timesteps(len(scheduler.timesteps), device=device)  # fresh multistep state
        for t in scheduler.timesteps:
            t_batch = torch.full((args.num,), int(t), dtype=torch.long, device=device)
            out = model(x, t_batch)
            x = scheduler.step(out, t, x, generator=generator, **step_kw).prev_sample
        x.cpu()  # the result reaches the host, as our final frame does
    _sync(device)
    return time.perf_counter() - start


class ReplayModel(torch.nn.Module):
    """Returns the same output for any input: timing it leaves only the loop's own cost."""

    def __init__(self, output: torch.Tensor):
        super().__init__()
        self.output = output

    def forward(self, x, t):
        return self.output


def _alternate(model, sampler, scheduler, step_kw, args, size, channels, device, repeats):
    """Warm up both, then time ours and the reference alternately ``repeats`` times each."""
    time_ours(model, sampler, args, size, channels, device)
    time_reference(model, scheduler, step_kw, args, size, channels, device)
    ours, reference = [], []
    for _ in range(repeats):
        ours.append(time_ours(model, sampler, args, size, channels, device))
        reference.append(time_reference(model, scheduler, step_kw, args, size, channels, device))
    return ours, reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="demo", choices=tuple(MODEL_SIZES))
    parser.add_argument("--sampler", default="ddim", choices=("ddim", "ddpm", "dpm_solver"))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--num", type=int, default=16, help="samples per chain")
    parser.add_argument("--stride", type=int, default=1, help="frame every N steps (1: every step)")
    parser.add_argument("--eta", type=float, default=0.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    args = parser.parse_args()

    from diffusion_studio.core.device import pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model, schedule, prediction, size, channels, description = build_model(args.model, device)
    options = {"ddim": dict(eta=args.eta), "ddpm": {}, "dpm_solver": {}}[args.sampler]
    sampler = make_sampler(args.sampler, schedule, num_steps=args.steps, prediction=prediction, clip_sample=True
                           if args.sampler != "dpm_solver" else False, **options)
    scheduler, step_kw = diffusers_scheduler(args.sampler, schedule, prediction, args.steps, args.eta)
    assert sampler.timesteps.tolist() == scheduler.timesteps.tolist()

    ours, reference = _alternate(model, sampler, scheduler, step_kw, args, size, channels, device, args.repeats)
    ours_s, ref_s = statistics.median(ours), statistics.median(reference)
    paired = statistics.median(o / r for o, r in zip(ours, reference))

    # The loop alone: a "model" that hands back a fixed output, so only the sampler step,
    # the frame capture and the loop remain (diffusers: only its step and the loop).
    fixed = ReplayModel(torch.randn((args.num, channels, size, size), generator=torch.Generator().manual_seed(1))
                        .to(device))
    loop_ours, loop_ref = _alternate(fixed, sampler, scheduler, step_kw, args, size, channels, device,
                                     max(args.repeats, 5))
    frames = -(-args.steps // args.stride) + 1
    result = {
        "benchmark": "sampling",
        "model": description,
        "image": f"{size}x{size}x{channels}",
        "sampler": sampler.describe(),
        "num_samples": args.num,
        "steps": args.steps,
        "frame_stride": args.stride,
        "frames_captured": frames,
        "ours_s_per_chain": round(ours_s, 4),
        "diffusers_s_per_chain": round(ref_s, 4),
        "ratio_ours_over_diffusers": round(paired, 3),  # median of the per-pair ratios (runs alternate)
        "ratio_of_medians": round(ours_s / ref_s, 3),
        "ratio_of_fastest_runs": round(min(ours) / min(reference), 3),
        "loop_only_ms_per_step": {
            "ours_step_and_frame_capture": round(min(loop_ours) / args.steps * 1e3, 4),
            "diffusers_step": round(min(loop_ref) / args.steps * 1e3, 4),
        },
        "target_ratio": TARGET_RATIO,
        "meets_target": paired <= TARGET_RATIO,
        "ours_overhead_ms_per_step": round((ours_s - ref_s) / args.steps * 1e3, 3),
        "ours_samples_per_s": round(args.num / ours_s, 2),
        "diffusers_samples_per_s": round(args.num / ref_s, 2),
        "repeats": args.repeats,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "diffusers": _version("diffusers"), "numpy": _version("numpy")},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
