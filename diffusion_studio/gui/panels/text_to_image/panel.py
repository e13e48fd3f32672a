"""Text to image: open a Stable Diffusion model, write a prompt, watch the latent chain become an image.

Wiring only: models open in a worker (``core.model_sources.latent``), chains run in a worker over
``core.text_to_image.generate`` (several in lockstep for comparisons), the viewer holds the latent frames
and shows them. The previous model stays loaded when a new one cannot be opened.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QWidget,
)

from ... import theme
from ...state import AppState
from ...widgets.controls_column import ControlsColumn, RunControls
from ...widgets.on_screen import OnScreenWatch, is_on_screen
from ...widgets.player_keys import bind_player_keys
from ....core.errors import InputError
from ....core.sampling import FrameBatch, StopFlag
from ....core.text_to_image.generate import (
    ChainPlanned,
    GenerationRequest,
    TimeEstimate,
    compare_guidance_requests,
    compare_prompt_requests,
    suggested_settings,
)
from .comparisons import CompareControls, ImageToImageControls
from .model_box import ModelBox
from .settings_form import GenerationForm
from .viewer import LatentViewer
from .workers import make_generate_worker, make_load_worker

__all__ = ["TextToImagePanel"]


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TextToImagePanel(QWidget):
    """Takes the app's ``AppState`` (its image is the default photo for image-to-image)."""

    #: a run ended: "done", "stopped" or "error"
    runFinished = Signal(str)
    #: a model finished loading (True) or could not be opened (False)
    modelLoaded = Signal(bool)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._loaded = None
        self._loads_in_flight = 0
        self._demo_offered = False  # the bundled demo model opens when the panel is first shown
        self._loading_spec: str | None = None
        self._load_request: tuple | None = None
        self._download_dialog = None
        self._worker = None
        self._stop: StopFlag | None = None
        self._run_status = "done"
        self._total_steps = 0
        self._started_at = 0.0
        self._export_dialog = None

        self._build_controls()
        self.viewer = LatentViewer()
        self.viewer.add_toolbar_widget(self.export_button)
        self.timeline = self.viewer.timeline
        self.message = self.viewer.message
        layout = QHBoxLayout(self)
        layout.setContentsMargins(theme.MARGIN, theme.MARGIN, theme.MARGIN, theme.MARGIN)
        layout.setSpacing(theme.SPACING + 4)
        layout.addWidget(self._controls_column)
        layout.addWidget(self.viewer, 1)
        bind_player_keys(self, self.timeline.toggle_play, self.viewer.user_step, what="the generation",
                         ends=("pure noise", "the image"), frame_count=lambda: self.timeline.count)

        self.model_box.openRequested.connect(self.open_model)
        self.form.changed.connect(self._update_start)
        self.compare.guidanceRequested.connect(self.compare_guidance)
        self.compare.promptsRequested.connect(self.compare_prompts)
        self.image_to_image_controls.strengthChanged.connect(self._update_start)
        self.image_to_image_controls.runRequested.connect(self.image_to_image)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)
        self._on_screen_watch = OnScreenWatch(self, self._on_shown)
        self._sync_buttons()

    def _build_controls(self) -> None:
        self.model_box = ModelBox()
        self.form = GenerationForm()
        self.run_controls = RunControls("Generate", "Run the chain from seeded noise; every step arrives as it is made",
                                        self.generate, "Stop at the next step; the frames so far stay", self.stop)
        self.generate_button = self.run_controls.start_button
        self.stop_button = self.run_controls.stop_button
        self.progress = self.run_controls.progress
        self.estimate = QLabel(" ")
        self.estimate.setWordWrap(True)
        self.estimate.setProperty("role", "muted")
        self.compare = CompareControls()
        self.image_to_image_controls = ImageToImageControls()
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the chain (side by side when comparing) as GIF, WebP, APNG, MP4, PNGs")
        self.export_button.clicked.connect(self.open_export_dialog)
        self._controls_column = ControlsColumn(
            [("Model", [self.model_box]), ("Prompt", [self.form]), ("Compare", [self.compare]),
             ("Image to image (SDEdit)", [self.image_to_image_controls])],
            pinned=[self.run_controls, self.estimate], min_width=300)

    # -- public API (the buttons call these; so do tests) ----------------------------------------
    @property
    def loaded_model(self):
        return self._loaded

    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def loading(self) -> bool:
        return self._loads_in_flight > 0 or self._download_dialog is not None

    @property
    def chains(self) -> list:
        return self.viewer.chains

    def open_model(self, spec: str, device: str = "auto", precision: str = "auto", allow_pickle: bool = False) -> None:
        """Load ``spec`` in the background (downloading a Hub id first, after asking); the current model stays
        until the new one is ready, and stays if it cannot be opened."""
        if self.running:
            self.message.show_message("A chain is running: stop it before opening another model.", "info")
            return
        self._loading_spec = str(spec)
        self._load_request = (str(spec), device, precision, bool(allow_pickle))
        self.model_box.set_info(f"Opening {spec}…")
        self._demo_offered = True
        worker = make_load_worker(*self._load_request)
        worker.returned.connect(self._on_load_result)
        worker.finished.connect(self._on_load_finished)
        self._loads_in_flight += 1
        self._sync_buttons()
        worker.start()

    def generate(self) -> None:
        settings = self._settings()
        if settings is not None:
            self._start([GenerationRequest(_short(settings.prompt) or "(empty prompt)", settings)])

    def compare_guidance(self, scales: list) -> None:
        settings = self._settings()
        if settings is not None:
            self._start(compare_guidance_requests(settings, scales))

    def compare_prompts(self, second_prompt: str) -> None:
        settings = self._settings()
        if settings is not None:
            self._start(compare_prompt_requests(settings, [settings.prompt, second_prompt]))

    def image_to_image(self) -> None:
        image = self.image_to_image_controls.image(self.state.image)
        if image is None:
            self.message.show_message("Open an image first (File > Open Image…), or choose a file for image to "
                                      "image.", "info")
            return
        settings = self._settings(strength=self.image_to_image_controls.strength_value)
        if settings is not None:
            label = f"{_short(settings.prompt) or '(empty prompt)'} · from your image, strength {settings.strength:g}"
            self._start([GenerationRequest(label, settings, image)])

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def frames_for_export(self) -> list:
        """The run's frames as export frames: each chain's pixels (preview, or VAE decodes when that is what is
        shown, made by the export as it writes), chains side by side."""
        from ....core.model_sources.latent.parts import latent_parts
        from ....core.text_to_image import views

        if not self.chains or not self.chains[0].frames or self._loaded is None:
            return []
        parts = latent_parts(self._loaded)
        decoder = self.viewer.decoder if self.viewer.pixels == "vae" else None
        per_chain = [views.display_frames(chain.frames, parts.preview, decoder=decoder, scale_factor=parts.scale_factor,
                                          key=(self.viewer.run_id, k)) for k, chain in enumerate(self.chains)
                     if chain.frames]
        return views.side_by_side(per_chain)

    def open_export_dialog(self) -> None:
        frames = self.frames_for_export()
        if not frames:
            self.message.show_message("Nothing to export yet: generate first.", "info")
            return
        from ...dialogs.export_dialog import ExportDialog

        label = " | ".join(chain.label for chain in self.chains)
        dialog = ExportDialog(frames, parent=self, title=f"Export chain: {label}")
        index = dialog.form.view.findData("side_by_side" if self.viewer.view in ("latent", "guidance") else
                                          self.viewer.view if self.viewer.view != "pred_noise" else "pred_noise")
        if index >= 0:
            dialog.form.view.setCurrentIndex(index)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._export_dialog = dialog
        dialog.open()

    # -- running -----------------------------------------------------------------------------------
    def _settings(self, **changes):
        if self._loaded is None:
            self.message.show_message("Open a model first: a Stable Diffusion pipeline folder or a Hub id.", "info")
            return None
        try:
            return self.form.settings(**changes)
        except InputError as error:
            self.message.show_message(str(error), "error")
            return None

    def _start(self, requests: list) -> None:
        if self._worker is not None:
            self.message.show_message("A chain is still running: stop it first.", "info")
            return
        self.message.dismiss()
        self.viewer.reset()
        self._total_steps = 0
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m steps")
        self.estimate.setText("Encoding the prompt and timing one step…")
        self._stop = StopFlag()
        self._run_status = "done"
        self._worker = make_generate_worker(self._loaded, requests, self._stop)
        self._worker.yielded.connect(self._on_yielded)
        self._worker.errored.connect(self._on_errored)
        self._worker.finished.connect(self._on_finished)
        self._sync_buttons()
        self._started_at = time.monotonic()
        self.state.show_status(f"Text to image: {requests[0].label}", 3000)
        self._worker.start()

    def _on_yielded(self, event) -> None:
        if isinstance(event, ChainPlanned):
            self.viewer.add_chain(event)
            self._total_steps += len(event.timesteps)
            self.progress.setRange(0, max(1, self._total_steps))
            for notice in event.notices:
                self.message.show_message(notice, "warning")
        elif isinstance(event, TimeEstimate):
            self.estimate.setText(f"Estimated {event.describe()}; every step is shown as it is made, Stop keeps "
                                  f"what is there.")
        elif isinstance(event, FrameBatch):
            self.viewer.add_frames(event.chain, event.frames)
            done = sum(sum(1 for f in chain.frames if not f.is_final) for chain in self.chains)
            self.progress.setValue(min(done, self.progress.maximum()))
            elapsed, left = time.monotonic() - self._started_at, self._total_steps - done
            if done and left > 0:  # the measured pace, once steps are coming
                self.progress.setFormat(f"%v / %m steps · about {elapsed / done * left:.0f} s left")
            else:
                self.progress.setFormat("%v / %m steps")

    def _on_errored(self, error: Exception) -> None:
        self._run_status = "error"
        text = str(error) if isinstance(error, InputError) else f"Generation failed: {type(error).__name__}: {error}"
        self.message.show_message(text, "error")
        self.state.show_status(text, 8000)

    def _on_finished(self) -> None:
        elapsed = time.monotonic() - self._started_at
        complete = bool(self.chains) and all(chain.frames and chain.frames[-1].is_final for chain in self.chains)
        if self._run_status == "done" and not complete:
            self._run_status = "stopped"
        steps = self.progress.value()
        rate = f", {elapsed / steps:.2f} s per step" if steps else ""
        self.estimate.setText(f"{'Done' if complete else 'Stopped'}: {steps} steps in {elapsed:.1f} s{rate}.")
        self._worker, self._stop = None, None
        self._sync_buttons()
        self.runFinished.emit(self._run_status)

    # -- the model -----------------------------------------------------------------------------------
    def _on_load_finished(self) -> None:
        self._loads_in_flight -= 1
        self._sync_buttons()

    def _on_load_result(self, outcome) -> None:
        if outcome.spec != self._loading_spec:
            return  # another model was asked for meanwhile
        if outcome.needs_download:
            self._offer_download(outcome.spec)
        elif outcome.error is not None:
            self._on_load_failed(outcome.error)
        else:
            self._set_loaded(outcome.loaded)

    def _offer_download(self, spec: str) -> None:
        answer = QMessageBox.question(
            self, "Download model", f"{spec} is not in the local Hugging Face cache. Download it now? (A Stable "
            f"Diffusion model is about 2–5 GB; only its safetensors weights are fetched.)")
        if answer != QMessageBox.StandardButton.Yes:
            self.model_box.set_info(f"{spec} was not downloaded.", error=True)
            return
        from ...dialogs.download_dialog import DownloadDialog

        def fetch(progress, should_stop):
            from ....core.model_sources import latent

            return latent.download(spec, progress=progress, should_stop=should_stop)

        dialog = DownloadDialog(spec, parent=self, fetch=fetch)
        dialog.downloaded.connect(self._on_downloaded)
        dialog.cancelled.connect(self._on_download_cancelled)
        dialog.failed.connect(self._on_download_failed)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._download_dialog = dialog
        dialog.open()
        self._sync_buttons()

    def _on_downloaded(self, _folder) -> None:
        self._download_dialog = None
        self.open_model(*self._load_request)

    def _on_download_cancelled(self) -> None:
        self._download_dialog = None
        self.model_box.set_info("The download was cancelled; what was fetched stays in the cache and continues "
                                "next time.", error=True)
        self._sync_buttons()

    def _on_download_failed(self, text: str) -> None:
        # the dialog stays open with the reason and a Close button; the panel says it too
        self._download_dialog = None
        self._on_load_failed(InputError(text))
        self._sync_buttons()

    def _on_load_failed(self, error: Exception) -> None:
        text = str(error) if isinstance(error, InputError) else f"{type(error).__name__}: {error}"
        keeping = " The previous model stays loaded." if self._loaded is not None else ""
        self.message.show_message(f"Could not open the model: {text}{keeping}", "error")
        self.model_box.set_info(self._describe_loaded() if self._loaded is not None else text, error=self._loaded is None)
        self.modelLoaded.emit(False)

    def _describe_loaded(self) -> str:
        from ....core.model_sources.latent.parts import latent_parts

        parts = latent_parts(self._loaded)
        seconds = self._loaded.extra.get("load_seconds", 0.0)
        return (f"{self._loaded.extra.get('spec', self._loaded.path)}: {parts.describe(self._loaded)}. Live preview "
                f"fitted to its VAE (R² = {parts.preview.r2:.2f}). Opened in {seconds:.1f} s.")

    def _set_loaded(self, loaded) -> None:
        from ....core.model_sources.latent.parts import latent_parts

        self._loaded = loaded
        parts = latent_parts(loaded)
        self.viewer.set_model(loaded)
        self.form.set_model(parts.text.count_tokens, parts.text.max_tokens, parts.scale_factor)
        suggested = suggested_settings(parts.native_size, loaded.device.type)
        self.form.set_size_and_steps(suggested.width, suggested.height, suggested.steps)
        self.model_box.set_info(self._describe_loaded())
        if self.message.text() and not self.running:
            self.message.dismiss()
        self._update_start()
        self.modelLoaded.emit(True)
        self._sync_buttons()

    def _update_start(self, *_args) -> None:
        """Where image-to-image would start for the current strength, steps and sampler: label and plot marker."""
        from ....core.sampling import sampler_for
        from ....core.text_to_image.generate import sdedit_start_t

        if self._loaded is None:
            self.image_to_image_controls.set_start("Open a model to see where the chain would start.")
            return
        strength = self.image_to_image_controls.strength_value
        try:
            settings = self.form.settings(strength=strength)
            sampler = sampler_for(self._loaded, settings.sampler_settings())
            start_t = sdedit_start_t(sampler, strength)
        except InputError as error:
            self.image_to_image_controls.set_start(str(error))
            self.viewer.show_start(None)
            return
        kept = int((sampler.timesteps <= start_t).sum())
        alpha_bar = float(self._loaded.schedule.alphas_cumprod[start_t])
        self.image_to_image_controls.set_start(
            f"Strength {strength:.2f}: the photo is noised to t = {start_t} (ᾱ_t = {alpha_bar:.3f}) and the last "
            f"{kept} of {sampler.num_steps} steps run.")
        self.viewer.show_start(start_t, alpha_bar)

    def _sync_buttons(self) -> None:
        running, ready = self._worker is not None, self._loaded is not None
        for button in (self.generate_button, self.compare.guidance_button, self.compare.prompts_button,
                       self.image_to_image_controls.button):
            button.setEnabled(ready and not running)
        self.stop_button.setEnabled(running)
        self.model_box.open_button.setEnabled(not running and not self.loading)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)

    def _on_shown(self) -> None:
        QTimer.singleShot(0, self._open_demo_when_seen)  # after the layout, when "on screen" is known

    def _open_demo_when_seen(self) -> None:
        """The first time the panel is really on screen (not just behind another dock tab), open the demo
        model: something to try at once. Loading imports torch and diffusers, so not while the app starts."""
        if self._demo_offered or not is_on_screen(self):
            return
        from ....core.model_sources.latent import DEMO_SPEC, demo_folder

        self._demo_offered = True
        if demo_folder().is_dir() and self._loaded is None:
            self.model_box.request_open(DEMO_SPEC)
