"""A hard daily limit (`soft = false`) ends the account: its breach is a permanent lock."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from propdesk.domain.account import AccountRisk
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import (
    ClockTick,
    Fill,
    FlatVerified,
    KillRequest,
    Mark,
    Side,
    UnlockRequest,
)
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import ActionType, GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol

CT = ZoneInfo("America/Chicago")
T0 = datetime(2026, 11, 17, 9, 0, tzinfo=CT)


def lose(account: AccountRisk, book: InstrumentBook, dollars: int) -> list:
    """Buy 1 ES and mark it `dollars` under water."""
    es = book.parse("ESZ26")
    account.process(Fill(T0, es, Side.BUY, 1, D(6000)))
    bid = D(6000) - D(dollars) / 50
    return account.process(Mark(T0 + timedelta(minutes=1), es, bid, bid + D("0.25")))


def closed(account: AccountRisk, book: InstrumentBook) -> None:
    """The flatten's closing fill at the last bid, then the kill switch's verified-flat read."""
    es = book.parse("ESZ26")
    bid = account.ledger.quotes[es.key].bid
    account.process(Fill(T0 + timedelta(minutes=2), es, Side.SELL, 1, bid))
    account.process(FlatVerified(T0 + timedelta(minutes=2)))


@pytest.mark.parametrize("profile_id", ["ftmo-1step-100k", "earn2trade-gauntlet-50k"])
def test_a_hard_daily_breach_locks_until_a_confirmed_unlock(
    profile_id: str, profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles[profile_id]
    assert profile.daily_loss.soft is False
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol.none())
    dll = profile.daily_loss.amount.value
    actions = lose(account, instruments, int(dll) + 50)
    flatten = [a for a in actions if a.type is ActionType.FLATTEN]
    assert flatten
    assert flatten[0].rule == "daily_loss"
    assert "ends the account" in flatten[0].reason
    closed(account, instruments)
    assert account.status.state is GuardState.LOCKED
    assert account.status.lock_until is None
    # Days later the lock still holds: no expiry at the next session.
    account.process(ClockTick(T0 + timedelta(days=3)))
    assert account.status.state is GuardState.LOCKED
    account.process(UnlockRequest(T0 + timedelta(days=3, minutes=1), confirmed=True))
    assert account.status.state is not GuardState.LOCKED


def test_a_soft_daily_breach_still_expires_at_the_next_session(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles["topstep-combine-50k"]
    assert profile.daily_loss.soft is True
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol.none())
    actions = lose(account, instruments, int(profile.daily_loss.amount.value) + 50)
    assert any(a.rule == "daily_loss" and "ends the account" not in a.reason for a in actions)
    closed(account, instruments)
    assert account.status.state is GuardState.LOCKED
    assert account.status.lock_until is not None


def test_a_hard_daily_breach_while_locked_for_the_cutoff_makes_the_lock_permanent(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles["earn2trade-gauntlet-50k"]
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol.none())
    es = instruments.parse("ESZ26")
    account.process(Fill(T0, es, Side.BUY, 1, D(6000)))
    account.process(KillRequest(T0, "test"))  # a permanent lock of its own: use a timed one
    account.status = replace(account.status, lock_until=T0 + timedelta(hours=8))
    bid = D(6000) - (profile.daily_loss.amount.value + 50) / 50
    account.process(Mark(T0 + timedelta(minutes=1), es, bid, bid + D("0.25")))
    assert account.status.lock_until is None
    assert account.status.rule == "daily_loss"
