"""The real app exits cleanly: a crash in Qt/Python teardown after a good run once hit one start in three."""

import os
import subprocess
import sys


def test_self_test_exits_zero_every_time():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for _ in range(4):
        result = subprocess.run(
            [sys.executable, "-m", "diffusion_studio", "--self-test"],
            capture_output=True, text=True, timeout=120, env=env,
        )
        assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
        assert "self-test: ok" in result.stdout
