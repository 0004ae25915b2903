"""A confirmed unlock of the trader's own stop lifts it for the day; a last line still holds."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from propdesk.domain.account import AccountRisk
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import ClockTick, Fill, FlatVerified, Mark, Side, UnlockRequest
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import ActionType, GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol

CT = ZoneInfo("America/Chicago")
T0 = datetime(2026, 11, 17, 9, 0, tzinfo=CT)


class Desk:
    def __init__(self, account: AccountRisk, book: InstrumentBook) -> None:
        self.account, self.es, self.t = account, book.parse("ESZ26"), T0

    def at(self, minutes: int = 1) -> datetime:
        self.t += timedelta(minutes=minutes)
        return self.t

    def hold_at_loss(self, dollars: int) -> list:
        """Long 1 ES marked so that the day's P&L is −dollars (from a 6000 entry)."""
        ledger = self.account.ledger
        if self.es.key not in ledger.positions:
            self.account.process(Fill(self.at(), self.es, Side.BUY, 1, D(6000)))
        realized_today = ledger.balance - ledger.day_start_balance
        bid = D(6000) + (-D(dollars) - realized_today) / 50
        return self.account.process(Mark(self.at(), self.es, bid, bid + D("0.25")))

    def close(self) -> None:
        bid = self.account.ledger.quotes[self.es.key].bid
        self.account.process(Fill(self.at(), self.es, Side.SELL, 1, bid))
        self.account.process(FlatVerified(self.at()))


def flattens(actions: list) -> list:
    return [a for a in actions if a.type is ActionType.FLATTEN]


def test_unlocking_the_daily_stop_lifts_it_for_the_day_and_arms_the_last_line(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles["topstep-combine-50k"]
    dll = profile.daily_loss.amount.value
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol())
    desk = Desk(account, instruments)
    stop = int(dll * D("0.75"))
    actions = desk.hold_at_loss(stop + 10)
    assert [a.rule for a in flattens(actions)] == ["daily_stop"]
    desk.close()
    assert account.status.state is GuardState.LOCKED
    assert "last line" in account.guard.unlock_terms(account.status)

    actions = account.process(UnlockRequest(desk.at(), confirmed=True))
    assert account.status.state is not GuardState.LOCKED, "the trader may override their own stop"
    assert not flattens(actions)
    assert account.status.stops_lifted
    unlock = next(a for a in actions if a.type is ActionType.UNLOCK)
    assert "lifted for the rest of this trading day" in unlock.reason

    # Trading again, below the old stop: nothing; at the last line (90% of the limit): locked.
    assert not flattens(desk.hold_at_loss(stop + 60))
    last = int(dll * D("0.90"))
    assert account.view().stop_level == account.view().day_start_balance - last
    assert not flattens(desk.hold_at_loss(last - 10))
    actions = desk.hold_at_loss(last + 10)
    assert [a.rule for a in flattens(actions)] == ["last_line"]


def test_the_lift_ends_with_the_trading_day(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles["topstep-combine-50k"]
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol())
    desk = Desk(account, instruments)
    desk.hold_at_loss(int(profile.daily_loss.amount.value * D("0.80")))
    desk.close()
    account.process(UnlockRequest(desk.at(), confirmed=True))
    assert account.status.stops_lifted
    account.process(ClockTick(datetime(2026, 11, 17, 17, 30, tzinfo=CT)))  # the next day
    assert not account.status.stops_lifted


def test_unlocking_a_firm_limit_lock_still_relocks_at_once(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles["topstep-combine-50k"]
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol())
    desk = Desk(account, instruments)
    dll = int(profile.daily_loss.amount.value)
    actions = desk.hold_at_loss(dll + 10)
    assert [a.rule for a in flattens(actions)] == ["daily_loss"]
    assert "locks again at once" in account.guard.unlock_terms(account.status)
    actions = account.process(UnlockRequest(desk.at(), confirmed=True))
    assert account.status.state >= GuardState.FLATTENING
    assert not account.status.stops_lifted


def test_the_terms_say_when_a_firm_floor_is_breached_under_a_user_stop_lock(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles["topstep-combine-50k"]
    dll = profile.daily_loss.amount.value
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol())
    desk = Desk(account, instruments)
    desk.hold_at_loss(int(dll * D("0.80")))  # the user's stop: locked until the next session
    assert account.status.rule == "daily_stop"
    desk.hold_at_loss(int(dll) + 100)  # the strategy kept trading: past the firm's daily floor
    terms = account.guard.unlock_terms(account.status)
    assert "daily loss limit" in terms
    assert "locks again at once" in terms
    account.process(UnlockRequest(desk.at(), confirmed=True))
    assert account.status.state >= GuardState.FLATTENING
