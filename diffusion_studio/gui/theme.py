"""One colour palette for widgets and plots, dark and light, following the system by default.

Panels read colours from :func:`colors` and plot pens from :func:`plot_pen`;
when the theme changes, :func:`theme_manager` emits ``changed`` so plots can
restyle themselves (``theme_manager().changed.connect(self._on_theme_changed)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel

__all__ = [
    "ThemeColors",
    "DARK",
    "LIGHT",
    "THEME_MODES",
    "SPACING",
    "MARGIN",
    "colors",
    "is_dark",
    "plot_pen",
    "plot_color",
    "plot_brush",
    "mono_font",
    "heading_font",
    "muted_label",
    "small_font",
    "apply_theme",
    "style_plot",
    "theme_manager",
    "ThemeManager",
]

THEME_MODES = ("system", "dark", "light")
#: spacing between widgets and the margin around a panel, in pixels
SPACING = 8
MARGIN = 10


@dataclass(frozen=True)
class ThemeColors:
    dark: bool
    window: str
    base: str  # text fields, lists
    alternate_base: str
    panel: str  # plots
    canvas: str  # behind images (a neutral tone that does not compete with the picture)
    text: str
    muted_text: str
    border: str
    accent: str
    accent_text: str
    grid: str
    error: str
    error_background: str
    warning: str
    success: str
    #: series colours for plots, distinguishable and colour-blind friendly (Okabe–Ito based)
    series: tuple[str, ...]


DARK = ThemeColors(
    dark=True,
    window="#1f2227",
    base="#16181c",
    alternate_base="#24282e",
    panel="#121417",
    canvas="#15171a",
    text="#e6e8eb",
    muted_text="#9aa1ab",
    border="#353a42",
    accent="#4c9ffe",
    accent_text="#ffffff",
    grid="#3a3f47",
    error="#ff6b6b",
    error_background="#4a2326",
    warning="#f0b429",
    success="#3ecf8e",
    series=("#56b4e9", "#e69f00", "#009e73", "#f0e442", "#cc79a7", "#d55e00", "#0072b2", "#bbbbbb"),
)

LIGHT = ThemeColors(
    dark=False,
    window="#f3f4f6",
    base="#ffffff",
    alternate_base="#eceef1",
    panel="#ffffff",
    canvas="#e4e6ea",
    text="#1b1d21",
    muted_text="#5d6470",
    border="#c9cdd4",
    accent="#1a6fd6",
    accent_text="#ffffff",
    grid="#d5d9df",
    error="#c0262d",
    error_background="#fde2e2",
    warning="#b7791f",
    success="#1f8a5b",
    series=("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7a5195", "#555555"),
)


class ThemeManager(QObject):
    """Holds the current theme mode and colours; emits ``changed(ThemeColors)``."""

    changed = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.mode = "system"
        self.colors: ThemeColors = DARK
        hints = QGuiApplication.styleHints() if QGuiApplication.instance() else None
        if hints is not None:
            hints.colorSchemeChanged.connect(self._on_system_scheme_changed)

    def _on_system_scheme_changed(self, *_args) -> None:
        if self.mode == "system":
            self.apply("system")

    def resolve(self, mode: str) -> ThemeColors:
        if mode == "dark":
            return DARK
        if mode == "light":
            return LIGHT
        hints = QGuiApplication.styleHints() if QGuiApplication.instance() else None
        scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
        # No answer from the platform (offscreen, bare X): dark suits looking at images.
        return LIGHT if scheme == Qt.ColorScheme.Light else DARK

    def apply(self, mode: str) -> ThemeColors:
        if mode not in THEME_MODES:
            mode = "system"
        self.mode = mode
        self.colors = self.resolve(mode)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setPalette(make_qpalette(self.colors))
            app.setStyleSheet(_style_sheet(self.colors))
        pg.setConfigOptions(background=self.colors.panel, foreground=self.colors.muted_text)
        self.changed.emit(self.colors)
        return self.colors


_MANAGER_ATTRIBUTE = "_diffusion_studio_theme_manager"


def theme_manager() -> ThemeManager:
    """The theme manager of the running QApplication (created on first use)."""
    app = QApplication.instance()
    manager = getattr(app, _MANAGER_ATTRIBUTE, None) if app is not None else None
    if manager is None:
        manager = ThemeManager(app)
        if app is not None:
            setattr(app, _MANAGER_ATTRIBUTE, manager)
    return manager


def colors() -> ThemeColors:
    return theme_manager().colors


def is_dark() -> bool:
    return colors().dark


def apply_theme(mode: str = "system") -> ThemeColors:
    """Set the app palette (and pyqtgraph defaults) for ``mode`` in system / dark / light."""
    return theme_manager().apply(mode)


def make_qpalette(c: ThemeColors) -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: c.window,
        QPalette.ColorRole.WindowText: c.text,
        QPalette.ColorRole.Base: c.base,
        QPalette.ColorRole.AlternateBase: c.alternate_base,
        QPalette.ColorRole.ToolTipBase: c.base,
        QPalette.ColorRole.ToolTipText: c.text,
        QPalette.ColorRole.PlaceholderText: c.muted_text,
        QPalette.ColorRole.Text: c.text,
        QPalette.ColorRole.Button: c.alternate_base,
        QPalette.ColorRole.ButtonText: c.text,
        QPalette.ColorRole.BrightText: c.error,
        QPalette.ColorRole.Highlight: c.accent,
        QPalette.ColorRole.HighlightedText: c.accent_text,
        QPalette.ColorRole.Link: c.accent,
        QPalette.ColorRole.Light: c.border if c.dark else "#ffffff",
        QPalette.ColorRole.Midlight: c.border,
        QPalette.ColorRole.Mid: c.border,
        QPalette.ColorRole.Dark: c.base if c.dark else "#a0a4aa",
        QPalette.ColorRole.Shadow: "#000000",
    }
    for role, value in roles.items():
        palette.setColor(role, QColor(value))
    disabled = QColor(c.muted_text)
    disabled.setAlpha(150)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def _style_sheet(c: ThemeColors) -> str:
    # Only what the palette cannot express: tooltips, dock titles, the message strip; and drop-down
    # lists that open below (or above) their box, never centred on the current item, which Fusion
    # does and which put the list above the screen's top edge for a box near the top.
    return f"""
    QComboBox {{ combobox-popup: 0; }}
    QToolTip {{ color: {c.text}; background-color: {c.base}; border: 1px solid {c.border}; padding: 4px; }}
    QDockWidget::title {{ background: {c.alternate_base}; padding: 5px 8px; }}
    QMainWindow::separator {{ background: {c.border}; width: 1px; height: 1px; }}
    QFrame#messageStrip {{ background: {c.error_background}; border: 1px solid {c.error}; border-radius: 4px; }}
    QFrame#messageStrip QLabel {{ color: {c.text}; }}
    QLabel[role="muted"] {{ color: {c.muted_text}; }}
    QLabel[role="value"] {{ color: {c.text}; }}
    QGroupBox {{ border: 1px solid {c.border}; border-radius: 4px; margin-top: 1.2em; padding-top: 4px; }}
    QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {c.muted_text}; }}
    """


def plot_color(i: int) -> QColor:
    """The i-th series colour of the current theme (wraps around)."""
    series = colors().series
    return QColor(series[i % len(series)])


def plot_pen(i: int, width: float = 2.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine):
    """A cosmetic pen for the i-th plot series in the current theme."""
    pen = pg.mkPen(plot_color(i), width=width, style=style)
    pen.setCosmetic(True)
    return pen


def plot_brush(i: int, alpha: int = 90):
    color = plot_color(i)
    color.setAlpha(alpha)
    return pg.mkBrush(color)


def style_plot(plot: pg.PlotItem | pg.PlotWidget, widget: pg.GraphicsView | None = None) -> None:
    """Apply the current theme to a PlotItem's axes, grid and (optionally) its view's background."""
    c = colors()
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    view = widget or (plot if isinstance(plot, pg.PlotWidget) else None)
    if view is not None:
        view.setBackground(c.panel)
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(c.border))
        axis.setTextPen(pg.mkPen(c.muted_text))
    item.showGrid(x=True, y=True, alpha=0.25)
    title = item.titleLabel
    if title is not None and title.text:
        title.setText(title.text, color=c.text)


def mono_font(point_delta: int = 0) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if point_delta and font.pointSize() > 0:
        font.setPointSize(font.pointSize() + point_delta)
    return font


def heading_font(point_delta: int = 1) -> QFont:
    font = QFont(QApplication.font())
    font.setBold(True)
    if font.pointSize() > 0:
        font.setPointSize(font.pointSize() + point_delta)
    return font


def small_font() -> QFont:
    font = QFont(QApplication.font())
    if font.pointSize() > 1:
        font.setPointSize(font.pointSize() - 1)
    return font


def muted_label(text: str = "") -> QLabel:
    """A word-wrapped note in the muted text colour (the style sheet's ``QLabel[role="muted"]``)."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setProperty("role", "muted")
    return label
