"""The day's alerts as the window keeps them: repeats coalesced, cleared when the trading day rolls.

Plain Python (no Qt) so it is tested alone. The banner adds every alert it is given; the history
panel reads the entries.

- Coalescing: an alert that repeats one seen within `window` (the alert channels' quiet time) adds
  to that entry's count and takes its newest wording and time; it is never a new line. "Repeats"
  means the same level, the same account and the same words. For information and warnings the
  figures in the text may differ (a warning's "day loss $503.25" moves with every mark, and the
  trader wants the newest one with a count, not one line per cent); a critical alert repeats only
  word for word, so a critical of a new kind is always a new line.
- The day: kept for the CME trading day, which rolls at 17:00 CT, and cleared at the roll; the
  day's alerts are what a trader reviews, and the firms' days roll there too. A bounded store
  (CAPACITY lines, with repeats folded in) guards memory against a runaway source; what it drops is
  counted and said.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from propdesk.runtime.alerting import QUIET_SECONDS
from propdesk.runtime.notices import Level

COALESCE_WINDOW = timedelta(seconds=QUIET_SECONDS)
CAPACITY = 5_000  # lines a day; a day of real alerts, coalesced, is far fewer
_EXCHANGE = ZoneInfo("America/Chicago")
_ROLL = timedelta(hours=7)  # 17:00 CT + 7 h is the next midnight: the next trade date
_FIGURES = re.compile(r"[-+−]?[$]?\d[\d,]*(?:\.\d+)?%?")


def trade_date(ts: datetime) -> date:
    """The CME trade date of `ts`: the day rolls at 17:00 CT."""
    return (ts.astimezone(_EXCHANGE) + _ROLL).date()


def repeat_key(level: Level, account: str | None, text: str) -> tuple[Level, str | None, str]:
    """What makes two alerts the same one (see the module's docstring)."""
    words = text if level is Level.CRITICAL else _FIGURES.sub("#", text)
    return level, account, words


@dataclass(slots=True)
class LogEntry:
    """One line of the day's alerts: the newest wording, with how often it came."""

    level: Level
    account: str | None
    text: str  # the newest wording
    first: datetime
    last: datetime
    count: int = 1


class AlertLog:
    def __init__(self, *, window: timedelta = COALESCE_WINDOW, capacity: int = CAPACITY) -> None:
        self.window = window
        self.entries: deque[LogEntry] = deque()  # in order of their first alert
        self.day: date | None = None
        self.dropped = 0  # lines dropped today to stay within `capacity`
        self._capacity = capacity
        self._latest: dict[tuple[Level, str | None, str], LogEntry] = {}

    def add(self, level: Level, account: str | None, text: str, ts: datetime) -> LogEntry:
        """Keep one alert; returns its line (a repeat: the line it was folded into)."""
        self.roll(ts)
        key = repeat_key(level, account, text)
        entry = self._latest.get(key)
        if entry is not None and ts - entry.last <= self.window:
            entry.count += 1
            entry.text = text
            entry.last = max(entry.last, ts)
            return entry
        entry = LogEntry(level, account, text, ts, ts)
        self._latest[key] = entry
        self.entries.append(entry)
        if len(self.entries) > self._capacity:
            self._drop_oldest()
        return entry

    def roll(self, now: datetime) -> bool:
        """Clear the log when `now` is in a later trading day. True: it was cleared."""
        day = trade_date(now)
        if self.day is not None and day <= self.day:
            return False
        rolled = self.day is not None
        self.day = day
        if rolled:
            self.entries.clear()
            self._latest.clear()
            self.dropped = 0
        return rolled

    @property
    def alerts(self) -> int:
        """Today's alerts, repeats included."""
        return sum(e.count for e in self.entries)

    def _drop_oldest(self) -> None:
        oldest = self.entries.popleft()
        key = repeat_key(oldest.level, oldest.account, oldest.text)
        if self._latest.get(key) is oldest:
            del self._latest[key]
        self.dropped += 1
