"""The playground's animations for the app's export dialog: the forward process or the last reverse run."""

from __future__ import annotations

from ..errors import InputError
from ..export import parse_t_spec
from .datasets import check_points
from .render import ForwardFrames, RenderStyle, ReverseFrames
from .scene import PlaygroundScene
from .reverse_run import ReverseRun

__all__ = ["export_frames", "FORWARD_FRAMES"]

#: about this many forward frames over 0 … T−1 (the dialog can keep fewer)
FORWARD_FRAMES = 60


def export_frames(which: str, scene: PlaygroundScene, run: ReverseRun, style: RenderStyle, snapshot=None):
    """Lazily rendered frames of ``which`` ("forward" or "reverse"), copied so the panel may change meanwhile.

    The forward frames use the scene's own ε per point, so they show what the panel shows.
    """
    if which == "forward":
        check_points(scene.points, "the points")
        T = scene.schedule.num_timesteps
        ts = parse_t_spec(f"0:{T}:{max(1, T // FORWARD_FRAMES)}", T)
        return ForwardFrames(scene.points.copy(), scene.schedule, ts, noise=scene.noise.copy(), style=style,
                             snapshot=snapshot if style.field == "learned" else None)
    if run.trajectories is None or not len(run.trajectories):
        raise InputError("Nothing to export yet: run the reverse process first (Sample)")
    follow = run.path_particles() + ([run.followed] if run.followed is not None else [])
    return ReverseFrames(run.snapshot_of_trajectories(), scene.schedule,
                         points=scene.points.copy() if style.heatmap and len(scene) else None,
                         style=style, follow=follow)
