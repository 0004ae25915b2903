"""Rules that warn instead of lock, through the engine: consistency (FTMO's Best Day Rule), minimum
hold time (Tradeify, Lucid), and the scaling plan that sets the next session's size cap (Topstep XFA).

Real profiles, the real calendar; each warning is an `alert` action on the event that caused it.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from propdesk.domain.account import AccountRisk, calendar_for
from propdesk.domain.events import ClockTick, Fill, Mark, Side
from propdesk.domain.firm_overrides import apply_overrides
from propdesk.domain.firms import FirmProfile, ProfileSet
from propdesk.domain.guard import Action, ActionType
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.domain.rules import (
    HoldLimit,
    HoldTally,
    WarningLatch,
    best_day_line,
    scaled_size_cap,
)

CT = ZoneInfo("America/Chicago")


def ct(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=CT)


class Trader:
    """Fills and marks on one account, as a strategy and its feed would send them."""

    def __init__(self, account: AccountRisk, book: InstrumentBook) -> None:
        self.account = account
        self.book = book

    def fill(self, ts: datetime, side: str, qty: int, price: str, symbol: str = "ESZ6") -> list:
        return self.account.process(
            Fill(ts, self.book.parse(symbol), Side(side), qty, D(price), D(0))
        )

    def mark(self, ts: datetime, bid: str, symbol: str = "ESZ6") -> list:
        return self.account.process(Mark(ts, self.book.parse(symbol), D(bid), D(bid) + D("0.25")))

    def clock(self, ts: datetime) -> list:
        return self.account.process(ClockTick(ts))

    def round_trip(self, opened: datetime, held: timedelta, points: str) -> list:
        """Buy 1 ES at 6000 and sell it `held` later for `points` (×$50); the closing actions."""
        self.fill(opened, "buy", 1, "6000.00")
        return self.fill(opened + held, "sell", 1, str(D("6000.00") + D(points)))


def alerts(actions: list[Action], rule: str) -> list[str]:
    return [a.reason for a in actions if a.type is ActionType.ALERT and a.rule == rule]


def engine(profile: FirmProfile) -> AccountRisk:
    return AccountRisk(profile, calendar=calendar_for(profile), protocol=Protocol.none())


def restored(account: AccountRisk, instruments: InstrumentBook) -> AccountRisk:
    """A fresh engine continued from `account`'s saved state, sent through JSON like a journal."""
    copy = engine(account.profile)
    copy.restore_state(json.loads(json.dumps(account.save_state())), instruments)
    return copy


# --- consistency ---------------------------------------------------------------------------------


def test_consistency_warns_once_when_today_becomes_the_best_day_over_the_limit(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("topstep-combine-50k"))  # consistency 50%
    trader = Trader(account, instruments)
    seen: list[str] = []
    # Monday +$1,000, Tuesday +$400: Tuesday is not the best day.
    seen += alerts(
        trader.round_trip(ct(2026, 11, 16, 9), timedelta(minutes=30), "20"), "consistency"
    )
    assert len(seen) == 1, "the first profitable day is the whole profit: 100%"
    assert "today's profit 1000.00 is 100% of the total profit 1000.00" in seen[0]
    assert "the total must exceed 2000.00" in seen[0]
    more = trader.round_trip(ct(2026, 11, 16, 10), timedelta(minutes=30), "1")
    assert alerts(more, "consistency") == [], "once per day, not on every fill"
    tuesday = trader.round_trip(ct(2026, 11, 17, 9), timedelta(minutes=30), "8")
    assert alerts(tuesday, "consistency") == []
    assert account.pnl_by_day == {date(2026, 11, 16): D(1050), date(2026, 11, 17): D(400)}
    # Wednesday: +$1,200 open is the best day but 1,200 / 2,650 = 45%; +$1,500 is 1,500 / 2,950.
    trader.fill(ct(2026, 11, 18, 9), "buy", 1, "6000.00")
    assert alerts(trader.mark(ct(2026, 11, 18, 9, 5), "6024.00"), "consistency") == []
    crossing = trader.mark(ct(2026, 11, 18, 9, 6), "6030.00")
    (reason,) = alerts(crossing, "consistency")
    assert reason == (
        "consistency: today's profit 1500.00 is 51% of the total profit 2950.00; the firm's limit "
        "is 50%: the total must exceed 3000.00 before a payout or a pass"
    )
    # Higher, back under and over again on the same day: no second alert that day.
    for minute, bid in ((7, "6040.00"), (8, "6010.00"), (9, "6035.00")):
        assert alerts(trader.mark(ct(2026, 11, 18, 9, minute), bid), "consistency") == []
    assert account.status.state.name == "ACTIVE", "a warning, never a lock"


def test_consistency_is_silent_where_the_profile_has_no_such_rule(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("topstep-xfa-50k"))  # no consistency on the XFA profile
    trader = Trader(account, instruments)
    actions = trader.round_trip(ct(2026, 11, 16, 9), timedelta(minutes=30), "20")
    assert alerts(actions, "consistency") == []
    assert account.pnl_by_day == {date(2026, 11, 16): D(1000)}, "the days are kept all the same"


def test_ftmo_best_day_rule_warns_on_the_1step_only(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    prague = ZoneInfo("Europe/Prague")
    opened = datetime(2026, 11, 17, 15, 0, tzinfo=prague)
    for profile_id, expected in (("ftmo-1step-100k", 1), ("ftmo-2step-100k", 0)):
        account = engine(profiles.get(profile_id))
        actions = Trader(account, instruments).round_trip(opened, timedelta(hours=1), "40")
        assert len(alerts(actions, "consistency")) == expected, profile_id


def test_the_best_earlier_day_is_compared_not_only_the_total(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("topstep-combine-50k"))
    trader = Trader(account, instruments)
    trader.round_trip(ct(2026, 11, 16, 9), timedelta(minutes=30), "40")  # +$2,000
    trader.round_trip(ct(2026, 11, 17, 9), timedelta(minutes=30), "-30")  # −$1,500
    # Wednesday +$1,500 is 75% of the $2,000 total, but Monday's $2,000 is still the best day.
    actions = trader.round_trip(ct(2026, 11, 18, 9), timedelta(minutes=30), "30")
    assert alerts(actions, "consistency") == []
    assert max(account.pnl_by_day.values()) == D(2000)


def test_a_day_ends_with_its_realized_pnl_so_open_profit_is_not_counted_twice(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    prague = ZoneInfo("Europe/Prague")
    account = engine(profiles.get("ftmo-2step-100k"))  # overnight holding allowed
    trader = Trader(account, instruments)
    trader.fill(datetime(2026, 11, 17, 15, 0, tzinfo=prague), "buy", 1, "6000.00")
    trader.mark(datetime(2026, 11, 17, 23, 0, tzinfo=prague), "6010.00")  # +$500 open
    trader.mark(datetime(2026, 11, 18, 1, 0, tzinfo=prague), "6012.00")
    trader.fill(datetime(2026, 11, 18, 2, 0, tzinfo=prague), "sell", 1, "6012.00")
    days = account.pnl_by_day
    assert days == {date(2026, 11, 17): D(0), date(2026, 11, 18): D(600)}
    assert sum(days.values()) == account.ledger.balance - account.ledger.start_balance


def test_day_pnl_and_the_consistency_latch_survive_save_and_restore(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("topstep-combine-50k"))
    trader = Trader(account, instruments)
    trader.round_trip(ct(2026, 11, 16, 9), timedelta(minutes=30), "20")  # +$1,000
    trader.round_trip(ct(2026, 11, 17, 9), timedelta(minutes=30), "8")  # +$400
    trader.fill(ct(2026, 11, 18, 9), "buy", 1, "6000.00")
    assert alerts(trader.mark(ct(2026, 11, 18, 9, 6), "6030.00"), "consistency")
    copy = restored(account, instruments)
    assert copy.pnl_by_day == account.pnl_by_day
    assert copy.pnl_by_day[date(2026, 11, 16)] == D(1000)
    assert copy.durable_state() == account.durable_state()
    # Both go on alike: no second alert today, and Thursday is judged on the whole history.
    later = Trader(copy, instruments)
    for trader_ in (trader, later):
        assert alerts(trader_.mark(ct(2026, 11, 18, 9, 7), "6040.00"), "consistency") == []
        trader_.fill(ct(2026, 11, 18, 9, 8), "sell", 1, "6040.00")  # Wednesday +$2,000
        thursday = trader_.round_trip(ct(2026, 11, 19, 9), timedelta(minutes=30), "30")
        assert alerts(thursday, "consistency") == [], "+$1,500 is not the best day"
    assert copy.pnl_by_day == account.pnl_by_day


# --- minimum hold time ---------------------------------------------------------------------------


def test_lucid_warns_when_trades_held_5s_or_less_reach_half_the_profit(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("lucid-flex-50k"))
    trader = Trader(account, instruments)
    start = ct(2026, 11, 17, 9)
    long_held = trader.round_trip(start, timedelta(minutes=10), "6")  # +$300, 10 min
    assert alerts(long_held, "hold_time") == []
    held_6s = trader.round_trip(start + timedelta(minutes=20), timedelta(seconds=6), "4")
    assert alerts(held_6s, "hold_time") == [], "6 s is longer than Lucid's 5 s"
    short = trader.round_trip(start + timedelta(minutes=30), timedelta(seconds=5), "2")
    assert alerts(short, "hold_time") == [], "$100 of $600 from short trades: 17%"
    (reason,) = alerts(
        trader.round_trip(start + timedelta(minutes=40), timedelta(seconds=2), "10"), "hold_time"
    )
    assert reason == (
        "hold time: 55% of the realized profit (600.00 of 1100.00) comes from trades held 5 s or "
        "less; the firm's limit is 50%"
    )
    again = trader.round_trip(start + timedelta(minutes=50), timedelta(seconds=1), "2")
    assert alerts(again, "hold_time") == [], "still over: no repeat"
    assert account.status.state.name == "ACTIVE"


def test_tradeify_counts_the_share_of_short_trades_too(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("tradeify-growth-50k"))
    trader = Trader(account, instruments)
    start = ct(2026, 11, 17, 9)
    assert alerts(trader.round_trip(start, timedelta(minutes=5), "10"), "hold_time") == []
    # A losing 8-second trade: no profit from short trades, but 1 of 2 trades is short.
    (reason,) = alerts(
        trader.round_trip(start + timedelta(minutes=10), timedelta(seconds=8), "-1"), "hold_time"
    )
    assert reason == (
        "hold time: 1 of 2 closed trades (50%) were held 10 s or less; the firm's limit is 50%"
    )


def test_no_hold_time_warning_without_the_rule(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("topstep-combine-50k"))
    actions = Trader(account, instruments).round_trip(
        ct(2026, 11, 17, 9), timedelta(seconds=1), "4"
    )
    assert alerts(actions, "hold_time") == []
    (closed,) = account.ledger.last_closed  # the ledger reports it all the same
    assert (closed.qty, closed.held, closed.realized) == (1, timedelta(seconds=1), D(200))


def test_a_lot_keeps_its_open_time_through_save_and_restore(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("lucid-flex-50k"))
    Trader(account, instruments).fill(ct(2026, 11, 17, 9), "buy", 2, "6000.00")
    copy = restored(account, instruments)
    # Closed 3 s after it opened, not 3 s after the restore: a short trade on both engines.
    for engine_ in (account, copy):
        actions = Trader(engine_, instruments).fill(ct(2026, 11, 17, 9, 0, 3), "sell", 2, "6004.00")
        assert len(alerts(actions, "hold_time")) == 1
    assert copy.durable_state() == account.durable_state()


# --- the scaling plan ----------------------------------------------------------------------------


def test_xfa_scaling_plan_sets_the_next_sessions_cap_from_the_end_of_day_profit(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("topstep-xfa-50k"))
    trader = Trader(account, instruments)
    assert account.guard.size_cap == 2
    trader.round_trip(ct(2026, 11, 16, 9), timedelta(minutes=30), "32")  # +$1,600
    assert account.guard.size_cap == 2, "never raised intraday"
    (reason,) = alerts(trader.clock(ct(2026, 11, 16, 16, 0)), "scaling")  # the session close
    assert reason == (
        "scaling plan: end-of-day profit 1600.00 allows 3 contracts next session; size cap 2 → 3"
    )
    assert account.guard.size_cap == 3
    # Tuesday: 3 contracts are within the cap now; the day loses $200.
    actions = trader.fill(ct(2026, 11, 17, 9), "buy", 3, "6000.00")
    assert not [a for a in actions if a.type is ActionType.FLATTEN]
    trader.fill(ct(2026, 11, 17, 9, 30), "sell", 3, str(D("6000.00") - D("200") / 150))
    # The cap follows the profit down as well: $1,400 is the first tier again.
    (reason,) = alerts(trader.clock(ct(2026, 11, 17, 16, 0)), "scaling")
    assert "end-of-day profit 1400.00 allows 2 contracts" in reason
    assert account.guard.size_cap == 2


def test_the_scaled_cap_keeps_the_users_offset_and_survives_a_restore(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    profile = profiles.get("topstep-xfa-50k")
    account = AccountRisk(profile, calendar=calendar_for(profile), balance=D(52_100))
    assert account.guard.size_cap == 1, "the default protocol keeps one contract below the firm"
    actions = account.process(ClockTick(ct(2026, 11, 16, 16, 0)))
    assert "allows 5 contracts next session; size cap 1 → 4" in alerts(actions, "scaling")[0]
    copy = AccountRisk(profile, calendar=calendar_for(profile), balance=D(52_100))
    copy.restore_state(json.loads(json.dumps(account.save_state())), instruments)
    assert copy.guard.size_cap == 4
    assert copy.durable_state() == account.durable_state()
    # The saved state holds the plan's tier; the cap follows the protocol the engine runs with.
    firm_only = engine(profile)
    firm_only.restore_state(json.loads(json.dumps(account.save_state())), instruments)
    assert firm_only.guard.size_cap == 5


def test_a_starting_cap_set_by_the_trader_gives_way_to_the_plan_at_the_day_end(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    profile = apply_overrides(
        profiles.get("topstep-xfa-50k"), {"size.max_contracts": 5}, checked=date(2026, 12, 4)
    )
    account = engine(profile)
    assert account.guard.size_cap == 5
    actions = account.process(ClockTick(ct(2026, 11, 16, 16, 0)))
    assert "allows 2 contracts next session; size cap 5 → 2" in alerts(actions, "scaling")[0]


def test_no_scaling_plan_leaves_the_cap_alone(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    account = engine(profiles.get("topstep-combine-50k"))
    Trader(account, instruments).round_trip(ct(2026, 11, 16, 9), timedelta(minutes=30), "40")
    assert alerts(account.process(ClockTick(ct(2026, 11, 16, 16, 0))), "scaling") == []
    assert account.guard.size_cap == 5
    assert account.durable_state()["size_cap"] == 5


# --- the arithmetic ------------------------------------------------------------------------------


def test_best_day_line_matches_the_research_example() -> None:
    # prop-firm-rules.md §2E: best day $1,800 of $3,000 is 60%; the total must exceed $3,600.
    earlier = {date(2026, 11, 16): D(700), date(2026, 11, 17): D(500)}
    line = best_day_line(date(2026, 11, 18), earlier, D(1_200), D("0.5"))
    assert line.breaks(D(1_800))
    assert "is 60% of the total profit 3000.00" in line.reason(D(1_800))
    assert "the total must exceed 3600.00" in line.reason(D(1_800))
    assert line.breaks(D(1_200)), "exactly 50%: the stricter reading warns"
    assert not line.breaks(D("1199.99"))
    assert not line.breaks(D(0))


def test_a_best_day_with_no_total_profit_still_breaks_the_rule() -> None:
    line = best_day_line(date(2026, 11, 18), {date(2026, 11, 17): D(-900)}, D(-900), D("0.4"))
    assert line.breaks(D(500))
    assert "is the best day while the total profit is -400.00" in line.reason(D(500))
    assert "limit is 40%" in line.reason(D(500))


def test_hold_time_counts_exactly_the_limit_as_short() -> None:
    limit = HoldLimit(timedelta(seconds=5), D("0.5"))
    tally = HoldTally()
    tally.add(timedelta(seconds=5), D(100), limit.short)
    tally.add(timedelta(seconds=5, microseconds=1), D(100), limit.short)
    assert (tally.trades, tally.short_trades, tally.short_profit) == (2, 1, D(100))
    assert tally.breach(limit) is not None, "50% is the limit itself"
    tally.add(timedelta(minutes=3), D(1), limit.short)
    assert tally.breach(limit) is None


def test_no_profit_share_is_judged_without_profit() -> None:
    limit = HoldLimit(timedelta(seconds=5), D("0.5"))
    tally = HoldTally()
    tally.add(timedelta(seconds=1), D(100), limit.short)
    tally.add(timedelta(minutes=3), D(-400), limit.short)
    assert tally.breach(limit) is None


def test_a_warning_latch_raises_once_a_day_per_crossing() -> None:
    latch = WarningLatch()
    monday, tuesday = date(2026, 11, 16), date(2026, 11, 17)
    assert latch.crossed(True, monday)
    assert not latch.crossed(True, monday), "still over: nothing more"
    assert not latch.crossed(False, monday)
    assert not latch.crossed(True, monday), "a second crossing the same day waits"
    assert latch.crossed(True, tuesday), "and is raised the next day it holds"
    assert not latch.crossed(True, tuesday)


def test_scaled_size_cap() -> None:
    assert scaled_size_cap(3, None, 1) == 2
    assert scaled_size_cap(3, D(10), 1) == 3, "the trader's own cap never raises the firm's tier"
    assert scaled_size_cap(5, D("1.5"), 1) == D("1.5")
