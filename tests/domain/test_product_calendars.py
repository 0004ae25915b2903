"""Per-product calendars: an account's cutoff follows what it holds or has working.

The session times are what pandas_market_calendars 5.5 gives for 2026 (printed before these tests
were written): on 24 Dec equity, FX and rates close 12:15 CT, energy and metals 12:45, livestock
12:05, grains a normal 13:20; on Good Friday (3 Apr) equity trades until 08:15, FX and rates until
10:15, and energy, metals, grains and livestock are closed from Thursday's close to Sunday 17:00.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from propdesk.domain.account import AccountRisk, flat_by_rule
from propdesk.domain.calendar import PRODUCT_GROUPS, TradingCalendar
from propdesk.domain.events import ClockTick, Fill, Side, WorkingOrders
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import Action, ActionType, GuardState
from propdesk.domain.instruments import PRODUCT_GROUPS as INSTRUMENT_GROUPS
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.schedule import CalendarSchedule

CT = ZoneInfo("America/Chicago")
BUFFER = timedelta(minutes=30)  # the default protocol's cutoff buffer


def ct(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CT)


# ---- what pmc gives per group ---------------------------------------------------------------------

CHRISTMAS_EVE_CLOSES = {
    "equity": time(12, 15),
    "energy": time(12, 45),
    "metals": time(12, 45),
    "fx": time(12, 15),
    "rates": time(12, 15),
    "grains": time(13, 20),
    "livestock": time(12, 5),
}
# Good Friday 2026: the Thursday-evening session's close on Friday, or None (closed).
GOOD_FRIDAY_CLOSES = {
    "equity": time(8, 15),
    "energy": None,
    "metals": None,
    "fx": time(10, 15),
    "rates": time(10, 15),
    "grains": None,
    "livestock": None,
}


def test_every_group_has_a_calendar(calendar: TradingCalendar) -> None:
    assert set(PRODUCT_GROUPS) == set(CHRISTMAS_EVE_CLOSES)
    assert set(PRODUCT_GROUPS) >= INSTRUMENT_GROUPS, "an instrument's group the calendar lacks"
    for group in PRODUCT_GROUPS:
        assert calendar.session(group, date(2026, 12, 23)) is not None, group


@pytest.mark.parametrize("group", PRODUCT_GROUPS)
def test_christmas_eve_2026_close_per_group(calendar: TradingCalendar, group: str) -> None:
    session = calendar.session(group, date(2026, 12, 24))
    assert session is not None
    assert session.close == datetime.combine(date(2026, 12, 24), CHRISTMAS_EVE_CLOSES[group], CT)
    assert calendar.session(group, date(2026, 12, 25)) is None


@pytest.mark.parametrize("group", PRODUCT_GROUPS)
def test_good_friday_2026_per_group(calendar: TradingCalendar, group: str) -> None:
    close = GOOD_FRIDAY_CLOSES[group]
    friday_morning = ct(2026, 4, 3, 8)
    # Good Friday is a clearing holiday: what trades clears on Monday 6 Apr.
    assert calendar.sessions(group, date(2026, 4, 3)) == ()
    if close is None:
        assert not calendar.is_open(group, friday_morning)
        assert calendar.next_open(group, ct(2026, 4, 2, 16)) > ct(2026, 4, 5, 16)
        return
    first = calendar.sessions(group, date(2026, 4, 6))[0]
    assert first.open == ct(2026, 4, 2, 17)
    assert first.close == datetime.combine(date(2026, 4, 3), close, CT)
    assert first.trading_day == date(2026, 4, 6)
    assert calendar.is_open(group, friday_morning)


def test_livestock_trades_a_day_session(calendar: TradingCalendar) -> None:
    session = calendar.session("livestock", date(2026, 6, 10))
    assert session is not None
    assert (session.open, session.close) == (ct(2026, 6, 10, 8, 30), ct(2026, 6, 10, 13, 5))
    assert not session.is_early_close, "13:05 is livestock's regular close"
    grains = calendar.session("grains", date(2026, 6, 10))
    assert grains is not None
    assert (grains.open, grains.close) == (ct(2026, 6, 9, 19), ct(2026, 6, 10, 13, 20))
    assert not grains.is_early_close


# ---- the account's groups -------------------------------------------------------------------------


def topstep(
    profiles: ProfileSet, calendar: TradingCalendar, product_group: str = "equity"
) -> AccountRisk:
    return AccountRisk(
        profiles.get("topstep-combine-50k"), calendar=calendar, product_group=product_group
    )


def buy(account: AccountRisk, book: InstrumentBook, ts: datetime, symbol: str, price: str) -> None:
    account.process(Fill(ts, book.parse(symbol, at=ts), Side.BUY, 1, D(price), D(0)))


def flattens(actions: list[Action]) -> list[Action]:
    return [a for a in actions if a.type is ActionType.FLATTEN]


def test_a_cl_position_is_cut_off_from_energys_christmas_eve_close(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = topstep(profiles, calendar)  # configured as equity, the default
    buy(account, instruments, ct(2026, 12, 24, 9), "CLG7", "70.00")
    # Equity's cutoff (12:15 close − 30 min) is not this account's: it holds crude.
    assert not flattens(account.process(ClockTick(ct(2026, 12, 24, 11, 50))))
    assert account.status.state < GuardState.FLATTENING
    assert account.snapshot().groups == frozenset({"energy"})
    (flatten,) = flattens(account.process(ClockTick(ct(2026, 12, 24, 12, 15))))
    assert "12:15 CT" in flatten.reason
    assert "12:45 CT" in flatten.reason, "the firm's time is energy's close"


def test_an_es_and_cl_account_is_cut_off_at_the_earlier(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = topstep(profiles, calendar, "energy")
    buy(account, instruments, ct(2026, 12, 24, 9), "CLG7", "70.00")
    buy(account, instruments, ct(2026, 12, 24, 9, 1), "ESH7", "6000.00")
    assert not flattens(account.process(ClockTick(ct(2026, 12, 24, 11, 44))))
    (flatten,) = flattens(account.process(ClockTick(ct(2026, 12, 24, 11, 45))))
    assert "11:45 CT" in flatten.reason
    assert "12:15 CT" in flatten.reason
    assert account.snapshot().groups == frozenset({"energy", "equity"})


def test_working_orders_count_as_what_the_account_trades(
    profiles: ProfileSet, calendar: TradingCalendar
) -> None:
    account = topstep(profiles, calendar)
    account.process(ClockTick(ct(2026, 12, 24, 9)))
    account.process(
        WorkingOrders(ct(2026, 12, 24, 9, 1), 1, 1, frozenset({"MCL"}), frozenset({"energy"}))
    )
    assert account.snapshot().groups == frozenset({"energy"})
    assert account.status.snapshot is not None
    assert account.status.snapshot.groups == frozenset({"energy"}), "the guard's view too"
    assert account.process(ClockTick(ct(2026, 12, 24, 11, 50))) == []
    assert flattens(account.process(ClockTick(ct(2026, 12, 24, 12, 15))))


@pytest.mark.parametrize(
    ("group", "cutoff"),
    [("equity", ct(2026, 12, 24, 11, 45)), ("energy", ct(2026, 12, 24, 12, 15))],
)
def test_a_flat_account_without_orders_uses_its_configured_group(
    profiles: ProfileSet, calendar: TradingCalendar, group: str, cutoff: datetime
) -> None:
    account = topstep(profiles, calendar, group)
    account.process(ClockTick(ct(2026, 12, 24, 9)))
    assert account.snapshot().groups == frozenset()
    account.process(ClockTick(cutoff - timedelta(minutes=1)))
    assert account.status.state < GuardState.FLATTENING
    account.process(ClockTick(cutoff))
    assert account.status.state is GuardState.LOCKED, "a flat account is locked at its cutoff"


def test_good_friday_locks_crude_until_sunday_and_es_until_thursday_evening(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    thursday_cutoff = ct(2026, 4, 2, 14, 40)  # 15:10 − 30 min, the same for both groups
    es = topstep(profiles, calendar)
    buy(es, instruments, ct(2026, 4, 2, 9), "ESM6", "6000.00")
    assert flattens(es.process(ClockTick(thursday_cutoff)))
    assert es.status.lock_until == ct(2026, 4, 2, 17), "equity reopens for Good Friday morning"

    cl = topstep(profiles, calendar)  # configured as equity: the position decides
    buy(cl, instruments, ct(2026, 4, 2, 9), "CLK6", "70.00")
    assert flattens(cl.process(ClockTick(thursday_cutoff)))
    assert cl.status.lock_until == ct(2026, 4, 5, 17), "energy is closed until Sunday"


def test_the_header_status_follows_the_same_groups(
    profiles: ProfileSet, calendar: TradingCalendar
) -> None:
    schedule = CalendarSchedule(
        calendar, flat_by_rule(profiles.get("topstep-combine-50k")), BUFFER, "energy"
    )
    morning = ct(2026, 12, 24, 10)
    assert schedule.status(morning).next_cutoff == ct(2026, 12, 24, 12, 15), "configured group"
    both = schedule.status(morning, frozenset({"equity", "energy"}))
    assert both.next_cutoff == ct(2026, 12, 24, 11, 45)
    assert both.countdown == timedelta(minutes=105)
    # Between the two cutoffs an ES + CL account may not trade; crude alone still may.
    between = ct(2026, 12, 24, 12)
    assert not schedule.status(between, frozenset({"equity", "energy"})).may_trade
    assert schedule.status(between, frozenset({"energy"})).may_trade
    # Good Friday morning: equity trades, energy is closed; an account holding both waits.
    friday = ct(2026, 4, 3, 7)
    assert schedule.status(friday, frozenset({"equity"})).may_trade
    crude = schedule.status(friday, frozenset({"energy"}))
    assert not crude.may_trade
    assert crude.reopens == ct(2026, 4, 5, 17)
    assert schedule.status(friday, frozenset({"equity", "energy"})).reopens == ct(2026, 4, 5, 17)


def test_the_window_over_groups_is_the_one_that_starts_first(
    profiles: ProfileSet, calendar: TradingCalendar
) -> None:
    schedule = CalendarSchedule(calendar, flat_by_rule(profiles.get("topstep-combine-50k")), BUFFER)
    morning = ct(2026, 12, 24, 10)
    equity = schedule.cutoff_window(morning, frozenset({"equity"}))
    energy = schedule.cutoff_window(morning, frozenset({"energy"}))
    both = schedule.cutoff_window(morning, frozenset({"equity", "energy"}))
    assert equity is not None
    assert energy is not None
    assert equity[0] == ct(2026, 12, 24, 11, 45)
    assert energy[0] == ct(2026, 12, 24, 12, 15)
    assert both == equity
    assert schedule.cutoff_window(morning) == equity, "no groups: the configured one (equity)"
    # Cached answers follow the groups asked for, not the last ones.
    assert schedule.cutoff_window(morning, frozenset({"energy"})) == energy
