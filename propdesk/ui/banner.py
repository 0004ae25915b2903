"""The in-window alert banner: the newest alert, coloured by level, until dismissed.

Critical alerts are red and stay; warnings stay; information fades after a while (checked on the
frame tick, so the banner owns no timer of its own). Alerts never live only in a tray.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from propdesk.runtime.notices import Alert, Level
from propdesk.ui import text, theme

_COLOURS = {
    Level.CRITICAL: (theme.DANGER, "#ffffff"),
    Level.WARNING: ("#f2b01e", "#111111"),
    Level.INFO: ("#1d4f7a", "#ffffff"),
}
INFO_SECONDS = 8.0


@dataclass(frozen=True, slots=True)
class Shown:
    level: Level
    text: str
    at: float  # monotonic


class AlertBanner(QFrame):
    def __init__(self, names: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self._names = names
        self._pending = 0  # alerts that arrived while this one was shown
        self.shown: Shown | None = None
        self.recent: deque[str] = deque(maxlen=12)  # the latest messages, newest last
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 6, 10, 6)
        self.label = QLabel("")
        self.label.setFont(theme.font(theme.BASE_PT + 1, bold=True))
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.more = QLabel("")
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.clicked.connect(self.clear)
        row.addWidget(self.label, 1)
        row.addWidget(self.more)
        row.addWidget(self.dismiss)
        self.hide()

    def show_alert(self, alert: Alert) -> None:
        # A lower level never hides a higher one that is still shown.
        who = f"{self._names.get(alert.account, alert.account)}: " if alert.account else ""
        message = f"{text.ct_time(alert.ts, seconds=True)}  {who}{alert.text}"
        if self.shown is not None and _rank(alert.level) < _rank(self.shown.level):
            self.recent.append(message)
            self._pending += 1
            self._update_more()
            return
        self.show_text(alert.level, message)

    def show_text(self, level: Level, message: str) -> None:
        if self.shown is not None:
            self._pending += 1
        self.shown = Shown(level, message, time.monotonic())
        self.recent.append(message)
        background, foreground = _COLOURS[level]
        self.setStyleSheet(f"QFrame#banner {{ background: {background}; }}")
        self.label.setStyleSheet(f"color: {foreground};")
        self.more.setStyleSheet(f"color: {foreground};")
        self.label.setText(message)
        self.label.setToolTip(message)
        self._update_more()
        self.show()

    def clear(self) -> None:
        self.shown = None
        self._pending = 0
        self.hide()

    def expire(self) -> None:
        """Called on the frame tick: information fades, warnings and critical alerts stay."""
        shown = self.shown
        if (
            shown is not None
            and shown.level is Level.INFO
            and time.monotonic() - shown.at > INFO_SECONDS
        ):
            self.clear()

    def _update_more(self) -> None:
        self.more.setText(f"+{self._pending} earlier" if self._pending else "")
        self.more.setToolTip("\n".join(reversed(self.recent)))


def _rank(level: Level) -> int:
    return (Level.INFO, Level.WARNING, Level.CRITICAL).index(level)
