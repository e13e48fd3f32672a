"""The Train panel's dataset preview of a labelled folder and of the demo digits: classes, counts, examples, warnings."""

from __future__ import annotations

from diffusion_studio.gui.panels.training.dataset_view import CLASS_EXAMPLES, DatasetView, class_strip
from tests.core.test_labels import labelled_folder


def _scanned(qtbot, folder) -> DatasetView:
    view = DatasetView()
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(view.datasetChanged, timeout=20_000, check_params_cb=lambda choice: choice is not None):
        view.set_folder(folder)
    return view


def _rows(view: DatasetView) -> list[tuple[str, str, bool]]:
    rows = []
    for i in range(view.classes.topLevelItemCount()):
        item = view.classes.topLevelItem(i)
        rows.append((item.text(0), item.text(1), not item.icon(2).isNull()))
    return rows


def test_the_demo_shows_its_ten_digit_classes_with_examples(qtbot):
    view = DatasetView()
    qtbot.addWidget(view)
    view.show()
    view.use_demo()
    assert "in 10 classes" in view.summary_label.text()
    rows = _rows(view)
    assert [r[0] for r in rows] == list("0123456789") and rows[0][1] == "178" and all(r[2] for r in rows)
    assert "10 classes</b> (the digits 0–9)" in view.classes_label.text()


def test_a_labelled_folder_lists_its_classes_and_warns_about_the_weak_ones(qtbot, tmp_path):
    folder = labelled_folder(tmp_path / "pets", {"cat": 12, "dog": 3}, bad={"eel": 1})
    view = _scanned(qtbot, folder)
    assert view.classes.isVisibleTo(view)
    assert _rows(view) == [("cat", "12", True), ("dog", "3", True), ("eel", "0", False)]
    text = view.classes_label.text()
    assert "class &#x27;eel&#x27; has no usable image" in text  # html-escaped quotes
    assert "few images in 1 class: dog (3)" in text


def test_a_mixed_folder_says_why_its_subfolders_are_not_classes(qtbot, tmp_path):
    view = _scanned(qtbot, labelled_folder(tmp_path / "mixed", {"a": 2, "b": 2}, loose=1))
    assert not view.classes.isVisibleTo(view)
    assert "1 image sits directly in the folder" in view.classes_label.text()
    plain = _scanned(qtbot, labelled_folder(tmp_path / "flat", {}, loose=3))
    assert not plain.classes.isVisibleTo(plain) and not plain.classes_label.isVisibleTo(plain)


def test_class_strip_fits_any_thumbnail_into_square_tiles():
    import numpy as np

    strip = class_strip([np.full((8, 8, 1), 200, np.uint8), np.zeros((64, 40, 3), np.uint8)], side=28)
    assert strip.shape == (28, CLASS_EXAMPLES * 30 - 2, 3)
    assert strip[:, :28].max() == 200 and strip[:, 60:].max() == 0
