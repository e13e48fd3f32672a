"""The Train panel: pick a dataset, train in the background, watch loss curves and samples live.

Modules: :mod:`.panel` (the dock widget), :mod:`.dataset_view` (folder scan report),
:mod:`.settings_form` / :mod:`.config_fields` (TrainConfig editor), :mod:`.controls`,
:mod:`.live_plots`, :mod:`.sample_grid`, :mod:`.runs_list` and :mod:`.worker` (the superqt worker
around the Qt-free :mod:`diffusion_studio.core.training.relay`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainingPanel"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not build Qt widgets' modules until the panel is wanted.
    if name == "TrainingPanel":
        from .panel import TrainingPanel

        return TrainingPanel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
