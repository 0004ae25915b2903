"""The account engine end to end: real profiles, the real calendar, time passing across days."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from propdesk.domain.account import AccountRisk, calendar_for
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import ClockTick, Fill, KillRequest, Mark, Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import ActionType, GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol

CT = ZoneInfo("America/Chicago")


def ct(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CT)


class Day:
    """Small helpers to write a trading day as fills and marks."""

    def __init__(self, account: AccountRisk, book: InstrumentBook) -> None:
        self.account = account
        self.book = book

    def fill(
        self, ts: datetime, side: str, qty: int, price: str, symbol: str = "ESZ6", fee: str = "0"
    ) -> list:
        return self.account.process(
            Fill(ts, self.book.parse(symbol), Side(side), qty, D(price), D(fee))
        )

    def mark(self, ts: datetime, bid: str, symbol: str = "ESZ6", spread: str = "0.25") -> list:
        return self.account.process(Mark(ts, self.book.parse(symbol), D(bid), D(bid) + D(spread)))

    def clock(self, ts: datetime) -> list:
        return self.account.process(ClockTick(ts))

    def trade(self, day: datetime, points: str, open_price: str = "6000.00") -> None:
        """Buy 1 ES at 09:00 CT, sell at 09:30 CT for `points` (×$50)."""
        self.fill(day.replace(hour=9), "buy", 1, open_price)
        self.fill(day.replace(hour=9, minute=30), "sell", 1, str(D(open_price) + D(points)))


def test_topstep_eod_example_through_the_engine(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(
        profiles.get("topstep-combine-50k"), calendar=calendar, protocol=Protocol.none()
    )
    day = Day(account, instruments)
    day.trade(ct(2026, 11, 16, 0), "10")  # Monday: +500 → closes 50,500
    assert account.view().max_loss_floor == D(48_000), "within the session the floor is fixed"
    day.clock(ct(2026, 11, 16, 16, 0))  # the session close
    assert account.view().max_loss_floor == D(48_500)
    day.trade(ct(2026, 11, 17, 0), "-10")  # Tuesday closes 50,000
    day.clock(ct(2026, 11, 17, 16, 0))
    assert account.view().max_loss_floor == D(48_500)
    # Wednesday: an intraday peak of 53,000 (open), then a close at 52,500.
    day.fill(ct(2026, 11, 18, 9), "buy", 1, "6000.00")
    day.mark(ct(2026, 11, 18, 10), "6060.00")
    assert account.view().equity == D(53_000)
    assert account.view().max_loss_floor == D(48_500)
    day.fill(ct(2026, 11, 18, 11), "sell", 1, "6050.00")
    day.clock(ct(2026, 11, 18, 16, 0))
    assert account.view().max_loss_floor == D(50_000), "min(52,500 − 2,000, 50,000): locked"


def test_day_roll_at_17_ct_resets_day_pnl_and_daily_floor(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(
        profiles.get("topstep-combine-50k"), calendar=calendar, protocol=Protocol.none()
    )
    day = Day(account, instruments)
    day.trade(ct(2026, 11, 17, 0), "16")  # +800
    view = account.view()
    assert view.trading_day.isoformat() == "2026-11-17"
    assert view.day_pnl == D(800)
    assert view.daily_floor == D(49_000)
    day.clock(ct(2026, 11, 17, 16, 59))
    assert account.view().trading_day.isoformat() == "2026-11-17"
    day.clock(ct(2026, 11, 17, 17, 0))
    view = account.view()
    assert view.trading_day.isoformat() == "2026-11-18"
    assert view.day_pnl == 0
    assert view.daily_floor == D(49_800)
    assert view.max_loss_floor == D(48_800)
    assert view.floor == D(49_800), "the effective floor is the higher one"


def test_daily_stop_flattens_locks_and_reopens_next_session(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(profiles.get("topstep-combine-50k"), calendar=calendar)
    day = Day(account, instruments)
    day.fill(ct(2026, 11, 17, 9), "buy", 2, "6000.00")
    day.mark(ct(2026, 11, 17, 9, 1), "5995.00")  # −500: 50%
    assert account.status.state is GuardState.WARNING
    day.mark(ct(2026, 11, 17, 9, 2), "5993.50")  # −650
    assert account.status.state is GuardState.REDUCE_ONLY
    actions = day.mark(ct(2026, 11, 17, 9, 3), "5992.50")  # −750: the user's stop at 75%
    assert [a.type for a in actions] == [ActionType.FLATTEN]
    actions = day.fill(ct(2026, 11, 17, 9, 3), "sell", 2, "5992.50")
    assert [a.type for a in actions] == [ActionType.LOCK]
    view = account.view()
    assert view.state is GuardState.LOCKED
    assert view.lock_until == ct(2026, 11, 17, 17, 0)
    actions = day.fill(ct(2026, 11, 17, 10), "buy", 1, "5990.00")  # the strategy tries again
    assert [a.type for a in actions] == [ActionType.FLATTEN]
    day.fill(ct(2026, 11, 17, 10), "sell", 1, "5990.00")
    actions = day.clock(ct(2026, 11, 17, 17, 0))
    assert [a.type for a in actions] == [ActionType.UNLOCK]
    assert account.status.state is GuardState.ACTIVE


def test_thanksgiving_cutoff_is_half_an_hour_before_the_early_close(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(profiles.get("topstep-combine-50k"), calendar=calendar)
    day = Day(account, instruments)
    day.fill(ct(2026, 11, 26, 9), "buy", 1, "6000.00")
    day.clock(ct(2026, 11, 26, 11, 19))
    assert account.status.state is GuardState.ACTIVE
    day.clock(ct(2026, 11, 26, 11, 20))
    assert account.status.state is GuardState.REDUCE_ONLY
    actions = day.clock(ct(2026, 11, 26, 11, 30))  # min(15:10, 12:00 close) − 30 min
    assert actions
    assert actions[0].type is ActionType.FLATTEN
    assert "2026-11-26 11:30 CT" in actions[0].reason
    day.fill(ct(2026, 11, 26, 11, 30), "sell", 1, "6000.00")
    assert account.view().lock_until == ct(2026, 11, 26, 17, 0)


def test_cutoff_follows_dst(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(profiles.get("topstep-combine-50k"), calendar=calendar)
    day = Day(account, instruments)
    for date_parts in ((2026, 3, 6), (2026, 3, 9), (2026, 10, 30), (2026, 11, 2)):
        day.fill(ct(*date_parts, 14), "buy", 1, "6000.00")
        day.clock(ct(*date_parts, 14, 39))
        assert account.status.state is GuardState.REDUCE_ONLY, date_parts
        actions = day.clock(ct(*date_parts, 14, 40))
        assert actions[0].type is ActionType.FLATTEN, date_parts
        assert "14:40 CT" in actions[0].reason
        assert actions[0].type is ActionType.FLATTEN
        day.fill(ct(*date_parts, 14, 41), "sell", 1, "6000.00")
        assert account.status.state is GuardState.LOCKED


def test_ftmo_day_rolls_at_prague_midnight(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    profile = profiles.get("ftmo-2step-100k")
    calendar = calendar_for(profile)
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol.none())
    day = Day(account, instruments)
    prague = ZoneInfo("Europe/Prague")
    day.fill(datetime(2026, 11, 17, 15, 0, tzinfo=prague), "buy", 1, "6000.00")
    day.fill(datetime(2026, 11, 17, 16, 0, tzinfo=prague), "sell", 1, "6080.00")  # +4,000
    assert account.view().daily_floor == D(95_000)
    day.clock(datetime(2026, 11, 17, 23, 59, tzinfo=prague))
    assert account.view().daily_floor == D(95_000)
    day.clock(datetime(2026, 11, 18, 0, 0, tzinfo=prague))
    assert account.view().daily_floor == D(99_000)


def test_distance_to_floors_in_dollars_and_ticks(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(profiles.get("topstep-combine-50k"), calendar=calendar)
    day = Day(account, instruments)
    day.fill(ct(2026, 11, 17, 9), "buy", 2, "6000.00")
    day.fill(ct(2026, 11, 17, 9), "sell", 3, "70.00", symbol="MCLF7")
    day.mark(ct(2026, 11, 17, 9, 1), "6000.00")
    day.mark(ct(2026, 11, 17, 9, 1), "69.99", symbol="MCLF7", spread="0.01")
    view = account.view()
    assert view.equity == D(50_000)
    assert view.distance_to_daily == D(1_000)
    assert view.distance_to_max_loss == D(2_000)
    by_key = {p.key: p for p in view.positions}
    assert by_key["ESZ26"].ticks_to_daily == 40  # $1,000 / (2 × $12.50)
    assert by_key["ESZ26"].ticks_to_max_loss == 80
    assert by_key["MCLF27"].ticks_to_daily == 333  # $1,000 / (3 × $1.00)


def test_replay_from_a_known_balance_assumes_the_highest_floor(
    profiles: ProfileSet, calendar: TradingCalendar
) -> None:
    account = AccountRisk(profiles.get("topstep-combine-50k"), calendar=calendar, balance=D(51_200))
    account.process(ClockTick(ct(2026, 11, 17, 9)))
    view = account.view()
    assert view.balance == D(51_200)
    assert view.max_loss_floor == D(49_200)
    assert view.daily_floor == D(50_200)
    assert view.day_pnl == 0


def test_kill_flattens_and_stays_locked_across_days(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(profiles.get("apex-eod-50k"), calendar=calendar)
    day = Day(account, instruments)
    day.fill(ct(2026, 11, 17, 9), "sell", 1, "21000.00", symbol="NQZ6")
    (flatten,) = account.process(KillRequest(ct(2026, 11, 17, 9, 5)))
    assert flatten.type is ActionType.FLATTEN
    day.fill(ct(2026, 11, 17, 9, 5), "buy", 1, "21001.00", symbol="NQZ6")
    assert account.status.state is GuardState.LOCKED
    day.clock(ct(2026, 11, 19, 9) + timedelta(days=1))
    assert account.status.state is GuardState.LOCKED
