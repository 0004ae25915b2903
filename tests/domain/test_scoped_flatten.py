"""A news flatten has a scope: it completes when its roots are flat, and locks only those roots."""

from __future__ import annotations

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
    WorkingOrders,
)
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import Action, ActionType, GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.news import NewsEvent
from propdesk.domain.protocol import Protocol

ET = ZoneInfo("America/New_York")
EIA = datetime(2026, 11, 18, 10, 30, tzinfo=ET)  # Wednesday's petroleum status report
CL_ONLY = frozenset({"CL"})


def flattens(actions: list[Action]) -> list[Action]:
    return [a for a in actions if a.type is ActionType.FLATTEN]


class Desk:
    def __init__(self, profiles: ProfileSet, book: InstrumentBook, cal: TradingCalendar) -> None:
        self.account = AccountRisk(
            profiles["tpt-proplus-50k"],
            calendar=cal,
            protocol=Protocol.none(),
            news=[NewsEvent(EIA, "EIA petroleum status", roots=CL_ONLY)],
        )
        self.book = book

    def fill(self, at: datetime, symbol: str, side: Side, price: str, qty: int = 1) -> list:
        return self.account.process(Fill(at, self.book.parse(symbol), side, qty, D(price)))

    def hold_three(self) -> None:
        start = EIA - timedelta(minutes=20)
        self.fill(start, "ESZ26", Side.BUY, "6000")
        self.fill(start, "CLF27", Side.BUY, "70.00")
        self.fill(start, "MCLF27", Side.BUY, "70.00")


@pytest.fixture
def desk(profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar) -> Desk:
    return Desk(profiles, instruments, calendar)


def test_a_cl_window_flattens_cl_and_its_micro_then_locks_only_them(desk: Desk) -> None:
    desk.hold_three()
    opened = EIA - timedelta(minutes=1)
    [flatten] = flattens(desk.account.process(ClockTick(opened)))
    assert flatten.roots == CL_ONLY
    assert desk.account.status.state is GuardState.FLATTENING
    desk.fill(opened + timedelta(seconds=1), "CLF27", Side.SELL, "70.01")
    assert desk.account.status.state is GuardState.FLATTENING, "MCL is still open"
    actions = desk.fill(opened + timedelta(seconds=2), "MCLF27", Side.SELL, "70.01")
    assert desk.account.status.state is GuardState.LOCKED, "the scope is flat: ES may stay"
    [lock] = [a for a in actions if a.type is ActionType.LOCK]
    assert lock.roots == CL_ONLY
    assert "other contracts keep trading" in lock.reason
    assert "ESZ26" in desk.account.ledger.positions

    # ES keeps trading inside the window; CL (or MCL) reopened is closed at once.
    assert not flattens(desk.fill(EIA, "ESZ26", Side.BUY, "6001"))
    [again] = flattens(desk.fill(EIA, "MCLF27", Side.BUY, "70.05"))
    assert again.roots == CL_ONLY
    # The window ends: the lock expires with it.
    desk.account.process(ClockTick(EIA + timedelta(minutes=1, seconds=1)))
    assert desk.account.status.state is not GuardState.LOCKED


def test_a_scoped_flatten_completes_on_its_own_verified_read(desk: Desk) -> None:
    desk.hold_three()
    opened = EIA - timedelta(minutes=1)
    desk.account.process(WorkingOrders(opened, 2, 0, frozenset({"ES"})))
    desk.account.process(ClockTick(opened))
    desk.fill(opened, "CLF27", Side.SELL, "70.01")
    desk.fill(opened, "MCLF27", Side.SELL, "70.01")
    assert desk.account.status.state is GuardState.LOCKED, "ES orders are out of scope"


def test_unknown_order_roots_wait_for_the_scoped_verified_read(desk: Desk) -> None:
    desk.hold_three()
    opened = EIA - timedelta(minutes=1)
    desk.account.process(WorkingOrders(opened, 1, 0))  # roots not known
    desk.account.process(ClockTick(opened))
    desk.fill(opened, "CLF27", Side.SELL, "70.01")
    desk.fill(opened, "MCLF27", Side.SELL, "70.01")
    assert desk.account.status.state is GuardState.FLATTENING
    desk.account.process(FlatVerified(opened + timedelta(seconds=1), CL_ONLY))
    assert desk.account.status.state is GuardState.LOCKED


def test_a_whole_account_rule_during_a_scoped_lock_flattens_everything(
    desk: Desk, instruments: InstrumentBook
) -> None:
    desk.hold_three()
    opened = EIA - timedelta(minutes=1)
    desk.account.process(ClockTick(opened))
    desk.fill(opened, "CLF27", Side.SELL, "70.01")
    desk.fill(opened, "MCLF27", Side.SELL, "70.01")
    assert desk.account.status.scope == CL_ONLY
    floor = desk.account.view().max_loss_floor
    es = instruments.parse("ESZ26")
    bid = D(6000) - (desk.account.view().equity - floor + 50) / 50
    actions = desk.account.process(Mark(EIA, es, bid, bid + D("0.25")))
    [flatten] = flattens(actions)
    assert flatten.roots is None
    assert flatten.rule == "max_loss"
    status = desk.account.status
    assert (status.state, status.scope, status.lock_until) == (GuardState.FLATTENING, None, None)


def test_a_kill_during_a_scoped_lock_widens_it_to_the_account(desk: Desk) -> None:
    desk.hold_three()
    opened = EIA - timedelta(minutes=1)
    desk.account.process(ClockTick(opened))
    desk.fill(opened, "CLF27", Side.SELL, "70.01")
    desk.fill(opened, "MCLF27", Side.SELL, "70.01")
    [flatten] = flattens(desk.account.process(KillRequest(EIA)))
    assert flatten.roots is None
    assert desk.account.status.scope is None
    desk.fill(EIA, "ESZ26", Side.SELL, "6000")
    assert desk.account.status.state is GuardState.LOCKED
    assert desk.account.status.lock_until is None
