"""core.model_sources: 'demo' and paths reach our run loader; LoadedModel describes itself."""

from __future__ import annotations

import pytest

from diffusion_studio.core.checkpoint import DEMO_MODEL_DIR
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.model_sources import model_path, open_model


def test_demo_is_the_bundled_model():
    assert model_path("demo") == DEMO_MODEL_DIR
    loaded = open_model("demo", device="cpu")
    assert loaded.source == "run" and loaded.is_ema and loaded.step is not None
    assert loaded.variance == "fixed_small" and loaded.clip_sample and loaded.decode is None
    assert str(loaded.device) == "cpu"
    line = loaded.describe()
    assert f"{loaded.image_size}×{loaded.image_size} gray" in line and "ε-prediction" in line
    assert f"T = {loaded.schedule.num_timesteps}" in line and "params" in line


def test_a_path_that_is_no_model_is_refused_with_its_reason(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_model(tmp_path / "nothing", device="cpu")
    with pytest.raises(InputError, match="not a Diffusion Studio run folder"):
        open_model(tmp_path, device="cpu")
