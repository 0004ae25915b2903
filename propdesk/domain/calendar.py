"""Trading calendar: CME sessions per product group, trading-day rollover and firm flat-by cutoffs.

Holidays and early closes come from pandas_market_calendars, turned once per (calendar, year)
into plain dicts and sorted lists, so the hot paths (`trading_day`, `day_bounds`, `is_open`,
`may_trade`) are a bisect or a dict hit. A user override file (`parse_closures`) can shorten or
cancel sessions on ad-hoc days the library does not know (e.g. 9 Jan 2025).

Trade dates. pandas_market_calendars labels each Globex session with the date it closes on, so on
a holiday halt (MLK Day: Sun 17:00 → Mon 12:00 CT, reopen Mon 17:00 → Tue 16:00) it gives two
"days", 19 and 20 Jan. CME clears both sessions on one trade date, Tue 20 Jan. The rule here: a
session whose closing date is a CME clearing holiday — a regular holiday of pmc's `CME_TradeDate`
calendar (New Year, MLK, Presidents, Good Friday, Memorial, Juneteenth, Independence, Labor,
Thanksgiving, Christmas) or a weekend — belongs to the next date that is neither. pmc's ad-hoc days
of mourning are not folded (pmc marks that list unverified, and its Globex calendars trade a full
day on them); an early close on such a day is the override file's business.

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
PRODUCT_GROUPS = ("equity", "energy", "metals", "fx", "rates", "grains", "livestock")

_PMC_CALENDARS: Mapping[str, str] = {
    "equity": "CME Globex Equity",
    # pmc 5.5 has one class for both (CMEGlobex_Energy and CMEGlobex_Metals are aliases of it), so
    # their hours are the same here; one name loads each year once.
    "energy": "CMEGlobex_EnergyAndMetals",
    "metals": "CMEGlobex_EnergyAndMetals",
    "fx": "CMEGlobex_FX",
    "rates": "CME Globex Fixed Income",
    # ZC, ZS, ZW: 19:00 → 13:20 CT. pmc's 07:45–08:30 pause is not modelled: it is no close, so
    # no flat-by applies before it.
    "grains": "CMEGlobex_Grains",
    "livestock": "CMEGlobex_Livestock",  # LE, HE, GF: 08:30 → 13:05 CT
}
_TRADE_DATES = "CME_TradeDate"
_ROLLOVER = time(17, 0)  # CME trade date rolls at 5 PM CT
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

    The daily 16:00–17:00 CT maintenance gap is the gap between one close and the next open. A
    trade date with a holiday halt has two sessions (MLK Day: Sun 17:00 → Mon 12:00 and Mon 17:00
    → Tue 16:00, both trade date Tue); the halt between them is closed.
    """

    product_group: str
    trading_day: date  # the CME trade date its trades clear on
    open: datetime
    close: datetime
    # The date it closes on, as the exchange labels the session; before a holiday halt it is the
    # holiday itself, not the trade date. A firm's flat-by time is read on this date.
    session_date: date
    # Closes before the group's regular close: a holiday early close or halt (pmc), or an override.
    is_early_close: bool


@dataclass(frozen=True, slots=True)
class Closure:
    """A user override: shorten (close = Chicago time) or cancel (close = None) the session that
    closes on `day` (the trade date itself, except before a holiday halt)."""

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
    day = 2025-01-09          # the date the session closes on
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


# pmc's sessions are loaded from this far into the December before a year, so that a session
# folded into a January trade date (a holiday halt on the last days of a year) is that year's.
_FOLD_REACH = timedelta(days=16)


@dataclass(frozen=True, slots=True)
class _PmcSession:
    day: date  # pmc's label: the date the session closes on
    open: datetime  # UTC
    close: datetime  # UTC
    early: bool  # pmc: closes before the calendar's regular close that day


@cache
def _exchange_sessions(calendar_name: str, year: int) -> tuple[_PmcSession, ...]:
    """pandas_market_calendars' sessions labelled from mid-December of year − 1 through `year`.

    Cached for the process: the data ships with the library and never changes at run time.
    """
    # Imported here so that importing the domain does not pay for pandas.
    import pandas_market_calendars as mcal

    calendar = mcal.get_calendar(calendar_name)
    first = date(year, 1, 1) - _FOLD_REACH
    frame = calendar.schedule(first.isoformat(), f"{year}-12-31")
    early = {day.date() for day in calendar.early_closes(frame).index}
    return tuple(
        _PmcSession(
            day.date(),
            opened.to_pydatetime().astimezone(UTC),
            closed.to_pydatetime().astimezone(UTC),
            day.date() in early,
        )
        for day, opened, closed in zip(
            frame.index, frame["market_open"], frame["market_close"], strict=True
        )
    )


@cache
def _clearing_holidays(year: int) -> frozenset[date]:
    """CME clearing holidays in `year` and the next January: the regular holidays of pmc's
    CME_TradeDate calendar (its ad-hoc days of mourning left out, see the module notes)."""
    import pandas_market_calendars as mcal

    rules = mcal.get_calendar(_TRADE_DATES).regular_holidays
    return frozenset(d.date() for d in rules.holidays(f"{year}-01-01", f"{year + 1}-01-31"))


def _trade_date(session_date: date) -> date:
    """The CME trade date of a session closing on `session_date`: that date, or the next one that
    is neither a weekend nor a clearing holiday (a holiday halt clears on the next trade date)."""
    holidays = _clearing_holidays(session_date.year)  # reaches into January: enough for a fold
    day = session_date
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return day


@dataclass(frozen=True, slots=True)
class _Year:
    # group -> trade date -> its sessions in order (two on a holiday halt)
    sessions: Mapping[str, Mapping[date, tuple[Session, ...]]]
    business_days: tuple[date, ...]  # trade dates with a session in any group, sorted


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
        self._cutoffs: dict[tuple[FlatByRule, str, datetime, timedelta], Cutoff] = {}

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
        per_group: dict[str, dict[date, tuple[Session, ...]]] = {}
        days: set[date] = set()
        for group in PRODUCT_GROUPS:
            by_day: dict[date, list[Session]] = {}
            for pmc in _exchange_sessions(_PMC_CALENDARS[group], year):
                trade_date = _trade_date(pmc.day)
                if trade_date.year != year:
                    continue  # the neighbouring year owns it
                session = self._session(group, pmc, trade_date)
                if session is not None:
                    by_day.setdefault(trade_date, []).append(session)
            per_group[group] = {day: tuple(sessions) for day, sessions in by_day.items()}
            days.update(by_day)
        loaded = _Year(sessions=per_group, business_days=tuple(sorted(days)))
        self._years[year] = loaded
        return loaded

    def _session(self, group: str, pmc: _PmcSession, trade_date: date) -> Session | None:
        """pmc's session with the user's override for its date applied; None if cancelled."""
        closed, early = pmc.close, pmc.early
        key = (group, pmc.day)
        if key in self._closures:
            override = self._closures[key]
            if override is None:
                return None
            # An override only ever shortens a session: erring late would let a guard believe the
            # market is still open.
            shortened = _at(pmc.day, override, CHICAGO)
            if shortened < closed:
                closed, early = shortened, True
            if closed <= pmc.open:
                return None
        return Session(group, trade_date, pmc.open, closed, pmc.day, early)

    def _build_index(self, lo: int, hi: int) -> _Index:
        years = [self._year(y) for y in range(lo, hi + 1)]
        days = [d for y in years for d in y.business_days]
        end_dts = [_at(d, _ROLLOVER, CHICAGO) for d in days]
        groups: dict[str, _GroupIndex] = {}
        for group in PRODUCT_GROUPS:
            sessions = [s for y in years for day in y.sessions[group].values() for s in day]
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

    def sessions(self, product_group: str, trading_day: date) -> tuple[Session, ...]:
        """The group's sessions of that trade date in order: none when it is closed, two across a
        holiday halt."""
        _check_group(product_group)
        return self._year(trading_day.year).sessions[product_group].get(trading_day, ())

    def session(self, product_group: str, trading_day: date) -> Session | None:
        """The group's last session of that trade date (its close ends the day), or None."""
        found = self.sessions(product_group, trading_day)
        return found[-1] if found else None

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

    def next_day_open(self, product_group: str, ts: datetime) -> datetime:
        """The first open strictly after ts that starts a trade date: the reopen after a holiday
        halt carries on the same trade date, so it is passed over."""
        g, i = self._group_pos(product_group, _posix(ts))
        for _ in range(_MAX_SCAN_SESSIONS):
            session = g.sessions[i + 1]
            if session.trading_day != g.sessions[i].trading_day:
                return session.open
            g, i = self._group_pos(product_group, session.open.timestamp())
        raise ValueError(
            f"no {product_group} trade date opens within {_MAX_SCAN_SESSIONS} sessions"
        )

    def session_close_after(self, product_group: str, ts: datetime) -> datetime:
        """The close of the session containing ts, else of the next session."""
        t = _posix(ts)
        g, i = self._group_pos(product_group, t)
        return g.sessions[i].close if t < g.closes[i] else g.sessions[i + 1].close

    # ---- cutoffs ---------------------------------------------------------------------------------

    def session_cutoff(self, rule: FlatByRule, session: Session, buffer: timedelta) -> Cutoff:
        """min(firm flat-by on the session's date, its close [− lead if early]) − buffer."""
        key = (rule, session.product_group, session.open, buffer)
        try:
            return self._cutoffs[key]
        except KeyError:
            pass
        _check_buffer(buffer)
        close = session.close
        if rule.early_close_lead is not None and session.is_early_close:
            close -= rule.early_close_lead
        # An early close is a close, a holiday halt's included (the stricter reading): the firm's
        # flat-by applies at or before it, although the trade date goes on after the reopen.
        firm_time = min(_at(session.session_date, rule.at, ZoneInfo(rule.tz)), close)
        result = Cutoff(at=firm_time - buffer, trading_day=session.trading_day, firm_time=firm_time)
        self._cutoffs[key] = result
        return result

    def cutoff(
        self,
        rule: FlatByRule,
        trading_day: date,
        buffer: timedelta,
        product_group: str = "equity",
    ) -> Cutoff | None:
        """The cutoff before the trade date's last close; None if the group is closed that day.

        Across a holiday halt the trade date has an earlier one too, before the halt (`sessions`
        and `session_cutoff`, or `next_cutoff`).
        """
        _check_buffer(buffer)
        session = self.session(product_group, trading_day)
        return None if session is None else self.session_cutoff(rule, session, buffer)

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
            found = self.session_cutoff(rule, session, buffer)
            if found.at > ts:
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
        return ts < self.session_cutoff(rule, session, buffer).at

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
                limit = min(limit, self.session_cutoff(rule, session, buffer).at)
            if start < limit:
                return start
        raise AssertionError("unreachable: _sessions_from raises when exhausted")
