"""The Train panel: pick a dataset, train in the background, watch loss curves and samples live.

Modules: :mod:`.panel` (the dock widget), :mod:`.dataset_view` (folder scan report),
:mod:`.settings_form` / :mod:`.config_fields` (TrainConfig editor), :mod:`.controls`,
:mod:`.live_plots`, :mod:`.sample_grid`, :mod:`.runs_list` and :mod:`.worker`
(``core.training.train`` off the GUI thread, throttled).
"""

from .panel import TrainingPanel

__all__ = ["TrainingPanel"]
