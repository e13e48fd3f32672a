"""Regenerate the README screenshots by opening the real main window and grabbing it.

    python scripts/screenshots.py                 # every shot into docs/screenshots/
    python scripts/screenshots.py --only main_dark --out /tmp/shots
    python scripts/screenshots.py --only laptop   # the 1366×768 laptop shots (names starting so)

Runs offscreen by default, on a made-up 1920×1080 screen (set QT_QPA_PLATFORM=xcb under Xvfb
to use a real X server). The ``laptop_*`` shots are the window as it is maximized on a
1366×768 laptop screen: 1366×704, what is left beside a desktop's top bar and a title bar.
Settings go to a throwaway folder, so your recent files and layout never show up.

To add a shot, write ``def setup_x(window): ...`` that puts the window in the state
to show, and add ``Shot("name", "dark" | "light", setup_x)`` to :data:`SHOTS`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: the window of a maximized app on a 1366×768 screen, less a desktop's top bar and the title bar
LAPTOP = (1366, 704)


@dataclass(frozen=True)
class Shot:
    name: str
    theme: str
    setup: Callable  # (MainWindow) -> None
    size: tuple[int, int] = (1440, 900)
    target: Callable | None = None  # (MainWindow) -> the widget to grab (default: the window)


def wait_while(busy: Callable[[], bool], timeout_s: float = 600) -> None:
    """Run the event loop while ``busy()`` (a model loading, a training or sampling run), at most ``timeout_s``."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while busy() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def at_fraction_of_T(fraction: float) -> Callable:
    def setup(window) -> None:
        state = window.state
        state.set_timestep(round(fraction * (state.schedule.num_timesteps - 1)))

    return setup


def forward_explorer_only(window) -> None:
    """Hide the docks: the forward explorer fills the window."""
    for dock in window.docks.values():
        dock.hide()
    at_fraction_of_T(0.3)(window)


def chelsea_linear(window) -> None:
    from diffusion_studio.core.schedules import make_schedule

    window.open_demo_image("chelsea.jpg")
    window.state.set_schedule(make_schedule("linear", 1000))
    window.state.set_timestep(250)


def show_dock(name: str, then: Callable | None = None) -> Callable:
    def setup(window) -> None:
        dock = window.docks.get(name)
        if dock is not None:
            dock.show()
            dock.raise_()
        if then is not None:
            then(window)

    return setup


def show_large_dock(window, name: str, height: int | None):
    """Raise dock ``name``, give it ``height`` pixels (None: as the default layout gives it), return its panel."""
    from PySide6.QtCore import Qt

    show_dock(name)(window)
    if height is not None:
        window.resizeDocks([window.docks[name]], [height], Qt.Orientation.Vertical)
    return window.panels[name]


def train_digits(window) -> None:
    """The Train dock after a short live run on the demo digits with the CPU preset (about a minute on two cores)."""
    from PySide6.QtWidgets import QApplication

    show_dock("training")(window)
    panel = window.training_panel
    settle(QApplication.instance(), 1.0)
    panel.dataset_view.use_demo()
    panel.settings_form.set_values(dict(steps=400, checkpoint_every=200))
    if not panel.start():
        raise SystemExit(f"training did not start: {panel.message_strip.text()}")
    wait_while(panel.is_training)
    panel.request_stop_and_wait()


def schedule_lab(window) -> None:
    """The Schedule lab: the forward view's cosine against linear, Chen's sigmoid and zero-SNR scaled_linear."""
    show_dock("schedules")(window)
    panel = window.schedule_panel
    panel.add_overlay("sigmoid_alphas_cumprod")
    panel.add_overlay("scaled_linear")
    panel.editor.zero_snr.setChecked(True)
    panel.overlays.set_current_row(0)
    at_fraction_of_T(0.4)(window)


def demo_as_diffusers_pipeline() -> Path:
    """The bundled demo model written as a diffusers DDPMPipeline folder (export-diffusers), in the shots' home."""
    from diffusion_studio.core.checkpoint import DEMO_MODEL_DIR
    from diffusion_studio.core.diffusers_export import export_diffusers

    folder = Path(os.environ["DIFFUSION_STUDIO_HOME"]) / "demo-diffusers"
    if not folder.exists():
        export_diffusers(DEMO_MODEL_DIR, folder)
    return folder


def sampling_chain(view: str, fraction: float, compare: bool = False, dock_height: int | None = 560,
                   model: Callable | None = None) -> Callable:
    """The Sample dock after a real chain from the bundled demo model (DDIM 100 steps, 16 digits);
    with ``compare``, DPM-Solver++ 20 steps from the same noise beside it. ``fraction`` of the way in.
    ``dock_height``: the dock's height (None: as the default layout gives it). ``model()`` names
    another model to open first (a folder or a Hub id)."""

    def setup(window) -> None:
        panel = show_large_dock(window, "sampling", dock_height)
        wait_while(lambda: panel.loading)  # the demo model loads in the background
        if model is not None:
            panel.model_picker.select_path(model())
            wait_while(lambda: panel.loading)
        panel.start_compare() if compare else panel.start_sampling()
        wait_while(lambda: panel.running)
        if not panel.current_frames():
            raise SystemExit(f"sampling gave no frames: {panel.message.text()}")
        panel.viewer.set_view(view)
        panel.timeline.set_index(round(fraction * (panel.timeline.count - 1)))

    return setup


def guidance_sweep(view: str, fraction: float, dock_height: int | None = None, follow: int | None = None) -> Callable:
    """The Sample dock after a guidance sweep of the bundled demo model: class 7 at s = 1, 2, 4, 8 (w = 0, 1, 3,
    7), DDIM 50 steps, 4 samples each, the digits judge's numbers under the chains; ``fraction`` of the way in;
    ``follow``: one sample shown large in every chain."""

    def setup(window) -> None:
        from diffusion_studio.core.sampling import SamplerSettings

        panel = show_large_dock(window, "sampling", dock_height)
        wait_while(lambda: panel.loading)
        form = panel.settings_form
        form.set_settings(SamplerSettings(sampler="ddim", steps=50, batch_size=4, seed=1, class_name="7",
                                          guidance_scale=4.0))
        panel.start_sweep([1.0, 2.0, 4.0, 8.0])
        wait_while(lambda: panel.running)
        if len(panel.chains) != 4:
            raise SystemExit(f"the sweep gave no chains: {panel.message.text()}")
        panel.message.dismiss()  # how long the chain takes (timed while the app was starting): not the subject here
        panel.viewer.set_view(view)
        panel.viewer.follow_sample(follow)
        panel.timeline.set_index(round(fraction * (panel.timeline.count - 1)))

    return setup


def playground(window) -> None:
    """The Playground dock, floated and enlarged: an MLP trained 8 s on two moons, a DDIM run with it at t = 100,
    a followed particle, the learned field over the ideal one."""
    dock = window.docks["playground"]
    dock.setFloating(True)  # docked, it shares the height with the forward explorer
    dock.resize(window.width(), round(window.height() * 0.9))
    dock.show()
    panel = window.panels["playground"]
    panel.train_controls.seconds.setValue(8)
    panel.start_training()
    wait_while(lambda: panel.training)
    controls = panel.sample_controls
    controls.denoiser.setCurrentIndex(controls.denoiser.findData("learned"))
    controls.particles.setValue(3000)
    panel.start_sampling()
    wait_while(lambda: panel.sampling)
    if panel.trajectories is None or not panel.trajectories.complete:
        raise SystemExit(f"the playground run did not finish: {panel.message.text()}")
    panel.player.set_index(44)  # t = 100: the moons are forming
    frame = panel.trajectories.positions[44]
    panel.follow(int(np.argmin(np.hypot(frame[:, 0] - 0.9, frame[:, 1] - 0.3))))


def text_to_image(view: str, fraction: float, scales: tuple[float, ...] = (), pixels: str = "preview",
                  dock_height: int | None = 620) -> Callable:
    """The Text to image dock with the bundled demo model, "a red seven", DPM-Solver++ 20 steps at 32 px;
    with ``scales``, the guidance comparison. ``fraction`` of the way in; ``pixels="vae"`` waits for the decodes."""

    def setup(window) -> None:
        panel = show_large_dock(window, "text_to_image", dock_height)
        wait_while(lambda: panel.loaded_model is None or panel.loading)  # the demo model opens when shown
        panel.form.prompt.setPlainText("a red seven")
        panel.form.set_size_and_steps(32, 32, 20)
        panel.compare_guidance(list(scales)) if scales else panel.generate()
        wait_while(lambda: panel.running)
        if not panel.chains or not panel.chains[0].frames:
            raise SystemExit(f"text to image gave no frames: {panel.message.text()}")
        panel.viewer.set_view(view)
        panel.timeline.set_index(round(fraction * (panel.timeline.count - 1)))
        panel.viewer.set_pixels(pixels)
        wait_while(lambda: panel.viewer.decoding)

    return setup


def export_dialog(window) -> None:
    """File › Export Forward Animation… with its first/last-frame preview and size estimate."""
    window.state.set_timestep(0)
    window.export_forward_animation()


def laptop_train(window) -> None:
    """The Train dock as the default layout gives it on a laptop, after the same short run."""
    at_fraction_of_T(0.3)(window)
    train_digits(window)


SHOTS: list[Shot] = [
    Shot("main_dark", "dark", at_fraction_of_T(0.3)),
    Shot("main_light", "light", at_fraction_of_T(0.3)),
    Shot("forward_dark", "dark", forward_explorer_only),
    Shot("forward_chelsea_linear_dark", "dark", chelsea_linear, (1280, 760)),
    Shot("schedules_dark", "dark", schedule_lab),
    Shot("train_dark", "dark", train_digits),
    Shot("sample_dark", "dark", sampling_chain("all", 0.8)),
    Shot("sample_compare_light", "light", sampling_chain("pred_x0", 0.7, compare=True)),
    Shot("pretrained_dark", "dark", sampling_chain("all", 0.6, model=demo_as_diffusers_pipeline)),
    Shot("export_dialog_dark", "dark", export_dialog, target=lambda window: window.export_forward_animation()),
    # A 1366×768 laptop: the forward view alone, then each dock in the default layout.
    Shot("laptop_forward_dark", "dark", forward_explorer_only, LAPTOP),
    Shot("laptop_train_dark", "dark", laptop_train, LAPTOP),
    Shot("laptop_sample_dark", "dark", sampling_chain("all", 0.8, dock_height=None), LAPTOP),
    Shot("laptop_schedules_dark", "dark", schedule_lab, LAPTOP),
    Shot("laptop_sample_compare_light", "light", sampling_chain("pred_x0", 0.7, compare=True, dock_height=None), LAPTOP),
    Shot("laptop_guidance_sweep_dark", "dark", guidance_sweep("x_t", 0.7), LAPTOP),
    Shot("guidance_views_light", "light", guidance_sweep("guidance", 0.4, dock_height=520, follow=0)),
    Shot("playground_dark", "dark", playground, target=lambda window: window.docks["playground"]),
    Shot("laptop_text_to_image_dark", "dark", text_to_image("latent", 0.6, dock_height=None), LAPTOP),
    Shot("laptop_playground_dark", "dark", show_dock("playground"), LAPTOP),
    Shot("text_to_image_latent_dark", "dark", text_to_image("latent", 0.35)),
    Shot("text_to_image_guidance_light", "light", text_to_image("pred_x0", 1.0, (1.0, 3.0, 7.5, 12.0), "vae")),
    Shot("text_to_image_guidance_views_dark", "dark", text_to_image("guidance", 0.5, (1.0, 3.0, 7.5, 12.0))),
]


def settle(app, seconds: float) -> None:
    """Let timers, deferred renders and background workers finish before grabbing."""
    from PySide6.QtCore import QThreadPool

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
    QThreadPool.globalInstance().waitForDone(30_000)
    app.processEvents()


def _shrink(path: Path) -> None:
    # Noise does not compress: 256 colours (no dithering) keep the look at a quarter of the size.
    from PIL import Image

    with Image.open(path) as image:
        quantized = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                                  dither=Image.Dither.NONE)
    quantized.save(path, optimize=True)


def take(shot: Shot, out_dir: Path, app, home: Path, full_color: bool = False) -> Path:
    from PySide6.QtCore import Qt

    from diffusion_studio.core.settings import Settings
    from diffusion_studio.gui import theme
    from diffusion_studio.gui.main_window import MainWindow
    from diffusion_studio.gui.state import AppState

    theme.apply_theme(shot.theme)
    window = MainWindow(AppState(), Settings(home / f"{shot.name}.json"))
    window.setWindowState(Qt.WindowState.WindowNoState)  # a first launch may open maximized: the shot's size
    window.resize(*shot.size)
    window.open_demo_image()
    window.show()
    settle(app, 0.3)
    shot.setup(window)
    settle(app, 1.5)
    path = out_dir / f"{shot.name}.png"
    widget = shot.target(window) if shot.target is not None else window
    if not widget.grab().save(str(path)):
        raise SystemExit(f"could not write {path}")
    if not full_color:
        _shrink(path)
    if widget is not window:
        widget.close()
    window.close()
    window.deleteLater()
    settle(app, 0.1)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--full-color", action="store_true", help="keep 24-bit colour (files ~4× larger)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"names or name prefixes, of: {', '.join(s.name for s in SHOTS)}")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="ds-screenshots-"))
    if os.environ.setdefault("QT_QPA_PLATFORM", "offscreen") == "offscreen":
        # A screen the largest shot fits on (the offscreen platform's own is 800×800).
        screens = home / "screens.json"
        screens.write_text(json.dumps({"screens": [{"name": "shots", "x": 0, "y": 0, "width": 1920, "height": 1080,
                                                    "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screens}"
    os.environ["DIFFUSION_STUDIO_HOME"] = str(home)  # no real settings, runs or recent files

    from diffusion_studio.gui.app import create_application

    app = create_application()
    args.out.mkdir(parents=True, exist_ok=True)
    shots = [s for s in SHOTS if not args.only or any(s.name.startswith(name) for name in args.only)]
    if args.only and not shots:
        parser.error(f"unknown shot name; choose from {', '.join(s.name for s in SHOTS)}")
    for shot in shots:
        print(take(shot, args.out, app, home, args.full_color))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
