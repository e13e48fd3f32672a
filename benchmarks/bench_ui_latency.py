"""Does the app stay smooth while it trains? Event-loop stalls and training throughput.

Two phases in one run, the same training config (the Train panel's "CPU tiny" preset on the
demo digits) for the same duration:

1. headless: ``core.training.train`` in a fresh subprocess, no Qt at all (what the CLI does);
2. in the GUI: the real main window (offscreen), training started from the Train panel (its
   superqt worker), while a timer scrubs the forward explorer's t slider (~30 Hz) and a 5 ms
   QTimer measures how late the event loop serves it. Before training starts, the same
   scrubbing runs for ``--idle-seconds`` with nothing training: the window's own cost, so the
   figures show what training adds.

Throughput in both phases is counted the same way: steps finished between the first and the
last progress event, times the batch size, over that wall time (sample grids included); both
phases log every step (``log_every=1``) so the count is exact to the step.

    python benchmarks/bench_ui_latency.py [--seconds 60] [--idle-seconds 20] [--rounds 3]

``--seconds`` is the total training time of each side, split over ``--rounds`` alternating
headless / GUI rounds (the load of a shared machine drifts; alternating spreads it evenly).

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
BENCH_OVERRIDES = {"log_every": 1}
TICK_MS = 5
SCRUB_MS = 33


def train_config(out: str):
    from diffusion_studio.core.training import TrainConfig
    from diffusion_studio.core.training.config import TRAINING_PRESETS as PRESETS

    # log_every=1: a progress event per step in both phases, so throughput is timed to the step
    return TrainConfig(out=out, demo=True, **{**PRESETS[PRESET], **BENCH_OVERRIDES})


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


def _stats(values, *percentiles) -> dict:
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return {f"p{p}": float("nan") for p in percentiles} | {"max": float("nan")}
    return {f"p{p}": float(np.percentile(values, p)) for p in percentiles} | {"max": float(values.max())}


class _Probe:
    """A 5 ms precise timer (how late is the event loop?) and a ~30 Hz drag of the forward t slider."""

    def __init__(self, slider, scrub_ms: int = SCRUB_MS):
        from PySide6.QtCore import QElapsedTimer, Qt, QTimer

        self.slider = slider
        self.measuring = False
        self.gaps: list[float] = []
        self.scrub_ms: list[float] = []
        self._frame = 0
        self._last: float | None = None
        self._clock = QElapsedTimer()
        self._clock.start()
        self.ticker = QTimer()
        self.ticker.setTimerType(Qt.TimerType.PreciseTimer)
        self.ticker.setInterval(TICK_MS)
        self.ticker.timeout.connect(self._on_tick)
        self.scrubber = QTimer()
        self.scrubber.setInterval(scrub_ms)
        self.scrubber.timeout.connect(self._on_scrub)
        self.ticker.start()
        if scrub_ms > 0:
            self.scrubber.start()

    def _on_tick(self) -> None:
        now = self._clock.nsecsElapsed() / 1e6
        if self.measuring and self._last is not None:
            self.gaps.append(now - self._last)
        self._last = now

    def _on_scrub(self) -> None:
        began = time.perf_counter()
        self._frame += 1
        # setValue on the QSlider is what a drag does: valueChanged → state → render
        self.slider.setValue((self._frame * 7) % (self.slider.maximum() + 1))
        if self.measuring:
            self.scrub_ms.append((time.perf_counter() - began) * 1000)

    def take(self) -> dict:
        """Raw timings since the last take(), then start afresh."""
        result = {"gaps_ms": self.gaps, "scrub_ms": self.scrub_ms}
        self.gaps, self.scrub_ms = [], []
        return result


def summarize_probe(gaps_ms: list[float], scrub_ms: list[float]) -> dict:
    stalls = np.maximum(np.asarray(gaps_ms) - TICK_MS, 0.0)
    return {"ticks": len(gaps_ms), "stall_ms": _stats(stalls, 50, 99), "scrub_frames": len(scrub_ms),
            "scrub_handler_ms": _stats(scrub_ms, 50)}


def run_gui(seconds: float, idle_seconds: float, in_thread: bool = False, scrub_ms: int = SCRUB_MS) -> dict:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["DIFFUSION_STUDIO_HOME"] = tempfile.mkdtemp(prefix="ds-bench-")
    from PySide6.QtCore import QEventLoop, QTimer

    from diffusion_studio.gui.app import build_main_window, create_application
    from diffusion_studio.core.training.config import TRAINING_PRESETS as PRESETS

    app = create_application()  # noqa: F841 (kept alive)
    window = build_main_window()
    window.show()
    panel = window.training_panel
    panel.train_in_subprocess = not in_thread

    def run_loop(ms: int | None = None) -> QEventLoop:
        loop = QEventLoop()
        if ms is not None:
            QTimer.singleShot(ms, loop.quit)
        return loop

    run_loop(1500).exec()  # window painted, demo thumbnails and device list loaded
    panel.dataset_view.use_demo()
    panel.settings_form.apply_preset(PRESET)
    panel.settings_form.set_values(BENCH_OVERRIDES)
    probe = _Probe(window.forward_panel.timestep_slider.slider, scrub_ms)

    # baseline: the same scrubbing with nothing training
    probe.measuring = True
    run_loop(int(idle_seconds * 1000)).exec()
    probe.measuring = False
    idle = probe.take()

    marks: list[tuple[float, int]] = []
    end = [None]

    def on_update(update) -> None:
        now = time.perf_counter()
        if update.event not in ("step", "sample"):
            return
        if end[0] is None:  # measure from the first step: model build and data loading excluded
            end[0] = now + seconds
            probe.measuring = True
        marks.append((now, update.step))
        if now >= end[0] and probe.measuring:
            probe.measuring = False
            panel.stop()

    panel.progressed.connect(on_update)
    loop = run_loop()  # the app's own event loop, as under app.exec()
    panel.trainingStateChanged.connect(lambda state: loop.quit() if state == "idle" else None)
    QTimer.singleShot(int((seconds + 180) * 1000), panel.stop)  # a hung run must not hang the benchmark
    assert panel.start(), panel.message_strip.text()
    loop.exec()
    training = {**throughput(marks, PRESETS[PRESET]["batch_size"]), **probe.take()}
    error = panel.message_strip.text()
    if error:
        training["error"] = error
    window.close()
    return {"training": training, "idle_baseline": idle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training time measured in each phase")
    parser.add_argument("--idle-seconds", type=float, default=20.0,
                        help="scrubbing with nothing training first: the window's own cost")
    parser.add_argument("--rounds", type=int, default=3, help="alternating headless / GUI rounds")
    parser.add_argument("--scrub-ms", type=int, default=SCRUB_MS, help="slider drag interval; 0: no scrubbing")
    parser.add_argument("--in-thread", action="store_true",
                        help="train in a thread of the GUI process instead of the child process (to compare)")
    parser.add_argument("--phase", choices=("all", "headless", "gui"), default="all", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "headless":
        print(json.dumps(run_headless(args.seconds)))
        return
    if args.phase == "gui":
        print(json.dumps(run_gui(args.seconds, args.idle_seconds, args.in_thread, args.scrub_ms)))
        return

    import PySide6
    import pyqtgraph
    import torch

    def phase(name: str, seconds: float, idle_seconds: float = 0.0) -> dict:
        # each phase in a fresh process: same imports, same torch state, nothing shared
        extra = (["--in-thread"] if args.in_thread else []) + ["--scrub-ms", str(args.scrub_ms)]
        out = subprocess.run([sys.executable, __file__, "--phase", name, "--seconds", str(seconds),
                              "--idle-seconds", str(idle_seconds), *extra], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"the {name} phase failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    # Alternate short headless and GUI rounds: on a shared machine the load drifts, and
    # alternating spreads the drift over both sides instead of favouring one.
    load_before = os.getloadavg()
    per_round = args.seconds / args.rounds
    totals = {"headless": [0, 0.0], "gui": [0, 0.0]}  # images, seconds
    probes = {"training": ([], []), "idle": ([], [])}
    errors = []
    threads = None
    for _round in range(args.rounds):
        headless_round = phase("headless", per_round)
        gui_round = phase("gui", per_round, args.idle_seconds / args.rounds)
        threads = headless_round.get("torch_threads")
        for name, result in (("headless", headless_round), ("gui", gui_round["training"])):
            if result["steps"]:
                totals[name][0] += result["images_per_s"] * result["seconds"]
                totals[name][1] += result["seconds"]
        for key, raw in (("training", gui_round["training"]), ("idle", gui_round["idle_baseline"])):
            probes[key][0].extend(raw["gaps_ms"])
            probes[key][1].extend(raw["scrub_ms"])
        if gui_round["training"].get("error"):
            errors.append(gui_round["training"]["error"])

    def speed(name: str) -> dict:
        images, seconds = totals[name]
        return {"images_per_s": images / seconds if seconds else float("nan"), "seconds": seconds}

    gui = {**speed("gui"), **summarize_probe(*probes["training"])}
    if errors:
        gui["errors"] = errors
    headless = {**speed("headless"), "torch_threads": threads}
    ratio = gui["images_per_s"] / headless["images_per_s"] if headless["images_per_s"] else float("nan")
    stall = gui["stall_ms"]
    print(json.dumps({
        "benchmark": "ui_latency",
        "preset": PRESET,
        "seconds": args.seconds,
        "gui": gui,
        "gui_idle_baseline": summarize_probe(*probes["idle"]),
        "rounds": args.rounds,
        "scrub_interval_ms": args.scrub_ms,
        "gui_training_runs_in": "a thread of the GUI process" if args.in_thread else "a child process",
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
