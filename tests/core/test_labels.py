"""Class labels from a folder's subfolders (as torchvision's ImageFolder), the demo digits' labels, labelled batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from diffusion_studio.core.data import (
    DEMO_CLASS_NAMES,
    BatchSource,
    ClassLabels,
    choose_batch_source,
    choose_classes,
    class_of,
    demo_labels,
    folder_labels,
    scan_folder,
)
from diffusion_studio.core.errors import InputError


def _png(path, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((10, 12), value, np.uint8)).save(path)


def labelled_folder(root, counts: dict[str, int], bad: dict[str, int] | None = None, loose: int = 0):
    """``counts[name]`` good PNGs in ``root/name`` (a nested one too), ``bad[name]`` empty files, ``loose`` at the top."""
    for name, count in counts.items():
        for i in range(count):
            _png(root / name / ("deep" if i == 0 else "") / f"{i}.png", 10 * i)
    for name, count in (bad or {}).items():
        for i in range(count):
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / f"broken_{i}.png").write_bytes(b"")
    for i in range(loose):
        _png(root / f"loose_{i}.png")
    return root


def test_subfolders_are_classes_in_sorted_order_and_deeper_folders_belong_to_their_first_level(tmp_path):
    report = scan_folder(labelled_folder(tmp_path / "pets", {"dog": 3, "cat": 2, "zebra": 12}))
    classes = report.classes
    assert classes.names == ("cat", "dog", "zebra") and classes.counts == (2, 3, 12) and classes.complete
    assert [classes.names[k] for k in classes.labels] == [class_of(p, report.root) for p in report.usable]
    assert report.summary().startswith("17 usable images in 3 classes")
    assert report.to_dict()["classes"] == {"names": ["cat", "dog", "zebra"], "counts": [2, 3, 12], "unlabelled": 0,
                                           "empty": []}
    assert any("few images in 2 classes: cat (2), dog (3)" in w for w in classes.warnings())


def test_a_flat_folder_or_a_single_subfolder_has_no_classes(tmp_path):
    assert scan_folder(labelled_folder(tmp_path / "flat", {}, loose=3)).classes is None
    one = scan_folder(labelled_folder(tmp_path / "one", {"photos": 3}))
    assert one.classes is None and "classes" not in one.summary()
    assert choose_classes("auto", one.classes, "one") is None
    with pytest.raises(InputError, match="has no classes: put the images of each class in their own subfolder"):
        choose_classes("classes", one.classes, "one")


def test_images_next_to_subfolders_make_a_mixed_folder_that_trains_without_classes(tmp_path):
    report = scan_folder(labelled_folder(tmp_path / "mixed", {"a": 2, "b": 2}, loose=2))
    classes = report.classes
    assert not classes.complete and classes.unlabelled == 2
    assert "in 2 classes" not in report.summary()
    assert "2 images sit directly in the folder" in classes.warnings()[0]
    assert choose_classes("auto", classes, "mixed") is None
    with pytest.raises(InputError, match="2 images sit directly in it"):
        choose_classes("classes", classes, "mixed")


def test_a_class_without_a_usable_image_is_refused_with_a_way_out(tmp_path):
    report = scan_folder(labelled_folder(tmp_path / "broken", {"a": 12, "b": 12}, bad={"c": 2}))
    classes = report.classes
    assert classes.names == ("a", "b", "c") and classes.empty == ("c",) and classes.counts == (12, 12, 0)
    assert "class 'c' has no usable image" in classes.warnings()[0]
    with pytest.raises(InputError, match=r"class 'c' in .* has no usable image .*--conditioning none"):
        choose_classes("auto", classes, str(report.root))
    assert choose_classes("none", classes, "x") is None


def test_demo_labels_are_the_digits():
    labels = demo_labels()
    assert labels.names == DEMO_CLASS_NAMES == tuple("0123456789")
    assert sum(labels.counts) == 1797 and min(labels.counts) >= 170 and labels.complete


def test_renumbered_keeps_a_runs_class_order_and_refuses_changed_classes():
    found = ClassLabels(("a", "b", "c"), np.array([0, 1, 2, 2]))
    again = found.renumbered(["c", "a", "b"], "the folder")
    assert again.names == ("c", "a", "b") and again.labels.tolist() == [1, 2, 0, 0]
    with pytest.raises(InputError, match=r"classes of the folder changed .*new: class 'c'.*missing: class 'd'"):
        found.renumbered(["a", "b", "d"], "the folder")


def test_choose_classes_refuses_an_unknown_setting():
    with pytest.raises(InputError):
        choose_classes("sometimes", None, "x")


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=30))
def test_folder_labels_of_any_layout_count_every_image_once(tmp_path, classes):
    root = "/data"
    paths = [f"{root}/{name}/x{i}.png" if name else f"{root}/x{i}.png" for i, name in enumerate(classes)]
    found = folder_labels(root, paths, [])
    named = sorted({c for c in classes if c})
    if len(named) < 2:
        assert found is None
        return
    assert found.names == tuple(named)
    assert sum(found.counts) + found.unlabelled == len(classes)
    assert found.complete == (None not in classes)


# ------------------------------------------------------------------------------ labelled batches


def test_labels_follow_their_images_through_shuffles_flips_and_resume():
    data = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1).expand(20, 1, 2, 2).contiguous()
    labels = np.arange(20) % 3
    source = BatchSource(data, 6, seed=3, hflip=True, labels=labels)
    for _ in range(5):
        images, got = source.next_labelled_batch()
        index = ((images[:, 0, 0, 0] * 127.5 + 127.5).round().long())
        assert got.tolist() == (index % 3).tolist()
    state = source.state_dict()
    after = [source.next_labelled_batch()[1].tolist() for _ in range(3)]
    resumed = BatchSource(data, 6, seed=3, hflip=True, labels=labels)
    resumed.load_state_dict(state)
    assert [resumed.next_labelled_batch()[1].tolist() for _ in range(3)] == after
    assert BatchSource(data, 6).next_labelled_batch()[1] is None
    with pytest.raises(ValueError, match="20 labels"):
        BatchSource(data, 6, labels=labels[:5])


def test_labels_of_files_that_fail_to_decode_are_dropped_with_them(tmp_path):
    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        _png(path, 60 * i)
        paths.append(str(path))
    (tmp_path / "1.png").write_bytes(b"not a png any more")
    source = choose_batch_source(paths, image_size=4, channels=1, batch_size=3, hflip=False, labels=[0, 1, 2, 3])
    assert source.num_items == 3 and source.labels.tolist() == [0, 2, 3]


def test_streamed_batches_carry_the_labels_of_the_files_read(tmp_path):
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        _png(path, 50 * i)
        paths.append(str(path))
    source = choose_batch_source(paths, image_size=4, channels=1, batch_size=4, hflip=False, labels=[0, 1, 2, 3, 4],
                                 memory_budget_bytes=1)
    assert not source.in_memory
    images, labels = source.next_labelled_batch()
    values = (images[:, 0, 0, 0] * 127.5 + 127.5).round().long()
    assert (values // 50).tolist() == labels.tolist()
