"""The Rithmic adapter against the loopback gateway: login, snapshot, pushes, orders, refusals, link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from fakes.rithmic import BUY, LIMIT, SELL, FakeRithmic
from rithmic_helpers import ACCOUNTS, ES_PRICE, es_contract, es_symbol, make_broker, until

from propdesk.brokers.base import (
    AccountFill,
    AccountRef,
    BalanceUpdate,
    BrokerError,
    BrokerEvent,
    LinkEvent,
    LinkState,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Quote,
    SessionLost,
)
from propdesk.brokers.rithmic import RithmicBroker
from propdesk.domain.events import Side
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import ScaledClock

APEX1, APEX2 = (AccountRef("rith", a) for a in ACCOUNTS)


def _running(name: str) -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]


class Stream:
    """Collects one transport's events in the background."""

    def __init__(self, broker: RithmicBroker) -> None:
        self.events: list[BrokerEvent] = []
        self.task = asyncio.get_running_loop().create_task(self._run(broker))

    async def _run(self, broker: RithmicBroker) -> None:
        async for event in broker.events():
            self.events.append(event)

    def of[T](self, kind: type[T]) -> list[T]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def broker(
    fake: FakeRithmic, instruments: InstrumentBook, clock: ScaledClock
) -> AsyncIterator[RithmicBroker]:
    adapter = make_broker(fake, instruments, clock)
    await adapter.connect()
    yield adapter
    await adapter.close()


async def test_the_snapshot_reads_balances_positions_orders_and_todays_fills(
    fake: FakeRithmic, broker: RithmicBroker, instruments: InstrumentBook
) -> None:
    symbol = es_symbol(instruments)
    fake.place("APEX-1", BUY, symbol, 2)
    fake.place("APEX-1", SELL, symbol, 1)  # sells one back at the same price
    resting = fake.place("APEX-2", BUY, symbol, 3, LIMIT, ES_PRICE - 25)
    fake.place("OTHER", BUY, symbol, 1)  # not watched by this connection
    snap = await broker.snapshot()
    assert [a.ref for a in snap.accounts] == [APEX1, APEX2]
    assert all(a.balance == Decimal(50_000) for a in snap.accounts)
    [position] = snap.positions_of(APEX1)
    assert (position.contract, position.net, position.average_price) == (
        es_contract(instruments),
        1,
        ES_PRICE,
    )
    [order] = snap.orders_of(APEX2)
    assert (order.order_id, order.side, order.qty, order.type, order.limit_price) == (
        resting,
        Side.BUY,
        3,
        OrderType.LIMIT,
        ES_PRICE - 25,
    )
    fills = [f.fill for f in snap.fills if f.account == APEX1]
    assert [(f.side, f.qty, f.price) for f in fills] == [
        (Side.BUY, 2, ES_PRICE),
        (Side.SELL, 1, ES_PRICE),
    ]
    assert len({f.fill_id for f in fills}) == 2
    assert [f.fee for f in fills] == [None, None], "the fill history carries no fee"
    assert {f.account for f in snap.fills} == {APEX1}
    assert not snap.is_flat(APEX1)
    assert not snap.is_flat(APEX2)


async def test_pushes_become_fills_orders_positions_marks_and_balances(
    fake: FakeRithmic, broker: RithmicBroker, instruments: InstrumentBook
) -> None:
    stream = Stream(broker)
    symbol = es_symbol(instruments)
    fake.place("OTHER", BUY, symbol, 1)  # an account this connection does not watch
    fake.place("APEX-1", BUY, symbol, 2)
    await until(lambda: stream.of(Quote), what="the P&L plant's update")
    fake.move_price(symbol, ES_PRICE - Decimal("2.25"))
    await until(lambda: len(stream.of(Quote)) >= 2, what="the mark after the move")
    [fill] = stream.of(AccountFill)
    assert (fill.account, fill.fill.side, fill.fill.qty, fill.fill.price) == (
        APEX1,
        Side.BUY,
        2,
        ES_PRICE,
    )
    assert fill.fill.fee is None, "nor does a fill notification"
    assert stream.of(OrderUpdate)[-1].status is OrderStatus.FILLED
    assert stream.of(PositionUpdate)[-1].position.net == 2
    # The P&L plant's open P&L (−2.25 × 2 × $50) implies the mark; it lands on the tick.
    assert stream.of(Quote)[-1].mark.last == ES_PRICE - Decimal("2.25")
    assert stream.of(BalanceUpdate)[-1].balance == Decimal(50_000)
    assert all(
        getattr(e, "account", APEX1) == APEX1 for e in stream.events if not isinstance(e, Quote)
    )
    stream.task.cancel()


async def test_orders_placed_cancelled_and_refused_with_reasons(
    fake: FakeRithmic, broker: RithmicBroker, instruments: InstrumentBook
) -> None:
    stream = Stream(broker)
    es = es_contract(instruments)
    order_id = await broker.place(
        APEX1, OrderRequest(es, Side.BUY, 1, OrderType.LIMIT, ES_PRICE - 10, tag="test")
    )
    [sent] = fake.requests_of(312)
    assert (sent.account_id, sent.symbol, sent.exchange, sent.price) == (
        "APEX-1",
        "ESZ6",
        "CME",
        5990,
    )
    assert sent.manual_or_auto == 2, "propdesk's orders are flagged automated"
    await until(lambda: any(u.order.order_id == order_id for u in stream.of(OrderUpdate)))
    assert stream.of(OrderUpdate)[-1].status is OrderStatus.WORKING
    await broker.cancel(APEX1, order_id)
    await until(lambda: stream.of(OrderUpdate)[-1].status is OrderStatus.CANCELLED)
    with pytest.raises(BrokerError, match="order is not working"):
        await broker.cancel(APEX1, order_id)  # Rithmic's refusal, in words
    fake.reject_next(1, "margin exceeded")
    rejected = await broker.place(APEX1, OrderRequest(es, Side.SELL, 1))
    await until(lambda: stream.of(OrderUpdate)[-1].order.order_id == rejected)
    last = stream.of(OrderUpdate)[-1]
    assert (last.status, last.reason) == (OrderStatus.REJECTED, "margin exceeded")
    stream.task.cancel()


async def test_native_flatten_cancels_all_and_exits_every_position(
    fake: FakeRithmic, broker: RithmicBroker, instruments: InstrumentBook
) -> None:
    symbol = es_symbol(instruments)
    fake.place("APEX-1", BUY, symbol, 3)
    fake.place("APEX-1", SELL, symbol, 2, LIMIT, ES_PRICE + 20)
    fake.place("APEX-2", BUY, symbol, 1)
    await broker.cancel_all(APEX1, [])
    await broker.flatten(APEX1, [])
    assert fake.is_flat("APEX-1")
    assert fake.net("APEX-2", symbol) == 1, "one account's flatten leaves the other alone"
    assert (await broker.snapshot([APEX1])).is_flat(APEX1)
    await broker.close_position(APEX2, es_contract(instruments))
    assert fake.requests_of(3504)[-1].symbol == symbol
    assert fake.is_flat("APEX-2")


async def test_permission_denied_is_explained_and_not_retried(
    fake: FakeRithmic, instruments: InstrumentBook, clock: ScaledClock
) -> None:
    fake.deny_logins("13", "permission denied")
    adapter = make_broker(fake, instruments, clock)
    with pytest.raises(BrokerError) as refused:
        await adapter.connect()
    assert not refused.value.retryable
    text = str(refused.value)
    assert "rp_code 13" in text
    assert "API access" in text
    assert "your firm" in text
    await until(lambda: not fake.sessions, what="the refused sockets to close")
    await adapter.close()


async def test_wrong_password_says_so(
    fake: FakeRithmic, instruments: InstrumentBook, clock: ScaledClock
) -> None:
    adapter = make_broker(fake, instruments, clock, secrets={"password": "wrong"})
    with pytest.raises(BrokerError, match="login failed"):
        await adapter.connect()
    assert fake.logins == 0
    await adapter.close()


async def test_forced_logout_ends_the_stream_and_refuses_everything_after(
    fake: FakeRithmic, broker: RithmicBroker, instruments: InstrumentBook
) -> None:
    stream = Stream(broker)
    fake.forced_logout()
    await asyncio.wait_for(stream.task, 5)
    [event] = stream.of(LinkEvent)
    assert event.state is LinkState.FORCED_LOGOUT
    with pytest.raises(SessionLost):
        await broker.reconnect()
    with pytest.raises(SessionLost):
        await broker.place(APEX1, OrderRequest(es_contract(instruments), Side.BUY, 1))
    logins = fake.logins
    await broker.connect()  # the trader signs in again on purpose
    assert fake.logins == logins + 2
    assert (await broker.snapshot()).accounts


async def test_silence_stops_the_frame_clock_and_speaking_restarts_it(
    fake: FakeRithmic, broker: RithmicBroker, clock: ScaledClock
) -> None:
    start = broker.last_frame_at
    assert start is not None
    await until(lambda: broker.last_frame_at != start, what="a heartbeat reply")
    fake.go_silent()
    await until(
        lambda: clock.now() - broker.last_frame_at > broker.heartbeat_allowance,  # type: ignore[operator]
        timeout=5,
        what="the allowance to pass in silence",
    )
    quiet = broker.last_frame_at
    fake.speak()
    await until(lambda: broker.last_frame_at != quiet, what="heartbeat replies again")


async def test_a_dropped_socket_ends_the_stream_and_reconnect_logs_in_afresh(
    fake: FakeRithmic, broker: RithmicBroker
) -> None:
    stream = Stream(broker)
    logins = fake.logins
    fake.drop()
    await asyncio.wait_for(stream.task, 5)
    [event] = stream.of(LinkEvent)
    assert event.state is LinkState.DISCONNECTED
    with pytest.raises(BrokerError, match="not connected"):
        await broker.cancel_all(APEX1, [])
    # async-rithmic would reconnect by itself, forever; here its reconnect loop gives up at once.
    await until(lambda: not _running("reconnect_loop"), what="the library's reconnect loop to end")
    assert fake.logins == logins
    await broker.close()
    await broker.reconnect()
    assert fake.logins == logins + 2
    assert len(fake.sessions) == 2
    assert (await broker.snapshot()).accounts


async def test_close_is_idempotent_and_ends_the_stream(
    broker: RithmicBroker, fake: FakeRithmic
) -> None:
    stream = Stream(broker)
    await broker.close()
    await broker.close()
    await asyncio.wait_for(stream.task, 5)
    assert stream.events == []
    await until(lambda: not fake.sessions, what="both sockets closed")


async def test_a_refused_cancel_all_explains_the_missing_permission(
    fake: FakeRithmic, broker: RithmicBroker
) -> None:
    fake.refuse_next(346, "13", "permission denied")
    with pytest.raises(BrokerError) as refused:
        await broker.cancel_all(APEX1, [])
    assert not refused.value.retryable
    assert "cancel-all on APEX-1" in str(refused.value)
    assert "API access" in str(refused.value)
    await broker.cancel_all(APEX1, [])  # the next one is answered: the session is intact


async def test_requests_in_flight_fail_at_once_when_the_socket_drops(
    fake: FakeRithmic, broker: RithmicBroker
) -> None:
    fake.hold_replies(3504)  # the answer never comes
    exit_all = asyncio.ensure_future(broker.flatten(APEX1, []))
    await until(lambda: bool(fake.requests_of(3504)), what="the request to reach the gateway")
    fake.drop()
    # Far sooner than the 10 s request timeout: the drop itself fails the request.
    with pytest.raises(BrokerError, match=r"cut off: the \w+ plant.s connection closed"):
        await asyncio.wait_for(exit_all, 2)


async def test_an_account_rithmic_does_not_list_is_an_error_not_an_empty_read(
    fake: FakeRithmic, instruments: InstrumentBook, clock: ScaledClock
) -> None:
    fake.accounts.pop("APEX-2")
    adapter = make_broker(fake, instruments, clock)
    await adapter.connect()
    try:
        with pytest.raises(BrokerError, match="does not list account APEX-2") as missing:
            await adapter.snapshot([APEX2])
        assert not missing.value.retryable
        assert (await adapter.snapshot([APEX1])).accounts
    finally:
        await adapter.close()
