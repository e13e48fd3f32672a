"""The main window: demo image, drag and drop, paste, Open, recent files, bad files, docks, theme, CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QThreadPool, QUrl
from PySide6.QtGui import QAction, QColor, QDragEnterEvent, QDropEvent, QImage, QPalette
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QLabel

from diffusion_studio.cli import main as cli_main
from diffusion_studio.core.paths import config_dir
from diffusion_studio.core.settings import Settings
from diffusion_studio.gui import app as app_module
from diffusion_studio.gui import theme
from diffusion_studio.gui.app import build_main_window
from diffusion_studio.gui.main_window import MainWindow


@pytest.fixture
def no_other_panels(monkeypatch):
    """Most tests here are about the window itself: leave the other panels' docks out (much faster)."""
    monkeypatch.setattr(MainWindow, "_create_docks", lambda self: None)


def panels_menu(window: MainWindow):
    """View › Panels, found the way a user finds it."""
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    return next(a.menu() for a in view.actions() if a.text() == "&Panels")


def shown_window(qtbot):
    win = build_main_window()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot, no_other_panels):
    return shown_window(qtbot)


@pytest.fixture
def full_window(qtbot):
    win = shown_window(qtbot)
    yield win
    # As the app ends: background jobs finish while the panels they report to exist, then the
    # window is deleted at once, and with it the jobs its panels had only scheduled (timers).
    QThreadPool.globalInstance().waitForDone(30_000)
    win.close()
    win.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def write_png(folder: Path, name: str = "photo.png", size=(40, 30), color=(10, 200, 30)) -> Path:
    path = folder / name
    Image.new("RGB", size, color).save(path)
    return path


def file_mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def drop(qtbot, window, mime: QMimeData) -> bool:
    """Drag over the middle of the window and drop; returns whether the drag was accepted."""
    position = window.rect().center()
    with warnings.catch_warnings():  # PySide6 marks the QPoint overload deprecated but has no other
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop_event = QDropEvent(QPointF(position), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop_event)
    return drop_event.isAccepted()


def test_opens_on_the_demo_photo_with_every_panel(qtbot, full_window):
    window = full_window
    state = window.state
    assert state.image_name == "astronaut.jpg"
    assert state.image.shape == (512, 512, 3) and state.image.dtype == np.uint8
    qtbot.waitUntil(lambda: window.forward_panel.frames_rendered > 0)
    assert window.forward_panel.xt_view.image().shape == (512, 512, 3)
    assert "astronaut.jpg" in window.windowTitle()
    assert window.message_strip.text() == ""
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus[0] == "&File" and "&View" in menus and menus[-1] == "&Help"
    for dock in window.docks.values():  # every panel is reachable from View > Panels
        assert dock.toggleViewAction() in panels_menu(window).actions()


def test_help_names_every_shortcut_and_the_panels_by_their_names(qtbot, full_window):
    from PySide6.QtGui import QShortcut

    from diffusion_studio.gui.dialogs.shortcuts_dialog import ShortcutsDialog
    from diffusion_studio.gui.dialogs.tour_dialog import TOUR_PAGES
    from diffusion_studio.gui.main_window import FORWARD_TITLE

    window = full_window
    shortcuts = window.findChildren(QShortcut)
    assert shortcuts and all(s.whatsThis() for s in shortcuts), "every panel shortcut says what it does"
    dialog = ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    rows = dialog.rows()
    for row in (("Forward process", "→", "Next timestep"), ("Sample", "Space", "Play / pause the chain"),
                ("Train", "Ctrl+Return", "Start training"), ("Help", "F1", "Keyboard Shortcuts")):
        assert row in rows
    with_keys = [a for a in window.findChildren(QAction) if a.shortcuts()]
    assert len(rows) >= len(with_keys) + len(shortcuts)

    panel_names = {FORWARD_TITLE} | {dock.windowTitle() for dock in window.docks.values()}
    assert {title for title, _ in TOUR_PAGES[1:]} == panel_names
    for _, text in TOUR_PAGES:  # typeset as the panels write them, never x_t or ᾱ_t
        assert "_t" not in text and "_0" not in text


def test_drop_an_image_file(qtbot, window, tmp_path):
    path = write_png(tmp_path)
    assert drop(qtbot, window, file_mime(path))
    qtbot.waitUntil(lambda: window.state.image_name == "photo.png")
    assert window.state.image.shape == (30, 40, 3)
    assert tuple(window.state.image[0, 0]) == (10, 200, 30)
    qtbot.waitUntil(lambda: window.forward_panel.x0_view.image().shape == (30, 40, 3))
    assert window.settings.recent_files[0] == str(path.resolve())


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("zero.png", b"", "empty"),
        ("text.jpg", b"not a picture at all\n" * 50, "not an image"),
        ("cut.png", None, "truncated"),
    ],
)
def test_drop_a_bad_file_keeps_the_previous_image(qtbot, window, tmp_path, name, content, words):
    previous = window.state.image
    path = tmp_path / name
    if content is None:
        good = write_png(tmp_path, "full.png", size=(200, 200)).read_bytes()
        noisy = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
        Image.fromarray(noisy).save(tmp_path / "full.png")
        good = (tmp_path / "full.png").read_bytes()
        content = good[: len(good) // 2]
    path.write_bytes(content)
    assert drop(qtbot, window, file_mime(path))
    qtbot.waitUntil(lambda: window.message_strip.text() != "")
    message = window.message_strip.text()
    assert name in message and (words in message.lower() or "corrupt" in message.lower())
    assert "current image is kept" in message
    assert name in window.statusBar().currentMessage()
    assert window.state.image is previous
    assert window.state.image_name == "astronaut.jpg"
    assert str(path.resolve()) not in window.settings.recent_files


def test_drop_a_folder_is_refused_with_a_message(qtbot, window, tmp_path):
    folder = tmp_path / "holiday"
    folder.mkdir()
    assert drop(qtbot, window, file_mime(folder))
    qtbot.waitUntil(lambda: "folder" in window.message_strip.text())
    assert window.state.image_name == "astronaut.jpg"


def test_a_drag_without_files_is_not_accepted(qtbot, window):
    mime = QMimeData()
    mime.setText("just some text")
    assert not drop(qtbot, window, mime)


def test_paste_an_image_from_the_clipboard(qtbot, window):
    image = QImage(24, 16, QImage.Format.Format_RGB32)
    image.fill(QColor(250, 10, 20))
    QApplication.clipboard().setImage(image)
    window.paste_action.trigger()
    assert window.state.image_name == "pasted image"
    assert window.state.image.shape == (16, 24, 3)
    assert tuple(window.state.image[3, 3]) == (250, 10, 20)


def test_paste_a_copied_file(qtbot, window, tmp_path):
    path = write_png(tmp_path, "copied.png")
    QApplication.clipboard().setMimeData(file_mime(path))
    assert window.paste_image()
    assert window.state.image_name == "copied.png"


def test_paste_without_an_image_says_so(qtbot, window):
    QApplication.clipboard().setText("hello")
    previous = window.state.image
    assert not window.paste_image()
    assert "no image" in window.message_strip.text()
    assert window.state.image is previous


def test_file_open_dialog(qtbot, window, tmp_path, monkeypatch):
    path = write_png(tmp_path, "chosen.png")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), ""))
    window.open_action.trigger()
    assert window.state.image_name == "chosen.png"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: ("", ""))
    window.open_action.trigger()  # cancelled: nothing changes
    assert window.state.image_name == "chosen.png"


def test_demo_images_menu(qtbot, window):
    assert window.open_demo_image("chelsea.jpg")
    assert window.state.image_name == "chelsea.jpg"


def test_recent_files_persist_and_reopen(qtbot, window, tmp_path, no_other_panels):
    first, second = write_png(tmp_path, "one.png"), write_png(tmp_path, "two.png", color=(1, 2, 3))
    window.open_image_file(first)
    window.open_image_file(second)
    window.open_image_file(first)
    stored = json.loads((config_dir() / "settings.json").read_text())
    assert stored["recent_files"] == [str(first.resolve()), str(second.resolve())]

    again = build_main_window()
    qtbot.addWidget(again)
    again.recent_menu.aboutToShow.emit()
    actions = [a for a in again.recent_menu.actions() if a.toolTip().endswith(".png")]
    assert [a.toolTip() for a in actions] == [str(first.resolve()), str(second.resolve())]
    actions[1].trigger()
    assert again.state.image_name == "two.png"
    assert tuple(again.state.image[0, 0]) == (1, 2, 3)

    second.unlink()  # a recent file that has gone away: a message, the image stays
    again.open_image_file(first)
    again.recent_menu.aboutToShow.emit()
    gone = [a for a in again.recent_menu.actions() if a.toolTip() == str(second.resolve())][0]
    gone.trigger()
    assert "two.png" in again.message_strip.text()
    assert again.state.image_name == "one.png"
    assert again.settings.recent_files == [str(first.resolve())]  # the missing file left the list


def test_corrupt_settings_file_falls_back_to_defaults_with_a_notice(qtbot, no_other_panels):
    (config_dir() / "settings.json").write_text("{ this is not json")
    win = build_main_window()
    qtbot.addWidget(win)
    assert "corrupt" in win.message_strip.text()
    assert win.settings.recent_files == []
    assert (config_dir() / "settings.json.bad").exists()
    assert win.state.image_name == "astronaut.jpg"


def test_window_layout_is_saved_on_close(qtbot, window):
    window.close()
    stored = Settings.load()
    assert stored.get("window_geometry") and stored.get("window_state")


def test_add_dock_gives_a_view_toggle_and_can_tabify(qtbot, window):
    first = window.add_dock("first", "First panel", QLabel("one"), Qt.DockWidgetArea.BottomDockWidgetArea)
    second = window.add_dock("second", "Second panel", QLabel("two"), tabify_with="first")
    assert isinstance(first, QDockWidget) and window.docks["second"] is second
    assert second in window.tabifiedDockWidgets(first)
    toggles = {a.text(): a for a in panels_menu(window).actions()}
    assert "First panel" in toggles and "Second panel" in toggles
    toggles["First panel"].trigger()
    assert not first.isVisible()


def test_theme_switch_changes_the_palette_and_is_remembered(qtbot, window):
    window.set_theme("light")
    assert theme.colors() is theme.LIGHT
    assert QApplication.palette().color(QPalette.ColorRole.Window) == QColor(theme.LIGHT.window)
    assert Settings.load().get("theme") == "light"
    window.set_theme("dark")
    assert QApplication.palette().color(QPalette.ColorRole.Window) == QColor(theme.DARK.window)
    assert theme.plot_pen(0).color() == QColor(theme.DARK.series[0])


def test_cli_passes_the_image_to_the_app(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(app_module, "run_app", lambda image, self_test=False: calls.append((image, self_test)) or 7)
    assert cli_main([str(tmp_path / "x.png")]) == 7
    assert calls == [(str(tmp_path / "x.png"), False)]


def test_cli_self_test_opens_the_real_window_on_an_image(qtbot, tmp_path):
    path = write_png(tmp_path, "cli.png")
    assert cli_main([str(path), "--self-test"]) == 0


def test_command_line_image_opens_and_a_bad_one_keeps_the_demo(qtbot, tmp_path, no_other_panels):
    good = build_main_window(write_png(tmp_path, "given.png"))
    qtbot.addWidget(good)
    assert good.state.image_name == "given.png"
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    bad = build_main_window(empty)
    qtbot.addWidget(bad)
    assert bad.state.image_name == "astronaut.jpg"
    assert "empty.png" in bad.message_strip.text()


def test_drop_targets_inside_image_views_fall_through_to_the_window(window):
    view = window.forward_panel.xt_view
    assert not view.graphics.acceptDrops() and not view.graphics.viewport().acceptDrops()
    assert window.acceptDrops()


def test_default_schedule_from_preferences_is_used(qtbot, no_other_panels):
    settings = Settings.load()
    settings.set("default_schedule", "linear")
    settings.set("default_timesteps", 500)
    settings.save()
    win = build_main_window()
    qtbot.addWidget(win)
    assert win.state.schedule.name == "linear" and win.state.schedule.num_timesteps == 500
    assert win.forward_panel.timestep_slider.maximum() == 499


def test_tour_is_shown_once(qtbot, window):
    tour = window.show_tour()
    qtbot.addWidget(tour)
    tour.reject()  # "Skip tour"
    assert Settings.load().get("tour_done") is True
    window.settings.set("tour_done", True)
    assert window.show_tour_if_first_run() is None


def test_preferences_apply_the_theme(qtbot, window, monkeypatch):
    from diffusion_studio.gui.dialogs import preferences_dialog

    def accept_with_light_theme(dialog):
        dialog.settings.set("theme", "light")
        return 1

    monkeypatch.setattr(preferences_dialog.PreferencesDialog, "exec", accept_with_light_theme)
    window.show_preferences()
    assert theme.colors() is theme.LIGHT
    assert Settings.load().get("theme") == "light"
    window.set_theme("dark")


def test_drop_image_pixels_from_another_app(qtbot, window):
    mime = QMimeData()
    image = QImage(10, 8, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 255))
    mime.setImageData(image)
    assert drop(qtbot, window, mime)
    assert window.state.image_name == "dropped image"
    assert tuple(window.state.image[0, 0]) == (0, 0, 255)
