"""Training data: folder scans with per-file reasons, class labels, decoding, the demo digits, resumable batches.

``scan`` and ``decode`` need only Pillow and numpy; importing the batch sources pulls in torch,
so it happens lazily on first use of ``BatchSource`` / ``choose_batch_source``.
"""

from __future__ import annotations

from typing import Any

from .decode import (
    DEMO_DIGITS_COUNT,
    DEMO_SOURCE,
    decode_image,
    demo_dataset_tensor,
    demo_digit_labels,
    load_images_tensor,
    skip_kind,
)
from .labels import (
    CONDITIONING_CHOICES,
    DEMO_CLASS_NAMES,
    FEW_IMAGES_PER_CLASS,
    ClassLabels,
    choose_classes,
    class_of,
    demo_labels,
    folder_labels,
)
from .scan import ScanProgress, ScanReport, iter_scan, list_image_files, scan_folder

__all__ = [
    "BatchSource",
    "CONDITIONING_CHOICES",
    "ClassLabels",
    "DEMO_CLASS_NAMES",
    "FEW_IMAGES_PER_CLASS",
    "choose_classes",
    "class_of",
    "demo_labels",
    "folder_labels",
    "DEMO_DIGITS_COUNT",
    "DEMO_SOURCE",
    "ScanProgress",
    "ScanReport",
    "choose_batch_source",
    "decode_image",
    "decoded_bytes",
    "default_memory_budget",
    "demo_dataset_tensor",
    "demo_digit_labels",
    "iter_scan",
    "list_image_files",
    "load_images_tensor",
    "scan_folder",
    "skip_kind",
]

_LAZY = {"BatchSource", "choose_batch_source", "decoded_bytes", "default_memory_budget"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import batches

        return getattr(batches, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
