"""Time from Start to the first EMA sample grid on this CPU, and the share of training time grids take.

    python benchmarks/bench_first_preview.py [--seconds 150] [--only demo photos]

Each run starts the way the app's Start button does: a fresh Python process (it imports torch, reads
the data, builds the model) that runs the training engine with the Settings tab's default preset on a
CPU. The clock starts when that process is launched. It trains for ``--seconds`` of wall time, or
until its first grid if that comes later (at most ``--max-seconds``), and reports:

- ``first_preview_s``: launch → the first grid drawn (what a person waits for after clicking Start);
- ``previews``: how many grids, at which step and second;
- ``preview_share``: the seconds spent drawing grids over the seconds of the training loop.

Two data sets: the built-in digits (16 px) and a folder of 50 photos at 32 px (crops of the two
bundled photos, written to a temporary folder). Two settings, in the same run: ``now`` — the preset
(``TRAINING_PRESETS["CPU tiny"]``) with its early grids by the clock (``first_samples_after``);
``before`` — the preset as it was before issue 12, grids only every ``sample_every`` = 250 steps.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The Settings tab's "CPU tiny" before issue 12, and grids only by steps (the engine had no clock rule).
BEFORE = dict(preset="cpu-tiny", device="cpu", image_size=16, batch_size=64, steps=3000, lr=2e-4, warmup_steps=100,
              schedule="cosine", timesteps=1000, ema_decay=0.995, sample_every=250, checkpoint_every=500,
              num_sample_images=16, sample_steps=25, precision="auto", first_samples_after=0)


def settings(name: str, data: str) -> dict:
    from diffusion_studio.core.training.config import TRAINING_PRESETS

    values = dict(TRAINING_PRESETS["CPU tiny"]) if name == "now" else dict(BEFORE)
    if data == "photos":
        values["image_size"] = 32
    return values


def make_photos(folder: Path, count: int = 50) -> Path:
    """``count`` JPEG crops (128 px, different places and scales) of the bundled photos."""
    from PIL import Image

    from diffusion_studio.core.paths import resource_path

    folder.mkdir(parents=True, exist_ok=True)
    photos = [Image.open(resource_path("demo", name)).convert("RGB") for name in ("astronaut.jpg", "chelsea.jpg")]
    for index in range(count):
        photo = photos[index % len(photos)]
        side = int(min(photo.size) * (0.35 + 0.6 * ((index * 37) % 100) / 100))
        left = (index * 53) % (photo.width - side + 1)
        top = (index * 29) % (photo.height - side + 1)
        photo.crop((left, top, left + side, top + side)).resize((128, 128)).save(folder / f"photo_{index:02d}.jpg")
    return folder


# -- the child: one training run, timed ---------------------------------------------------------------------

def child(args) -> None:
    launched = float(args.launched)
    from diffusion_studio.core.training import TrainConfig, train
    from diffusion_studio.core.training.trainer import Trainer

    spent = []  # seconds of each grid
    draw = Trainer.sample_grid

    def timed_sample_grid(self):
        began = time.perf_counter()
        grid = draw(self)
        spent.append(time.perf_counter() - began)
        return grid

    Trainer.sample_grid = timed_sample_grid
    values = json.loads(args.values)
    data = {"demo": True} if args.folder is None else {"folder": args.folder}
    config = TrainConfig(**values, **data, out=args.out)
    previews, loop_started, step = [], None, 0

    def should_stop() -> bool:
        now = time.time() - launched
        return now > args.max_seconds or (now > args.seconds and bool(previews))

    for progress in train(config, should_stop=should_stop):
        now = time.time() - launched
        loop_started = now if loop_started is None else loop_started
        step = progress.step
        if progress.event == "sample":
            previews.append({"step": progress.step, "at_s": round(now, 1)})
    ended = time.time() - launched
    loop_s = ended - loop_started
    print(json.dumps({
        "first_preview_s": previews[0]["at_s"] if previews else None,
        "loop_started_s": round(loop_started, 1), "steps": step, "loop_s": round(loop_s, 1),
        "previews": previews, "preview_s": round(sum(spent), 2),
        "preview_share": round(sum(spent) / loop_s, 4),
    }))


def run(name: str, data: str, folder: Path | None, args, tmp: Path) -> dict:
    values = settings(name, data)
    command = [sys.executable, __file__, "--child", "--launched", repr(time.time()), "--values", json.dumps(values),
               "--out", str(tmp / f"{data}-{name}"), "--seconds", str(args.seconds),
               "--max-seconds", str(args.max_seconds)]
    if folder is not None:
        command += ["--folder", str(folder)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    keep = ("image_size", "batch_size", "sample_every", "first_samples_after", "num_sample_images", "sample_steps")
    from diffusion_studio.core.training import TrainConfig

    defaults = {key: TrainConfig.model_fields[key].default for key in keep}
    return {"settings": {key: values.get(key, defaults[key]) for key in keep}, **measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150.0, help="wall time of each run (longer if no grid yet)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop a run without a grid after this long")
    parser.add_argument("--only", nargs="+", choices=("demo", "photos"), default=("demo", "photos"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--launched", help=argparse.SUPPRESS)
    parser.add_argument("--values", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import torch

    result = {"seconds": args.seconds, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="ds-first-preview-") as name:
        tmp = Path(name)
        for data in args.only:
            folder = make_photos(tmp / "photos") if data == "photos" else None
            result["runs"][data] = {setting: run(setting, data, folder, args, tmp) for setting in ("now", "before")}
    for data, runs in result["runs"].items():
        now, before = runs["now"]["first_preview_s"], runs["before"]["first_preview_s"]
        if now and before:
            result["runs"][data]["first_preview_before_over_now"] = round(before / now, 1)
    result["environment"] = {"python": platform.python_version(), "torch": torch.__version__,
                             "cpu_cores": os.cpu_count(), "machine": platform.machine(),
                             "load_average": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
