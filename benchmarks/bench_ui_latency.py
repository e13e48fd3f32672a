"""Does the app stay smooth while it trains? Event-loop stalls and training throughput.

Two phases in one run, the same training config (the Train panel's "CPU tiny" preset on the
demo digits) for the same duration:

1. headless: ``core.training.train`` in a fresh subprocess, no Qt at all (what the CLI does);
2. in the GUI: the real main window (offscreen), training started from the Train panel (its
   superqt worker), while a timer scrubs the forward explorer's t slider (~30 Hz) and a 5 ms
   QTimer measures how late the event loop serves it.

Throughput in both phases is counted the same way: steps finished between the first and the
last progress event, times the batch size, over that wall time (sample grids included).

    python benchmarks/bench_ui_latency.py [--seconds 60]

Targets (issue 5, 2-core machine): p99 stall ≤ 50 ms, max ≤ 150 ms, GUI throughput ≥ 80 % of headless.
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

import numpy as np

PRESET = "CPU tiny"
TICK_MS = 5
SCRUB_MS = 33


def train_config(out: str):
    from diffusion_studio.core.train_config import TrainConfig
    from diffusion_studio.gui.panels.training.settings_form import PRESETS

    return TrainConfig(out=out, demo=True, **PRESETS[PRESET])


def throughput(marks: list[tuple[float, int]], batch_size: int) -> dict:
    """(time, step) marks → images/s between the first and last mark."""
    if len(marks) < 2 or marks[-1][1] <= marks[0][1]:
        return {"images_per_s": float("nan"), "steps": 0, "seconds": 0.0}
    (t0, s0), (t1, s1) = marks[0], marks[-1]
    return {"images_per_s": (s1 - s0) * batch_size / (t1 - t0), "steps": s1 - s0, "seconds": t1 - t0}


def run_headless(seconds: float) -> dict:
    from diffusion_studio.core.training import train

    with tempfile.TemporaryDirectory() as home:
        config = train_config(os.path.join(home, "run"))
        import torch

        marks: list[tuple[float, int]] = []
        deadline = None
        threads = None

        def should_stop() -> bool:
            return deadline is not None and time.perf_counter() >= deadline

        for progress in train(config, should_stop=should_stop):
            if progress.event in ("step", "sample"):
                now = time.perf_counter()
                if deadline is None:
                    deadline = now + seconds  # the clock starts at the first step, as in the GUI phase
                    threads = torch.get_num_threads()
                marks.append((now, progress.step))
        return {**throughput(marks, config.batch_size), "torch_threads": threads}


def run_gui(seconds: float) -> dict:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    home = tempfile.mkdtemp(prefix="ds-bench-")
    os.environ["DIFFUSION_STUDIO_HOME"] = home
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer

    from diffusion_studio.gui.app import build_main_window, create_application
    from diffusion_studio.gui.panels.training.settings_form import PRESETS

    app = create_application()
    window = build_main_window()
    window.show()
    panel = window.training_panel
    slider = window.forward_panel.timestep_slider
    marks: list[tuple[float, int]] = []
    gaps: list[float] = []
    scrubs = [0]
    phase = {"measuring": False, "end": None}

    def settle(ms: int) -> None:
        end = time.perf_counter() + ms / 1000
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)

    settle(1500)  # window painted, demo thumbnails and device list loaded
    panel.dataset_view.use_demo()
    panel.settings_form.apply_preset(PRESET)

    clock = QElapsedTimer()
    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.setInterval(TICK_MS)
    last = [None]

    def on_tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        if phase["measuring"] and last[0] is not None:
            gaps.append(now - last[0])
        last[0] = now

    ticker.timeout.connect(on_tick)
    scrubber = QTimer()
    scrubber.setInterval(SCRUB_MS)

    def on_scrub() -> None:
        scrubs[0] += 1
        slider.set_value((scrubs[0] * 7) % (slider.maximum() + 1))  # a drag back and forth over t

    scrubber.timeout.connect(on_scrub)

    def on_update(update) -> None:
        now = time.perf_counter()
        if update.event not in ("step", "sample"):
            return
        if not phase["measuring"]:
            phase["measuring"], phase["end"] = True, now + seconds
            scrubs[0] = 0
        marks.append((now, update.step))
        if now >= phase["end"]:
            phase["measuring"] = False
            panel.stop()

    clock.start()
    ticker.start()
    scrubber.start()
    panel.progressed.connect(on_update)
    assert panel.start(), panel.message_strip.text()
    while panel.is_training():
        app.processEvents()
        time.sleep(0.0005)
        if phase["end"] is not None and time.perf_counter() > phase["end"] + 60:
            panel.stop()  # a hung run must not hang the benchmark
    ticker.stop()
    scrubber.stop()
    error = panel.message_strip.text()
    window.close()
    gaps_ms = np.asarray(gaps)
    stalls = np.maximum(gaps_ms - TICK_MS, 0.0)
    result = {
        **throughput(marks, PRESETS[PRESET]["batch_size"]),
        "ticks": int(len(gaps_ms)),
        "scrub_frames": scrubs[0],
        "stall_ms": {
            "p50": float(np.percentile(stalls, 50)) if len(stalls) else float("nan"),
            "p99": float(np.percentile(stalls, 99)) if len(stalls) else float("nan"),
            "max": float(stalls.max()) if len(stalls) else float("nan"),
        },
        "timer_interval_ms": {
            "p50": float(np.percentile(gaps_ms, 50)) if len(gaps_ms) else float("nan"),
            "p99": float(np.percentile(gaps_ms, 99)) if len(gaps_ms) else float("nan"),
        },
    }
    if error:
        result["error"] = error
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--phase", choices=("all", "headless", "gui"), default="all", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "headless":
        print(json.dumps(run_headless(args.seconds)))
        return
    if args.phase == "gui":
        print(json.dumps(run_gui(args.seconds)))
        return

    import PySide6
    import pyqtgraph
    import torch

    load_before = os.getloadavg()
    phases = {}
    for phase in ("headless", "gui"):  # each in a fresh process: same imports, same torch state
        out = subprocess.run([sys.executable, __file__, "--phase", phase, "--seconds", str(args.seconds)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"the {phase} phase failed:\n{out.stderr[-3000:]}")
        phases[phase] = json.loads(out.stdout.strip().splitlines()[-1])
    gui, headless = phases["gui"], phases["headless"]
    ratio = gui["images_per_s"] / headless["images_per_s"] if headless["images_per_s"] else float("nan")
    stall = gui["stall_ms"]
    print(json.dumps({
        "benchmark": "ui_latency",
        "preset": PRESET,
        "seconds": args.seconds,
        "gui": gui,
        "headless": headless,
        "throughput_ratio_gui_vs_headless": ratio,
        "targets": {"stall_p99_ms": 50, "stall_max_ms": 150, "throughput_ratio": 0.8},
        "meets_targets": {"stall_p99": stall["p99"] <= 50, "stall_max": stall["max"] <= 150,
                          "throughput": ratio >= 0.8},
        "device": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                   "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "PySide6": PySide6.__version__, "pyqtgraph": pyqtgraph.__version__},
    }, indent=1))


if __name__ == "__main__":
    main()
