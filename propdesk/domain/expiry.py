"""When a futures contract stops trading: each product's last trade date, by CME's own rule.

`RULES` names the termination rules CME Group states in its contract specifications
(resources/instruments.toml picks one per root and cites it). A rule is a pure function of the
contract month and the business days it may count; the business days themselves come from
pandas_market_calendars, loaded a year at a time the first time a year is asked for:

- CME business days: the `CME_TradeDate` calendar, the days CME Clearing has a trade date (no
  settlement on New Year, MLK, Presidents, Good Friday, Memorial, Juneteenth, Independence, Labor,
  Thanksgiving or Christmas Day). Globex may be open on some of these (a halted holiday session),
  but no contract's count of "business days" includes them.
- London business days (`LSE`), for the one rule that needs them (CME Bitcoin futures end on a day
  that is a business day in both the U.K. and the U.S.).

`last_trade_date` and `trading_ends` are cached per contract month: the data never changes at run
time, and a contract's expiry is asked for on every one-digit symbol parse and every fill.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

__all__ = [
    "CHICAGO",
    "RULES",
    "BusinessDays",
    "last_trade_date",
    "trading_ends",
]

CHICAGO = ZoneInfo("America/Chicago")
_CME_DAY_END = time(17, 0)  # the CME trade date rolls at 17:00 CT
_WEDNESDAY, _THURSDAY, _FRIDAY = 2, 3, 4
# A rule counts a handful of business days; a longer run without one means the calendar is broken.
_MAX_SCAN_DAYS = 31


@dataclass(frozen=True, slots=True)
class BusinessDays:
    """The days a rule may count as business days: CME's, and London's where a rule needs both."""

    cme: Callable[[date], bool]
    london: Callable[[date], bool]


# --------------------------------------------------------------------------------------------------
# Business-day arithmetic (pure: the calendar is an argument)


def _previous(day: date, is_business: Callable[[date], bool]) -> date:
    """The last business day strictly before `day`."""
    for _ in range(_MAX_SCAN_DAYS):
        day -= timedelta(days=1)
        if is_business(day):
            return day
    raise ValueError(f"no business day within {_MAX_SCAN_DAYS} days before {day}")


def _on_or_before(day: date, is_business: Callable[[date], bool]) -> date:
    return day if is_business(day) else _previous(day, is_business)


def _back(day: date, count: int, is_business: Callable[[date], bool]) -> date:
    """The `count`-th business day before `day` (not counting `day` itself)."""
    for _ in range(count):
        day = _previous(day, is_business)
    return day


def _nth_business_day(year: int, month: int, n: int, is_business: Callable[[date], bool]) -> date:
    """The `n`-th business day of the month, counting from its 1st."""
    day, seen = date(year, month, 1), 0
    for _ in range(n + _MAX_SCAN_DAYS):
        if is_business(day):
            seen += 1
            if seen == n:
                return day
        day += timedelta(days=1)
    raise ValueError(f"no business day number {n} in {year}-{month:02d}")


def _last_business_day(year: int, month: int, is_business: Callable[[date], bool]) -> date:
    last = date(year, month, _calendar.monthrange(year, month)[1])
    return _on_or_before(last, is_business)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month, _calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _prior_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


# --------------------------------------------------------------------------------------------------
# The rules, as CME words them (the contract month is year/month)


def third_friday(year: int, month: int, days: BusinessDays) -> date:
    """Equity index futures: the 3rd Friday of the contract month (the day of the Special Opening
    Quotation); when that is not a business day (Juneteenth 2026), the business day before."""
    return _on_or_before(_nth_weekday(year, month, _FRIDAY, 3), days.cme)


def cl_energy(year: int, month: int, days: BusinessDays) -> date:
    """WTI crude (CL): 3 business days before the 25th calendar day of the month before the
    contract month; 4 business days before it when the 25th is not a business day."""
    prior_year, prior_month = _prior_month(year, month)
    the_25th = date(prior_year, prior_month, 25)
    return _back(the_25th, 3 if days.cme(the_25th) else 4, days.cme)


def business_day_before_cl_energy(year: int, month: int, days: BusinessDays) -> date:
    """Micro WTI (MCL): one business day before the WTI contract of the same month expires."""
    return _previous(cl_energy(year, month, days), days.cme)


def third_last_business_day_prior_month(year: int, month: int, days: BusinessDays) -> date:
    """Henry Hub natural gas (NG): the 3rd last business day of the month before the contract month."""
    return _back(_last_business_day(*_prior_month(year, month), days.cme), 2, days.cme)


def last_business_day_prior_month(year: int, month: int, days: BusinessDays) -> date:
    """RBOB gasoline (RB), NY Harbor ULSD (HO): the last business day of the month before."""
    return _last_business_day(*_prior_month(year, month), days.cme)


def third_last_business_day(year: int, month: int, days: BusinessDays) -> date:
    """COMEX metals: the 3rd last business day of the contract month."""
    return _back(_last_business_day(year, month, days.cme), 2, days.cme)


def fx_two_days_before_third_wednesday(year: int, month: int, days: BusinessDays) -> date:
    """CME FX (6E, 6J, 6B, 6A, M6E): the 2nd business day before the 3rd Wednesday (usually Monday)."""
    return _back(_nth_weekday(year, month, _WEDNESDAY, 3), 2, days.cme)


def fx_day_before_third_wednesday(year: int, month: int, days: BusinessDays) -> date:
    """Canadian dollar (6C), which settles a day sooner: the business day before the 3rd Wednesday."""
    return _back(_nth_weekday(year, month, _WEDNESDAY, 3), 1, days.cme)


def seventh_business_day_before_last_business_day(
    year: int, month: int, days: BusinessDays
) -> date:
    """10-year note, bond, Ultra bond (ZN, ZB, UB): the 7th business day preceding the last
    business day of the contract month."""
    return _back(_last_business_day(year, month, days.cme), 7, days.cme)


def last_business_day(year: int, month: int, days: BusinessDays) -> date:
    """2- and 5-year notes (ZT, ZF), live cattle (LE): the last business day of the contract month."""
    return _last_business_day(year, month, days.cme)


def business_day_before_15th(year: int, month: int, days: BusinessDays) -> date:
    """CBOT grains (ZC, ZS, ZW): the business day prior to the 15th calendar day of the month."""
    return _previous(date(year, month, 15), days.cme)


def tenth_business_day(year: int, month: int, days: BusinessDays) -> date:
    """Lean hogs (HE): the 10th business day of the contract month."""
    return _nth_business_day(year, month, 10, days.cme)


def feeder_cattle(year: int, month: int, days: BusinessDays) -> date:
    """Feeder cattle (GF): the last Thursday of the contract month; November's contract ends on the
    Thursday before Thanksgiving. If that Thursday, or any of the four weekdays before it, is a
    holiday, trading ends on the first earlier Thursday for which neither is true."""
    if month == 11:
        thanksgiving = _nth_weekday(year, 11, _THURSDAY, 4)
        thursday = thanksgiving - timedelta(days=7)
    else:
        thursday = _last_weekday(year, month, _THURSDAY)
    for _ in range(_MAX_SCAN_DAYS // 7 + 1):
        window = [thursday - timedelta(days=back) for back in range(7)]
        weekdays = [d for d in window if d.weekday() < 5][:5]  # the Thursday and 4 weekdays before
        if all(days.cme(d) for d in weekdays):
            return thursday
        thursday -= timedelta(days=7)
    raise ValueError(f"no feeder cattle expiry Thursday found for {year}-{month:02d}")


def last_friday_london_us(year: int, month: int, days: BusinessDays) -> date:
    """CME Bitcoin futures (BTC, MBT): the last Friday of the contract month; when that is not a
    business day in both the U.K. and the U.S., the preceding day that is."""

    def both(day: date) -> bool:
        return days.cme(day) and days.london(day)

    return _on_or_before(_last_weekday(year, month, _FRIDAY), both)


RULES: Mapping[str, Callable[[int, int, BusinessDays], date]] = {
    rule.__name__: rule
    for rule in (
        third_friday,
        cl_energy,
        business_day_before_cl_energy,
        third_last_business_day_prior_month,
        last_business_day_prior_month,
        third_last_business_day,
        fx_two_days_before_third_wednesday,
        fx_day_before_third_wednesday,
        seventh_business_day_before_last_business_day,
        last_business_day,
        business_day_before_15th,
        tenth_business_day,
        feeder_cattle,
        last_friday_london_us,
    )
}
"""Termination rules by the name instruments.toml gives them."""


# --------------------------------------------------------------------------------------------------
# Exchange data


@cache
def _business_year(calendar_name: str, year: int) -> frozenset[date]:
    """pandas_market_calendars' business days of `year` in that calendar; cached for the process."""
    # Imported here so that importing the domain does not pay for pandas.
    import pandas_market_calendars as mcal

    valid = mcal.get_calendar(calendar_name).valid_days(f"{year}-01-01", f"{year}-12-31")
    return frozenset(stamp.date() for stamp in valid)


def _cme_business_day(day: date) -> bool:
    return day in _business_year("CME_TradeDate", day.year)


def _london_business_day(day: date) -> bool:
    return day in _business_year("LSE", day.year)


_EXCHANGE_DAYS = BusinessDays(cme=_cme_business_day, london=_london_business_day)


@cache
def last_trade_date(rule: str, year: int, month: int) -> date:
    """The last trade date of the contract month year/month under `rule` (a key of RULES)."""
    try:
        compute = RULES[rule]
    except KeyError:
        raise ValueError(
            f"unknown expiry rule {rule!r}; expected one of {', '.join(RULES)}"
        ) from None
    return compute(year, month, _EXCHANGE_DAYS)


@cache
def trading_ends(rule: str, year: int, month: int, at: time | None, tz: str) -> datetime:
    """The instant (UTC) trading in that contract month ends.

    `at` is the time of day CME states for the termination, in `tz`; None when CME states none,
    and then the contract trades to the end of its last trade date (17:00 CT, when the CME trade
    date rolls), so a fill on any later trade date is after expiry.
    """
    day = last_trade_date(rule, year, month)
    if at is None:
        return datetime.combine(day, _CME_DAY_END, tzinfo=CHICAGO).astimezone(UTC)
    return datetime.combine(day, at, tzinfo=ZoneInfo(tz)).astimezone(UTC)
