"""Trading calendar: CME sessions per product group, trading-day rollover and firm flat-by cutoffs.

Holidays and early closes come from pandas_market_calendars, turned once per (calendar, year)
into plain dicts and sorted lists, so the hot paths (`trading_day`, `day_bounds`, `is_open`,
`may_trade`) are a bisect or a dict hit. A user override file (`parse_closures`) can shorten or
cancel sessions on ad-hoc days the library does not know (e.g. 9 Jan 2025).

Every datetime in and out is timezone-aware; results are UTC. America/Chicago appears only here.
"""

import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CHICAGO",
    "CME_DAY",
    "MAX_YEAR",
    "MIN_YEAR",
    "PRODUCT_GROUPS",
    "Closure",
    "Cutoff",
    "DayBoundary",
    "FlatByRule",
    "Session",
    "TradingCalendar",
    "parse_closures",
]

CHICAGO = ZoneInfo("America/Chicago")
PRODUCT_GROUPS = ("equity", "energy", "metals", "fx", "rates")

_PMC_CALENDARS: Mapping[str, str] = {
    "equity": "CME Globex Equity",
    "energy": "CMEGlobex_EnergyAndMetals",
    "metals": "CMEGlobex_EnergyAndMetals",
    "fx": "CMEGlobex_FX",
    "rates": "CME Globex Fixed Income",
}
_ROLLOVER = time(17, 0)  # CME trade date rolls at 5 PM CT
_NORMAL_CLOSE = time(16, 0)
_MIDNIGHT = time(0, 0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Outside this range the holiday rules are either history or guesswork; refusing also bounds the
# lazy year-extension loops below.
MIN_YEAR, MAX_YEAR = 1990, 2100
# next_cutoff / reopen_after normally look at one or two sessions; this bounds the scan when a rule
# leaves no moment to trade at all (a buffer longer than the session).
_MAX_SCAN_SESSIONS = 40


def _zone(name: str, what: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{what}: unknown time zone {name!r}") from exc


def _check_group(product_group: str) -> None:
    if product_group not in _PMC_CALENDARS:
        raise ValueError(
            f"unknown product group {product_group!r}; expected one of {', '.join(PRODUCT_GROUPS)}"
        )


def _posix(ts: datetime) -> float:
    """Seconds since the epoch; rejects naive datetimes (they would silently mean local time)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(
            f"naive datetime {ts.isoformat()}: the calendar needs timezone-aware times"
        )
    return ts.timestamp()


def _at(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _check_buffer(buffer: timedelta) -> None:
    if buffer < timedelta(0):
        raise ValueError(f"buffer must not be negative, got {buffer}")


# --------------------------------------------------------------------------------------------------
# Value types


@dataclass(frozen=True, slots=True)
class Session:
    """One Globex session of a product group; [open, close) in UTC.

    The daily 16:00–17:00 CT maintenance gap is the gap between one close and the next open.
    """

    product_group: str
    trading_day: date
    open: datetime
    close: datetime

    @property
    def is_early_close(self) -> bool:
        """True when the session closes before the normal 16:00 CT (holiday or override)."""
        return self.close < _at(self.trading_day, _NORMAL_CLOSE, CHICAGO)


@dataclass(frozen=True, slots=True)
class Closure:
    """A user override: shorten (close = Chicago time) or cancel (close = None) a trading day."""

    day: date
    close: time | None
    product_groups: frozenset[str] | None  # None = every group
    note: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.day, datetime) or not isinstance(self.day, date):
            raise ValueError(f"closure day must be a date, got {self.day!r}")
        if self.close is not None and (
            not isinstance(self.close, time) or self.close.tzinfo is not None
        ):
            raise ValueError(f"closure {self.day}: close must be a naive Chicago time or None")
        if self.product_groups is not None:
            if not self.product_groups:
                raise ValueError(f"closure {self.day}: product_groups is empty (use None for all)")
            for group in sorted(self.product_groups):
                if group not in _PMC_CALENDARS:
                    raise ValueError(f"closure {self.day}: unknown product group {group!r}")


@dataclass(frozen=True, slots=True)
class DayBoundary:
    """When a firm's trading day rolls over, in the firm's own zone."""

    tz: str
    at: time

    def __post_init__(self) -> None:
        _zone(self.tz, "DayBoundary")


CME_DAY = DayBoundary("America/Chicago", _ROLLOVER)


@dataclass(frozen=True, slots=True)
class FlatByRule:
    """A firm's "be flat by" time on each trading day's own date."""

    at: time
    tz: str
    # Flat this long before an early session close (Tradeify: 1 min); None = by the close itself.
    early_close_lead: timedelta | None = None

    def __post_init__(self) -> None:
        _zone(self.tz, "FlatByRule")
        if self.early_close_lead is not None and self.early_close_lead < timedelta(0):
            raise ValueError(f"FlatByRule: early_close_lead must not be negative: {self}")


@dataclass(frozen=True, slots=True)
class Cutoff:
    at: datetime  # UTC, buffer already subtracted
    trading_day: date
    firm_time: datetime  # UTC, the firm's own flat-by (or early close) before the buffer


# --------------------------------------------------------------------------------------------------
# Override file


_CLOSURE_FIELDS = frozenset({"day", "close", "groups", "note"})


def parse_closures(text: str) -> list[Closure]:
    """Parse the TOML override file.

    ```toml
    [[closure]]
    day = 2025-01-09          # the trading day affected
    close = "08:30"           # Chicago time; omit to close the whole day
    groups = ["equity"]       # omit for every group
    note = "day of mourning"
    ```
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"closures: not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - {"closure"})
    if unknown:
        raise ValueError(f"closures: unknown top-level key(s) {unknown}; expected [[closure]]")
    entries = doc.get("closure", [])
    if not isinstance(entries, list):
        raise ValueError("closures: 'closure' must be an array of tables ([[closure]])")
    return [_parse_closure(n, entry) for n, entry in enumerate(entries, start=1)]


def _parse_closure(n: int, entry: Any) -> Closure:
    where = f"closure #{n}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a table, got {entry!r}")
    if "day" not in entry:
        raise ValueError(f"{where}: field 'day' is missing")
    raw_day = entry["day"]
    if isinstance(raw_day, datetime):
        raise ValueError(f"{where}: field 'day' must be a date without a time, got {raw_day}")
    if isinstance(raw_day, date):
        day = raw_day
    elif isinstance(raw_day, str):
        try:
            day = date.fromisoformat(raw_day)
        except ValueError as exc:
            raise ValueError(f"{where}: field 'day' is not a YYYY-MM-DD date: {raw_day!r}") from exc
    else:
        raise ValueError(f"{where}: field 'day' must be a date, got {raw_day!r}")
    where = f"closure #{n} ({day})"

    unknown = sorted(set(entry) - _CLOSURE_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; expected {sorted(_CLOSURE_FIELDS)}")

    close: time | None = None
    if "close" in entry:
        raw_close = entry["close"]
        if isinstance(raw_close, time):
            close = raw_close
        elif isinstance(raw_close, str):
            try:
                close = time.fromisoformat(raw_close)
            except ValueError as exc:
                raise ValueError(
                    f"{where}: field 'close' is not an HH:MM time: {raw_close!r}"
                ) from exc
        else:
            raise ValueError(f"{where}: field 'close' must be an \"HH:MM\" string: {raw_close!r}")
        if close.tzinfo is not None:
            raise ValueError(f"{where}: field 'close' is Chicago time; drop the UTC offset")

    groups: frozenset[str] | None = None
    if "groups" in entry:
        raw_groups = entry["groups"]
        if (
            not isinstance(raw_groups, list)
            or not raw_groups
            or not all(isinstance(g, str) for g in raw_groups)
        ):
            raise ValueError(
                f"{where}: field 'groups' must be a non-empty list of names: {raw_groups!r}"
            )
        bad = [g for g in raw_groups if g not in _PMC_CALENDARS]
        if bad:
            raise ValueError(
                f"{where}: field 'groups' has unknown product group(s) {bad}; "
                f"expected {', '.join(PRODUCT_GROUPS)}"
            )
        groups = frozenset(raw_groups)

    note = entry.get("note", "")
    if not isinstance(note, str):
        raise ValueError(f"{where}: field 'note' must be a string: {note!r}")
    return Closure(day=day, close=close, product_groups=groups, note=note)


# --------------------------------------------------------------------------------------------------
# Exchange data


@cache
def _exchange_year(calendar_name: str, year: int) -> Mapping[date, tuple[datetime, datetime]]:
    """pandas_market_calendars' sessions whose trading day falls in `year`, as UTC datetimes.

    Cached for the process: the data ships with the library and never changes at run time.
    """
    # Imported here so that importing the domain does not pay for pandas.
    import pandas_market_calendars as mcal

    frame = mcal.get_calendar(calendar_name).schedule(f"{year}-01-01", f"{year}-12-31")
    return {
        day.date(): (opened.to_pydatetime().astimezone(UTC), closed.to_pydatetime().astimezone(UTC))
        for day, opened, closed in zip(
            frame.index, frame["market_open"], frame["market_close"], strict=True
        )
    }


@dataclass(frozen=True, slots=True)
class _Year:
    sessions: Mapping[str, Mapping[date, Session]]  # group -> trading day -> session
    business_days: tuple[date, ...]  # days with a session in any group, sorted


@dataclass(frozen=True, slots=True)
class _GroupIndex:
    opens: list[float]
    closes: list[float]
    sessions: list[Session]


@dataclass(frozen=True, slots=True)
class _Index:
    """What the hot paths bisect over, for the loaded years lo..hi (replaced, never mutated)."""

    lo: int
    hi: int
    ends: list[float]  # 17:00 CT of each business day: the end of that trading day
    end_dts: list[datetime]
    days: list[date]
    groups: Mapping[str, _GroupIndex]


def _is_exchange_boundary(boundary: DayBoundary) -> bool:
    # "6 PM ET" is the same instant as 5 PM CT all year, so either spelling means the CME day.
    return (boundary.tz, boundary.at) in {
        ("America/Chicago", _ROLLOVER),
        ("America/New_York", time(18, 0)),
    }


# --------------------------------------------------------------------------------------------------
# The calendar


class TradingCalendar:
    """Sessions, trading days and cutoffs. Loads a year the first time it is touched."""

    def __init__(
        self, closures: Iterable[Closure] = (), *, day_boundary: DayBoundary = CME_DAY
    ) -> None:
        # Several lines may hit one (group, day): the earliest close wins, "closed" beats any time.
        merged: dict[tuple[str, date], time | None] = {}
        for closure in closures:
            if not isinstance(closure, Closure):
                raise ValueError(f"expected Closure, got {closure!r}")
            for group in closure.product_groups or PRODUCT_GROUPS:
                key = (group, closure.day)
                if key in merged:
                    prev = merged[key]
                    if prev is None or closure.close is None:
                        merged[key] = None
                    else:
                        merged[key] = min(prev, closure.close)
                else:
                    merged[key] = closure.close
        self._closures = merged
        self._boundary = day_boundary
        self._exchange_days = _is_exchange_boundary(day_boundary)
        self._boundary_tz = _zone(day_boundary.tz, "DayBoundary")
        self._years: dict[int, _Year] = {}
        self._index: _Index | None = None
        self._local_bounds: dict[date, tuple[float, float, datetime, datetime]] = {}
        # (start, end, day, start_dt, end_dt) of the last day_bounds answer: ticks arrive in order,
        # so most lookups hit it.
        self._last: tuple[float, float, date, datetime, datetime] = (
            0.0,
            0.0,
            date.min,
            _EPOCH,
            _EPOCH,
        )
        self._cutoffs: dict[tuple[FlatByRule, date, timedelta, str], Cutoff | None] = {}

    @property
    def day_boundary(self) -> DayBoundary:
        return self._boundary

    # ---- loading -------------------------------------------------------------------------------

    def _year(self, year: int) -> _Year:
        loaded = self._years.get(year)
        if loaded is not None:
            return loaded
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise ValueError(f"year {year} is outside the calendar's range {MIN_YEAR}–{MAX_YEAR}")
        per_group: dict[str, dict[date, Session]] = {}
        days: set[date] = set()
        for group in PRODUCT_GROUPS:
            sessions: dict[date, Session] = {}
            for day, (opened, closed) in _exchange_year(_PMC_CALENDARS[group], year).items():
                key = (group, day)
                if key in self._closures:
                    override = self._closures[key]
                    if override is None:
                        continue
                    # An override only ever shortens a session: erring late would let a guard
                    # believe the market is still open.
                    closed = min(closed, _at(day, override, CHICAGO))
                    if closed <= opened:
                        continue
                sessions[day] = Session(group, day, opened, closed)
            per_group[group] = sessions
            days.update(sessions)
        loaded = _Year(sessions=per_group, business_days=tuple(sorted(days)))
        self._years[year] = loaded
        return loaded

    def _build_index(self, lo: int, hi: int) -> _Index:
        years = [self._year(y) for y in range(lo, hi + 1)]
        days = [d for y in years for d in y.business_days]
        end_dts = [_at(d, _ROLLOVER, CHICAGO) for d in days]
        groups: dict[str, _GroupIndex] = {}
        for group in PRODUCT_GROUPS:
            sessions = [s for y in years for s in y.sessions[group].values()]
            sessions.sort(key=lambda s: s.open)
            groups[group] = _GroupIndex(
                opens=[s.open.timestamp() for s in sessions],
                closes=[s.close.timestamp() for s in sessions],
                sessions=sessions,
            )
        index = _Index(
            lo=lo,
            hi=hi,
            ends=[e.timestamp() for e in end_dts],
            end_dts=end_dts,
            days=days,
            groups=groups,
        )
        self._index = index  # one assignment: readers see the old index or the new one
        return index

    def _grow(self, t: float, earlier: bool) -> _Index:
        index = self._index
        year = datetime.fromtimestamp(t, CHICAGO).year
        # A far jump (replaying an old journal) starts a fresh range rather than loading every
        # year in between.
        if index is None or not index.lo - 1 <= year <= index.hi + 1:
            return self._build_index(year, year)
        if earlier:
            return self._build_index(index.lo - 1, index.hi)
        return self._build_index(index.lo, index.hi + 1)

    def _exchange_pos(self, t: float) -> tuple[_Index, int]:
        """(index, i) with ends[i-1] <= t < ends[i]: t lies in trading day days[i]."""
        index = self._index
        while True:
            if index is not None:
                i = bisect_right(index.ends, t)
                if 0 < i < len(index.ends):
                    return index, i
                index = self._grow(t, earlier=i == 0)
            else:
                index = self._grow(t, earlier=False)

    def _group_pos(self, group: str, t: float) -> tuple[_GroupIndex, int]:
        """(sessions, i): i is the last session opening at or before t; i + 1 exists too."""
        _check_group(group)
        index = self._index
        while True:
            if index is not None:
                g = index.groups[group]
                i = bisect_right(g.opens, t) - 1
                if i >= 0 and i + 1 < len(g.opens):
                    return g, i
                index = self._grow(t, earlier=i < 0)
            else:
                index = self._grow(t, earlier=False)

    def _sessions_from(self, group: str, t: float) -> Iterator[Session]:
        """Sessions in order, from the one opening last at or before t (or the first after it)."""
        g, i = self._group_pos(group, t)
        for _ in range(_MAX_SCAN_SESSIONS):
            session = g.sessions[i]
            yield session
            g, i = self._group_pos(group, session.open.timestamp())
            i += 1
        raise ValueError(f"no usable {group} session within {_MAX_SCAN_SESSIONS} sessions")

    # ---- trading days ----------------------------------------------------------------------------

    def trading_day(self, ts: datetime) -> date:
        """The firm's trading day containing ts (CME: 17:00 CT rollover, business days only)."""
        t = _posix(ts)
        last = self._last
        if last[0] <= t < last[1]:
            return last[2]
        return self._lookup(t, ts)[2]

    def day_bounds(self, ts: datetime) -> tuple[datetime, datetime]:
        """[start, end) in UTC of ts's trading day; cache it and re-ask once ts >= end."""
        t = _posix(ts)
        last = self._last
        if last[0] <= t < last[1]:
            return last[3], last[4]
        found = self._lookup(t, ts)
        return found[3], found[4]

    def _lookup(self, t: float, ts: datetime) -> tuple[float, float, date, datetime, datetime]:
        if self._exchange_days:
            index, i = self._exchange_pos(t)
            found = (
                index.ends[i - 1],
                index.ends[i],
                index.days[i],
                index.end_dts[i - 1],
                index.end_dts[i],
            )
        else:
            found = self._local_lookup(t, ts)
        self._last = found
        return found

    def _local_lookup(
        self, t: float, ts: datetime
    ) -> tuple[float, float, date, datetime, datetime]:
        local = ts.astimezone(self._boundary_tz)
        day = local.date()
        if self._boundary.at != _MIDNIGHT and local.time() >= self._boundary.at:
            day += timedelta(days=1)
        # Re-check against the instants themselves so that a boundary inside a DST gap or overlap
        # still gives start <= ts < end.
        for _ in range(3):
            start, end, start_dt, end_dt = self._local_day(day)
            if t < start:
                day -= timedelta(days=1)
            elif t >= end:
                day += timedelta(days=1)
            else:
                return start, end, day, start_dt, end_dt
        raise AssertionError(f"no local trading day found for {ts.isoformat()}")  # unreachable

    def _local_day(self, day: date) -> tuple[float, float, datetime, datetime]:
        cached = self._local_bounds.get(day)
        if cached is None:
            # A day labelled D ends at the boundary on D (like the CME day), or runs D 00:00 → D+1.
            first = day if self._boundary.at == _MIDNIGHT else day - timedelta(days=1)
            start_dt = _at(first, self._boundary.at, self._boundary_tz)
            end_dt = _at(first + timedelta(days=1), self._boundary.at, self._boundary_tz)
            cached = (start_dt.timestamp(), end_dt.timestamp(), start_dt, end_dt)
            self._local_bounds[day] = cached
        return cached

    # ---- sessions --------------------------------------------------------------------------------

    def session(self, product_group: str, trading_day: date) -> Session | None:
        """The group's session on that trading day, or None when it is closed."""
        _check_group(product_group)
        return self._year(trading_day.year).sessions[product_group].get(trading_day)

    def is_open(self, product_group: str, ts: datetime) -> bool:
        t = _posix(ts)
        g, i = self._group_pos(product_group, t)
        return t < g.closes[i]

    def _session_at(self, product_group: str, t: float) -> Session | None:
        g, i = self._group_pos(product_group, t)
        return g.sessions[i] if t < g.closes[i] else None

    def next_open(self, product_group: str, ts: datetime) -> datetime:
        """The first session open strictly after ts."""
        g, i = self._group_pos(product_group, _posix(ts))
        return g.sessions[i + 1].open

    def session_close_after(self, product_group: str, ts: datetime) -> datetime:
        """The close of the session containing ts, else of the next session."""
        t = _posix(ts)
        g, i = self._group_pos(product_group, t)
        return g.sessions[i].close if t < g.closes[i] else g.sessions[i + 1].close

    # ---- cutoffs ---------------------------------------------------------------------------------

    def cutoff(
        self,
        rule: FlatByRule,
        trading_day: date,
        buffer: timedelta,
        product_group: str = "equity",
    ) -> Cutoff | None:
        """min(firm flat-by, session close [− lead on early closes]) − buffer; None if closed."""
        key = (rule, trading_day, buffer, product_group)
        try:
            return self._cutoffs[key]
        except KeyError:
            pass
        _check_buffer(buffer)
        session = self.session(product_group, trading_day)
        result: Cutoff | None = None
        if session is not None:
            close = session.close
            if rule.early_close_lead is not None and session.is_early_close:
                close -= rule.early_close_lead
            firm_time = min(_at(trading_day, rule.at, ZoneInfo(rule.tz)), close)
            result = Cutoff(at=firm_time - buffer, trading_day=trading_day, firm_time=firm_time)
        self._cutoffs[key] = result
        return result

    def next_cutoff(
        self,
        rule: FlatByRule,
        ts: datetime,
        buffer: timedelta,
        product_group: str = "equity",
    ) -> Cutoff:
        """The first cutoff whose `at` is after ts: today's if still ahead, else the next day's."""
        _check_buffer(buffer)
        for session in self._sessions_from(product_group, _posix(ts)):
            found = self.cutoff(rule, session.trading_day, buffer, product_group)
            if found is not None and found.at > ts:
                return found
        raise AssertionError("unreachable: _sessions_from raises when exhausted")

    def may_trade(
        self,
        rule: FlatByRule | None,
        ts: datetime,
        buffer: timedelta,
        product_group: str = "equity",
    ) -> bool:
        """The session is open and, under a rule, ts is before today's cutoff."""
        _check_buffer(buffer)
        session = self._session_at(product_group, _posix(ts))
        if session is None:
            return False
        if rule is None:
            return True
        found = self.cutoff(rule, session.trading_day, buffer, product_group)
        return found is not None and ts < found.at

    def reopen_after(
        self,
        rule: FlatByRule | None,
        ts: datetime,
        buffer: timedelta,
        product_group: str = "equity",
    ) -> datetime:
        """When may_trade next becomes true (ts itself, in UTC, if it already is)."""
        _check_buffer(buffer)
        t = _posix(ts)
        ts_utc = ts.astimezone(UTC)
        for session in self._sessions_from(product_group, t):
            start = max(session.open, ts_utc)
            limit = session.close
            if rule is not None:
                found = self.cutoff(rule, session.trading_day, buffer, product_group)
                if found is not None:
                    limit = min(limit, found.at)
            if start < limit:
                return start
        raise AssertionError("unreachable: _sessions_from raises when exhausted")
