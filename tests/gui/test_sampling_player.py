"""The sampling panel's pure pieces: frame composition, click mapping, noise-level pairing, the timeline."""

import numpy as np
import pytest
from PySide6.QtWidgets import QSlider

from diffusion_studio.core.frame_views import (
    compose_frame,
    frame_stats,
    grid_shape,
)
from diffusion_studio.gui.panels.sampling.compare import paired_index
from diffusion_studio.gui.panels.sampling.timeline import TimelinePlayer
from tests.gui.sampling_fakes import fake_chain


def test_grid_is_near_square():
    assert grid_shape(1) == (1, 1)
    assert grid_shape(4) == (2, 2)
    assert grid_shape(5) == (2, 3)
    assert grid_shape(16) == (4, 4)


def test_compose_grid_all_views_and_single_sample():
    frame = fake_chain(batch=5, size=8)[3]
    image, layout = compose_frame(frame, "x_t")
    assert image.dtype == np.uint8 and image.shape == (2 * 8 + 1, 3 * 8 + 2, 3)
    # tile of sample 4 (row 1, column 1) holds that sample's pixels
    assert (image[9:17, 9:17] == frame.x_t[4]).all()
    assert layout.sample_at(10, 10) == 4
    assert layout.sample_at(8, 2) is None  # the 1-px gap between tiles
    assert layout.sample_at(20, 12) is None  # an empty cell of the last row

    all_three, layout_all = compose_frame(frame, "all")
    assert all_three.shape[1] == 3 * image.shape[1] + 2 * 3
    # the same sample is found in the x̂0 third of the picture
    assert layout_all.sample_at(layout_all.panel_width + 10, 10) == 4

    single, layout_one = compose_frame(frame, "pred_x0", sample=2)
    assert single.shape == (8, 8, 3)
    assert (single[..., 0] == frame.pred_x0[2, ..., 0]).all()
    assert layout_one.sample_at(3, 3) == 2

    with pytest.raises(ValueError):
        compose_frame(frame, "nonsense")


def test_frame_stats_text():
    frames = fake_chain()
    first = frame_stats(frames[0])
    assert first.t == frames[0].t and 0 < first.snr < 1e3
    assert "t = 99" in first.text() and "SNR" in first.text()
    final = frame_stats(frames[-1])
    assert final.snr == float("inf") and "clean" in final.text()
    assert first.short_text() == "t = 99" and final.short_text() == "t = 0 (clean)"


def test_paired_index_matches_equal_noise_levels():
    long_chain, short_chain = fake_chain(num_frames=101), fake_chain(num_frames=11)
    for frame in short_chain:
        match = long_chain[paired_index(long_chain, frame.alphas_cumprod)]
        assert match.t == frame.t  # both chains visit these timesteps exactly
    assert long_chain[paired_index(long_chain, 1.0)].is_final


def test_timeline_steps_scrubs_and_clamps(qtbot):
    player = TimelinePlayer()
    qtbot.addWidget(player)
    seen = []
    player.indexChanged.connect(seen.append)
    player.set_count(10)
    assert player.index == 0
    player.step(1)
    player.step(1)
    assert player.index == 2
    player.step(-5)
    assert player.index == 0
    player.findChild(QSlider).setValue(7)  # the user drags the slider
    assert player.index == 7
    player.set_index(99)
    assert player.index == 9
    player.set_count(20, follow_end=True)
    assert player.index == 19
    assert seen[-1] == 19
    assert player.position_text() == "20 / 20"


@pytest.mark.parametrize("mode", ["Loop", "Bounce", "Once"])
def test_timeline_plays_in_each_mode(qtbot, mode):
    player = TimelinePlayer()
    qtbot.addWidget(player)
    player.set_count(4)
    player.set_mode(mode)
    player.set_fps(120)
    visited = []
    player.indexChanged.connect(visited.append)
    player.play()
    assert player.playing
    if mode == "Once":
        qtbot.waitUntil(lambda: not player.playing, timeout=5000)
        assert player.index == 3
    else:
        qtbot.waitUntil(lambda: len(visited) >= 8, timeout=5000)
        player.pause()
        assert not player.playing
        if mode == "Loop":
            assert 0 in visited[3:]  # wrapped around after the end
        else:
            assert 2 in visited[visited.index(3):]  # came back down from the end
            assert all(abs(a - b) <= 2 for a, b in zip(visited, visited[1:]))


def test_timeline_without_frames_is_inert(qtbot):
    player = TimelinePlayer()
    qtbot.addWidget(player)
    player.play()
    player.step(1)
    assert not player.playing and player.index == 0 and player.count == 0
