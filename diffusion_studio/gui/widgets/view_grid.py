"""Chains side by side: the views of a chain panel placed in one grid, the same way in every panel."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtWidgets import QGridLayout, QWidget

__all__ = ["arrange_views"]


def arrange_views(grid: QGridLayout, views: Sequence[QWidget], count: int) -> None:
    """Show the first ``count`` views side by side (up to four in one row, more in two rows); hide the rest."""
    columns = count if count <= 4 else (count + 1) // 2
    for k, view in enumerate(views):
        grid.removeWidget(view)
        if k < count:
            grid.addWidget(view, k // columns, k % columns)
        view.setVisible(k < count)
