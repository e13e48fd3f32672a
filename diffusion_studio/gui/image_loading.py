"""Where an image comes from in the GUI (a file, the clipboard, a drop) → core.images.load_image.

The Qt side only turns URLs and QImages into paths or PNG bytes; all decoding and
every check for bad input lives in :func:`diffusion_studio.core.images.load_image`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData
from PySide6.QtGui import QClipboard, QImage

from ..core.errors import InputError
from ..core.images import load_image

__all__ = ["ImageSource", "load_image_source", "image_from_clipboard", "local_files_from_mime", "qimage_to_png_bytes"]


@dataclass(frozen=True)
class ImageSource:
    """A file path or encoded bytes, with the name to show for it."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def from_path(cls, path: str | Path) -> "ImageSource":
        path = Path(path)
        return cls(name=path.name, path=path)


def load_image_source(source: ImageSource) -> np.ndarray:
    """Decode to uint8 RGB (H, W, 3); raises InputError (ImageLoadError) with a user message."""
    return load_image(source.path if source.path is not None else source.data, mode="RGB")


def qimage_to_png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise InputError("The image on the clipboard could not be converted")
    buffer.close()
    return bytes(data.data())


def local_files_from_mime(mime: QMimeData | None) -> list[str]:
    """Local file paths among the URLs of a drop or clipboard (http:// URLs are ignored)."""
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def image_from_clipboard(source: QClipboard | QMimeData) -> ImageSource:
    """The image held by a clipboard or a drop: a copied file, pixels, or a file path as text."""
    mime = source.mimeData() if isinstance(source, QClipboard) else source
    if mime is None:
        raise InputError("The clipboard is empty")
    files = local_files_from_mime(mime)
    if files:
        return ImageSource.from_path(files[0])
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return ImageSource(name="pasted image", data=qimage_to_png_bytes(image))
    if mime.hasText():
        text = mime.text().strip().strip('"')
        if text and "\n" not in text and len(text) < 4096 and Path(text).expanduser().is_file():
            return ImageSource.from_path(Path(text).expanduser())
    raise InputError("The clipboard holds no image (copy an image or an image file first)")
