"""The in-window alert strip: one line, always there, the same height whatever it says.

It used to appear with 1–4 wrapped lines and push the cards and the chart down by 35–70 px as
alerts came and went: a click meant for a card landed elsewhere (issue 13). Now it is a fixed
one-line strip under the header: idle it says "No alerts" on the plain surface; an alert colours it
by level, its text elided to the width with the full text in the tooltip, a repeat shows as "×5"
(the day's log coalesces repeats: propdesk.ui.alert_log), and "History (N)" opens the day's alerts
in a non-modal panel (propdesk.ui.alert_history). Critical alerts and warnings stay until
dismissed; information fades after a while (checked on the frame tick: the banner owns no timer).
A lower level never hides a higher one still shown. Alerts never live only in a tray.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from propdesk.runtime.notices import Alert, Level
from propdesk.ui import text, theme
from propdesk.ui.alert_history import AlertHistoryPanel
from propdesk.ui.alert_log import AlertLog, LogEntry

_COLOURS = {
    Level.CRITICAL: (theme.DANGER, "#ffffff"),
    Level.WARNING: ("#f2b01e", "#111111"),
    Level.INFO: ("#1d4f7a", "#ffffff"),
}
_IDLE = (theme.SURFACE, theme.TEXT_DIM)
IDLE_TEXT = "No alerts"
INFO_SECONDS = 8.0
_MARGIN_V = 6


@dataclass(frozen=True, slots=True)
class Shown:
    level: Level
    text: str
    at: float  # monotonic
    entry: LogEntry | None = None


class ElidedLabel(QLabel):
    """One line that never asks for more width than it gets: the end is elided ("…"); `text()`
    stays the full text (and the tooltip shows it)."""

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.fontMetrics().height())

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 40, self.fontMetrics().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, rect.width()
        )
        painter = QPainter(self)
        try:
            self.style().drawItemText(
                painter,
                rect,
                int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                self.palette(),
                self.isEnabled(),
                shown,
                QPalette.ColorRole.WindowText,
            )
        finally:
            painter.end()


class AlertBanner(QFrame):
    def __init__(
        self,
        names: dict[str, str],
        parent: QWidget | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self._names = names
        self._now = now  # the runtime's clock: times of the window's own messages, the day roll
        self.log = AlertLog()
        self.shown: Shown | None = None
        self.history: AlertHistoryPanel | None = None  # built when first opened
        self._history_stale = False
        row = QHBoxLayout(self)
        row.setContentsMargins(16, _MARGIN_V, 10, _MARGIN_V)
        self.label = ElidedLabel("")
        self.label.setFont(theme.font(theme.BASE_PT + 1, bold=True))
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.count = QLabel("")  # "×5": how often the shown alert came
        self.count.setFont(theme.font(theme.BASE_PT + 1, bold=True))
        self.history_button = QPushButton("")
        self.history_button.setToolTip("Today's alerts: time, account, level, text; filterable")
        self.history_button.clicked.connect(self.open_history)
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.clicked.connect(self.clear)
        row.addWidget(self.label, 1)
        row.addWidget(self.count)
        row.addWidget(self.history_button)
        row.addWidget(self.dismiss)
        # One height for every state: the tallest of one line of text and a button.
        line = max(self.label.fontMetrics().height(), self.dismiss.sizeHint().height())
        self.setFixedHeight(line + 2 * _MARGIN_V)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._paint_idle()
        self._update_history_button()

    # -- alerts in ---------------------------------------------------------------------------------
    def show_alert(self, alert: Alert) -> None:
        self._add(alert.level, alert.account, alert.text, alert.ts)

    def show_text(self, level: Level, message: str) -> None:
        """The window's own messages (a flatten's progress and result, an unlock): the answer to
        what the trader just did, so it replaces a warning; never a critical alert."""
        self._add(level, None, message, self._now(), over=Level.WARNING)

    def _add(
        self,
        level: Level,
        account: str | None,
        message: str,
        ts: datetime,
        *,
        over: Level = Level.INFO,
    ) -> None:
        entry = self.log.add(level, account, message, ts)
        self._history_stale = True
        self._update_history_button()
        shown = self.shown
        # A lower level never hides a higher one that is still shown (its own repeat updates it).
        if (
            shown is None
            or shown.entry is entry
            or _rank(level) >= _rank(shown.level)
            or _rank(shown.level) <= _rank(over)
        ):
            self._show(entry)

    def _show(self, entry: LogEntry) -> None:
        message = f"{text.ct_time(entry.last, seconds=True)}  {self._who(entry)}{entry.text}"
        self.shown = Shown(entry.level, message, time.monotonic(), entry)
        background, foreground = _COLOURS[entry.level]
        self._paint(background, foreground)
        self.label.setText(message)
        times = f" times since {text.ct_time(entry.first, seconds=True)}"
        self.count.setText(f"×{entry.count}" if entry.count > 1 else "")
        self.count.setToolTip(f"{entry.count}{times}" if entry.count > 1 else "")
        self.label.setToolTip(message)
        self.dismiss.show()

    def _who(self, entry: LogEntry) -> str:
        if entry.account is None:
            return ""
        name = self._names.get(entry.account, entry.account)
        # An alert message's title already names its account ("Apex 50K: automatic flatten").
        return "" if entry.text.startswith(f"{name}:") else f"{name}: "

    # -- going away --------------------------------------------------------------------------------
    def clear(self) -> None:
        self.shown = None
        self._paint_idle()

    def expire(self) -> None:
        """Called on the frame tick: information fades, warnings and critical alerts stay; the
        day's log rolls at the trading day's end; an open history panel catches up."""
        shown = self.shown
        if (
            shown is not None
            and shown.level is Level.INFO
            and time.monotonic() - shown.at > INFO_SECONDS
        ):
            self.clear()
        if self.log.roll(self._now()):
            self._history_stale = True
            self._update_history_button()
            if self.shown is None:
                self._paint_idle()
        if self._history_stale and self.history is not None and self.history.isVisible():
            self._history_stale = False
            self.history.refresh()

    # -- the history -------------------------------------------------------------------------------
    def open_history(self) -> AlertHistoryPanel:
        """Show the day's alerts in a non-modal panel (never a nested event loop: FLATTEN ALL and
        everything else keep working while it is open)."""
        if self.history is None:
            self.history = AlertHistoryPanel(self.log, self._names, self.window())
        self._history_stale = False
        self.history.refresh()
        self.history.show()
        self.history.raise_()
        self.history.activateWindow()
        return self.history

    @property
    def recent(self) -> Iterator[str]:
        """The day's alert lines as shown, oldest first."""
        for entry in self.log.entries:
            yield f"{text.ct_time(entry.last, seconds=True)}  {self._who(entry)}{entry.text}"

    def _update_history_button(self) -> None:
        self.history_button.setText(f"History ({len(self.log.entries)})")

    # -- drawing -----------------------------------------------------------------------------------
    def _paint_idle(self) -> None:
        self._paint(*_IDLE)
        self.label.setText(IDLE_TEXT if not self.log.entries else "No current alert")
        self.label.setToolTip("")
        self.count.setText("")
        self.dismiss.hide()

    def _paint(self, background: str, foreground: str) -> None:
        self.setStyleSheet(
            f"QFrame#banner {{ background: {background}; border-bottom: 1px solid {theme.BORDER}; }}"
        )
        self.label.setStyleSheet(f"color: {foreground};")
        self.count.setStyleSheet(f"color: {foreground};")


def _rank(level: Level) -> int:
    return (Level.INFO, Level.WARNING, Level.CRITICAL).index(level)
