"""How good are the demo digits after two minutes of training on this CPU, with the app's defaults?

    python benchmarks/bench_demo_quality.py [--seconds 120] [--samples 64] [--only now]
    python benchmarks/bench_demo_quality.py --variant 'fast={"batch_size": 16, "lr": 0.002}'

Each variant trains the built-in digits headless until the process has used ``--seconds`` of CPU time
(the same engine the app runs in its child process, on all cores but one — one thread on two cores —
so that is two minutes of training on an idle machine; wall time on a shared one would measure the
neighbours), ``--rounds`` times alternating with the other variants, then draws ``--samples``
images from the run's EMA weights with the preview's own sampler (deterministic DDIM, the run's
``sample_steps``, seed 0) and scores them with :class:`~diffusion_studio.core.digits_judge.DigitsJudge`,
an independent classifier fitted on the digits (98 % right on held-out digits):

- ``mean_confidence``: the judge's mean top-class probability (fidelity: does it look like *a* digit);
- ``confident_share``: the share of samples it reads with ≥ 0.9 probability;
- ``digits_seen``: how many of the ten digits it reads at least once (diversity);
- ``nearest_digit_rms``: the RMS pixel difference (0…1) to the nearest of the 1797 digits (speckles and
  blur count here even where the judge is still sure of the digit).

Variants, in the same run: ``now`` — the Settings tab's default on a CPU (``TRAINING_PRESETS["CPU tiny"]``);
``before`` — the same preset as it was before issue 12 (batch 64, lr 2e-4, no cosine decay).
References for the scale: 64 real held-out digits and 64 images of pure noise, scored by the same judge.
A class-conditional run (the demo digits train one by default) is asked for each digit in turn without
guidance, as its preview grid is, and also scored by ``asked_digit_read``: the share the judge reads as the
digit asked for. ``--variant 'flat={"conditioning": "none"}'`` adds the same preset trained without classes.
Prints one JSON object.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffusion_studio.core.training.config import TRAINING_PRESETS  # noqa: E402

#: The "CPU tiny" preset of the Settings tab before issue 12 (a first grid after ~250 steps).
BEFORE = dict(preset="cpu-tiny", device="cpu", image_size=16, batch_size=64, steps=3000, lr=2e-4, warmup_steps=100,
              schedule="cosine", timesteps=1000, ema_decay=0.995, sample_every=250, checkpoint_every=500,
              num_sample_images=16, sample_steps=25, precision="auto", lr_schedule="constant")


def variants(args) -> dict[str, dict]:
    found = {"now": dict(TRAINING_PRESETS["CPU tiny"]), "before": dict(BEFORE)}
    for text in args.variant:
        name, _, values = text.partition("=")
        found[name] = {**TRAINING_PRESETS["CPU tiny"], **json.loads(values)}
    if args.only:
        found = {name: values for name, values in found.items() if name in args.only}
    return found


def train_for(values: dict, seconds: float, out: Path) -> dict:
    """Train until this process has used ``seconds`` of CPU time (on one thread: of one core)."""
    from diffusion_studio.core.training import TrainConfig, train

    config = TrainConfig(**{**values, "out": str(out), "demo": True})
    began, began_cpu = time.perf_counter(), time.process_time()
    last = None
    for progress in train(config, should_stop=lambda: time.process_time() - began_cpu > seconds):
        last = progress
    return {"steps": last.step, "images": last.step * config.batch_size,
            "cpu_s": round(time.process_time() - began_cpu, 1), "wall_s": round(time.perf_counter() - began, 1)}


def score_run(run: Path, num_samples: int, judge, save: Path | None = None) -> dict:
    import torch

    from diffusion_studio.core.sampling import load_for_sampling
    from diffusion_studio.core.training.previews import sample_images

    loaded = load_for_sampling(run, "cpu")
    steps = int(loaded.config.get("train", {}).get("sample_steps", 25))
    # A class run is asked for each class in turn without guidance, as its preview grid is (s = 1)
    labels = np.arange(num_samples) % len(loaded.class_names) if loaded.class_names else None
    images = sample_images(loaded.model, loaded.schedule, prediction=loaded.prediction, num_images=num_samples,
                           image_size=loaded.image_size, channels=loaded.channels, device=torch.device("cpu"),
                           seed=0, num_steps=steps, class_labels=labels)
    if save is not None:
        from diffusion_studio.core.training.previews import preview_grid, save_preview

        save.parent.mkdir(parents=True, exist_ok=True)
        save_preview(preview_grid(images[:20], columns=10 if labels is not None else None), save, scale=4)
    score = {"sample_steps": steps, **summarize(judge, images.numpy(), digits_split()[0])}
    if labels is not None:  # the classes are the digits 0–9 in order: did it draw the digit asked for?
        read = judge.probabilities(images.numpy()).argmax(axis=1)
        asked = np.array([int(loaded.class_names[k]) for k in labels])
        score["asked_digit_read"] = round(float(np.mean(read == asked)), 3)
    return score


def summarize(judge, images: np.ndarray, pool: np.ndarray) -> dict:
    """The judge's figures, and the RMS pixel distance (0…1) from each image to its nearest digit in ``pool``."""
    probabilities = judge.probabilities(images)
    top = probabilities.max(axis=1)
    return {"mean_confidence": round(float(top.mean()), 3), "confident_share": round(float(np.mean(top >= 0.9)), 3),
            "digits_seen": int(len(set(probabilities.argmax(axis=1).tolist()))),
            "nearest_digit_rms": round(nearest_rms(images, pool), 3)}


def as_unit_pixels(images: np.ndarray) -> np.ndarray:
    """(N, 256) floats in [0, 1] from uint8 (N, 16, 16) or floats (N, 1, 16, 16) in [−1, 1]."""
    images = np.asarray(images)
    flat = images.reshape(len(images), -1).astype(np.float64)
    return flat / 255.0 if images.dtype == np.uint8 else (np.clip(flat, -1, 1) + 1) / 2


def nearest_rms(images: np.ndarray, pool: np.ndarray) -> float:
    """Mean over ``images`` of the RMS difference to the nearest image of ``pool`` (lower: closer to real digits)."""
    a, b = as_unit_pixels(images), as_unit_pixels(pool)
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
    return float(np.sqrt(np.maximum(squared.min(axis=1), 0) / a.shape[1]).mean())


def digits_split() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as uint8 (N, 16, 16), and the fixed shuffle whose last 20 % is held out (the judge's split)."""
    from diffusion_studio.core.data.decode import demo_dataset_tensor

    digits = demo_dataset_tensor(16).numpy()[:, 0]
    order = np.random.default_rng(0).permutation(len(digits))
    return digits, order


def references(judge, num_samples: int) -> dict:
    digits, order = digits_split()
    split = int(0.8 * len(digits))
    held_out, rest = digits[order[split:][:num_samples]], digits[order[:split]]
    noise = np.random.default_rng(1).uniform(-1, 1, (num_samples, 1, 16, 16))
    return {"real_digits": summarize(judge, held_out, rest), "noise": summarize(judge, noise, digits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="CPU seconds of training of each variant")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each variant, alternating")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="variants to run (default: all)")
    parser.add_argument("--variant", action="append", default=[], metavar='NAME={"field": value}',
                        help="another variant: the CPU tiny preset with these changes")
    parser.add_argument("--save", type=Path, metavar="DIR", help="also write each variant's first 16 samples as DIR/NAME.png")
    args = parser.parse_args()

    import torch

    from diffusion_studio.core.digits_judge import DigitsJudge

    judge = DigitsJudge.fitted()
    result = {"seconds": args.seconds, "samples": args.samples, "variants": {},
              "references": references(judge, args.samples)}
    with tempfile.TemporaryDirectory(prefix="ds-demo-quality-") as tmp:
        for round_index in range(args.rounds):  # alternating, so a busy minute on a shared machine hits both
            for name, values in variants(args).items():
                run = Path(tmp) / f"{name}-{round_index}"
                training = train_for(values, args.seconds, run)
                save = args.save / f"{name}.png" if args.save and round_index == 0 else None
                entry = result["variants"].setdefault(name, {"settings": values, "rounds": []})
                entry["rounds"].append({"training": training, "score": score_run(run, args.samples, judge, save)})
    for entry in result["variants"].values():
        entry["mean_confidence"] = round(float(np.mean([r["score"]["mean_confidence"] for r in entry["rounds"]])), 3)
        entry["confident_share"] = round(float(np.mean([r["score"]["confident_share"] for r in entry["rounds"]])), 3)
        if "asked_digit_read" in entry["rounds"][0]["score"]:
            entry["asked_digit_read"] = round(float(np.mean([r["score"]["asked_digit_read"]
                                                             for r in entry["rounds"]])), 3)
    scores = {name: v["mean_confidence"] for name, v in result["variants"].items()}
    if "now" in scores and "before" in scores:
        result["confidence_now_over_before"] = round(scores["now"] / scores["before"], 2)
    result["environment"] = {"python": platform.python_version(), "torch": torch.__version__,
                             "cpu_threads": torch.get_num_threads(), "machine": platform.machine(),
                             "load_average": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
