"""The console's look: a dark palette, big type for the numbers that matter, one colour per state.

Legible from two metres: the numbers a trader acts on (day P&L, distance to the floors, the clocks, the
countdown) are drawn large; state is told by colour AND by word, never by colour alone.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from propdesk.domain.guard import GuardState

# Surfaces.
BACKGROUND = "#11151c"
SURFACE = "#1a2029"
SURFACE_RAISED = "#222a35"
BORDER = "#2f3a48"
TEXT = "#e8edf3"
TEXT_DIM = "#9aa7b6"
ACCENT = "#4aa3ff"

# Meanings.
GOOD = "#35c46a"
BAD = "#ff5a52"
CAUTION = "#ffb020"
DANGER = "#e5322d"
DANGER_DARK = "#a51d19"

# One colour per guard state (badge background, text colour on it).
STATE_COLOURS: dict[GuardState, tuple[str, str]] = {
    GuardState.ACTIVE: ("#1f8f4e", "#ffffff"),
    GuardState.WARNING: ("#f2b01e", "#111111"),
    GuardState.REDUCE_ONLY: ("#ff7a1a", "#111111"),
    GuardState.FLATTENING: ("#d81b60", "#ffffff"),
    GuardState.LOCKED: ("#b3261e", "#ffffff"),
}
# The same states as text on the dark surface (badge colours are too dark to read as text).
STATE_TEXT: dict[GuardState, str] = {
    GuardState.ACTIVE: TEXT_DIM,
    GuardState.WARNING: "#ffc94d",
    GuardState.REDUCE_ONLY: "#ff9a4d",
    GuardState.FLATTENING: "#ff7aa8",
    GuardState.LOCKED: "#ff7b73",
}
STATE_WORDS: dict[GuardState, str] = {
    GuardState.ACTIVE: "ACTIVE",
    GuardState.WARNING: "WARNING",
    GuardState.REDUCE_ONLY: "REDUCE ONLY",
    GuardState.FLATTENING: "FLATTENING",
    GuardState.LOCKED: "LOCKED",
}

# Chart.
CHART_BACKGROUND = "#0d1117"
CHART_EQUITY = "#4aa3ff"
CHART_DAILY_FLOOR = "#ffb020"
CHART_MAX_LOSS_FLOOR = "#ff5a52"
CHART_START = "#6b7785"
CHART_WARN = "#e8d44d"  # the protocol's warn level
CHART_STOP = "#c77dff"  # the user's own stop: violet, apart from the firm's warm floors
CHART_HIGH_WATER = "#8fb3d9"  # the high the max-loss floor trails
CHART_BUY = "#35c46a"
CHART_SELL = "#ff5a52"
CHART_MARKER_EDGE = "#0d1117"  # a dark rim keeps markers apart from the line under them
CHART_TAG_TEXT_DARK = "#0d1117"
CHART_TAG_TEXT_LIGHT = "#ffffff"
# One colour per account in the all-accounts view; a second cycle is drawn dashed.
CHART_ACCOUNTS = (
    "#4aa3ff",
    "#ff8c42",
    "#3ddc97",
    "#e066ff",
    "#ffd23f",
    "#ff5e8a",
    "#48d1cc",
    "#b9a3ff",
    "#a3e048",
    "#ffa3a3",
)

# Type sizes in points.
BASE_PT = 11
SMALL_PT = 10
TITLE_PT = 14
NUMBER_PT = 20
CLOCK_PT = 22


def font(points: int, *, bold: bool = False, mono: bool = False) -> QFont:
    f = QFont()
    if mono:
        f.setFamilies(["DejaVu Sans Mono", "Menlo", "Consolas", "monospace"])
        f.setStyleHint(QFont.StyleHint.Monospace)
    f.setPointSize(points)
    f.setBold(bold)
    return f


STYLESHEET = f"""
QWidget {{ color: {TEXT}; background: {BACKGROUND}; }}
QToolTip {{ color: {TEXT}; background: {SURFACE_RAISED}; border: 1px solid {BORDER}; }}
QScrollArea, QScrollArea > QWidget > QWidget {{ background: {BACKGROUND}; border: none; }}
QSplitter::handle {{ background: {BORDER}; }}
QFrame#header {{ background: {SURFACE}; border-bottom: 1px solid {BORDER}; }}
QFrame#header QLabel {{ background: transparent; }}
QFrame#card {{ background: {SURFACE}; border: 2px solid {BORDER}; border-radius: 8px; }}
QFrame#card[selected="true"] {{ border: 2px solid {ACCENT}; }}
QFrame#card QLabel {{ background: transparent; }}
QLabel[role="dim"] {{ color: {TEXT_DIM}; }}
QLabel[role="warning"] {{ color: {BAD}; }}
QLabel#badge {{ border-radius: 6px; padding: 4px 12px; }}
QPushButton {{
    background: {SURFACE_RAISED}; border: 1px solid {BORDER}; border-radius: 6px;
    padding: 6px 14px; color: {TEXT};
}}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:focus {{ border-color: {ACCENT}; }}
QPushButton#flattenAll {{
    background: {DANGER}; color: #ffffff; border: 2px solid #ff8a85; border-radius: 8px;
    padding: 8px 26px;
}}
QPushButton#flattenAll:hover {{ background: #ff3b35; }}
QPushButton#flattenAll:pressed {{ background: {DANGER_DARK}; }}
QPushButton#flatten {{ background: #3a1614; color: #ffd9d6; border: 1px solid {DANGER}; }}
QPushButton#flatten:hover {{ background: #5a1d1a; }}
QPushButton#unlock {{ background: #3a300c; color: #ffe7a8; border: 1px solid {CAUTION}; }}
QPushButton#unlock:hover {{ background: #4d3f10; }}
QFrame#banner {{ border-radius: 0px; }}
QFrame#banner QLabel {{ background: transparent; }}
QFrame#banner QPushButton {{ background: transparent; border: 1px solid rgba(255,255,255,0.6); }}
QLabel#link {{ border-radius: 6px; padding: 3px 10px; }}
QLineEdit, QPlainTextEdit, QComboBox, QListWidget {{
    background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 4px; padding: 3px 6px;
}}
QLineEdit:focus, QPlainTextEdit:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QCheckBox::indicator {{
    width: 16px; height: 16px; border: 1px solid {TEXT_DIM}; border-radius: 3px;
    background: {SURFACE};
}}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
"""


def apply(app: QApplication) -> None:
    """Dark palette and style sheet for the whole application."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BACKGROUND),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.Base, SURFACE),
        (QPalette.ColorRole.AlternateBase, SURFACE_RAISED),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.Button, SURFACE_RAISED),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.ToolTipBase, SURFACE_RAISED),
        (QPalette.ColorRole.ToolTipText, TEXT),
        (QPalette.ColorRole.Highlight, ACCENT),
        (QPalette.ColorRole.HighlightedText, "#000000"),
        (QPalette.ColorRole.PlaceholderText, TEXT_DIM),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setFont(font(BASE_PT))
    app.setStyleSheet(STYLESHEET)


def badge_style(state: GuardState) -> str:
    background, foreground = STATE_COLOURS[state]
    return f"background: {background}; color: {foreground};"


def money_colour(value: float) -> str:
    if value > 0:
        return GOOD
    if value < 0:
        return BAD
    return TEXT
