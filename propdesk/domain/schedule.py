"""The guard's view of session times, cached so the hot path rarely asks the calendar.

An account is judged by the product groups of what it holds or has working (ES and CL: equity and
energy), or by its configured group when it has neither. Its flat-by cutoff is the earliest among
those groups: on 24 Dec 2026 an ES + CL account must be flat by equity's 12:15 close, not energy's
12:45.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from propdesk.domain.calendar import FlatByRule, TradingCalendar

_NEVER = datetime.min.replace(tzinfo=UTC)
_LOOKBACK = timedelta(days=6)  # longer than any weekend plus holiday run
# Each round moves to a later reopen of some group; groups are few, so a handful of rounds settle.
_MAX_REOPEN_ROUNDS = 16

Window = tuple[datetime, datetime, datetime]  # (cutoff, reopen, firm's flat-by)


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
    """Flat-by cutoffs and session opens for one account (firm rule, user buffer, product groups).

    `groups` in each call are the groups the account holds or has working; empty means the
    account's configured group (`product_group`).
    """

    __slots__ = (
        "_asked",
        "_buffer",
        "_calendar",
        "_fallback",
        "_opens",
        "_rule",
        "_valid_from",
        "_valid_until",
        "_window",
        "_windows",
    )

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
        self._fallback = frozenset({product_group})
        self._windows: dict[str, tuple[datetime, Window]] = {}  # group -> (asked at, window)
        # The last answer, for the groups object asked with, valid from..until: the guard asks on
        # every mark, and the account hands over the same groups object while they stay the same.
        self._asked: frozenset[str] | None = None
        self._valid_from = self._valid_until = _NEVER
        self._window: Window | None = None
        self._opens: dict[str, tuple[datetime, datetime]] = {}  # group -> (asked at, answer)

    def _groups(self, groups: frozenset[str]) -> frozenset[str]:
        return groups or self._fallback

    def cutoff_window(self, now: datetime, groups: frozenset[str] = frozenset()) -> Window | None:
        """(cutoff, reopen, firm flat-by) of the no-trading window containing `now`, else the next.

        Over several groups: the window that starts first; of windows starting together, the one
        that ends first (the others' markets are closed or cut off by then, and a new position in
        one of them meets its own window at once).
        """
        if self._rule is None:
            return None
        if groups is self._asked and self._valid_from <= now < self._valid_until:
            return self._window
        return self._combine(now, groups)

    def _combine(self, now: datetime, asked: frozenset[str]) -> Window | None:
        if asked == self._asked and self._valid_from <= now < self._valid_until:
            self._asked = asked  # equal groups in a new object: the same answer
            return self._window
        best: Window | None = None
        until: datetime | None = None
        for group in sorted(self._groups(asked)):
            window = self._group_window(group, now)
            if best is None or (window[0], window[1]) < (best[0], best[1]):
                best = window
            if until is None or window[1] < until:
                until = window[1]
        assert best is not None  # groups is never empty
        assert until is not None
        # Each group's window holds until it ends, so their choice holds until the first ends.
        self._asked, self._valid_from, self._valid_until, self._window = asked, now, until, best
        return best

    def _group_window(self, group: str, now: datetime) -> Window:
        cached = self._windows.get(group)
        if cached is not None and cached[0] <= now < cached[1][1]:
            return cached[1]
        window = self._compute(now, group)
        self._windows[group] = (now, window)
        return window

    def next_open(self, now: datetime, groups: frozenset[str] = frozenset()) -> datetime:
        """When the next trade date opens, for the first of the groups to open.

        A lock "until the next session" (the daily loss) lasts past a holiday halt's reopen: the
        reopen carries on the same trade date, and with it the same daily loss.
        """
        return min(self._next_open(now, group) for group in self._groups(groups))

    def _next_open(self, now: datetime, group: str) -> datetime:
        cached = self._opens.get(group)
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[1]
        answer = self._calendar.next_day_open(group, now)
        self._opens[group] = (now, answer)
        return answer

    def status(self, now: datetime, groups: frozenset[str] = frozenset()) -> SessionStatus:
        """May the account trade now, how long until the cutoff, and when trading reopens.

        Over several groups: it may trade while every group may, the countdown runs to the
        earliest cutoff, and trading reopens once every group may trade again.
        """
        rule, calendar, buffer = self._rule, self._calendar, self._buffer
        chosen = sorted(self._groups(groups))
        may_trade = all(calendar.may_trade(rule, now, buffer, group) for group in chosen)
        reopens = self._reopen_all(now, chosen)
        if rule is None:
            return SessionStatus(may_trade, None, None, reopens)
        cutoff = min(calendar.next_cutoff(rule, now, buffer, group).at for group in chosen)
        return SessionStatus(may_trade, cutoff, cutoff - now, reopens)

    def _reopen_all(self, now: datetime, groups: Iterable[str]) -> datetime:
        rule, calendar, buffer = self._rule, self._calendar, self._buffer
        chosen = tuple(groups)
        at = now
        for _ in range(_MAX_REOPEN_ROUNDS):
            later = max(calendar.reopen_after(rule, at, buffer, group) for group in chosen)
            if later <= at:
                return later
            at = later
        raise ValueError(
            f"no moment when {', '.join(chosen)} may all trade within {_MAX_REOPEN_ROUNDS} tries"
        )

    def _compute(self, now: datetime, group: str) -> Window:
        calendar, rule, buffer = self._calendar, self._rule, self._buffer
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
