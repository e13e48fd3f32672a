"""pyqtgraph plots → PNG / SVG bytes (write them with ``core.atomic``, never half a file).

pyqtgraph's SVG exporter (0.13–0.14) parses every ``<path d=…>`` QtSvg writes as
``x,y`` pairs; QtSvg 6.11+ closes rectangles (every clipping ViewBox) with a bare
``Z`` and the exporter raises ``ValueError`` (pyqtgraph issue #3485). While we export,
:func:`svg_bytes` lets the exporter see each path without its ``Z`` and puts it back.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Iterator

import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401 - registers the exporters
from PySide6.QtCore import QBuffer, QByteArray, QIODevice

__all__ = ["png_bytes", "svg_bytes"]

_svg_module = importlib.import_module("pyqtgraph.exporters.SVGExporter")


def png_bytes(item: pg.GraphicsItem, scale: float = 2.0) -> bytes:
    """``item`` (a PlotItem, a GraphicsLayout …) rendered at ``scale`` × its on-screen size."""
    exporter = pg.exporters.ImageExporter(item)
    width = int(round(item.sceneBoundingRect().width() * scale))
    exporter.parameters()["width"] = max(width, 16)
    image = exporter.export(toBytes=True)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = image.save(buffer, "PNG")
    buffer.close()
    if not ok:
        raise OSError("Qt could not encode the PNG")
    return bytes(data)


def svg_bytes(item: pg.GraphicsItem) -> bytes:
    """``item`` as an SVG document (vector lines and text)."""
    with _tolerate_closed_paths():
        return pg.exporters.SVGExporter(item).export(toBytes=True)


@contextlib.contextmanager
def _tolerate_closed_paths() -> Iterator[None]:
    original = _svg_module.correctCoordinates

    def correct_coordinates(node, defs, item, options):
        closed = []
        for path in node.getElementsByTagName("path"):
            tokens = path.getAttribute("d").split()
            if any(token in ("Z", "z") for token in tokens):
                path.setAttribute("d", " ".join(token for token in tokens if token not in ("Z", "z")))
                closed.append(path)
        result = original(node, defs, item, options)
        for path in closed:
            path.setAttribute("d", path.getAttribute("d").rstrip() + " Z")
        return result

    _svg_module.correctCoordinates = correct_coordinates
    try:
        yield
    finally:
        _svg_module.correctCoordinates = original
