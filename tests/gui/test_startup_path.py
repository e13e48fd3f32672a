"""The forward explorer needs only numpy: opening it must not import torch (start-up stays fast)."""

import os
import subprocess
import sys

CODE = """
import sys
from diffusion_studio.gui.app import create_application
from diffusion_studio.gui.main_window import MainWindow
from diffusion_studio.gui.state import AppState
from diffusion_studio.gui.panels.forward import ForwardPanel
from diffusion_studio.core.images import load_image
from diffusion_studio.core.paths import resource_path
app = create_application()
state = AppState()
panel = ForwardPanel(state)
state.set_image(load_image(resource_path("demo", "astronaut.jpg")), "astronaut.jpg")
state.set_timestep(300)
app.processEvents()
assert panel.frames_rendered == 1
print("torch" in sys.modules)
"""


def test_gui_modules_and_the_forward_explorer_do_not_import_torch(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DIFFUSION_STUDIO_HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
