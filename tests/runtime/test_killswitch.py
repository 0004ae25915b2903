"""The kill switch against a faulty broker: partial fills, rejects, a lost session, double presses."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from propdesk.brokers.base import AccountRef, OrderRequest, OrderType
from propdesk.brokers.sim import SimBroker, SimExchange, front_month
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import Side
from propdesk.domain.instruments import Contract, InstrumentBook
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.collector import COLLECTOR
from propdesk.runtime.killswitch import KillSwitch

OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("America/Chicago"))
FAST_BACKOFF = (0.0, 0.25, 0.5, 1.0, 1.0, 1.0)  # clock seconds; the clock runs 50x


@pytest.fixture
async def venue(
    instruments: InstrumentBook, calendar: TradingCalendar
) -> AsyncIterator[tuple[SimExchange, SimBroker, AccountRef, Contract]]:
    clock = ScaledClock(OPEN, speed=50)
    exchange = SimExchange(instruments, calendar, clock, seed=11)
    ref = exchange.open_account("K", Decimal(50_000))
    broker = SimBroker(exchange)
    exchange.start()
    await broker.connect()
    yield exchange, broker, ref, front_month(instruments.instrument("ES"), OPEN)
    await broker.close()
    await exchange.stop()


def switch(
    broker: SimBroker, ref: AccountRef, backoff: tuple[float, ...] = FAST_BACKOFF
) -> KillSwitch:
    return KillSwitch({broker.name: broker}, broker._clock, lambda _r: ([], []), backoff=backoff)


async def hold(
    broker: SimBroker, ref: AccountRef, contract: Contract, qty: int, resting: int = 2
) -> None:
    await broker.place(ref, OrderRequest(contract, Side.BUY, qty))
    for n in range(resting):
        far = Decimal(5000) - n
        await broker.place(
            ref, OrderRequest(contract, Side.BUY, 1, OrderType.LIMIT, limit_price=far)
        )


async def test_flatten_with_partial_fills_is_verified_flat(venue: tuple) -> None:
    exchange, broker, ref, es = venue
    await hold(broker, ref, es, 2)
    exchange.partial_fills_on_close(True)
    await broker.place(
        ref, OrderRequest(es, Side.BUY, 2)
    )  # now long 4, closing fills a lot per step
    result = await switch(broker, ref).flatten(ref)
    assert result.flat, result.detail
    assert result.detail == "verified flat"
    assert (await broker.snapshot([ref])).is_flat(ref)
    assert result.issued is not None
    assert result.verified is not None
    assert result.started <= result.issued <= result.verified


async def test_rejected_closes_are_retried_until_flat(venue: tuple) -> None:
    _, broker, ref, es = venue
    await hold(broker, ref, es, 1)
    broker.reject_next(2, "risk check failed (injected)")
    result = await switch(broker, ref).flatten(ref)
    assert result.flat, result.detail
    assert result.attempts >= 2


async def test_a_broker_that_never_closes_gives_not_flat_with_why(venue: tuple) -> None:
    _, broker, ref, es = venue
    await hold(broker, ref, es, 1, resting=0)
    broker.reject_randomly(1.0, "account disabled (injected)")
    result = await switch(broker, ref, backoff=(0.0, 0.1, 0.1)).flatten(ref)
    assert not result.flat
    assert result.attempts == 3
    assert "not flat after 3 attempts" in result.detail
    assert "1 position(s)" in result.detail
    assert "account disabled" in result.detail


async def test_a_lost_session_stops_at_once(venue: tuple) -> None:
    _, broker, ref, es = venue
    await hold(broker, ref, es, 1, resting=0)
    broker.forced_logout()
    result = await switch(broker, ref).flatten(ref)
    assert not result.flat
    assert result.detail.startswith("session lost")
    assert result.attempts == 1


async def test_pressing_twice_joins_the_running_flatten(venue: tuple) -> None:
    _, broker, ref, es = venue
    await hold(broker, ref, es, 1)
    kill = switch(broker, ref)
    first = kill.flatten(ref)
    assert kill.flatten(ref) is first
    assert kill.in_progress(ref)
    assert (await first).flat
    assert not kill.in_progress(ref)
    again = await kill.flatten(ref)
    assert again.flat
    assert again.attempts == 1, "an already flat account verifies at once"


async def test_unknown_connection(venue: tuple) -> None:
    _, broker, _, _ = venue
    result = await switch(broker, AccountRef("nowhere", "X")).flatten(AccountRef("nowhere", "X"))
    assert not result.flat
    assert "no connection named 'nowhere'" in result.detail


async def test_no_automatic_collection_while_a_flatten_is_in_flight(venue: tuple) -> None:
    _, broker, ref, es = venue
    await hold(broker, ref, es, 1)
    broker.reject_next(2, "risk check failed (injected)")  # a flatten that has to retry
    assert gc.isenabled()
    kill = switch(broker, ref)
    task = kill.flatten(ref)
    assert not gc.isenabled(), "a collection must not land between the requests and the read"
    assert kill.flatten(ref) is task
    assert COLLECTOR.holders == 1, "a joined press holds nothing more"
    result = await task
    assert result.flat
    assert result.attempts >= 2
    assert gc.isenabled()
    assert COLLECTOR.holders == 0


async def test_the_collector_comes_back_after_a_flatten_that_fails(venue: tuple) -> None:
    _, broker, ref, es = venue
    await hold(broker, ref, es, 1, resting=0)
    broker.forced_logout()
    result = await switch(broker, ref).flatten(ref)
    assert not result.flat
    assert gc.isenabled()
    assert COLLECTOR.holders == 0


async def test_a_scoped_flatten_closes_its_roots_and_leaves_the_rest(
    venue: tuple, instruments: InstrumentBook
) -> None:
    _, broker, ref, es = venue
    cl = front_month(instruments.instrument("CL"), OPEN)
    mcl = front_month(instruments.instrument("MCL"), OPEN)
    await hold(broker, ref, es, 1, resting=2)
    await broker.place(ref, OrderRequest(cl, Side.BUY, 1))
    await broker.place(ref, OrderRequest(mcl, Side.SELL, 2))
    await broker.place(ref, OrderRequest(cl, Side.BUY, 1, OrderType.LIMIT, limit_price=Decimal(1)))
    result = await switch(broker, ref).flatten(ref, frozenset({"CL"}))
    assert result.flat, result.detail
    assert result.detail == "verified flat in CL"
    assert result.roots == frozenset({"CL"})
    snapshot = await broker.snapshot([ref])
    assert {p.contract.key: p.net for p in snapshot.positions_of(ref)} == {es.key: 1}
    assert {o.contract.key for o in snapshot.orders_of(ref)} == {es.key}
    assert len(snapshot.orders_of(ref)) == 2


async def test_a_whole_flatten_covers_a_scoped_request_but_not_the_reverse(venue: tuple) -> None:
    _, broker, ref, es = venue
    await hold(broker, ref, es, 1)
    kill = switch(broker, ref)
    whole = kill.flatten(ref)
    assert kill.flatten(ref, frozenset({"ES"})) is whole
    await whole
    scoped = kill.flatten(ref, frozenset({"CL"}))
    wider = kill.flatten(ref)
    assert wider is not scoped
    assert (await scoped).flat
    assert (await wider).flat
