"""Help > About: versions, the compute device and where Diffusion Studio keeps its files."""

from __future__ import annotations

import platform
from importlib import metadata

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ... import __version__
from ...core import paths

__all__ = ["AboutDialog", "about_text"]

_PACKAGES = ("torch", "numpy", "PySide6-Essentials", "pyqtgraph", "pillow", "safetensors", "platformdirs", "superqt")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _devices() -> list[str]:
    # Imports torch: only when the dialog opens, never at start-up.
    try:
        from ...core.device import describe_devices

        return [str(d) for d in describe_devices()]
    except Exception as exc:  # noqa: BLE001 - the About box must always open
        return [f"unknown ({exc})"]


def about_text() -> str:
    lines = [f"Diffusion Studio {__version__}", f"Python {platform.python_version()} on {platform.platform()}", ""]
    lines += [f"{name} {_version(name)}" for name in _PACKAGES]
    lines += ["", "Devices:"] + [f"  {d}" for d in _devices()]
    lines += [
        "",
        f"Settings: {paths.config_dir()}",
        f"Runs:     {paths.runs_dir()}",
        f"Cache:    {paths.cache_dir()}",
        f"Logs:     {paths.log_dir()}",
    ]
    return "\n".join(lines)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About Diffusion Studio")
        icon = QLabel()
        icon.setPixmap(QPixmap(str(paths.resource_path("icons", "diffusion-studio-128.png"))))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        title = QLabel(
            f"<h2>Diffusion Studio {__version__}</h2>"
            "<p>See denoising diffusion models work: scrub the forward process, compare schedules, "
            "train a small U-Net and watch the reverse chain.</p>"
            "<p>Code under the MIT licence; shipped data and their licences are listed in "
            "<code>resources/LICENSES.md</code>.</p>"
        )
        title.setWordWrap(True)
        self.text = about_text()
        details = QLabel(f"<pre>{self.text}</pre>")
        details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        header = QHBoxLayout()
        header.addWidget(icon)
        header.addWidget(title, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(details)
        layout.addWidget(buttons)
