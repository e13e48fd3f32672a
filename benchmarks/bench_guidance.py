"""What classifier-free guidance costs: a guided sampling step against an unguided one, same model, same run.

A guided step asks the network twice — with the class and with the null label — and our
``core.guidance.GuidedModel`` does it in **one batched forward pass** of 2N rows (as diffusers' pipelines do).
Measured here, per batch size N: a whole chain step (``core.chain.run_chain``: the network, the guidance
arithmetic, the DDIM step and a frame every step) guided at s = 4 against the same chain unguided (s = 1: one
pass of N rows); the same guided chain with the three guidance views the Sample panel records (ε̂(c), ε̂(∅),
what guidance adds, converted to pictures every step); and as a reference in the same run, guidance done
naively with two separate forward passes. Runs alternate; each figure is the median of per-pair ratios.

    python benchmarks/bench_guidance.py [--model demo] [--batches 1,16,64] [--steps 20] [--repeats 5]
        [--threads N]

``--model demo`` uses the bundled demo model when it is class-conditional, else an untrained class-conditional
cpu-tiny U-Net of its size (16 px, 10 classes; weights do not change the speed). Target (issue 15): guided /
unguided ≤ 2.0 (a batched pass of 2N rows costs at most two of N; small batches are mostly per-call overhead).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from diffusion_studio.core.chain import run_chain  # noqa: E402
from diffusion_studio.core.guidance import GuidedModel  # noqa: E402
from diffusion_studio.core.sampling import SamplerSettings, network_for, sampler_for  # noqa: E402

TARGET_RATIO = 2.0


def _model(name: str):
    from diffusion_studio.core.loaded_model import LoadedModel
    from diffusion_studio.core.sampling import load_for_sampling
    from diffusion_studio.core.schedules import make_schedule
    from diffusion_studio.core.unet import UNet, preset_config

    loaded = load_for_sampling(name, "cpu")
    if loaded.class_names:
        return loaded, f"{name} ({loaded.num_parameters / 1e6:.2f} M parameters, {len(loaded.class_names)} classes)"
    model = UNet.from_config(preset_config("cpu-tiny", loaded.image_size, loaded.channels, num_classes=10)).eval()
    stand_in = LoadedModel(model, make_schedule("squaredcos_cap_v2", 1000), "epsilon", loaded.image_size,
                           loaded.channels, None, {}, Path("."), class_names=tuple("0123456789"))
    return stand_in, f"untrained class-conditional cpu-tiny U-Net ({stand_in.num_parameters / 1e6:.2f} M parameters)"


class TwoPasses:
    """Guidance the naive way: the conditional and the unconditional input in two forward passes."""

    def __init__(self, guided: GuidedModel):
        self.guided = guided

    def parameters(self):
        return self.guided.parameters()

    def __call__(self, x, t):
        g = self.guided
        conditional = g.network(x, t, class_labels=g.condition["class_labels"].expand(x.shape[0]))
        unconditional = g.network(x, t, class_labels=g.null_condition["class_labels"].expand(x.shape[0]))
        return unconditional + g.scale * (conditional - unconditional)


def _time_chain(loaded, settings: SamplerSettings, network, views, batch: int) -> float:
    sampler = sampler_for(loaded, settings)
    start = time.perf_counter()
    for _frame in run_chain(network, sampler, num_samples=batch, seed=0, image_size=loaded.image_size,
                            channels=loaded.channels, stride=1, extra_views=views):
        pass
    return (time.perf_counter() - start) / sampler.num_steps


def measure(loaded, batch: int, steps: int, repeats: int) -> dict:
    plain = SamplerSettings(sampler="ddim", steps=steps, batch_size=batch, class_name=loaded.class_names[0])
    guided_settings = plain.with_(guidance_scale=4.0)
    plain_net, _ = network_for(loaded, plain)
    guided_net, guided = network_for(loaded, guided_settings, record=True)
    quiet_net, _quiet = network_for(loaded, guided_settings)  # no views recorded: what the CLI runs
    chains = {
        "unguided": (plain, plain_net, None),
        "guided": (guided_settings, quiet_net, None),
        "guided_with_views": (guided_settings, guided_net, guided.views),
        "two_passes": (guided_settings, TwoPasses(guided), None),
    }
    runs: dict[str, list[float]] = {name: [] for name in chains}
    with torch.inference_mode():
        _time_chain(loaded, guided_settings, guided_net, guided.views, batch)  # warm-up
        for _ in range(repeats):
            for name, (settings, network, views) in chains.items():
                runs[name].append(_time_chain(loaded, settings, network, views, batch))
    row: dict = {"batch": batch}
    for name in chains:
        row[f"{name}_ms_per_step"] = round(1000 * statistics.median(runs[name]), 2)
    for name in ("guided", "guided_with_views", "two_passes"):
        row[f"{name}_over_unguided"] = round(statistics.median(
            a / b for a, b in zip(runs[name], runs["unguided"])), 3)
    row["meets_target"] = row["guided_over_unguided"] <= TARGET_RATIO
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--batches", default="1,16,64")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded, description = _model(args.model)
    rows = [measure(loaded, int(b), args.steps, args.repeats) for b in args.batches.split(",")]
    print(json.dumps({
        "benchmark": "guidance", "model": description, "sampler": f"DDIM {args.steps} steps, s = 4 (w = 3)",
        "by_batch": rows, "target": f"guided / unguided <= {TARGET_RATIO}",
        "meets_target": all(row["meets_target"] for row in rows),
        "device": "cpu", "threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": platform.python_version(), "machine": platform.machine(),
    }, indent=1))


if __name__ == "__main__":
    main()
