"""Exact values at one t for every visible schedule: under the mouse, else at the cursor."""

from __future__ import annotations

import html
import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from ... import theme
from ....core.schedule_entries import ScheduleEntry

__all__ = ["ScheduleReadout", "format_value"]

_COLUMNS = ("t", "β<sub>t</sub>", "ᾱ<sub>t</sub>", "√ᾱ<sub>t</sub>", "√(1−ᾱ<sub>t</sub>)", "ln SNR")


def format_value(value: float) -> str:
    if math.isinf(value):
        return "−∞" if value < 0 else "∞"
    if value == 0:
        return "0"
    return f"{value:.6g}" if 1e-4 <= abs(value) < 1e5 else f"{value:.4e}"


class ScheduleReadout(QWidget):
    """A rich-text label in a holder without a layout.

    Fixed height, ignored width: new numbers never re-lay out (and so repaint) the plots. The
    holder stops the label's geometry updates: a label in a layout would have every layout up to
    the main window recomputed on each new text (the cursor follows the forward slider).
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setToolTip("Values at the t under the mouse; at the forward view's t (the cursor) otherwise")
        self.rows: list[tuple[ScheduleEntry, int | None]] = []
        self._sized_for_rows = -1

    def text(self) -> str:
        return self.label.text()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self.label.setGeometry(self.rect())

    def show_rows(self, rows: list[tuple[ScheduleEntry, int | None]], *, hovering: bool) -> None:
        self.rows = rows
        c = theme.colors()
        mono = theme.mono_font().family()
        where = "under the mouse" if hovering else "at the cursor (forward view's t)"
        head = "".join(f"<th align='right' style='padding:0 10px'>{name}</th>" for name in _COLUMNS)
        body = []
        for entry, t in rows:
            color = theme.plot_color(entry.color_index).name()
            name = html.escape(entry.title())
            cells = [f"<td><span style='color:{color}'>━━</span> {name}</td>"]
            if t is None:
                cells.append(f"<td colspan='{len(_COLUMNS)}' style='color:{c.muted_text}'>past the last step</td>")
            else:
                s = entry.schedule
                values = (s.betas[t], s.alphas_cumprod[t], s.sqrt_alphas_cumprod[t],
                          s.sqrt_one_minus_alphas_cumprod[t], s.log_snr[t])
                cells.append(f"<td align='right' style='padding:0 10px'>{t}</td>")
                cells += [f"<td align='right' style='padding:0 10px'>{format_value(float(v))}</td>" for v in values]
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.label.setText(
            f"<div style='color:{c.muted_text}'>Values {where}</div>"
            f"<table style='font-family:\"{mono}\"; color:{c.text}' cellspacing='0'>"
            f"<tr style='color:{c.muted_text}'><th align='left'>schedule</th>{head}</tr>{''.join(body)}</table>"
        )
        if len(rows) != self._sized_for_rows:  # rich-text layout is slow: only when rows come or go
            self._sized_for_rows = len(rows)
            self.setFixedHeight(max(self.label.heightForWidth(max(self.width(), 600)), 1))
