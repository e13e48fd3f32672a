"""The main window: menus, the forward explorer in the middle, every other panel as a dock, the dialogs.

Wiring only — no diffusion math. To add a panel, add one line to :meth:`MainWindow._create_docks`:

    self.add_dock("schedules", "Schedule lab", SchedulePanel(self.state), Qt.DockWidgetArea.BottomDockWidgetArea)

``tabify_with="schedules"`` stacks a dock as a tab behind an existing one. Every dock scrolls its
panel when the panel is taller (or wider) than the dock, so the window fits a 1024×600 screen
(:mod:`.window_fit`). The dialogs' modules are imported when first opened, off the start-up path.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import InputError
from ..core.images import IMAGE_EXTENSIONS
from ..core.paths import resource_path
from ..core.settings import Settings
from . import theme
from .image_loading import ImageSource, image_from_clipboard, load_image_source, local_files_from_mime
from .panels.forward import ForwardPanel
from .state import AppState
from .widgets.message_strip import MessageStrip
from .widgets.scroll_panel import ScrollPanel
from .window_fit import PREFERRED_SIZE, client_area, first_rect, fit_rect

__all__ = ["MainWindow", "DEMO_IMAGES", "FORWARD_TITLE"]

#: what the forward explorer in the middle of the window is called (shortcuts sheet, tour)
FORWARD_TITLE = "Forward process"

#: File > Open Demo Image entries: (menu label, file under resources/demo/)
DEMO_IMAGES: tuple[tuple[str, str], ...] = (("Astronaut (Eileen Collins)", "astronaut.jpg"), ("Chelsea the cat", "chelsea.jpg"))
_FILE_FILTER = "Images ({});;All files (*)".format(" ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS)))


class MainWindow(QMainWindow):
    def __init__(
        self,
        state: AppState,
        settings: Settings | None = None,
        parent: QWidget | None = None,
        *,
        defer_docks: bool = False,
    ):
        """``defer_docks=True`` builds the docked panels on the first event-loop turn after the
        window is shown, so the window (with the forward explorer) appears at once."""
        super().__init__(parent)
        self._docks_pending, self._docks_built = defer_docks, False
        self.state = state
        self.settings = settings if settings is not None else Settings.load()
        #: the dock widgets by name, in the order they were added
        self.docks: dict[str, QDockWidget] = {}
        #: the panel inside each dock (the dock holds it in a scroll area), by the same names
        self.panels: dict[str, QWidget] = {}
        self._export_dialog = None
        self._tour = None
        self.setWindowTitle("Diffusion Studio")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )
        self.setDocumentMode(True)  # flat dock tabs

        self.message_strip = MessageStrip()
        self._strip_shows_image_error = False
        self.forward_panel = ForwardPanel(state)
        self.forward_panel.setWindowTitle(FORWARD_TITLE)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(theme.MARGIN, theme.MARGIN // 2, theme.MARGIN, 0)
        layout.setSpacing(0)
        layout.addWidget(self.message_strip)
        layout.addWidget(self.forward_panel, 1)
        self.setCentralWidget(central)

        self._image_label = QLabel()
        self._image_label.setProperty("role", "muted")
        self.statusBar().addPermanentWidget(self._image_label)

        self._create_menus()
        state.imageChanged.connect(self._on_image_changed)
        state.statusMessage.connect(self._on_status_message)
        state.errorRaised.connect(self.show_error)
        state.set_export_folder(self.settings.get("last_export_dir") or None)
        state.exportFolderChanged.connect(self._on_export_folder_changed)
        self._fit_to_screen()
        if defer_docks:
            # Built right after the first paint (see event()); the timer covers a window never painted.
            QTimer.singleShot(1000, self._build_docks)
        else:
            self._build_docks()
        self._select_theme_action(self.settings.get("theme"))
        if self.settings.notice:
            self.show_error("Settings", self.settings.notice)
        self.forward_panel.timestep_slider.slider.setFocus()

    # -- docks -----------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.Paint and self._docks_pending:
            QTimer.singleShot(0, self._build_docks)  # the window is on screen: now the heavier panels
            self._docks_pending = False
        return handled

    def _build_docks(self) -> None:
        if self._docks_built:
            return
        self._docks_pending, self._docks_built = False, True
        self._create_docks()
        self._give_docks_their_default_size()
        self._default_layout = self.saveState()
        self._restore_window("window_state")

    def _create_docks(self) -> None:
        """Every panel besides the forward explorer, one ``add_dock`` line each."""
        from .panels.sampling import SamplingPanel  # imported here: not on the start-up path
        from .panels.schedules import SchedulePanel
        from .panels.text_to_image import TextToImagePanel
        from .panels.training import TrainingPanel
        from .panels.playground import PlaygroundPanel

        self.training_panel = TrainingPanel(self.state)
        self.add_dock("training", "Train", self.training_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.statusBar().addPermanentWidget(self.training_panel.status_label)  # training state from any panel
        self.sampling_panel = SamplingPanel(self.state, settings=self.settings)
        self.add_dock("sampling", "Sample", self.sampling_panel, Qt.DockWidgetArea.BottomDockWidgetArea,
                      tabify_with="training")
        self.schedule_panel = SchedulePanel(self.state)
        self.add_dock("schedules", "Schedule lab", self.schedule_panel, Qt.DockWidgetArea.BottomDockWidgetArea,
                      tabify_with="training")
        self.add_dock("playground", "Playground", PlaygroundPanel(self.state), Qt.DockWidgetArea.BottomDockWidgetArea,
                      tabify_with="training")
        self.add_dock("text_to_image", "Text to image", TextToImagePanel(self.state), Qt.DockWidgetArea.BottomDockWidgetArea,
                      tabify_with="training")

    def _give_docks_their_default_size(self) -> None:
        # The forward explorer keeps most of the height; docks share the rest (half on a short screen).
        bottom_share = 0.42 if self.height() >= 820 else 0.5
        for area, orientation, share in (
            (Qt.DockWidgetArea.BottomDockWidgetArea, Qt.Orientation.Vertical, bottom_share),
            (Qt.DockWidgetArea.RightDockWidgetArea, Qt.Orientation.Horizontal, 0.3),
            (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.Orientation.Horizontal, 0.3),
        ):
            docks = [d for d in self.docks.values() if self.dockWidgetArea(d) == area and not d.isFloating()]
            if docks:
                extent = self.height() if orientation == Qt.Orientation.Vertical else self.width()
                self.resizeDocks(docks[:1], [round(extent * share)], orientation)

    def add_dock(
        self,
        name: str,
        title: str,
        widget: QWidget,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        *,
        tabify_with: str | None = None,
        visible: bool = True,
        shortcut: str | None = None,
    ) -> QDockWidget:
        """Add ``widget`` as a dock named ``name`` (also its saved-layout key) with a View-menu toggle.

        The dock shows the widget in a scroll area: a panel taller than the dock scrolls instead of
        making the window taller than the screen."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(ScrollPanel(widget))
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        if tabify_with is not None and tabify_with in self.docks:
            self.tabifyDockWidget(self.docks[tabify_with], dock)
        toggle = dock.toggleViewAction()
        toggle.setText(title)
        if shortcut:
            toggle.setShortcut(QKeySequence(shortcut))
        self._docks_menu.addAction(toggle)
        self.docks[name] = dock
        self.panels[name] = widget
        dock.setVisible(visible)
        return dock

    # -- menus -----------------------------------------------------------------------------
    def _create_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = self._action(file_menu, "&Open Image…", self.open_file_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        self._rebuild_recent_menu()
        self.paste_action = self._action(file_menu, "&Paste Image", self.paste_image, QKeySequence.StandardKey.Paste)
        demo_menu = file_menu.addMenu("Open &Demo Image")
        for label, file_name in DEMO_IMAGES:
            self._action(demo_menu, label, lambda _=False, f=file_name: self.open_demo_image(f))
        file_menu.addSeparator()
        self.export_forward_action = self._action(file_menu, "&Export Forward Animation…", self.export_forward_animation)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit).setMenuRole(QAction.MenuRole.QuitRole)

        edit_menu = self.menuBar().addMenu("&Edit")
        self._action(edit_menu, "&Preferences…", self.show_preferences, QKeySequence.StandardKey.Preferences
                     ).setMenuRole(QAction.MenuRole.PreferencesRole)

        view_menu = self.menuBar().addMenu("&View")
        self._docks_menu = view_menu.addMenu("&Panels")
        theme_menu = view_menu.addMenu("&Theme")
        self._theme_group = QActionGroup(self)
        self._theme_actions: dict[str, QAction] = {}
        for mode, label in (("system", "Follow &System"), ("dark", "&Dark"), ("light", "&Light")):
            action = self._action(theme_menu, label, lambda _=False, m=mode: self.set_theme(m))
            action.setCheckable(True)
            self._theme_group.addAction(action)
            self._theme_actions[mode] = action
        view_menu.addSeparator()
        self._action(view_menu, "&Reset Layout", self.reset_layout)

        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self._action(help_menu, "&Tour", self.show_tour)
        help_menu.addSeparator()
        self._action(help_menu, "&About Diffusion Studio", self.show_about).setMenuRole(QAction.MenuRole.AboutRole)

    def _action(self, menu: QMenu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files
        for index, path in enumerate(files):
            label = f"&{index + 1}  {Path(path).name}" if index < 9 else Path(path).name
            action = self.recent_menu.addAction(label)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_image_file(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent", self._clear_recent)
        self.recent_menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self._save_settings()
        self._rebuild_recent_menu()

    # -- loading images --------------------------------------------------------------------
    def open_image_file(self, path: str | Path) -> bool:
        """Load an image file; on failure say why and keep the current image. Returns success."""
        ok = self._load(ImageSource.from_path(path))
        if ok:
            self.settings.add_recent_file(path)
            self.settings.set("last_open_dir", str(Path(path).resolve().parent))
            self._save_settings()
            self._rebuild_recent_menu()
        elif not Path(path).exists() and str(Path(path).resolve()) in self.settings.recent_files:
            self.settings.remove_recent_file(path)  # gone for good: drop it from File › Open Recent
            self._save_settings()
            self._rebuild_recent_menu()
        return ok

    def open_demo_image(self, file_name: str = "astronaut.jpg") -> bool:
        return self._load(ImageSource.from_path(resource_path("demo", file_name)))

    def open_file_dialog(self) -> None:
        start = self.settings.get("last_open_dir") or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open Image", start, _FILE_FILTER)
        if path:
            self.open_image_file(path)

    def paste_image(self) -> bool:
        """Paste an image (or an image file copied in a file manager) from the clipboard."""
        try:
            source = image_from_clipboard(QApplication.clipboard())
        except InputError as exc:
            self.show_error("Nothing to paste", str(exc))
            return False
        if source.path is not None:
            return self.open_image_file(source.path)
        return self._load(source)

    def _load(self, source: ImageSource) -> bool:
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            image = load_image_source(source)
        except InputError as exc:
            self.show_error("Could not open the image", f"{exc}. The current image is kept.")
            self._strip_shows_image_error = True
            return False
        finally:
            QApplication.restoreOverrideCursor()
        if self._strip_shows_image_error:  # the problem it reported is solved
            self.message_strip.dismiss()
        self.state.set_image(image, source.name, source.path)
        self.state.show_status(f"Opened {source.name}", 4000)
        return True

    # -- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_files_from_mime(event.mimeData()) or event.mimeData().hasImage():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        files = local_files_from_mime(mime)
        if files:
            event.acceptProposedAction()
            # Let the drop finish (the file manager is waiting) before decoding.
            QTimer.singleShot(0, lambda: self.open_image_file(files[0]))
        elif mime.hasImage():
            event.acceptProposedAction()
            try:
                source = replace(image_from_clipboard(mime), name="dropped image")
            except InputError as exc:
                self.show_error("Could not open the dropped image", str(exc))
                return
            self._load(source)
        else:
            event.ignore()

    # -- messages --------------------------------------------------------------------------
    def show_error(self, title: str, message: str) -> None:
        """Non-modal: a strip above the panels plus the status bar. Work goes on."""
        self.message_strip.show_message(f"{title}: {message}")
        self._strip_shows_image_error = False
        self.statusBar().showMessage(f"{title}: {message}", 10000)

    def _on_status_message(self, text: str, timeout_ms: int) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def _on_export_folder_changed(self, folder) -> None:
        self.settings.set("last_export_dir", str(folder or ""))
        self._save_settings()

    def _on_image_changed(self, image, name: str) -> None:
        h, w = image.shape[:2]
        channels = 1 if image.ndim == 2 else image.shape[2]
        self._image_label.setText(f"{name} — {w}×{h}, {'RGB' if channels == 3 else 'grayscale'}")
        self.setWindowTitle(f"{name} — Diffusion Studio")

    # -- theme, layout, about --------------------------------------------------------------
    def set_theme(self, mode: str) -> None:
        theme.apply_theme(mode)
        self.settings.set("theme", mode)
        self._select_theme_action(mode)
        self._save_settings()

    def _select_theme_action(self, mode: str) -> None:
        action = self._theme_actions.get(mode) or self._theme_actions["system"]
        action.setChecked(True)

    def reset_layout(self) -> None:
        if not self._docks_built:  # deferred docks not built yet: nothing to reset
            return
        self.restoreState(self._default_layout)
        for dock in self.docks.values():
            dock.setFloating(False)

    # -- dialogs ---------------------------------------------------------------------------
    def export_forward_animation(self):
        """File > Export Forward Animation…: the export dialog over the current image, schedule and
        seed (returned; None when there is no image). An export still running is shown again."""
        from .dialogs.export_dialog import ExportDialog

        if self._export_dialog is not None and self._export_dialog.is_exporting():
            self._export_dialog.show()
            self._export_dialog.raise_()
            return self._export_dialog
        try:
            self._export_dialog = ExportDialog.for_forward(self.state, self)
        except InputError as error:
            self.show_error("Export", str(error))
            return None
        self._export_dialog.exportFinished.connect(lambda result: self.state.show_status(result.summary(), 8000))
        self._export_dialog.show()
        return self._export_dialog

    def show_preferences(self) -> None:
        from .dialogs.preferences_dialog import PreferencesDialog

        if PreferencesDialog(self.settings, self).exec():
            self.set_theme(self.settings.get("theme"))  # also saves

    def show_shortcuts(self) -> None:
        from .dialogs.shortcuts_dialog import ShortcutsDialog

        ShortcutsDialog(self, self).exec()

    def show_tour(self):
        """Open the tour (non-modal); finishing or skipping it marks it as seen."""
        from .dialogs.tour_dialog import TourDialog

        self._tour = TourDialog(self)
        self._tour.done.connect(self._on_tour_done)
        self._tour.open()
        return self._tour

    def show_tour_if_first_run(self):
        """The tour on the first launch (returned), nothing afterwards (None)."""
        return None if self.settings.get("tour_done") else self.show_tour()

    def _on_tour_done(self) -> None:
        self.settings.set("tour_done", True)
        self._save_settings()

    def show_about(self) -> None:
        from .dialogs.about_dialog import AboutDialog  # lazy: it asks torch for the devices

        AboutDialog(self).exec()

    # -- screen ----------------------------------------------------------------------------
    def _fit_to_screen(self) -> None:
        """Open at a size the screen has room for: the saved geometry (shrunk if this screen is
        smaller than the one it was saved on), else the preferred size, else maximized."""
        self._restore_window("window_geometry")
        if self.isMaximized() or self.isFullScreen():
            return
        geometry = self.geometry()
        screen = QGuiApplication.screenAt(geometry.center()) or self.screen()
        area = client_area(screen.availableGeometry())
        if not self.settings.get("window_geometry"):
            if PREFERRED_SIZE.boundedTo(area.size()) != PREFERRED_SIZE:
                self.setGeometry(area)  # where it goes when it is un-maximized
                self.setWindowState(Qt.WindowState.WindowMaximized)
            else:
                self.setGeometry(first_rect(area))
        elif not area.contains(geometry):
            self.setGeometry(fit_rect(geometry, area))

    # -- persistence -----------------------------------------------------------------------
    def _restore_window(self, key: str) -> None:
        """Restore the saved "window_geometry" (size, place) or "window_state" (dock layout)."""
        restore = self.restoreGeometry if key == "window_geometry" else self.restoreState
        encoded = self.settings.get(key)
        if encoded:
            try:
                restore(QByteArray(base64.b64decode(encoded)))
            except (ValueError, TypeError):
                pass  # a damaged entry: keep the default layout

    def _save_settings(self) -> None:
        try:
            self.settings.save()
        except (InputError, OSError) as exc:
            self.statusBar().showMessage(f"Settings not saved: {exc}", 8000)

    def _panels_agree_to_close(self) -> bool:
        """A panel may define ``confirm_close() -> bool``; any False keeps the window open."""
        return all(getattr(panel, "confirm_close", lambda: True)() for panel in self.panels.values())

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._panels_agree_to_close():  # training asks; stopping saves a checkpoint first
            event.ignore()
            return
        self.settings.set("window_geometry", base64.b64encode(bytes(self.saveGeometry())).decode("ascii"))
        if self._docks_built:  # closed before deferred docks were built: keep the saved layout
            self.settings.set("window_state", base64.b64encode(bytes(self.saveState())).decode("ascii"))
        self._save_settings()
        super().closeEvent(event)

