"""Class labels from a folder's layout, as torchvision's ``ImageFolder``: the first subfolder names the class.

::

    flowers/                      a labelled folder: 2 classes or more
      daisy/   a.jpg  b.jpg       class "daisy"
      tulip/   c.jpg  red/d.jpg   class "tulip" (deeper folders belong to their first-level folder)

A folder is labelled when all its images sit in at least two first-level subfolders. A flat folder, one with
a single subfolder, or one with usable images directly inside it next to subfolders (a "mixed" folder: its
subfolders may be anything) trains unconditionally, as before; the scan preview says why. Class names are
the subfolder names in sorted order, so class i is the i-th name, and a run records them
(``config.json["class_names"]``); the model's label K = len(names) is "no class".

The built-in digits are labelled 0–9 (:data:`DEMO_CLASS_NAMES`). Nothing here needs torch.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import InputError, printable

__all__ = [
    "CONDITIONING_CHOICES",
    "DEMO_CLASS_NAMES",
    "FEW_IMAGES_PER_CLASS",
    "ClassLabels",
    "class_of",
    "choose_classes",
    "demo_labels",
    "folder_labels",
]

#: The training setting ``conditioning``: classes when the folder has them, always, or never.
CONDITIONING_CHOICES = ("auto", "classes", "none")
DEMO_CLASS_NAMES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
#: A class with fewer usable images than this is named in a warning: the model sees too few to learn it.
FEW_IMAGES_PER_CLASS = 10


def class_of(path: str | os.PathLike, root: str | os.PathLike) -> str | None:
    """The class of an image: its first folder below ``root`` (shown printable), or None when it sits in ``root``."""
    parts = Path(os.path.relpath(os.fspath(path), os.fspath(root))).parts
    return printable(parts[0]) if len(parts) > 1 else None


@dataclass(frozen=True)
class ClassLabels:
    """The classes of a labelled dataset and the label of each usable image.

    ``labels[i]`` is the class index of the i-th usable image, or ``len(names)`` for an image directly in
    the folder (outside the class folders: then the folder is not a labelled one, :attr:`complete` is
    False). ``empty`` names class folders that hold image files none of which can be used.
    """

    names: tuple[str, ...]
    labels: np.ndarray  # int64, one per usable image
    empty: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def null_label(self) -> int:
        return len(self.names)

    @property
    def counts(self) -> tuple[int, ...]:
        """Usable images per class, in the order of ``names``."""
        found = np.bincount(self.labels, minlength=self.num_classes + 1)
        return tuple(int(c) for c in found[: self.num_classes])

    @property
    def unlabelled(self) -> int:
        """Usable images outside every class folder (directly in the folder)."""
        return int(np.sum(self.labels == self.null_label))

    @property
    def complete(self) -> bool:
        """Every usable image is in a class folder: the folder is a labelled dataset."""
        return self.unlabelled == 0

    def few_images(self, limit: int = FEW_IMAGES_PER_CLASS) -> tuple[str, ...]:
        """Classes with at least one but fewer than ``limit`` usable images."""
        return tuple(name for name, count in zip(self.names, self.counts) if 0 < count < limit)

    def warnings(self) -> list[str]:
        """Sentences for the person about classes the model can hardly learn (for the scan preview)."""
        notes = []
        if not self.complete:
            return [f"{self.unlabelled} {'image sits' if self.unlabelled == 1 else 'images sit'} directly in the "
                    f"folder, next to the subfolders {', '.join(self.names[:5])}{' …' if self.num_classes > 5 else ''}"
                    ": the subfolders are not used as classes (move every image into a class subfolder to train "
                    "with classes)"]
        if self.empty:
            notes.append(f"{_listed(self.empty)} {'has' if len(self.empty) == 1 else 'have'} no usable image "
                         "(every file in it was skipped): training with classes is refused until it has one or "
                         "is removed")
        few = self.few_images()
        if few:
            counts = dict(zip(self.names, self.counts))
            shown = ", ".join(f"{name} ({counts[name]})" for name in few[:6]) + (" …" if len(few) > 6 else "")
            notes.append(f"few images in {len(few)} {'class' if len(few) == 1 else 'classes'}: {shown}; a class "
                         f"needs at least {FEW_IMAGES_PER_CLASS} for the model to learn it")
        return notes

    def describe(self, count: bool = True) -> str:
        """One line: "10 classes: 0 (178), 1 (182), …" (``count=False``: without "10 classes: ")."""
        shown = ", ".join(f"{name} ({n})" for name, n in zip(self.names[:8], self.counts))
        more = f", … {self.num_classes - 8} more" if self.num_classes > 8 else ""
        return f"{self.num_classes} classes: {shown}{more}" if count else f"{shown}{more}"

    def to_dict(self) -> dict:
        """For the scan report and the run's ``dataset`` section."""
        return {"names": list(self.names), "counts": list(self.counts), "unlabelled": self.unlabelled,
                "empty": list(self.empty)}

    def relabelled(self, labels: np.ndarray) -> "ClassLabels":
        """The same classes for another list of images (e.g. after some failed to decode); a class none of
        them has counts as ``empty``."""
        labels = np.asarray(labels, dtype=np.int64)
        present = set(np.unique(labels).tolist())
        return ClassLabels(self.names, labels, tuple(n for i, n in enumerate(self.names) if i not in present))

    def renumbered(self, names: Sequence[str], where: str) -> "ClassLabels":
        """These labels in the class order ``names`` (a run's recorded classes): InputError unless the classes
        are the same ones (a resumed run must see the classes it was trained with)."""
        names = tuple(names)
        if set(names) != set(self.names) or len(names) != len(self.names):
            added, missing = sorted(set(self.names) - set(names)), sorted(set(names) - set(self.names))
            change = "; ".join(part for part in (f"new: {_listed(added)}" if added else "",
                                                 f"missing: {_listed(missing)}" if missing else "") if part)
            raise InputError(f"the classes of {where} changed since the run started ({change}); a run keeps the "
                             "classes it was trained with: restore them, or train a new run")
        order = np.array([names.index(name) for name in self.names] + [len(names)], dtype=np.int64)
        return ClassLabels(names, order[self.labels], self.empty)


def _listed(names: Iterable[str]) -> str:
    names = list(names)
    quoted = ", ".join(f"'{name}'" for name in names[:5]) + (" …" if len(names) > 5 else "")
    return f"class {quoted}" if len(names) == 1 else f"classes {quoted}"


def folder_labels(root: str, usable_paths: Sequence[str], skipped: Sequence[Mapping[str, str]]) -> ClassLabels | None:
    """The classes of a scanned folder (subfolder = class) from its usable and skipped files (a ``ScanReport``'s),
    or None when it has fewer than two subfolders with image files. Images directly in the folder get label K
    (see :attr:`ClassLabels.complete`)."""
    usable = [class_of(path, root) for path in usable_paths]
    skipped = [class_of(entry["path"], root) for entry in skipped]
    names = sorted({name for name in usable + skipped if name is not None})
    if len(names) < 2:
        return None
    index = {name: i for i, name in enumerate(names)}
    labels = np.array([len(names) if name is None else index[name] for name in usable], dtype=np.int64)
    found = Counter(name for name in usable if name is not None)
    empty = tuple(name for name in names if found[name] == 0)
    return ClassLabels(tuple(names), labels, empty)


def demo_labels() -> ClassLabels:
    """The built-in digits' labels 0–9 (every digit has about 180 images)."""
    from .decode import demo_digit_labels

    return ClassLabels(DEMO_CLASS_NAMES, demo_digit_labels())


def choose_classes(conditioning: str, found: ClassLabels | None, where: str) -> ClassLabels | None:
    """The classes a run trains with, for the setting ``conditioning`` ("auto", "classes", "none").

    InputError when classes are asked for and the data has none, or when a class has no usable image.
    """
    if conditioning not in CONDITIONING_CHOICES:
        raise InputError(f"conditioning must be one of {', '.join(CONDITIONING_CHOICES)}, not {conditioning!r}")
    if conditioning == "none":
        return None
    if found is None or not found.complete:
        if conditioning == "classes":
            loose = "" if found is None else (f" ({found.unlabelled} images sit directly in it, outside the "
                                              "subfolders)")
            raise InputError(f"{where} has no classes{loose}: put the images of each class in their own subfolder "
                             "(at least two), or train without classes (conditioning auto or none)")
        return None
    if found.empty:
        raise InputError(f"{_listed(found.empty)} in {where} {'has' if len(found.empty) == 1 else 'have'} no "
                         "usable image (see the skipped files and why); add usable images, remove the folder, or "
                         "train without classes (--conditioning none)")
    return found
