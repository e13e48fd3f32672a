"""Playground pictures without Qt (heatmap levels, arrows, export frames) and the package's notebook examples."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from diffusion_studio.core.export import ExportOptions, export_frames
from diffusion_studio.core.playground import IdealDenoiser, SampleConfig, make_dataset, run_trajectories
from diffusion_studio.core.playground.render import (
    DENSITY_LUT,
    ForwardFrames,
    RenderStyle,
    ReverseFrames,
    arrow_segments,
    density_levels,
)
from diffusion_studio.core.schedules import make_schedule

SCHEDULE = make_schedule("linear", 200)


def test_density_levels_are_relative_to_the_peak():
    density = np.array([[0.0, 1.0], [4.0, 16.0]])
    assert density_levels(density).tolist() == [[0, 64], [128, 255]]  # γ = ½
    assert not density_levels(np.zeros((3, 3))).any()
    assert DENSITY_LUT.shape == (256, 3) and DENSITY_LUT.dtype == np.uint8


def test_arrows_are_three_segments_scaled_to_the_spacing():
    positions = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    vectors = np.array([[1.0, 0.0], [0.5, 0.0], [0.0, 0.0]])
    segments = arrow_segments(positions, vectors, spacing=1.0, reference=1.0)
    assert segments.shape == (3 * 6, 2)
    shafts = segments.reshape(3, 3, 2, 2)[:, 0]
    assert np.allclose(np.hypot(*(shafts[:, 1] - shafts[:, 0]).T), [0.8, 0.4, 0.0])
    nan = arrow_segments(positions, np.full((3, 2), np.nan), 1.0)
    assert np.isfinite(nan).all()


def test_forward_and_reverse_frames_are_pictures_for_the_exporter(tmp_path):
    data = make_dataset("circles", 300, seed=0).points
    style = RenderStyle(size=96, field="ideal", paths=3)
    forward = ForwardFrames(data, SCHEDULE, [0, 50, 199], style=style)
    frame = forward[1]
    assert len(forward) == 3 and frame.t == 50 and frame.x_t.shape == (96, 96, 3) and frame.x_t.dtype == np.uint8
    assert frame.pred_x0.shape == frame.pred_noise.shape == (96, 96, 3)
    assert not np.array_equal(forward[0].x_t, forward[2].x_t)

    paths = run_trajectories(IdealDenoiser(data, SCHEDULE), SCHEDULE, SampleConfig(steps=10, particles=100))
    reverse = ReverseFrames(paths, SCHEDULE, points=data, style=style)
    assert len(reverse) == 11 and reverse[-1].is_final and reverse[-1].t == -1
    result = export_frames(reverse, tmp_path / "reverse.gif", ExportOptions(view="side_by_side", caption=True))
    assert result.frame_count == 11
    with Image.open(tmp_path / "reverse.gif") as gif:
        assert gif.n_frames == 11 and gif.width > 3 * 96


def test_a_render_style_refuses_absurd_sizes():
    with pytest.raises(ValueError, match="64 … 4096"):
        RenderStyle(size=10)


MODULES = ["__init__", "datasets", "ideal", "scene", "training", "trajectories"]


@pytest.mark.parametrize("name", MODULES)
def test_the_notebook_examples_in_the_docstrings_work(name):
    module = importlib.import_module("diffusion_studio.core.playground" + ("" if name == "__init__" else f".{name}"))
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_importing_the_playground_does_not_import_torch():
    code = ("import sys, diffusion_studio.core.playground as p; p.make_dataset('moons', 10); "
            "p.PlaygroundScene(p.make_dataset('moons', 10).points, __import__('diffusion_studio.core.schedules', "
            "fromlist=['x']).make_schedule('cosine', 100)).density(5); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
