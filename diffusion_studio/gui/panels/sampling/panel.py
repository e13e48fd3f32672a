"""The sampling panel: pick a model, a sampler (and a class and guidance), watch the reverse chain, compare,
sweep guidance, SDEdit, export.

Wiring only: chains run in ``core.sampling.sample_chains`` (core.chain underneath) on a superqt worker;
``viewer.ChainViewer`` holds and shows the frames; the timeline owns the current frame index.
Models load in the background (with a one-step timing for the chain estimate); a model that cannot
be opened leaves the previous one loaded; a Hub id that is not cached is offered for download.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QHBoxLayout,
    QPushButton,
    QWidget,
)

from ... import theme
from ...state import AppState
from ...widgets.controls_column import ControlsColumn, RunControls
from ...widgets.player_keys import bind_player_keys
from .compare import CompareControls, chain_header, compare_note, compare_requests_order
from .model_picker import ModelPicker, demo_model_dir
from .sdedit import SDEditControls
from .settings import SamplerSettingsForm
from .sweep import SweepControls
from .viewer import Chain, ChainViewer
from ....core.conditioning import describe_judgement, is_guided, null_class, resolve_class
from ....core.errors import InputError
from ....core.sampling import (
    ChainRequest,
    ChainScores,
    ChainStarted,
    FrameBatch,
    ModelReady,
    StopFlag,
    guidance_sweep_requests,
    merge_chains,
    prepare_start_image,
)
from .worker import make_loading_worker, make_sampling_worker

#: A chain estimated to take longer than this is announced before it starts.
LONG_CHAIN_SECONDS = 10.0


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

__all__ = ["SamplingPanel"]


class SamplingPanel(QWidget):
    """Takes the app's ``AppState``; follows its model, image and t."""

    #: emitted when a run ends: "done", "stopped" or "error"
    runFinished = Signal(str)
    #: emitted when a model finished loading (True) or failed to (False)
    modelLoaded = Signal(bool)

    def __init__(self, state: AppState, parent: QWidget | None = None, *, settings=None):
        super().__init__(parent)
        self.state = state
        self._app_settings = settings  # core.settings.Settings: recent models, precision (None: not kept)
        self._loaded = None  # core.loaded_model.LoadedModel for _loaded_key = (spec, device, load options)
        self._loaded_key: tuple | None = None
        self._loading_key: tuple | None = None
        self._step_time = None  # core.sampling.StepTime of the loaded model on its device
        self.download_dialog = None
        self._chain_started_at = 0.0
        self._progress_prefix = ""
        self._load_worker = None
        self._loads_in_flight = 0
        self._worker = None
        self._stop: StopFlag | None = None
        self._run_status = "done"
        self._run_key: tuple = ("", "auto", ())  # (model spec, device, load options) of the running chain
        self._num_requests = 0
        self._started_at = 0.0
        self._export_dialog = None
        self._pending_reference: np.ndarray | None = None
        self._mode = "sample"
        self._steps_done: dict[int, int] = {}  # a sweep's steps per chain (its progress is their sum)

        self._build_controls()
        self.viewer = ChainViewer()
        self.viewer.add_toolbar_widget(self.export_button)
        self.timeline = self.viewer.timeline
        self.message = self.viewer.message
        layout = QHBoxLayout(self)
        layout.setContentsMargins(theme.MARGIN, theme.MARGIN, theme.MARGIN, theme.MARGIN)
        layout.setSpacing(theme.SPACING + 4)
        layout.addWidget(self._controls_column)
        layout.addWidget(self.viewer, 1)

        bind_player_keys(self, self.timeline.toggle_play, self.viewer.user_step,
                         frame_count=lambda: self.timeline.count)

        self.model_picker.modelChosen.connect(self._on_model_chosen)
        self.model_picker.optionsChanged.connect(self._on_settings_changed)
        self.settings_form.changed.connect(self._on_settings_changed)
        state.modelChanged.connect(self._on_state_model_changed)
        state.imageChanged.connect(self._on_image_changed)
        if state.model_path is not None:
            self.model_picker.select_path(state.model_path, emit=False)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)  # a chain on the CPU must not hold up quitting
        self._model_info_requested = False  # the model loads when the panel is first shown
        self._sync_buttons()

    def _build_controls(self) -> None:
        self.model_picker = ModelPicker(settings=self._app_settings)
        self.settings_form = SamplerSettingsForm()
        self.run_controls = RunControls("Sample", "Run the reverse chain from fresh (seeded) noise",
                                        self.start_sampling, "Stop the chain; the frames so far stay", self.stop)
        self.sample_button = self.run_controls.start_button
        self.stop_button = self.run_controls.stop_button
        self.progress = self.run_controls.progress

        self.compare_controls = CompareControls()
        self.compare_controls.compareRequested.connect(self.start_compare)
        self.sweep_controls = SweepControls()
        self.sweep_controls.sweepRequested.connect(self.start_sweep)
        self.sdedit_controls = SDEditControls(self.state)
        self.sdedit_controls.sdeditRequested.connect(self.start_sdedit)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the chain as GIF, WebP, APNG, PNG frames or a contact strip")
        self.export_button.clicked.connect(self.open_export_dialog)
        self._controls_column = ControlsColumn(
            [("Model", [self.model_picker]), ("Sampler", [self.settings_form]),
             ("Guidance sweep", [self.sweep_controls]), ("Compare with", [self.compare_controls]),
             ("Your image (SDEdit)", [self.sdedit_controls])],
            pinned=[self.run_controls])

    # -- public API (the buttons call these; so do tests) ---------------------------------------
    @property
    def chains(self) -> list[Chain]:
        return self.viewer.chains

    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def loaded_model(self):
        return self._loaded

    def current_frames(self, chain: int = 0) -> list:
        return list(self.chains[chain].frames) if chain < len(self.chains) else []

    def start_sampling(self) -> None:
        settings = self.settings_form.settings()
        self._start([ChainRequest(settings.describe(), settings)], mode="sample")

    def start_compare(self) -> None:
        """The sampler above (left) against the one under "Compare with" (right), from the same noise."""
        first = self.settings_form.settings()
        second = self.compare_controls.settings_against(first)
        pair = (ChainRequest(chain_header(first), first), ChainRequest(chain_header(second), second))
        order = compare_requests_order(first, second)  # the chain with more steps runs first and drives
        self._start([pair[order[0]], pair[order[1]]], mode="compare", sides=order,
                    note=compare_note(first, second))

    def start_sweep(self, scales: list[float] | None = None) -> None:
        """The class above at each guidance scale s (default: the sweep box's), from the same noise, in lockstep."""
        settings = self.settings_form.settings()
        try:
            if scales is None:
                scales = self.sweep_controls.chosen_scales()
            requests = guidance_sweep_requests(settings, scales)
        except InputError as error:
            self.message.show_message(str(error), "info")
            return
        self._start(requests, mode="sweep", lockstep=True,
                    note=f"Class {settings.class_name}, seed {settings.seed}, {chain_header(settings)}, at each "
                         "guidance scale s = 1 + w: the chains run together and pair step by step.")

    def start_sdedit(self) -> None:
        image = self.state.image
        if image is None:
            self.message.show_message("Open an image in the forward view first.", "info")
            return
        start_t = self.sdedit_controls.model_start_t()
        if start_t is None:
            start_t = self.state.timestep  # no model loaded yet: same t; the worker snaps it to a step
        settings = self.settings_form.settings()
        label = f"From your image at t = {start_t}: {settings.describe()}"
        self._start([ChainRequest(label, settings, start_image=np.asarray(image), start_t=start_t)], mode="sdedit")

    def stop(self) -> None:
        # Only the flag: run_chain ends at its next step and leaves torch's per-thread inference
        # mode cleanly. worker.quit() would abandon the generator mid-chain on a pooled thread.
        if self._stop is not None:
            self._stop.set()

    def frames_for_export(self) -> list:
        """The driving chain's frames (a sweep: every chain's samples, a chain after another); only the followed
        sample's when one is followed large."""
        frames = self.current_frames(0)
        if self._mode == "sweep" and len(self.chains) > 1 and self.viewer.sample is None:
            finished = [chain.frames for chain in self.chains if chain.frames]
            if len({len(f) for f in finished}) == 1:
                return merge_chains(finished)
        sample = self.viewer.sample
        if sample is None:
            return frames
        keep = slice(sample, sample + 1)
        return [dataclasses.replace(f, x_t=f.x_t[keep], pred_x0=f.pred_x0[keep], pred_noise=f.pred_noise[keep])
                for f in frames]

    def open_export_dialog(self):
        """The export dialog over what is shown (returned), or None with a message when nothing is."""
        frames = self.frames_for_export()
        if not frames:
            self.message.show_message("Nothing to export yet: sample a chain first.", "info")
            return None
        from ...dialogs.export_dialog import ExportDialog

        label = self.chains[0].label
        if self._mode == "sweep" and len(self.chains) > 1:
            label = f"guidance sweep ({', '.join(chain.label for chain in self.chains)})"
        dialog = ExportDialog(frames, parent=self, title=f"Export chain: {label}", state=self.state)
        view = "side_by_side" if self.viewer.view == "all" else self.viewer.view
        index = dialog.form.view.findData(view)
        if index >= 0:
            dialog.form.view.setCurrentIndex(index)  # start from what is on screen
        if self._mode == "sweep" and len(frames) and len(frames[0].x_t) > len(self.chains[0].frames[0].x_t):
            dialog.form.columns.setValue(len(self.chains[0].frames[0].x_t))  # a row per guidance scale
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._export_dialog = dialog
        dialog.open()
        return dialog

    # -- running ---------------------------------------------------------------------------------
    def _start(self, requests: list[ChainRequest], mode: str, *, sides: tuple[int, int] | None = None,
               note: str = "", lockstep: bool = False) -> None:
        if self._worker is not None:
            self.message.show_message("A chain is still running: stop it first.", "info")
            return
        spec = self.model_picker.current_spec()
        if spec is None:
            return
        self.message.dismiss()
        device = requests[0].settings.device
        key = self._current_key()
        model = self._loaded if self._loaded_key == key else spec
        self._run_key = key
        self._announce_long_chain(requests)
        self._mode = mode
        self._steps_done = {}
        self.viewer.reset(mode, sides=sides, note=note, count=len(requests))
        self.viewer.set_guidance_available(any(self._is_guided(r.settings) for r in requests))
        self._pending_reference = requests[0].start_image if mode == "sdedit" else None
        self._stop = StopFlag()
        self._run_status = "done"
        self._num_requests = len(requests)
        self._worker = make_sampling_worker(model, requests, self._stop, device=device,
                                            model_options=self.model_picker.load_options(), lockstep=lockstep)
        self._worker.yielded.connect(self._on_yielded)
        self._worker.errored.connect(self._on_errored)
        self._worker.finished.connect(self._on_finished)
        self._sync_buttons()
        self._started_at = time.monotonic()
        self.state.show_status(f"Sampling: {requests[0].label}", 3000)
        self._worker.start()

    def _on_yielded(self, item) -> None:
        if isinstance(item, ModelReady):
            if self._loaded is not item.loaded and self._run_key == self._current_key():
                self._set_loaded(item.loaded, self._run_key)  # loaded by the run: keep it for the next
            if self._pending_reference is not None:
                self.viewer.show_reference(self._as_model_sees_it(self._pending_reference, item.loaded))
                self._pending_reference = None
        elif isinstance(item, ChainStarted):
            self.viewer.add_chain(item.chain, item.label, item.timesteps, item.stride, item.alphas_cumprod)
            if self._mode == "sweep":  # the chains run together: one bar for all of them
                self._progress_prefix = f"{self._num_requests} chains together: "
                steps = max(1, len(item.timesteps)) * self._num_requests
            else:
                self._progress_prefix = (f"chain {item.chain + 1} of {self._num_requests}: "
                                         if self._num_requests > 1 else "")
                steps = max(1, len(item.timesteps))
            if item.chain == 0 or self._mode != "sweep":
                self.progress.setFormat(self._progress_prefix + "%v / %m steps")
                self.progress.setRange(0, steps)
                self.progress.setValue(0)
                self._chain_started_at = time.monotonic()
        elif isinstance(item, FrameBatch):
            if item.frames:
                self.viewer.add_frames(item.chain, item.frames)
            if item.variances:
                self.viewer.add_variances(item.chain, item.variances)
            self._steps_done[item.chain] = item.steps_done
            self._show_step_progress(sum(self._steps_done.values()) if self._mode == "sweep" else item.steps_done)
        elif isinstance(item, ChainScores):
            self.viewer.show_scores(item.chain, self._scores_line(item))

    def _scores_line(self, item: ChainScores) -> str:
        import html

        label = self.chains[item.chain].label if item.chain < len(self.chains) else ""
        count = self.chains[item.chain].frames[-1].x_t.shape[0] if item.chain < len(self.chains) else 0
        text = describe_judgement(item.scores, item.settings.class_name, count)
        prefix = f"<b>{html.escape(label)}</b>: " if self._mode == "sweep" else "Digits judge: "
        return prefix + html.escape(text)

    def _is_guided(self, settings) -> bool:
        if self._loaded is None:
            return False
        try:
            return is_guided(settings.guidance_scale, resolve_class(self._loaded, settings.class_name))
        except InputError:
            return False

    def _on_errored(self, error: Exception) -> None:
        self._run_status = "error"
        text = str(error) if isinstance(error, InputError) else f"Sampling failed: {type(error).__name__}: {error}"
        self.message.show_message(text, "error")
        self.state.show_status(text, 8000)

    def _on_finished(self) -> None:
        elapsed = time.monotonic() - self._started_at
        self.progress.setFormat(self._progress_prefix + f"%v / %m steps · {elapsed:.1f} s")
        complete = len(self.chains) == self._num_requests and all(
            chain.frames and chain.frames[-1].is_final for chain in self.chains)
        if self._run_status == "done" and not complete:
            self._run_status = "stopped"
        self._worker, self._stop = None, None
        self._sync_buttons()
        self.runFinished.emit(self._run_status)

    # -- model -----------------------------------------------------------------------------------
    def _on_model_chosen(self, spec) -> None:
        if isinstance(spec, Path) and (self.state.model_path is None or Path(self.state.model_path) != spec):
            self.state.set_model_path(spec)  # local models only: a Hub id is not a path on this machine
        self._load_model_info()

    def _on_state_model_changed(self, path) -> None:
        if path is not None and self.model_picker.current_path() != Path(path):
            self.model_picker.select_path(path, emit=False)
            self._load_model_info()
            self._bring_to_front()  # e.g. "sample from this run" in the Train tab

    def _bring_to_front(self) -> None:
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QDockWidget):
            parent = parent.parentWidget()
        if parent is not None:
            parent.show()
            parent.raise_()

    def _on_settings_changed(self) -> None:
        self._sync_sweep()
        if self._current_key() not in (self._loaded_key, self._loading_key):
            self._load_model_info()
        else:
            self._update_estimate()

    def _sync_sweep(self) -> None:
        loaded = self._loaded
        if loaded is None or not loaded.class_names:
            reason = "A guidance sweep needs a class-conditional model (one trained on a labelled folder or the demo digits)."
        elif null_class(loaded) is None:
            reason = "This model has no 'no class' label, so it cannot be guided."
        elif self.settings_form.class_name() is None:
            reason = "Choose a class above to sweep its guidance."
        else:
            reason = ""
        self.sweep_controls.set_available(not reason, reason)
        self._sync_buttons()

    def _load_model_info(self) -> None:
        """Load the picked model in the background for its info line; sampling then reuses it.

        The model loaded before stays loaded (and is used) until the new one has loaded.
        """
        self._model_info_requested = True
        spec = self.model_picker.current_spec()
        if spec is None:
            return
        device = self.settings_form.settings().device
        self._loading_key = self._current_key()
        self.model_picker.set_info("Loading…")
        self.model_picker.set_estimate("")
        worker = make_loading_worker(spec, device, self.model_picker.load_options())
        # Bound methods only: Qt drops them if the panel goes away before the worker ends.
        worker.returned.connect(self._on_load_result)
        worker.finished.connect(self._on_load_finished)
        self._load_worker = worker
        self._loads_in_flight += 1
        worker.start()

    @property
    def loading(self) -> bool:
        return self._loads_in_flight > 0

    def _on_load_finished(self) -> None:
        self._loads_in_flight -= 1

    def _on_load_result(self, result) -> None:
        key = (result.path, result.device, result.options)
        if result.error is None:
            self._on_model_loaded(key, result.loaded, result.step_time)
        else:
            self._on_model_failed(key, result.error)

    def _current_key(self) -> tuple:
        options = tuple(sorted(self.model_picker.load_options().items()))
        return self.model_picker.current_spec() or "", self.settings_form.settings().device, options

    def _on_model_loaded(self, key, loaded, step_time=None) -> None:
        if key != self._current_key():
            return  # the user picked something else meanwhile
        new_model = self._loaded_key is None or self._loaded_key[0] != key[0]
        self._step_time = step_time
        self._set_loaded(loaded, key)
        self.model_picker.remember(key[0])
        if new_model:
            self._propose_settings_for(loaded)
        self._update_estimate()
        self.modelLoaded.emit(True)

    def _on_model_failed(self, key, error: Exception) -> None:
        from ....core.model_sources.hub import NotCachedError, is_offline

        if key != self._current_key():
            return
        if isinstance(error, NotCachedError) and not is_offline():
            self._offer_download(error.repo_id)
            return
        text = str(error) or type(error).__name__
        if Path(key[0]) == demo_model_dir() and not (demo_model_dir() / "config.json").is_file():
            # Not the user's doing: say what to do instead of showing an error.
            self.model_picker.set_info("The bundled demo model is not in this install. Train a model in the "
                                       "Train tab, or open a run folder or .safetensors file.")
        elif self._loaded is not None:
            self.message.show_message(f"Could not load the model: {text.rstrip('.')}. The model loaded before "
                                      "stays in use.", "error")
            self._keep_previous_model()
            self.modelLoaded.emit(False)
            return
        else:
            self.model_picker.set_info(text, error=True)
            self.message.show_message(f"Could not load the model: {text}", "error")
        self.sdedit_controls.set_model_schedule(None)
        self.modelLoaded.emit(False)

    def _keep_previous_model(self) -> None:
        """Back to the model that is still loaded: the picker shows it again, and so does the app's state."""
        spec = self._loaded_key[0]
        self._loading_key = None
        self.model_picker.select_path(spec, emit=False)
        if self.model_picker.current_path() is not None and self.model_picker.current_path().exists():
            self.state.set_model_path(self.model_picker.current_path())
        self.model_picker.set_info(self._info_line(self._loaded))
        if self._loaded_key == self._current_key():
            self._update_estimate()

    def _offer_download(self, repo_id: str) -> None:
        """A Hub id that is not in the cache: download it (progress, Cancel), then load it."""
        from ...dialogs.download_dialog import DownloadDialog

        allow_pickle = self.model_picker.load_options()["allow_pickle"]

        def fetch(progress, should_stop):
            from ....core.model_sources.diffusers_pixel import download

            return download(repo_id, allow_pickle=allow_pickle, progress=progress, should_stop=should_stop)

        self.model_picker.set_info(f"Downloading {repo_id}…")
        dialog = DownloadDialog(repo_id, parent=self, fetch=fetch)
        dialog.downloaded.connect(self._on_downloaded)
        dialog.cancelled.connect(self._on_download_abandoned)
        dialog.failed.connect(self._on_download_failed)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.download_dialog = dialog
        dialog.open()

    def _on_downloaded(self, _snapshot) -> None:
        self.download_dialog = None
        self._load_model_info()  # now from the cache

    def _on_download_abandoned(self) -> None:
        self.download_dialog = None
        self._download_did_not_happen(f"The download of {self.model_picker.current_spec()} was cancelled; what was "
                                      "fetched stays in the cache and continues next time.", "info")

    def _on_download_failed(self, text: str) -> None:
        self._download_did_not_happen(f"Could not download {self.model_picker.current_spec()}: {text}", "error")

    def _download_did_not_happen(self, text: str, kind: str) -> None:
        self.message.show_message(text, kind)
        if self._loaded is not None:
            self._keep_previous_model()
        else:
            self.model_picker.set_info(text, error=kind == "error")
        self.modelLoaded.emit(False)

    def _propose_settings_for(self, loaded) -> None:
        """A big model (256² on a CPU: seconds per sample and step) gets a few samples with DPM-Solver++ 20."""
        from ....core.sampling import estimate_chain_seconds, is_big_model, settings_for_big_model

        if not is_big_model(loaded, self._step_time):
            return
        current = self.settings_form.settings()
        proposed = settings_for_big_model(current)
        step = self._step_time
        if step is None or proposed.batch_size < current.batch_size or (
                estimate_chain_seconds(loaded, proposed, step) < estimate_chain_seconds(loaded, current, step)):
            self.settings_form.set_settings(proposed)
            self.message.show_message(
                f"A big model ({loaded.image_size}×{loaded.image_size}): set to {proposed.batch_size} samples with "
                f"{proposed.describe().split(', seed')[0]} so a chain stays short. Change them as you like.", "info")

    def _update_estimate(self) -> None:
        from ....core.sampling import estimate_chain_seconds

        loaded, step = self._loaded, self._step_time
        if loaded is None or step is None or self._loaded_key != self._current_key():
            self.model_picker.set_estimate("")
            return
        settings = self.settings_form.settings()
        try:
            seconds = estimate_chain_seconds(loaded, settings, step)
        except Exception:  # noqa: BLE001 - settings the sampler refuses are reported when sampling starts
            self.model_picker.set_estimate("")
            return
        self.model_picker.set_estimate(f"One step of {settings.batch_size} ≈ "
                                       f"{format_seconds(step.for_batch(settings.batch_size))} on "
                                       f"{loaded.device.type}; this chain ≈ {format_seconds(seconds)}")

    def _announce_long_chain(self, requests: list[ChainRequest]) -> None:
        from ....core.sampling import estimate_chain_seconds

        loaded, step = self._loaded, self._step_time
        if loaded is None or step is None or self._loaded_key != self._current_key():
            return
        try:
            seconds = sum(estimate_chain_seconds(loaded, r.settings, step) for r in requests)
        except InputError:
            return  # a class this model lacks: the run says so when it starts
        if seconds >= LONG_CHAIN_SECONDS:
            batch = requests[0].settings.batch_size
            self.message.show_message(
                f"This takes about {format_seconds(seconds)} on the {loaded.device.type} "
                f"({format_seconds(step.for_batch(batch))} per step of {batch}). Frames appear as they are made; "
                "Stop keeps the frames so far.", "info")

    def _show_step_progress(self, steps_done: int) -> None:
        total = self.progress.maximum()
        self.progress.setValue(min(steps_done, total))
        elapsed = time.monotonic() - self._chain_started_at
        if 0 < steps_done < total and elapsed > 2.0:
            left = elapsed / steps_done * (total - steps_done)
            self.progress.setFormat(self._progress_prefix + f"%v / %m steps · ~{format_seconds(left)} left")

    def _set_loaded(self, loaded, key: tuple) -> None:
        self._loaded, self._loaded_key = loaded, key
        self._loading_key = None
        self.model_picker.set_info(self._info_line(loaded))
        T = loaded.schedule.num_timesteps
        self.settings_form.set_max_steps(T)
        self.compare_controls.form.set_max_steps(T)
        self.viewer.schedule_plot.set_schedule(loaded.schedule.alphas_cumprod)
        self.viewer.set_variance_visible(loaded.variance == "learned_range")
        self.sdedit_controls.set_model_schedule(loaded.schedule.alphas_cumprod)
        self.settings_form.set_classes(loaded.class_names, can_guide=null_class(loaded) is not None)
        self._sync_sweep()
        if self.message.text() and not self.running:
            self.message.dismiss()  # the error was about the previous model

    @staticmethod
    def _info_line(loaded) -> str:
        notes = [f"Note: {note}" for note in loaded.extra.get("notes", ())]
        return "\n".join([loaded.describe(), *notes])

    def _as_model_sees_it(self, image: np.ndarray, loaded) -> np.ndarray:
        x0 = prepare_start_image(image, loaded.image_size, loaded.channels)
        return np.clip((x0.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()  # the panel is torn down (embedding, tests): the chain ends at its next step
        super().closeEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._model_info_requested:  # loading imports torch: not while the app starts
            self._load_model_info()
        if not self.running:
            self.model_picker.refresh_runs()  # runs trained since the tab was last looked at

    def _on_image_changed(self, *_args) -> None:
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        running = self._worker is not None
        self.sample_button.setEnabled(not running)
        self.compare_controls.button.setEnabled(not running)
        self.sweep_controls.button.setEnabled(not running and self.sweep_controls.available)
        self.sdedit_controls.button.setEnabled(not running and self.state.image is not None)
        self.stop_button.setEnabled(running)
