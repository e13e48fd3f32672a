"""What the playground keeps of a reverse run: its frames, whose paths to draw, the followed particle,
and the previous run's paths (to compare samplers from the same starting points). Plain Python."""

from __future__ import annotations

import copy

import numpy as np

from .trajectories import Trajectories, TrajectoryFrame

__all__ = ["ReverseRun"]


class ReverseRun:
    def __init__(self) -> None:
        self.trajectories: Trajectories | None = None
        self.followed: int | None = None
        self.show_ghost = False
        self._path_count = 12
        self._ghost: list[np.ndarray] | None = None
        self._ghost_particles = 0

    def start_new(self, *, keep_ghost: bool) -> None:
        """A new run is about to start: remember this run's paths as the ghost (if wanted)."""
        self.show_ghost = keep_ghost
        self._ghost = self.full_paths() if self.trajectories is not None and len(self.trajectories) else None
        self._ghost_particles = self.trajectories.num_particles if self.trajectories is not None else 0

    def begin(self, planned_frames: int, particles: int, label: str, path_count: int) -> None:
        self.trajectories = Trajectories(planned_frames, particles, label)
        self._path_count = path_count
        if self.followed is not None and self.followed >= particles:
            self.followed = None
        if self._ghost is not None and self._ghost_particles != particles:
            self._ghost = None  # other starting points: nothing to compare against

    def clear(self) -> None:
        self.trajectories, self.followed, self._ghost = None, None, None

    def set_path_count(self, count: int) -> None:
        self._path_count = max(0, int(count))

    def frame_at(self, index: int) -> TrajectoryFrame | None:
        if self.trajectories is None or not len(self.trajectories):
            return None
        return self.trajectories.frame(min(max(index, 0), len(self.trajectories) - 1))

    def path_particles(self) -> list[int]:
        """The particles whose paths are drawn: ``path_count`` of them, spread evenly over the cloud."""
        if self.trajectories is None or self._path_count == 0:
            return []
        count = self.trajectories.num_particles
        return sorted(set(np.linspace(0, count - 1, min(self._path_count, count)).round().astype(int).tolist()))

    def paths_until(self, index: int) -> list[np.ndarray]:
        if self.trajectories is None or not len(self.trajectories):
            return []
        end = min(index, len(self.trajectories) - 1) + 1
        positions = self.trajectories.positions
        return [positions[:end, particle] for particle in self.path_particles()]

    def full_paths(self) -> list[np.ndarray]:
        return [path.copy() for path in self.paths_until(len(self.trajectories) - 1)] if self.trajectories else []

    def ghost_paths(self) -> list[np.ndarray] | None:
        return self._ghost if self.show_ghost else None

    def snapshot_of_trajectories(self) -> Trajectories:
        """A copy that an export can read in another thread while a new run starts here."""
        return copy.deepcopy(self.trajectories)
