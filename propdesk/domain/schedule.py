"""The guard's view of session times, cached so the hot path rarely asks the calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from propdesk.domain.calendar import FlatByRule, TradingCalendar

_LOOKBACK = timedelta(days=6)  # longer than any weekend plus holiday run


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What the header of the console shows for one account's rules at one instant."""

    may_trade: bool
    next_cutoff: (
        datetime | None
    )  # the next flat-by cutoff (buffer included); None: the firm has none
    countdown: timedelta | None  # until next_cutoff
    reopens: datetime  # when trading is next allowed (now, if it is allowed now)


class CalendarSchedule:
    """Flat-by cutoffs and session opens for one account (firm rule, user buffer, product group)."""

    __slots__ = ("_buffer", "_calendar", "_group", "_open", "_rule", "_window", "_window_from")

    def __init__(
        self,
        calendar: TradingCalendar,
        rule: FlatByRule | None,
        buffer: timedelta,
        product_group: str = "equity",
    ) -> None:
        self._calendar = calendar
        self._rule = rule
        self._buffer = buffer
        self._group = product_group
        self._window: tuple[datetime, datetime, datetime] | None = None
        self._window_from: datetime | None = None
        self._open: tuple[datetime, datetime] | None = None  # (asked at, answer)

    def cutoff_window(self, now: datetime) -> tuple[datetime, datetime, datetime] | None:
        """(cutoff, reopen, firm flat-by) of the no-trading window containing `now`, else the next one."""
        if self._rule is None:
            return None
        window = self._window
        if window is not None and self._window_from <= now < window[1]:  # type: ignore[operator]
            return window
        window = self._compute(now)
        self._window = window
        self._window_from = now
        return window

    def next_open(self, now: datetime) -> datetime:
        """When the next trade date opens.

        A lock "until the next session" (the daily loss) lasts past a holiday halt's reopen: the
        reopen carries on the same trade date, and with it the same daily loss.
        """
        cached = self._open
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[1]
        answer = self._calendar.next_day_open(self._group, now)
        self._open = (now, answer)
        return answer

    def status(self, now: datetime) -> SessionStatus:
        """May the account trade now, how long until the cutoff, and when trading reopens."""
        rule, calendar = self._rule, self._calendar
        may_trade = calendar.may_trade(rule, now, self._buffer, self._group)
        reopens = calendar.reopen_after(rule, now, self._buffer, self._group)
        if rule is None:
            return SessionStatus(may_trade, None, None, reopens)
        cutoff = calendar.next_cutoff(rule, now, self._buffer, self._group).at
        return SessionStatus(may_trade, cutoff, cutoff - now, reopens)

    def _compute(self, now: datetime) -> tuple[datetime, datetime, datetime]:
        calendar, rule, buffer, group = self._calendar, self._rule, self._buffer, self._group
        assert rule is not None
        latest = calendar.next_cutoff(rule, now - _LOOKBACK, buffer, group)
        upcoming = calendar.next_cutoff(rule, latest.at, buffer, group)
        while upcoming.at <= now:
            latest = upcoming
            upcoming = calendar.next_cutoff(rule, latest.at, buffer, group)
        if latest.at <= now:
            reopen = calendar.reopen_after(rule, latest.at, buffer, group)
            if now < reopen:
                return (latest.at, reopen, latest.firm_time)
        reopen = calendar.reopen_after(rule, upcoming.at, buffer, group)
        return (upcoming.at, reopen, upcoming.firm_time)
