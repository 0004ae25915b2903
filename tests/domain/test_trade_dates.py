"""CME trade dates across holiday halts: one trading day, one day roll, one end-of-day step.

On a US holiday Globex trades into a halt (equity: 12:00 CT), reopens at 17:00 (or on Sunday when
the holiday is a Friday) and CME clears everything from the previous trade date's 17:00 roll to
the next close on ONE trade date. The times below are what pandas_market_calendars 5.5 gives for
2026 (printed and checked by hand against CME's holiday calendar before these tests were written).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from propdesk.domain.account import AccountRisk, flat_by_rule
from propdesk.domain.calendar import FlatByRule, TradingCalendar
from propdesk.domain.events import AccountEvent, ClockTick, Fill, Mark, Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import ActionType, GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.domain.schedule import CalendarSchedule

CT = ZoneInfo("America/Chicago")
TOPSTEP = FlatByRule(time(15, 10), "America/Chicago")
BUFFER = timedelta(minutes=30)
TICK = timedelta(microseconds=1)


def ct(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CT)


@dataclass(frozen=True)
class Halt:
    name: str
    before: date  # the trade date before the holiday
    trade_date: date  # the one trade date the holiday's sessions clear on
    evening: datetime  # the open of the session that runs into the halt
    halt: datetime  # equity's holiday close
    reopen: datetime  # the next equity open (same trade date)
    close: datetime  # the trade date's last equity close

    @property
    def start(self) -> datetime:
        return datetime.combine(self.before, time(17), CT)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.trade_date, time(17), CT)


HALTS_2026 = [
    Halt(
        "MLK Day",
        date(2026, 1, 16),
        date(2026, 1, 20),
        ct(2026, 1, 18, 17),
        ct(2026, 1, 19, 12),
        ct(2026, 1, 19, 17),
        ct(2026, 1, 20, 16),
    ),
    Halt(
        "Presidents Day",
        date(2026, 2, 13),
        date(2026, 2, 17),
        ct(2026, 2, 15, 17),
        ct(2026, 2, 16, 12),
        ct(2026, 2, 16, 17),
        ct(2026, 2, 17, 16),
    ),
    Halt(
        "Memorial Day",
        date(2026, 5, 22),
        date(2026, 5, 26),
        ct(2026, 5, 24, 17),
        ct(2026, 5, 25, 12),
        ct(2026, 5, 25, 17),
        ct(2026, 5, 26, 16),
    ),
    # Friday holidays: the halt is Friday noon and the reopen is the usual Sunday evening, so
    # Thursday evening through Monday's close is Monday's trade date.
    Halt(
        "Juneteenth",
        date(2026, 6, 18),
        date(2026, 6, 22),
        ct(2026, 6, 18, 17),
        ct(2026, 6, 19, 12),
        ct(2026, 6, 21, 17),
        ct(2026, 6, 22, 16),
    ),
    Halt(
        "Independence Day (observed Fri 3 Jul)",
        date(2026, 7, 2),
        date(2026, 7, 6),
        ct(2026, 7, 2, 17),
        ct(2026, 7, 3, 12),
        ct(2026, 7, 5, 17),
        ct(2026, 7, 6, 16),
    ),
    Halt(
        "Labor Day",
        date(2026, 9, 4),
        date(2026, 9, 8),
        ct(2026, 9, 6, 17),
        ct(2026, 9, 7, 12),
        ct(2026, 9, 7, 17),
        ct(2026, 9, 8, 16),
    ),
    # Thursday's trades fold into Black Friday, itself a trade date with an early close.
    Halt(
        "Thanksgiving",
        date(2026, 11, 25),
        date(2026, 11, 27),
        ct(2026, 11, 25, 17),
        ct(2026, 11, 26, 12),
        ct(2026, 11, 26, 17),
        ct(2026, 11, 27, 12, 15),
    ),
]
ids = [h.name for h in HALTS_2026]


# ---- the calendar -------------------------------------------------------------------------------


@pytest.mark.parametrize("h", HALTS_2026, ids=ids)
def test_every_instant_of_a_holiday_is_one_trade_date(calendar: TradingCalendar, h: Halt) -> None:
    instants = {
        "the roll into it": h.start,
        "the evening before the holiday": h.evening + timedelta(hours=1),
        "the holiday morning": h.halt - timedelta(hours=2),
        "the halt": h.halt + timedelta(hours=1),
        "after the reopen": h.reopen + timedelta(hours=1),
        "the last session": h.close - timedelta(hours=1),
        "the maintenance break": h.end - TICK,
    }
    for what, ts in instants.items():
        assert calendar.trading_day(ts) == h.trade_date, what
        assert calendar.day_bounds(ts) == (h.start, h.end), what
    assert calendar.trading_day(h.start - TICK) == h.before
    assert calendar.trading_day(h.end) > h.trade_date


@pytest.mark.parametrize("h", HALTS_2026, ids=ids)
def test_the_halt_is_not_a_session(calendar: TradingCalendar, h: Halt) -> None:
    halted, last = calendar.sessions("equity", h.trade_date)
    assert (halted.open, halted.close) == (h.evening, h.halt)
    assert (last.open, last.close) == (h.reopen, h.close)
    assert halted.trading_day == last.trading_day == h.trade_date
    assert halted.is_early_close
    assert calendar.session("equity", h.trade_date) == last, "the day's last close ends it"
    assert calendar.sessions("equity", h.halt.date()) == (), "the holiday is no trade date"
    assert calendar.is_open("equity", h.halt - TICK)
    assert not calendar.is_open("equity", h.halt)
    assert not calendar.is_open("equity", h.reopen - TICK)
    assert calendar.is_open("equity", h.reopen)
    assert calendar.next_open("equity", h.halt) == h.reopen


@pytest.mark.parametrize("h", HALTS_2026, ids=ids)
def test_the_flat_by_cutoff_comes_before_the_halt(calendar: TradingCalendar, h: Halt) -> None:
    # An early close is a close: min(15:10 CT, 12:00 halt) − 30 min, on the holiday itself.
    morning = h.halt - timedelta(hours=3)
    cut = calendar.next_cutoff(TOPSTEP, morning, BUFFER)
    assert cut.at == h.halt - BUFFER
    assert cut.firm_time == h.halt
    assert cut.trading_day == h.trade_date
    assert calendar.may_trade(TOPSTEP, cut.at - TICK, BUFFER)
    assert not calendar.may_trade(TOPSTEP, cut.at, BUFFER)
    assert not calendar.may_trade(TOPSTEP, h.halt + timedelta(hours=1), BUFFER)
    assert calendar.reopen_after(TOPSTEP, cut.at, BUFFER) == h.reopen
    # After the reopen the trade date's own cutoff: 15:10 − 30 min, or before an early close.
    last = calendar.next_cutoff(TOPSTEP, h.reopen, BUFFER)
    assert last.at == min(datetime.combine(h.trade_date, time(14, 40), CT), h.close - BUFFER)
    assert last.trading_day == h.trade_date


@pytest.mark.parametrize("h", HALTS_2026, ids=ids)
def test_the_next_trade_date_opens_after_the_last_close(calendar: TradingCalendar, h: Halt) -> None:
    # A lock "until the next session" must not end at the reopen: that is the same trade date.
    after = calendar.next_day_open("equity", h.evening + timedelta(hours=1))
    assert after > h.reopen
    assert calendar.trading_day(after) > h.trade_date
    assert calendar.next_day_open("equity", h.start - TICK) == h.evening


def test_fx_trades_through_mlk_day_on_tuesdays_trade_date(calendar: TradingCalendar) -> None:
    # pmc: FX runs a full Monday (Sun 17:00 → Mon 16:00); it still clears on Tuesday.
    monday, tuesday = calendar.sessions("fx", date(2026, 1, 20))
    assert (monday.open, monday.close) == (ct(2026, 1, 18, 17), ct(2026, 1, 19, 16))
    assert not monday.is_early_close
    assert monday.session_date == date(2026, 1, 19)
    assert (tuesday.open, tuesday.close) == (ct(2026, 1, 19, 17), ct(2026, 1, 20, 16))
    # The firm's flat-by is read on the date each session closes: Monday 15:10 − 30 min.
    assert calendar.session_cutoff(TOPSTEP, monday, BUFFER).at == ct(2026, 1, 19, 14, 40)


def test_black_friday_and_the_eves_are_trade_dates_of_their_own(
    calendar: TradingCalendar,
) -> None:
    for day, close, start in (
        # Black Friday's trade date began Wednesday 17:00: Thanksgiving folded into it.
        (date(2026, 11, 27), time(12, 15), ct(2026, 11, 25, 17)),
        (date(2026, 12, 24), time(12, 15), ct(2026, 12, 23, 17)),
        (date(2026, 12, 31), time(16, 0), ct(2026, 12, 30, 17)),  # pmc 5.5: a full day for equity
    ):
        session = calendar.session("equity", day)
        assert session is not None
        assert session.close == datetime.combine(day, close, CT)
        assert session.session_date == session.trading_day == day
        assert calendar.day_bounds(session.close) == (start, datetime.combine(day, time(17), CT))


# ---- the account: one reset, one end-of-day step ------------------------------------------------


def topstep(profiles: ProfileSet, calendar: TradingCalendar, protocol: Protocol) -> AccountRisk:
    return AccountRisk(profiles.get("topstep-combine-50k"), calendar=calendar, protocol=protocol)


def round_trip(book: InstrumentBook, at: datetime, points: str) -> list[Fill]:
    es = book.parse("ESZ6")
    return [
        Fill(at, es, Side.BUY, 1, D("6000.00"), D(0)),
        Fill(at + timedelta(minutes=10), es, Side.SELL, 1, D("6000.00") + D(points), D(0)),
    ]


@pytest.mark.parametrize("h", HALTS_2026, ids=ids)
def test_a_holiday_rolls_the_day_once_and_steps_the_eod_floor_once(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar, h: Halt
) -> None:
    # topstep-combine-50k: $2,000 EOD trailing max loss, $1,000 daily loss from the day's start.
    account = topstep(profiles, calendar, Protocol.none())
    events: list[AccountEvent] = [ClockTick(h.start - timedelta(hours=2))]
    events += round_trip(instruments, h.evening + timedelta(hours=1), "10")  # +500 before the halt
    events += round_trip(instruments, h.reopen + timedelta(hours=1), "6")  # +300 after the reopen
    tick = h.start - timedelta(hours=1)
    while tick <= h.end + timedelta(hours=1):
        events.append(ClockTick(tick))
        tick += timedelta(minutes=15)
    events.sort(key=lambda e: e.ts)

    seen: list[tuple[object, ...]] = []
    for event in events:
        account.process(event)
        view = account.view()
        seen.append(
            (
                event.ts,
                view.trading_day,
                view.day_start_balance,
                view.max_loss_floor,
                view.daily_floor,
            )
        )
        if h.start <= event.ts < h.end:
            assert view.trading_day == h.trade_date, event

    def changes(column: int) -> list[tuple[object, object]]:
        return [
            (now[0], now[column])
            for before, now in itertools.pairwise(seen)
            if now[column] != before[column]
        ]

    # The trade date after the holiday starts at its end only: one day roll in the whole span.
    assert [day for _, day in changes(1)] == [h.trade_date, calendar.trading_day(h.end)]
    # The day's P&L and its daily floor are measured from one start, across halt and reopen.
    assert changes(2) == [(h.end, D(50_800))]
    assert changes(4) == [(h.end, D(49_800))]
    # One end-of-day step, at the trade date's last close — not at the halt.
    assert changes(3) == [(h.close, D(48_800))]


def test_a_daily_stop_before_the_halt_stays_locked_through_the_reopen(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = topstep(profiles, calendar, Protocol())
    es = instruments.parse("ESZ6")
    sunday = ct(2026, 1, 18, 18)
    account.process(Fill(sunday, es, Side.BUY, 2, D("6000.00"), D(0)))
    actions = account.process(Mark(sunday, es, D("5992.50"), D("5992.75")))  # −750: 75% stop
    assert [a.type for a in actions] == [ActionType.FLATTEN]
    account.process(Fill(sunday, es, Side.SELL, 2, D("5992.50"), D(0)))
    assert account.status.state is GuardState.LOCKED
    # Until Tuesday's 17:00 open: Monday's reopen carries on the same day and the same loss.
    assert account.status.lock_until == ct(2026, 1, 20, 17)
    assert account.process(ClockTick(ct(2026, 1, 19, 17, 30))) == []
    assert account.status.state is GuardState.LOCKED
    actions = account.process(ClockTick(ct(2026, 1, 20, 17)))
    assert [a.type for a in actions] == [ActionType.UNLOCK]


def test_the_schedule_locks_until_the_next_trade_date(
    profiles: ProfileSet, calendar: TradingCalendar
) -> None:
    schedule = CalendarSchedule(calendar, flat_by_rule(profiles.get("topstep-combine-50k")), BUFFER)
    assert schedule.next_open(ct(2026, 1, 19, 9)) == ct(2026, 1, 20, 17)
    assert schedule.next_open(ct(2026, 1, 21, 9)) == ct(2026, 1, 21, 17), "a normal day"
    assert schedule.next_open(ct(2026, 1, 24, 9)) == ct(2026, 1, 25, 17), "Saturday → Sunday"
