"""The Train panel: pick a dataset, train in the background, watch loss curves and samples live.

Modules: :mod:`.panel` (the dock widget), :mod:`.dataset_view` (folder scan report),
:mod:`.settings_form` / :mod:`.config_fields` (TrainConfig editor), :mod:`.controls`,
:mod:`.live_plots`, :mod:`.sample_grid`, :mod:`.runs_list`, :mod:`.worker` (superqt worker)
and :mod:`.updates` (the Qt-free side: throttling, the training child process).
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainingPanel"]


def __getattr__(name: str) -> Any:
    # Lazy: the training child process imports .updates and must not load Qt through here.
    if name == "TrainingPanel":
        from .panel import TrainingPanel

        return TrainingPanel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
