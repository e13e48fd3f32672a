"""Start-up time: from launching the process to the main window shown and painted.

Runs the real app several times with DIFFUSION_STUDIO_STARTUP_PROBE=1 (the app prints
"startup-probe: shown" at its first paint and "startup-probe: ready" once the docked
panels, built just after the window shows, exist; then it quits) and, in the same run, a
bare PySide6 window started the same way — the floor
for any Qt app on this machine — plus a plain ``import torch`` for scale.

    python benchmarks/bench_startup.py [--runs 7]

Target (issue 8): the window appears in ≤ 1.0 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

BARE_QT = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv)
w = QMainWindow(); w.resize(1280, 800); w.show()
def shown():
    print("startup-probe: shown", flush=True); app.quit()  # after the first paint: posted events run first
QTimer.singleShot(0, shown)
app.exec()
"""


def time_until_probe(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Seconds from launch to each "startup-probe: NAME" line the process prints."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    marks: dict[str, float] = {}
    for line in proc.stdout:
        if line.startswith("startup-probe: "):
            marks[line.split(":", 1)[1].strip()] = time.perf_counter() - start
    proc.wait(timeout=60)
    return marks


def median_of(runs: int, cmd: list[str], env: dict[str, str], mark: str = "shown") -> dict[str, float]:
    time_until_probe(cmd, env)  # warm the file cache once
    samples = [time_until_probe(cmd, env).get(mark, float("nan")) for _ in range(runs)]
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = dict(os.environ, DIFFUSION_STUDIO_STARTUP_PROBE="1")
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = median_of(args.runs, [sys.executable, "-m", "diffusion_studio"], env)
    app_ready = median_of(args.runs, [sys.executable, "-m", "diffusion_studio"], env, mark="ready")
    bare = median_of(args.runs, [sys.executable, "-c", BARE_QT], env)
    torch_import = median_of(
        args.runs, [sys.executable, "-c", "import torch; print('startup-probe: shown', flush=True)"], env
    )
    from importlib import metadata

    print(
        json.dumps(
            {
                "benchmark": "startup",
                "runs": args.runs,
                "platform": env["QT_QPA_PLATFORM"],
                "app_window_shown": app,
                "app_all_panels_ready": app_ready,
                "bare_pyside6_window": bare,
                "import_torch_alone": torch_import,
                "app_over_bare_qt": app["median_s"] / bare["median_s"],
                "target_s": 1.0,
                "meets_target": app["median_s"] <= 1.0,
                "python": platform.python_version(),
                "pyside6": metadata.version("PySide6-Essentials"),
                "cpu_count": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
