"""The export dialog, driven by pytest-qt: options, export in a worker, the file, cancel, errors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QApplication

from diffusion_studio.core.chain import ChainFrame
from diffusion_studio.core.settings import Settings
from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.gui.dialogs import ExportDialog
from diffusion_studio.gui.state import AppState

TIMEOUT_MS = 30_000


def chain_frames(n=8, batch=4, size=8):
    rng = np.random.default_rng(0)
    ts = list(np.linspace(99, 0, n - 1).astype(int)) + [-1]
    frames = []
    for i, t in enumerate(ts):
        arrays = [rng.integers(0, 256, (batch, size, size, 1), dtype=np.uint8) for _ in range(3)]
        frames.append(ChainFrame(i, int(t), 1.0 if t < 0 else 0.5, *arrays, is_final=t < 0))
    return frames


class GatedFrames(Sequence):
    """Frames that worker threads can read only once ``gate`` is set: cancels land at a known point."""

    def __init__(self, frames):
        self.frames, self.gate = frames, threading.Event()

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, index):
        if threading.current_thread() is not threading.main_thread():
            self.gate.wait(10)
        return self.frames[index]


@pytest.fixture
def dialog(qtbot, tmp_path):
    d = ExportDialog(chain_frames(), None, default_path=tmp_path / "chain.gif")
    qtbot.addWidget(d)
    d.show()
    return d


def export_and_wait(qtbot, d):
    with qtbot.waitSignal(d.exportFinished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not d.is_exporting(), timeout=TIMEOUT_MS)
    return blocker.args[0]


def test_export_gif_with_options(qtbot, dialog, tmp_path):
    dialog.form.fps.setValue(5)
    dialog.form.hold.setValue(2)
    dialog.form.scale.setValue(2)
    dialog.form.frames.setValue(4)
    dialog.form.caption.setChecked(False)
    dialog.form.column_labels.setChecked(False)
    with qtbot.waitSignal(dialog.previewReady, timeout=TIMEOUT_MS):  # the preview follows the options
        dialog.form.view.setCurrentIndex(dialog.form.view.findData("side_by_side"))
    qtbot.waitUntil(lambda: "4 frames" in dialog.estimate_label.text(), timeout=TIMEOUT_MS)
    assert dialog.first_preview.pixmap() is not None and not dialog.first_preview.pixmap().isNull()
    result = export_and_wait(qtbot, dialog)
    assert not result.cancelled and result.path == tmp_path / "chain.gif"
    with Image.open(tmp_path / "chain.gif") as im:
        assert im.n_frames == 4
        side = 2 * (2 * 8 + 3 * 2)
        assert im.size == (3 * side + 2 * 8, side)  # three grids, gaps of 2·padding, scaled ×2
        im.seek(3)
        assert im.info["duration"] == 2200
    assert "Wrote" in dialog.message.text()
    assert dialog.export_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_defaults_enlarge_caption_and_label(qtbot, dialog, tmp_path):
    """8 px samples in a 2×2 grid (22 px) come out ×12 (264 px ≥ 256), captioned, columns named."""
    options = dialog.form.options()
    assert options.scale is None and options.caption and options.column_labels
    assert not dialog.form.column_labels.isEnabled()  # one picture: nothing to name
    dialog.form.view.setCurrentIndex(dialog.form.view.findData("side_by_side"))
    assert dialog.form.column_labels.isEnabled()
    export_and_wait(qtbot, dialog)
    with Image.open(tmp_path / "chain.gif") as im:
        side = 12 * (2 * 8 + 3 * 2)
        assert im.size[0] == 3 * side + 2 * 4 * 12 and im.size[1] > side + 40  # gaps of 2·padding; labels, caption


def test_the_next_dialog_starts_where_the_last_export_went(qtbot, tmp_path):
    state = AppState()
    first = ExportDialog(chain_frames(n=3), None, state=state)
    qtbot.addWidget(first)
    assert first.path_edit.text() == str(Path.home() / "diffusion_chain.gif")  # nothing exported yet
    first.path_edit.setText(str(tmp_path / "one.gif"))
    first.path_edit.editingFinished.emit()
    with qtbot.waitSignal(state.exportFolderChanged):
        export_and_wait(qtbot, first)
    assert state.export_folder == tmp_path
    second = ExportDialog(chain_frames(n=3), None, state=state)
    qtbot.addWidget(second)
    assert second.path_edit.text() == str(tmp_path / "diffusion_chain.gif")


def test_format_follows_the_path_and_back(qtbot, dialog, tmp_path):
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("webp"))
    assert dialog.path_edit.text().endswith("chain.webp")
    dialog.path_edit.setText(str(tmp_path / "c.png"))
    dialog.path_edit.editingFinished.emit()
    assert dialog.kind == "apng"
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("frames"))
    assert dialog.path_edit.text() == str(tmp_path / "c")
    result = export_and_wait(qtbot, dialog)
    assert result.format == "frames" and len(list((tmp_path / "c").glob("*.png"))) == 8


def test_errors_are_shown_and_the_dialog_stays_usable(qtbot, dialog, tmp_path):
    dialog.path_edit.setText(str(tmp_path / "missing" / "chain.gif"))
    with qtbot.waitSignal(dialog.exportFailed, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.is_exporting(), timeout=TIMEOUT_MS)
    assert "does not exist" in blocker.args[0] and "does not exist" in dialog.message.text()
    assert dialog.export_button.isEnabled()
    dialog.path_edit.setText(str(tmp_path / "chain.bmp"))
    dialog.path_edit.editingFinished.emit()
    assert "unknown extension" in dialog.message.text()
    dialog.path_edit.setText(str(tmp_path / "ok.gif"))
    dialog.path_edit.editingFinished.emit()
    assert export_and_wait(qtbot, dialog).frame_count == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.gif"]


def test_cancel_writes_nothing(qtbot, tmp_path):
    frames = GatedFrames(chain_frames(n=20))
    d = ExportDialog(frames, None, default_path=tmp_path / "chain.mp4")
    qtbot.addWidget(d)
    d.start_export()
    d.cancel_export()  # the worker is waiting for its first frame: it stops there
    frames.gate.set()
    qtbot.waitUntil(lambda: not d.is_exporting(), timeout=TIMEOUT_MS)
    assert list(tmp_path.iterdir()) == []
    assert "cancelled" in d.message.text().lower()


def test_forward_export_from_app_state(qtbot, tmp_path):
    state = AppState()
    state.set_schedule(make_schedule("linear", 200))
    y, x = np.mgrid[0:40, 0:50]
    state.set_image(np.stack([x * 5, y * 6, x + y], -1).astype(np.uint8), "ramp.png")
    d = ExportDialog.for_forward(state)
    qtbot.addWidget(d)
    d.t_spec_edit.setText("0:200:50")
    d.t_spec_edit.editingFinished.emit()
    d.form.caption.setChecked(True)
    d.path_edit.setText(str(tmp_path / "forward.webp"))
    d.path_edit.editingFinished.emit()
    result = export_and_wait(qtbot, d)
    with Image.open(tmp_path / "forward.webp") as im:
        assert im.format == "WEBP" and im.n_frames == 5  # 0, 50, 100, 150 and T-1
        assert im.size[0] == 50 * 7 and im.size[1] > 40 * 7  # short side 40 px: ×7 to reach 256, plus the caption
    assert result.frame_count == 5


def test_forward_needs_an_image():
    from diffusion_studio.core.errors import InputError

    with pytest.raises(InputError, match="Open an image"):
        ExportDialog.for_forward(AppState())


def test_main_window_file_export_forward_animation(qtbot, tmp_path):
    from diffusion_studio.gui.app import build_main_window

    window = build_main_window()  # opens on the demo photo
    qtbot.addWidget(window)
    assert window.state.image is not None
    window.export_forward_action.trigger()
    dialog = window.findChild(ExportDialog)
    assert dialog.isVisible() and dialog.windowTitle() == "Export forward animation"
    dialog.t_spec_edit.setText("0:1000:250")
    dialog.t_spec_edit.editingFinished.emit()
    dialog.max_side.setValue(32)
    dialog.path_edit.setText(str(tmp_path / "f.gif"))
    dialog.path_edit.editingFinished.emit()
    result = export_and_wait(qtbot, dialog)
    assert result.frame_count == 5 and (tmp_path / "f.gif").is_file()
    dialog.close()
    # the folder is remembered across sessions: the next start's dialog opens there
    assert Settings.load().get("last_export_dir") == str(tmp_path)
    again = build_main_window()
    qtbot.addWidget(again)
    reopened = again.export_forward_animation()
    assert Path(reopened.path_edit.text()).parent == tmp_path
    reopened.close()


def test_closing_a_delete_on_close_dialog_mid_export_writes_nothing(qtbot, tmp_path):
    frames = GatedFrames(chain_frames(n=20))
    d = ExportDialog(frames, None, default_path=tmp_path / "chain.gif")
    d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # as the sampling panel opens it
    d.show()
    d.start_export()
    assert d.is_exporting()
    d.close()  # cancels the worker; the dialog is deleted while it winds down
    frames.gate.set()
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)  # the worker has ended
    QApplication.processEvents()  # and what it reported has been delivered
    assert list(tmp_path.iterdir()) == []
