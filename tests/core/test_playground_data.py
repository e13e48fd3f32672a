"""Playground point sets: the built-in sets, CSV and image loading, drawing, and generated bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.playground import (
    DATASET_NAMES,
    MAX_POINTS,
    PlaygroundDataError,
    load_points,
    make_dataset,
    points_from_csv,
    points_from_image,
)
from diffusion_studio.core.playground.drawing import erase_mask, spray, stroke_count

FILE_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_each_built_in_set_is_standardised_float32_and_seeded(name):
    points = make_dataset(name, 800, seed=3).points
    assert points.shape == (800, 2) and points.dtype == np.float32
    assert np.allclose(points.mean(axis=0), 0.0, atol=1e-5)
    assert math.isclose(float(np.sqrt(np.mean(np.sum(points.astype(np.float64) ** 2, axis=1)) / 2)), 1.0, rel_tol=1e-5)
    assert np.array_equal(points, make_dataset(name, 800, seed=3).points)
    assert not np.array_equal(points, make_dataset(name, 800, seed=4).points)
    assert not points.flags.writeable


def test_the_sets_have_their_shapes():
    moons = make_dataset("moons", 2000).points
    gaussians = make_dataset("gaussians", 4000).points
    circles = make_dataset("circles", 2000).points
    # 8 Gaussians: eight clusters on a circle, so the angles fall into 8 groups
    angles = np.round(np.arctan2(gaussians[:, 1], gaussians[:, 0]) / (np.pi / 4)) % 8
    assert len(np.unique(angles)) == 8
    # circles: two radii, 2 : 1
    radii = np.hypot(circles[:, 0], circles[:, 1])
    inner, outer = np.sort(radii)[:1000].mean(), np.sort(radii)[1000:].mean()
    assert 1.8 < outer / inner < 2.2
    # moons: two halves that interleave; the data span more in x than in y
    assert np.ptp(moons[:, 0]) > 1.5 * np.ptp(moons[:, 1])


@pytest.mark.parametrize("count", [0, 1, MAX_POINTS + 1, -5])
def test_point_counts_out_of_range_are_refused(count):
    with pytest.raises(PlaygroundDataError, match="number of points"):
        make_dataset("moons", count)


@pytest.mark.parametrize("count", [2.5, True, "10"])
def test_point_counts_that_are_not_whole_numbers_are_refused(count):
    with pytest.raises(PlaygroundDataError, match="whole number"):
        make_dataset("moons", count)


def test_unknown_set_names_the_choices():
    with pytest.raises(PlaygroundDataError, match="moons, swissroll"):
        make_dataset("spiral")


# -------------------------------------------------------------------------------- CSV


def _csv(tmp_path, text: str, name: str = "points.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text", [
    "x,y\n0,0\n1,2\n3,1\n",
    "0;0\n1;2\n3;1\n",
    "0\t0\n1\t2\n3\t1\n",
    "# my points\n0 0\n1 2\n\n3 1\n",
    "0,0,\n1,2,\n3,1,\n",
])
def test_csv_dialects_give_the_same_standardised_points(tmp_path, text):
    points = points_from_csv(_csv(tmp_path, text)).points
    raw = np.array([[0, 0], [1, 2], [3, 1]], dtype=np.float64)
    centred = raw - raw.mean(axis=0)
    expected = centred / math.sqrt(np.mean(np.sum(centred**2, axis=1)) / 2)
    assert np.allclose(points, expected, atol=1e-6)


def test_csv_without_standardising_keeps_the_coordinates(tmp_path):
    points = points_from_csv(_csv(tmp_path, "10,20\n30,40\n"), standardise=False).points
    assert np.array_equal(points, [[10, 20], [30, 40]])


@pytest.mark.parametrize("text, words", [
    ("0,0\n1,abc\n", "line 2: 'abc' is not a number"),
    ("0,0\n1,nan\n", "line 2: 'nan' is not a finite number"),
    ("0,0\ninf,1\n", "line 2: 'inf' is not a finite number"),
    ("0,0,1\n1,2,3\n", "line 1: expected 2 columns"),
    ("", "holds no x,y rows"),
    ("x,y\n", "holds no x,y rows"),
    ("1,2\n", "single point"),
    ("1,2\n1,2\n1,2\n", "the same point"),
])
def test_bad_csv_files_get_one_clear_sentence(tmp_path, text, words):
    with pytest.raises(PlaygroundDataError) as info:
        points_from_csv(_csv(tmp_path, text))
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_csv_that_is_not_text_or_too_long_or_missing(tmp_path):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(PlaygroundDataError, match="not a text file"):
        points_from_csv(binary)
    many = _csv(tmp_path, "".join(f"{i},{i % 7}\n" for i in range(MAX_POINTS + 1)))
    with pytest.raises(PlaygroundDataError, match="more than 10,000 points"):
        points_from_csv(many)
    with pytest.raises(PlaygroundDataError, match="does not exist"):
        points_from_csv(tmp_path / "missing.csv")
    with pytest.raises(PlaygroundDataError, match="not a file"):
        points_from_csv(tmp_path)


@FILE_SETTINGS
@given(st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True, width=64),
                          st.floats(allow_nan=True, allow_infinity=True, width=64)), min_size=0, max_size=30))
def test_generated_numeric_csv_loads_standardised_or_is_refused(tmp_path_factory, rows):
    path = _csv(tmp_path_factory.mktemp("csv"), "".join(f"{x!r},{y!r}\n" for x, y in rows))
    array = np.array(rows, dtype=np.float64).reshape(-1, 2)
    must_refuse = len(array) < 2 or not np.isfinite(array).all() or not np.ptp(array, axis=0).any()
    try:
        points = points_from_csv(path).points.astype(np.float64)
    except PlaygroundDataError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert not must_refuse
    assert len(points) == len(rows) and np.isfinite(points).all()
    assert np.allclose(points.mean(axis=0), 0.0, atol=1e-4)
    assert math.isclose(math.sqrt(np.mean(np.sum(points**2, axis=1)) / 2), 1.0, rel_tol=1e-4)


@FILE_SETTINGS
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_generated_text_never_crashes_the_csv_loader(tmp_path_factory, text):
    path = _csv(tmp_path_factory.mktemp("csv"), text)
    try:
        points = points_from_csv(path).points
    except PlaygroundDataError as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert points.shape[1] == 2 and np.isfinite(points).all() and len(points) >= 2


# -------------------------------------------------------------------------------- images


def test_dark_pixels_become_points_where_the_image_is_dark():
    image = np.full((100, 200), 255, np.uint8)
    image[20:40, 150:190] = 0  # a dark block in the upper right
    points = points_from_image(image, 500, seed=1).points
    assert points.shape == (500, 2)
    raw = points_from_image(image, 500, seed=1)
    assert raw.name == "the image"
    # after standardising the block is a compact cloud: its spread matches a 40 × 20 rectangle
    assert 1.5 < np.ptp(points[:, 0]) / np.ptp(points[:, 1]) < 2.5


def test_image_file_with_alpha_reads_transparent_as_white(tmp_path):
    rgba = np.zeros((60, 60, 4), np.uint8)  # black but fully transparent …
    rgba[10:20, 10:20] = (0, 0, 0, 255)  # … except one opaque black square
    path = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(path)
    points = points_from_image(path, 300).points
    assert points.shape == (300, 2)
    assert np.ptp(points[:, 0]) < 4 and np.ptp(points[:, 1]) < 4


@pytest.mark.parametrize("value", [255, 200])
def test_an_image_without_dark_pixels_is_refused(tmp_path, value):
    path = tmp_path / "white.png"
    Image.fromarray(np.full((30, 30, 3), value, np.uint8)).save(path)
    with pytest.raises(PlaygroundDataError, match="no dark pixels"):
        points_from_image(path, 100)


def test_a_file_that_is_not_an_image_is_refused(tmp_path):
    path = tmp_path / "fake.png"
    path.write_text("not an image")
    with pytest.raises(InputError, match="not an image"):
        points_from_image(path, 100)


@FILE_SETTINGS
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1), st.integers(2, 300))
def test_generated_images_give_points_or_the_no_dark_pixels_message(h, w, seed, count):
    image = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    try:
        points = points_from_image(image, count, seed=seed).points
    except PlaygroundDataError as error:
        assert "dark pixels" in str(error)
        assert (image / 255.0 >= 0.5).all()
        return
    assert (image / 255.0 < 0.5).any()
    assert points.shape == (count, 2) and np.isfinite(points).all()


def test_load_points_picks_by_name_or_extension(tmp_path):
    assert load_points("moons", 50).name == "Two moons"
    assert len(load_points(_csv(tmp_path, "0,0\n1,1\n2,0\n"), 50)) == 3
    path = tmp_path / "dot.png"
    Image.fromarray(np.where(np.eye(16, dtype=bool), 0, 255).astype(np.uint8)).save(path)
    assert len(load_points(path, 64)) == 64
    with pytest.raises(PlaygroundDataError, match="neither a built-in data set"):
        load_points("nonsense")
    other = tmp_path / "points.json"
    other.write_text("{}")
    with pytest.raises(PlaygroundDataError, match="use a .csv"):
        load_points(other)


# -------------------------------------------------------------------------------- drawing


def test_a_stroke_sprays_a_band_and_erasing_removes_what_is_under_it():
    rng = np.random.default_rng(0)
    band = spray((-1.0, 0.0), (1.0, 0.0), 0.25, rng)
    assert band.dtype == np.float32 and len(band) == stroke_count(2.0, 0.25) == 54
    assert np.all(np.abs(band[:, 1]) <= 0.25 + 1e-6) and np.all(np.abs(band[:, 0]) <= 1.25 + 1e-6)
    assert band[:, 0].min() < -0.5 and band[:, 0].max() > 0.5  # spread along the whole segment
    dab = spray((2.0, 2.0), (2.0, 2.0), 0.5, rng)  # a click
    assert len(dab) == 6 and np.all(np.hypot(dab[:, 0] - 2.0, dab[:, 1] - 2.0) <= 0.5 + 1e-6)
    kept = erase_mask(band, (-1.0, 0.0), (0.0, 0.0), 0.3)
    assert np.all(band[~kept, 0] <= 0.3 + 1e-6) and np.all(band[kept, 0] > 0.0)
    assert erase_mask(band, (5.0, 5.0), (5.0, 5.0), 0.3).all()
