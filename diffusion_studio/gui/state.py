"""The one shared model of the app: what every panel looks at, with change signals.

Panels take an ``AppState`` in their constructor and subscribe to its signals
(napari's ``QtDims(dims)`` pattern); they change it through its setters, never by
reaching into each other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core.schedules import NoiseSchedule, make_schedule

__all__ = ["AppState"]


class AppState(QObject):
    #: the image as uint8 (H, W, 3) and a display name (file name or "pasted image")
    imageChanged = Signal(object, str)
    #: the schedule of the forward view (an immutable NoiseSchedule)
    scheduleChanged = Signal(object)
    #: the forward view's timestep, 0 … T-1
    timestepChanged = Signal(int)
    #: the seed of the forward view's fixed ε
    seedChanged = Signal(int)
    #: the model used for sampling: a path to a run folder or .safetensors file (or None)
    modelChanged = Signal(object)
    #: a one-line message for the status bar (text, timeout in ms; 0 = until replaced)
    statusMessage = Signal(str, int)
    #: an error for the user: (title, message); the app keeps running
    errorRaised = Signal(str, str)
    #: the folder the last export went to (every export dialog starts there; the window saves it)
    exportFolderChanged = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._image: np.ndarray | None = None
        self._image_name = ""
        self._image_path: Path | None = None
        self._schedule = make_schedule("cosine", 1000)
        self._timestep = 0
        self._seed = 0
        self._model_path: Path | None = None
        self._export_folder: Path | None = None

    # -- image -------------------------------------------------------------------------
    @property
    def image(self) -> np.ndarray | None:
        return self._image

    @property
    def image_name(self) -> str:
        return self._image_name

    @property
    def image_path(self) -> Path | None:
        return self._image_path

    def set_image(self, image: np.ndarray, name: str, path: Path | None = None) -> None:
        self._image, self._image_name, self._image_path = image, name, path
        self.imageChanged.emit(image, name)

    # -- schedule and t ------------------------------------------------------------------
    @property
    def schedule(self) -> NoiseSchedule:
        return self._schedule

    def set_schedule(self, schedule: NoiseSchedule) -> None:
        """A fewer-step schedule brings t into its range first, so no listener sees t ≥ T."""
        if schedule == self._schedule:
            return
        clamped = min(self._timestep, schedule.num_timesteps - 1)
        self._schedule = schedule
        t_changed = clamped != self._timestep
        self._timestep = clamped
        self.scheduleChanged.emit(schedule)
        if t_changed:
            self.timestepChanged.emit(clamped)

    @property
    def timestep(self) -> int:
        return self._timestep

    def set_timestep(self, t: int) -> None:
        t = int(min(max(int(t), 0), self._schedule.num_timesteps - 1))
        if t != self._timestep:
            self._timestep = t
            self.timestepChanged.emit(t)

    @property
    def seed(self) -> int:
        return self._seed

    def set_seed(self, seed: int) -> None:
        if int(seed) != self._seed:
            self._seed = int(seed)
            self.seedChanged.emit(self._seed)

    # -- model -----------------------------------------------------------------------------
    @property
    def model_path(self) -> Path | None:
        return self._model_path

    def set_model_path(self, path: Path | None) -> None:
        self._model_path = Path(path) if path is not None else None
        self.modelChanged.emit(self._model_path)

    # -- exports ---------------------------------------------------------------------------
    @property
    def export_folder(self) -> Path | None:
        """Where the last export (GIF, PNG, CSV …) went; None before the first."""
        return self._export_folder

    def set_export_folder(self, folder: Path | str | None) -> None:
        folder = Path(folder) if folder else None
        if folder != self._export_folder:
            self._export_folder = folder
            self.exportFolderChanged.emit(folder)

    # -- messages --------------------------------------------------------------------------
    def show_status(self, text: str, timeout_ms: int = 5000) -> None:
        self.statusMessage.emit(text, timeout_ms)

    def report_error(self, title: str, message: str) -> None:
        self.errorRaised.emit(title, message)
