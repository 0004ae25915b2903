"""SimBroker on a running venue: the stream, snapshots, native calls, and every injected fault."""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal

import pytest
from sim_helpers import BREAK, OPEN, SATURDAY, Recorder, scaled

from propdesk.brokers.base import (
    AccountFill,
    AccountRef,
    BrokerError,
    BrokerEvent,
    Capability,
    LinkEvent,
    LinkState,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    SessionLost,
)
from propdesk.brokers.sim import INJECTED_REJECT, OrderRejected, SimBroker, SimExchange
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import Side
from propdesk.domain.instruments import Contract, InstrumentBook

D = Decimal
A1 = AccountRef("sim", "A1")


def is_quote(event: BrokerEvent) -> bool:
    return isinstance(event, Quote)


def is_fill(event: BrokerEvent) -> bool:
    return isinstance(event, AccountFill)


def link(state: LinkState):
    return lambda event: isinstance(event, LinkEvent) and event.state is state


async def test_protocol_surface(live: tuple[SimExchange, SimBroker]) -> None:
    _, broker = live
    assert broker.name == "sim"
    assert broker.capabilities == {
        Capability.CANCEL_ALL,
        Capability.FLATTEN_ACCOUNT,
        Capability.LIQUIDATE_CONTRACT,
        Capability.MARKET_DATA,
    }
    assert broker.heartbeat_allowance.total_seconds() >= 5
    assert broker.last_frame_at is not None


async def test_subscribed_quotes_stream_on_the_grid(
    live: tuple[SimExchange, SimBroker], es: Contract, mes: Contract
) -> None:
    exchange, broker = live
    events = Recorder(broker)
    await events.next(link(LinkState.CONNECTED))
    await broker.subscribe([es])
    for _ in range(20):
        await events.next(is_quote, after=events.mark())
    quotes = [e for e in events.events if isinstance(e, Quote)]
    assert {q.mark.contract for q in quotes} == {es}  # MES is priced by nobody's request
    for q in quotes:
        assert q.mark.bid is not None
        assert q.mark.ask is not None
        assert q.mark.bid % D("0.25") == 0
        assert q.mark.ask % D("0.25") == 0
        assert q.mark.bid < q.mark.ask
        assert q.mark.ts.utcoffset() is not None
    assert not exchange.market.has(mes)
    await events.close()


async def test_heartbeats_advance_last_frame_at(live: tuple[SimExchange, SimBroker]) -> None:
    exchange, broker = live
    first = broker.last_frame_at
    assert first is not None
    await exchange.clock.sleep(5)  # nothing subscribed: only heartbeats keep it moving
    later = broker.last_frame_at
    assert later is not None
    assert later > first


async def test_fills_reach_the_stream_and_the_snapshot(
    live: tuple[SimExchange, SimBroker], es: Contract
) -> None:
    _, broker = live
    events = Recorder(broker)
    order_id = await broker.place(A1, OrderRequest(es, Side.BUY, 2, tag="test"))
    fill = await events.next(is_fill)
    assert isinstance(fill, AccountFill)
    assert fill.account == A1
    assert fill.fill.qty == 2
    assert fill.fill.fee == D("4.20")
    # The traded contract's quotes now flow without a subscription.
    await events.next(lambda e: isinstance(e, Quote) and e.mark.contract == es)
    resting = await broker.place(
        A1, OrderRequest(es, Side.BUY, 1, OrderType.LIMIT, limit_price=D("5000.00"))
    )
    snap = await broker.snapshot()
    assert [a.ref for a in snap.accounts] == [A1]
    assert [(p.contract, p.net) for p in snap.positions_of(A1)] == [(es, 2)]
    assert [o.order_id for o in snap.orders_of(A1)] == [resting]
    assert [f.fill.fill_id for f in snap.fills] == [fill.fill.fill_id]
    assert snap.accounts[0].balance == D(50_000) - D("4.20")
    filled = await events.next(
        lambda e: isinstance(e, OrderUpdate) and e.status is OrderStatus.FILLED
    )
    assert isinstance(filled, OrderUpdate)
    assert filled.order.order_id == order_id
    await events.close()


async def test_native_cancel_all_and_flatten_leave_a_fresh_snapshot_flat(
    live: tuple[SimExchange, SimBroker], es: Contract, mes: Contract
) -> None:
    _, broker = live
    await broker.place(A1, OrderRequest(es, Side.BUY, 2))
    await broker.place(A1, OrderRequest(mes, Side.SELL, 1))
    await broker.place(A1, OrderRequest(es, Side.SELL, 1, OrderType.LIMIT, limit_price=D(9000)))
    snap = await broker.snapshot([A1])
    assert not snap.is_flat(A1)
    # The caller's view is deliberately stale (empty): native calls must not depend on it.
    await asyncio.gather(broker.cancel_all(A1, []), broker.flatten(A1, []))
    assert (await broker.snapshot([A1])).is_flat(A1)
    await broker.flatten(A1, [])  # pressing it twice is safe
    await broker.cancel_all(A1, [])
    assert (await broker.snapshot([A1])).is_flat(A1)


async def test_partial_fills_during_a_flatten_end_flat(
    live: tuple[SimExchange, SimBroker], es: Contract
) -> None:
    exchange, broker = live
    events = Recorder(broker)
    await broker.place(A1, OrderRequest(es, Side.SELL, 2))
    await broker.place(A1, OrderRequest(es, Side.SELL, 2))
    exchange.partial_fills_on_close(True)
    await broker.flatten(A1)
    snap = await broker.snapshot([A1])
    # One lot closes at once, the rest over the following steps (a step may run before this read:
    # a request leaves the caller before the venue acts on it).
    net = sum(p.net for p in snap.positions_of(A1))
    assert -3 <= net <= 0
    assert len(snap.orders_of(A1)) == (1 if net else 0)
    # What the kill switch does: re-read until a fresh read shows flat.
    async with asyncio.timeout(2):
        while not (await broker.snapshot([A1])).is_flat(A1):
            await events.next(is_fill, after=events.mark())
    closing = [e.fill.qty for e in events.events if is_fill(e) and e.fill.side is Side.BUY]  # type: ignore[union-attr]
    assert closing == [1, 1, 1, 1]
    await events.close()


async def test_rejects_carry_their_reason(
    live: tuple[SimExchange, SimBroker], es: Contract
) -> None:
    _, broker = live
    events = Recorder(broker)
    broker.reject_next(2, "margin check failed")
    for _ in range(2):
        with pytest.raises(OrderRejected, match="margin check failed"):
            await broker.place(A1, OrderRequest(es, Side.BUY, 1))
    await broker.place(A1, OrderRequest(es, Side.BUY, 1))  # the third goes through
    rejected = await events.next(
        lambda e: isinstance(e, OrderUpdate) and e.status is OrderStatus.REJECTED
    )
    assert isinstance(rejected, OrderUpdate)
    assert rejected.reason == "margin check failed"
    # Liquidations are orders too: a rejected flatten tells the caller.
    broker.reject_next(1)
    with pytest.raises(OrderRejected, match=re.escape(INJECTED_REJECT)):
        await broker.flatten(A1)
    with pytest.raises(OrderRejected, match="quantity must be at least 1"):
        await broker.place(A1, OrderRequest(es, Side.BUY, 0))
    broker.reject_randomly(1.0, "random reject")
    with pytest.raises(OrderRejected, match="random reject"):
        await broker.close_position(A1, es)
    broker.reject_randomly(0.0)
    await broker.close_position(A1, es)
    assert (await broker.snapshot([A1])).is_flat(A1)
    await events.close()


async def test_latency_delays_requests_in_real_time(
    live: tuple[SimExchange, SimBroker], es: Contract
) -> None:
    _, broker = live
    broker.latency_ms = 20
    started = time.perf_counter()
    await broker.place(A1, OrderRequest(es, Side.BUY, 1))
    assert time.perf_counter() - started >= 0.04  # there and back
    broker.latency_ms = 0


async def test_disconnect_ends_the_stream_and_reconnect_resumes(
    live: tuple[SimExchange, SimBroker], es: Contract
) -> None:
    _, broker = live
    await broker.subscribe([es])
    events = Recorder(broker)
    await events.next(is_quote)
    broker.disconnect()
    await events.until_ended()
    last = events.events[-1]
    assert isinstance(last, LinkEvent)
    assert last.state is LinkState.DISCONNECTED
    with pytest.raises(BrokerError, match="not connected") as caught:
        await broker.place(A1, OrderRequest(es, Side.BUY, 1))
    assert caught.value.retryable
    await broker.reconnect()
    events = Recorder(broker)
    await events.next(link(LinkState.CONNECTED))
    await events.next(is_quote)  # the subscription survived
    await broker.place(A1, OrderRequest(es, Side.BUY, 1))
    await events.next(is_fill)
    await events.close()


async def test_close_is_idempotent_and_reconnect_reopens(
    live: tuple[SimExchange, SimBroker],
) -> None:
    _, broker = live
    events = Recorder(broker)
    await broker.close()
    await broker.close()
    await events.until_ended()
    assert isinstance(events.events[-1], LinkEvent)
    assert not broker.connected
    await broker.reconnect()
    assert broker.connected


async def test_go_silent_stops_every_frame_until_speak(
    live: tuple[SimExchange, SimBroker], es: Contract
) -> None:
    exchange, broker = live
    await broker.subscribe([es])
    events = Recorder(broker)
    await events.next(is_quote)
    broker.go_silent()
    await asyncio.sleep(0)
    frozen = broker.last_frame_at
    count = events.mark()
    await exchange.clock.sleep(10)  # ten clock seconds: ten heartbeats and many quotes, if it spoke
    assert broker.last_frame_at == frozen
    assert events.mark() == count
    assert broker.connected  # the link still looks open: only a watchdog can tell
    assert (await broker.snapshot([A1])).accounts  # requests are still answered
    broker.speak()
    await events.next(is_quote, after=count)
    assert broker.last_frame_at is not None
    assert frozen is not None
    assert broker.last_frame_at > frozen
    await events.close()


async def test_a_reconnect_ends_silence_unless_it_survives_reconnects(
    live: tuple[SimExchange, SimBroker],
) -> None:
    exchange, broker = live
    broker.go_silent()
    await broker.reconnect()
    before = broker.last_frame_at
    await exchange.clock.sleep(3)
    assert broker.last_frame_at != before
    broker.go_silent(survive_reconnect=True)
    await broker.reconnect()
    before = broker.last_frame_at
    await exchange.clock.sleep(3)
    assert broker.last_frame_at == before


async def test_forced_logout_is_terminal_for_the_session(
    live: tuple[SimExchange, SimBroker], es: Contract
) -> None:
    _, broker = live
    events = Recorder(broker)
    broker.forced_logout()
    await events.until_ended()
    last = events.events[-1]
    assert isinstance(last, LinkEvent)
    assert last.state is LinkState.FORCED_LOGOUT
    with pytest.raises(SessionLost):
        await broker.reconnect()
    with pytest.raises(SessionLost):
        await broker.place(A1, OrderRequest(es, Side.BUY, 1))
    # Only a fresh sign-in (the trader's decision) brings it back.
    await broker.connect()
    await broker.place(A1, OrderRequest(es, Side.BUY, 1))


async def test_sessions_see_only_their_accounts(
    live: tuple[SimExchange, SimBroker], es: Contract
) -> None:
    exchange, propdesk = live
    a2 = exchange.open_account("A2", D(25_000))
    strategy = SimBroker(exchange, accounts=[a2])
    await strategy.connect()
    theirs, ours = Recorder(strategy), Recorder(propdesk)
    await strategy.place(a2, OrderRequest(es, Side.BUY, 1))
    fill = await ours.next(is_fill)  # propdesk watches every account, A2 included
    assert isinstance(fill, AccountFill)
    assert fill.account == a2
    await theirs.next(is_fill)
    await propdesk.place(A1, OrderRequest(es, Side.SELL, 1))
    await ours.next(lambda e: is_fill(e) and e.account == A1)  # type: ignore[union-attr]
    assert all(e.account == a2 for e in theirs.events if isinstance(e, AccountFill))
    with pytest.raises(BrokerError, match="not on this login"):
        await strategy.place(A1, OrderRequest(es, Side.BUY, 1))
    assert [a.ref for a in (await strategy.snapshot()).accounts] == [a2]
    # A fault on one session leaves the other alone.
    propdesk.disconnect()
    await strategy.place(a2, OrderRequest(es, Side.SELL, 1))
    await theirs.next(lambda e: is_fill(e) and e.fill.side is Side.SELL)  # type: ignore[union-attr]
    await theirs.close()
    await ours.close()
    await strategy.close()


@pytest.mark.parametrize("start", [BREAK, SATURDAY], ids=["maintenance-break", "saturday"])
async def test_closed_market_no_quotes_no_fills(
    instruments: InstrumentBook, calendar: TradingCalendar, es: Contract, start: object
) -> None:
    clock = scaled(start, speed=60)  # type: ignore[arg-type]
    assert not calendar.is_open("equity", clock.now())
    async with SimExchange(instruments, calendar, clock, seed=2) as exchange:
        account = exchange.open_account("A1", D(50_000))
        broker = SimBroker(exchange)
        await broker.connect()
        events = Recorder(broker)
        await broker.subscribe([es])
        with pytest.raises(OrderRejected, match="market closed") as caught:
            await broker.place(account, OrderRequest(es, Side.BUY, 1))
        assert "opens again at" in caught.value.reason
        with pytest.raises(OrderRejected, match="market closed"):
            await broker.place(
                account, OrderRequest(es, Side.BUY, 1, OrderType.LIMIT, limit_price=D(5000))
            )
        first = broker.last_frame_at
        await clock.sleep(5)
        assert broker.last_frame_at is not None
        assert first is not None
        assert broker.last_frame_at > first  # heartbeats go on while the market sleeps
        assert not [e for e in events.events if isinstance(e, Quote | AccountFill)]
        snap = await broker.snapshot()
        assert snap.is_flat(account)
        assert not snap.fills
        await events.close()
        await broker.close()


async def test_a_session_can_run_the_venue_itself(
    instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    exchange = SimExchange(instruments, calendar, scaled(OPEN))
    broker = SimBroker(exchange)
    assert not exchange.running
    await broker.connect()  # starts the venue's clock loop if nobody did
    assert exchange.running
    await exchange.stop()
    assert not exchange.running


async def test_unread_streams_shed_quotes_but_keep_account_events(
    manual_exchange: SimExchange, es: Contract
) -> None:
    account = manual_exchange.open_account("A1", D(50_000))
    broker = SimBroker(manual_exchange, max_quote_backlog=5)
    await broker.connect()  # the venue's loop sleeps on the manual clock: steps are by hand
    await broker.subscribe([es])
    for _ in range(100):
        manual_exchange.step()
    await broker.place(account, OrderRequest(es, Side.BUY, 1))
    events = Recorder(broker)
    await events.next(is_fill)
    assert sum(isinstance(e, Quote) for e in events.events) <= 6
    with pytest.raises(BrokerError, match="unknown account"):
        await broker.snapshot([AccountRef("sim", "nobody")])
    await events.close()
    await manual_exchange.stop()
