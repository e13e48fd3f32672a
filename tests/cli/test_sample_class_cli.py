"""``diffusion-studio sample RUN --class C --guidance S``: classes by name or index, both guidance numbers, refusals."""

from __future__ import annotations

import pytest

from diffusion_studio.cli import main
from tests.core.test_class_sampling import _run


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    _run(folder)
    return folder


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pets")
    _run(folder, classes=["cat", "dog"], source="/photos")
    return folder


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plain")
    _run(folder, classes=())
    return folder


def _sample(model, out, *extra):
    return main(["sample", str(model), "--out-dir", str(out), "--device", "cpu", "--quiet", "--num", "3",
                 "--steps", "4", *extra])


def test_a_guided_class_says_both_numbers_and_what_the_judge_reads(digits, tmp_path, capsys):
    assert _sample(digits, tmp_path / "out", "--class", "7", "--guidance", "4") == 0
    out = capsys.readouterr().out
    assert "class 7, s = 4 (w = 3)" in out
    assert "digits judge: read as 7:" in out and "of 3" in out
    assert (tmp_path / "out" / "grid.png").is_file()


def test_classes_by_name_and_by_index_give_the_same_samples(pets, tmp_path, capsys):
    assert _sample(pets, tmp_path / "a", "--class", "dog", "--guidance", "2") == 0
    assert _sample(pets, tmp_path / "b", "--class", "1", "--guidance", "2") == 0
    assert (tmp_path / "a" / "grid.png").read_bytes() == (tmp_path / "b" / "grid.png").read_bytes()
    assert "digits judge" not in capsys.readouterr().out  # no judge for a model of other pictures


@pytest.mark.parametrize("model,extra,words", [
    ("pets", ("--class", "eel"), "this model has no class 'eel'; its classes are cat, dog"),
    ("plain", ("--class", "3"), "trained without classes"),
    ("plain", ("--guidance", "3"), "needs a class-conditional model"),
    ("pets", ("--guidance", "3"), "steers towards a class: choose one"),
    ("pets", ("--class", "cat", "--guidance", "-1"), "--guidance must be ≥ 0"),
    ("pets", ("--class", "cat", "--guidance", "nan"), "--guidance must be a finite number"),
])
def test_what_cannot_be_sampled_exits_2_with_one_line_and_writes_nothing(model, extra, words, request, tmp_path,
                                                                         capsys):
    out = tmp_path / "out"
    assert _sample(request.getfixturevalue(model), out, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())
