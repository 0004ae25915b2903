"""A scoped news window on the simulator: CL (and MCL) closed at the broker, ES left trading."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from notice_wait import notice_matching

from propdesk.brokers.base import AccountRef, OrderRequest
from propdesk.brokers.sim import SimBroker, SimExchange, front_month
from propdesk.domain.account import calendar_for
from propdesk.domain.events import Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import ActionType, GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.news import NewsEvent, Restriction
from propdesk.domain.protocol import Protocol
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import ActionTaken, Alert, FillBooked, Level, Notice, StateChanged

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=CT)
SPEED = 30.0
EIA = OPEN + timedelta(minutes=3)  # the window opens a minute before: 4 s of wall time in


@dataclass
class Desk:
    runtime: Runtime
    exchange: SimExchange
    broker: SimBroker
    strategy: SimBroker
    ref: AccountRef
    notices: list[Notice]

    async def until(self, predicate, timeout: float = 20.0) -> Notice:  # type: ignore[no-untyped-def]
        return await notice_matching(self.runtime, self.notices, predicate, timeout)


@pytest.fixture
async def desk(
    tmp_path: Path, instruments: InstrumentBook, profiles: ProfileSet
) -> AsyncIterator[Desk]:
    clock = ScaledClock(OPEN, speed=SPEED)
    profile = profiles.get("tpt-proplus-50k")
    exchange = SimExchange(instruments, calendar_for(profile), clock, seed=5)
    ref = exchange.open_account("N1", Decimal(50_000))
    broker = SimBroker(exchange)
    strategy = SimBroker(exchange, name="strategy", accounts=[ref])
    journal = Journal(tmp_path / "journal.sqlite")
    news = (
        NewsEvent(
            EIA,
            "EIA petroleum status",
            roots=frozenset({"CL"}),
            restriction=Restriction.FLAT,
        ),
    )
    setup = AccountSetup(ref, profile, Protocol(connection_down_limit=None), news=news)
    runtime = Runtime([broker], [setup], clock=clock, journal=journal, instruments=instruments)
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    exchange.start()
    await strategy.connect()
    await runtime.start()
    yield Desk(runtime, exchange, broker, strategy, ref, notices)
    await runtime.stop()
    await strategy.close()
    await exchange.stop()
    journal.close()


async def test_a_cl_window_closes_cl_and_mcl_at_the_broker_and_leaves_es(
    desk: Desk, instruments: InstrumentBook
) -> None:
    es, cl, mcl = (front_month(instruments.instrument(r), OPEN) for r in ("ES", "CL", "MCL"))
    for contract, side in ((es, Side.BUY), (cl, Side.BUY), (mcl, Side.SELL)):
        await desk.strategy.place(desk.ref, OrderRequest(contract, side, 1))
        await desk.until(lambda n, c=contract: isinstance(n, FillBooked) and n.fill.contract == c)
    locked = await desk.until(lambda n: isinstance(n, StateChanged) and n.new is GuardState.LOCKED)
    assert "EIA petroleum status" in locked.reason
    lock = await desk.until(
        lambda n: isinstance(n, ActionTaken) and n.action.type is ActionType.LOCK
    )
    assert "other contracts keep trading" in lock.action.reason  # type: ignore[union-attr]
    snapshot = await desk.broker.snapshot([desk.ref])
    assert {p.contract.key: p.net for p in snapshot.positions_of(desk.ref)} == {es.key: 1}
    assert desk.runtime.accounts[str(desk.ref)].risk.status.scope == frozenset({"CL"})

    # A new CL position inside the window is a violation and is closed; ES trades on.
    await desk.strategy.place(desk.ref, OrderRequest(cl, Side.BUY, 1))
    alert = await desk.until(lambda n: isinstance(n, Alert) and "be-flat window" in n.text)
    assert alert.level is Level.CRITICAL
    await desk.strategy.place(desk.ref, OrderRequest(es, Side.BUY, 1))
    ledger = desk.runtime.accounts[str(desk.ref)].risk.ledger
    await desk.until(lambda n: isinstance(n, FillBooked) and ledger.positions[es.key].net == 2)
    # The window ends and its lock with it: ES was never touched.
    await desk.until(
        lambda n: isinstance(n, StateChanged) and n.old is GuardState.LOCKED, timeout=30
    )
    snapshot = await desk.broker.snapshot([desk.ref])
    assert {p.contract.key: p.net for p in snapshot.positions_of(desk.ref)} == {es.key: 2}
