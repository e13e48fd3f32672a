"""Generated export options: valid ones export every format (or are refused with a reason), bad ones are refused."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.export import ExportOptions, ImageFrame, export_frames
from diffusion_studio.core.validation import ConfigError

from ._bounds import bounded

PROFILE = settings.get_profile("diffusion-studio")

anything = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
            | st.lists(st.integers(-300, 300), max_size=4) | st.builds(np.float32, st.floats(width=32))
            | st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)))
plausible = {
    "view": st.sampled_from(["x_t", "pred_x0", "pred_noise", "side_by_side"]),
    "t_range": st.none() | st.tuples(st.integers(-2, 1200), st.integers(-2, 1200)),
    "max_frames": st.none() | st.integers(-1, 12),
    "spacing": st.sampled_from(["even", "dense_near_0"]),
    "fps": st.floats(0, 120),
    "hold_last_s": st.floats(-1, 61),
    "loop": st.booleans(),
    "scale": st.floats(0, 40),
    "grid_columns": st.none() | st.integers(-1, 2000),
    "padding": st.integers(-1, 70),
    "pad_color": st.tuples(st.integers(-1, 256), st.integers(0, 255), st.integers(0, 255)),
    "caption": st.booleans(),
    "palette": st.sampled_from(["high", "fast"]),
    "quality": st.integers(0, 101),
    "strip_frames": st.integers(0, 101),
    "sample_index": st.none() | st.integers(-1, 5),
}
options = st.fixed_dictionaries({}, optional={name: value | anything for name, value in plausible.items()})


def _frames():
    rng = np.random.default_rng(0)
    batch = lambda: rng.integers(0, 256, (4, 6, 6, 3), dtype=np.uint8)  # noqa: E731
    return [ImageFrame(batch(), t=t, alphas_cumprod=0.5, pred_x0=batch(), pred_noise=batch()) for t in (999, 500, 0)]


@settings(PROFILE, max_examples=400)
@given(values=options)
def test_export_options_are_valid_or_refused_in_one_line(values):
    with bounded("export options: generated values"):
        try:
            made = ExportOptions(**values)
        except ConfigError as error:
            assert str(error).startswith("export options: ") and "\n" not in str(error)
            return
        assert 0.1 <= made.fps <= 100 and math.isfinite(made.hold_last_s)
        assert made.scale is None or 0.05 <= made.scale <= 32  # None: enlarge to AUTO_SHORT_SIDE
        assert made.t_range is None or made.t_range[0] <= made.t_range[1]
        assert all(0 <= c <= 255 for c in made.pad_color) and type(made.padding) is int


@settings(PROFILE, max_examples=60)
@given(values=st.fixed_dictionaries({}, optional=plausible),
       name=st.sampled_from(["a.gif", "a.webp", "a.png", "frames", "a.mp4", "s.png"]))
def test_valid_options_export_or_refuse_with_a_reason(values, name, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    try:
        made = ExportOptions(**values)
    except ConfigError:
        return
    with bounded("export options: exports with valid values"):
        try:
            result = export_frames(_frames(), folder / name, made, kind="strip" if name == "s.png" else None)
        except InputError as error:  # e.g. "Sample 5 does not exist", "No frame has t in …"
            assert "\n" not in str(error)
            assert not [p for p in folder.iterdir()]  # nothing partial
            return
        assert result.bytes_written > 0 and (folder / name).exists()
