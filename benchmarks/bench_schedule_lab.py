"""Schedule lab: building schedules and redrawing the plots after a live edit, vs references.

1. ``make_schedule(name, T)`` for the schedules diffusers shares, against constructing
   diffusers' ``DDPMScheduler(num_train_timesteps=T, beta_schedule=name)`` in the same run
   (diffusers builds the cosine schedule with a Python loop; ours is vectorised).
2. One live edit in the GUI (offscreen): a slider step on an overlay's β end → new schedule →
   ``setData`` on the five curves → a full repaint of the plots, with three schedules shown.
   The reference, in the same run, is the naive way: clear every plot and re-create its curves
   on each edit (``plot.clear(); plot.plot(...)``), then the same repaint.

    python benchmarks/bench_schedule_lab.py [--timesteps 1000 10000] [--edits 40]

Prints one JSON object. Wall-clock figures on a shared CPU are noisy: compare the ratios.
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

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diffusion_studio.core.schedules import make_schedule  # noqa: E402

SHARED = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")


def median_ms(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples) * 1000, 4)


def bench_core(timesteps: list[int]) -> list[dict]:
    try:
        from diffusers import DDPMScheduler
    except ImportError:  # diffusers is a test extra
        DDPMScheduler = None
    rows = []
    for T in timesteps:
        for name in SHARED:
            ours = median_ms(lambda: make_schedule(name, T), 30)
            row = {"schedule": name, "T": T, "make_schedule_ms": ours}
            if DDPMScheduler is not None:
                theirs = median_ms(lambda: DDPMScheduler(num_train_timesteps=T, beta_schedule=name), 10)
                row.update(diffusers_ddpm_scheduler_ms=theirs, ratio=round(theirs / ours, 2))
            rows.append(row)
    return rows


def bench_gui(timesteps: list[int], edits: int) -> list[dict]:
    from diffusion_studio.gui.app import create_application

    app = create_application()
    from diffusion_studio.gui.panels.schedules.plots import QUANTITIES, curve_data
    from diffusion_studio.gui.panels.schedules import SchedulePanel
    from diffusion_studio.gui import theme
    from diffusion_studio.gui.state import AppState

    rows = []
    for T in timesteps:
        panel = SchedulePanel(AppState())
        panel.resize(1400, 650)
        panel.show()
        panel.add_overlay("sigmoid_alphas_cumprod")
        panel.overlays.set_current_row(1)  # the linear overlay
        panel.editor.timesteps.spin_box.setValue(T)
        app.processEvents()
        slider = panel.editor.param_controls["beta_end"].slider
        viewport = panel.plots.graphics.viewport()
        positions = [300 + (i * 7) % 400 for i in range(edits)]

        def ours(position: int) -> None:
            slider.setValue(position)
            viewport.repaint()

        def naive(position: int) -> None:
            # Same new schedule, but every plot item is thrown away and made again.
            entry = panel.entries[1]
            entry.request("linear", T, False, {"beta_start": 1e-4, "beta_end": 0.001 + position * 1e-5})
            for quantity in QUANTITIES:
                plot = panel.plots.plots[quantity.key]
                plot.clear()
                for e in panel.entries:
                    x, y = curve_data(e.schedule, quantity, "fraction")
                    plot.plot(x, y, pen=theme.plot_pen(e.color_index))
            viewport.repaint()

        timings = {}
        for label, fn in (("setData_ms", ours), ("recreate_items_ms", naive)):
            samples = []
            for position in positions:
                start = time.perf_counter()
                fn(position)
                samples.append(time.perf_counter() - start)
            timings[label] = round(statistics.median(samples) * 1000, 2)
        rows.append({"T": T, "schedules_shown": len(panel.entries), **timings,
                     "ratio": round(timings["recreate_items_ms"] / timings["setData_ms"], 2)})
        panel.close()
        panel.deleteLater()
        app.processEvents()
    return rows


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("numpy", "pyqtgraph", "PySide6-Essentials", "diffusers", "torch"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--edits", type=int, default=40)
    args = parser.parse_args(argv)
    result = {
        "benchmark": "schedule_lab",
        "device": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                   "qt_platform": os.environ.get("QT_QPA_PLATFORM")},
        "versions": versions(),
        "make_schedule_vs_diffusers": bench_core(args.timesteps),
        "gui_edit_redraw": bench_gui(args.timesteps, args.edits),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
