"""The whole app on a laptop: the real window on a 1366×768 and a 1280×720 screen.

Qt's offscreen platform takes made-up screens from a config file, so this runs in a child
process (``laptop_screens.py``, which says what it checks); the test reads its report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .laptop_screens import screen_config

CHECK = Path(__file__).with_name("laptop_screens.py")


def test_every_control_is_reachable_on_laptop_screens(tmp_path):
    config = tmp_path / "screens.json"
    config.write_text(json.dumps(screen_config()))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}",
               PYTHONPATH=os.pathsep.join([str(CHECK.parents[2]), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    assert report["first_launch"]["maximized"]  # 1440×900 does not fit 1366×768: it opens maximized
    width, height = report["first_launch"]["minimum"]
    assert width <= 1024 and height <= 600
    left, top, w, h = report["restored_on_small"]
    assert 1366 <= left and left + w <= 1366 + 1280 and top >= 0 and top + h <= 720
