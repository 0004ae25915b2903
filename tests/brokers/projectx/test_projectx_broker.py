"""The ProjectX adapter against the loopback gateway, without a runtime: wire behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest
from fakes.projectx import BUY, LIMIT, SELL, STOP, FakeProjectX
from projectx_helpers import ACCOUNT_ID, ACCOUNT_NAME, ES, OTHER_ID, condition, make_broker

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
from propdesk.brokers.projectx import ProjectXBroker
from propdesk.brokers.projectx.rest import RestClient
from propdesk.domain.events import Side
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import ScaledClock

REF = AccountRef("px", ACCOUNT_NAME)


class Stream:
    """Collects a broker's events in the background; `next_of` waits for one of a kind."""

    def __init__(self, broker: ProjectXBroker) -> None:
        self.events: list[BrokerEvent] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._pump(broker.events()))

    async def _pump(self, events: AsyncIterator[BrokerEvent]) -> None:
        async for event in events:
            self.events.append(event)
            self._arrived.set()

    async def next_of[E](
        self,
        kind: type[E],
        start: int = 0,
        timeout: float = 5.0,
        where: Callable[[E], bool] = lambda _event: True,
    ) -> E:
        async def find() -> E:
            while True:
                for event in self.events[start:]:
                    if isinstance(event, kind) and where(event):
                        return event
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(find(), timeout)

    async def ended(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture(params=[False, True], ids=["bare", "wrapped"])
def wrapped(request: pytest.FixtureRequest, fake: FakeProjectX) -> bool:
    fake.wrapped = request.param
    return bool(request.param)


async def test_snapshot_reads_positions_orders_and_todays_trades(
    fake: FakeProjectX, broker: ProjectXBroker
) -> None:
    fake.place(ACCOUNT_ID, ES, BUY, 2)
    fake.place(ACCOUNT_ID, ES, SELL, 1)
    fake.place(ACCOUNT_ID, ES, SELL, 1, LIMIT, limit_price=Decimal("6010.00"))
    fake.place(OTHER_ID, ES, BUY, 5)  # another account of the login: not watched
    await broker.connect()
    snapshot = await broker.snapshot()
    [account] = snapshot.accounts
    assert account.ref == REF
    assert account.name == ACCOUNT_NAME
    assert account.balance == fake.accounts[ACCOUNT_ID].balance
    [position] = snapshot.positions_of(REF)
    assert (position.contract.key, position.net, position.average_price) == (
        "ESZ26",
        1,
        Decimal("6000.25"),
    )
    [order] = snapshot.orders_of(REF)
    assert (order.side, order.type, order.limit_price) == (
        Side.SELL,
        OrderType.LIMIT,
        Decimal("6010"),
    )
    assert [f.fill.side for f in snapshot.fills] == [Side.BUY, Side.SELL]
    assert [f.fill.fee for f in snapshot.fills] == [Decimal("2.80"), Decimal("1.40")]
    assert {f.account for f in snapshot.fills} == {REF}


async def test_live_events_arrive_bare_or_wrapped(
    fake: FakeProjectX, broker: ProjectXBroker, wrapped: bool
) -> None:
    await broker.connect()
    stream = Stream(broker)
    try:
        connected = await stream.next_of(LinkEvent)
        assert connected.state is LinkState.CONNECTED
        await condition(lambda: ACCOUNT_ID in fake.subscribed_accounts())
        fake.place(ACCOUNT_ID, ES, BUY, 2)
        fill = await stream.next_of(AccountFill)
        assert (fill.account, fill.fill.qty, fill.fill.price) == (REF, 2, Decimal("6000.25"))
        assert fill.fill.fee == Decimal("2.80")
        assert fill.fill.ts == fake.trades[-1]["creationTimestamp"]
        position = await stream.next_of(PositionUpdate)
        assert position.position.net == 2
        balance = await stream.next_of(BalanceUpdate)
        assert balance.balance == Decimal(50_000) - Decimal("2.80")
        # Holding ES: the adapter asks the market hub for its quotes by itself.
        await condition(lambda: ES in fake.subscribed_quotes())
        fake.set_quote(ES, Decimal("5990.00"), Decimal("5990.25"))
        # The quote current at subscription time may arrive first: wait for the new one.
        quote = await stream.next_of(Quote, where=lambda q: q.mark.bid != Decimal("6000.00"))
        assert (quote.mark.bid, quote.mark.ask) == (Decimal("5990.00"), Decimal("5990.25"))
        start = len(stream.events)
        fake.place(ACCOUNT_ID, ES, SELL, 1, STOP, stop_price=Decimal("5980"))
        update = await stream.next_of(OrderUpdate, start)
        assert update.status is OrderStatus.WORKING
        assert update.order.stop_price == Decimal("5980")
        assert update.order.type is OrderType.STOP
    finally:
        await stream.stop()


async def test_place_cancel_close_and_rejects(fake: FakeProjectX, broker: ProjectXBroker) -> None:
    await broker.connect()
    contract = broker._contract(ES)
    order_id = await broker.place(
        REF, OrderRequest(contract, Side.BUY, 1, OrderType.LIMIT, limit_price=Decimal("5900.50"))
    )
    assert fake.orders[int(order_id)].limit_price == Decimal("5900.5")
    await broker.cancel(REF, order_id)
    assert fake.orders[int(order_id)].status == 3
    with pytest.raises(BrokerError, match="not open") as cancelled_twice:
        await broker.cancel(REF, order_id)
    assert not cancelled_twice.value.retryable
    fake.reject_next(1, "Insufficient margin")
    with pytest.raises(BrokerError, match="Insufficient margin"):
        await broker.place(REF, OrderRequest(contract, Side.BUY, 1))
    await broker.place(REF, OrderRequest(contract, Side.BUY, 3))
    await broker.close_position(REF, contract)
    assert fake.position(ACCOUNT_ID, ES) == 0


async def test_rate_limited_requests_back_off_and_retry(
    fake: FakeProjectX, broker: ProjectXBroker
) -> None:
    await broker.connect()
    fake.throttle(2, retry_after=0.01)
    snapshot = await broker.snapshot([REF])
    assert snapshot.accounts
    assert broker.rest.throttled == 2
    fake.throttle(100, retry_after=0.0)
    with pytest.raises(BrokerError, match="429") as limited:
        await broker.snapshot([REF])
    assert limited.value.retryable


async def test_token_is_renewed_with_validate_never_a_new_login(
    fake: FakeProjectX, clock: ScaledClock, instruments: InstrumentBook
) -> None:
    broker = make_broker(fake, clock, instruments, renew_every=0.05)
    try:
        await broker.connect()
        first = broker.rest.token
        await condition(lambda: sum(1 for p, _ in fake.requests if p == "Auth/validate") >= 2)
        assert broker.rest.token != first
        await broker.reconnect()  # the hubs open with the renewed token
        assert broker.connected
        assert fake.logins == 1
    finally:
        await broker.close()


async def test_frequent_reconnects_do_not_postpone_renewal(
    fake: FakeProjectX, clock: ScaledClock, instruments: InstrumentBook
) -> None:
    broker = make_broker(fake, clock, instruments, renew_every=0.3)
    loop = asyncio.get_running_loop()
    try:
        await broker.connect()
        deadline = loop.time() + 5.0
        # A link that flaps faster than the renewal period: each cycle restarts the renewer.
        while not any(path == "Auth/validate" for path, _ in fake.requests):
            assert loop.time() < deadline, "the token was never renewed"
            await broker.close()
            await broker.reconnect()
        assert fake.logins == 1
    finally:
        await broker.close()


async def test_a_drop_ends_the_stream_and_reconnect_resubscribes(
    fake: FakeProjectX, broker: ProjectXBroker
) -> None:
    await broker.connect()
    await broker.subscribe([broker._contract(ES)])
    stream = Stream(broker)
    await condition(lambda: ES in fake.subscribed_quotes())
    fake.drop_connections()
    await stream.ended()
    assert stream.events[-1].state is LinkState.DISCONNECTED  # type: ignore[union-attr]
    await broker.close()
    await broker.reconnect()
    await condition(
        lambda: ES in fake.subscribed_quotes() and ACCOUNT_ID in fake.subscribed_accounts()
    )
    assert fake.logins == 1


async def test_a_type7_close_is_a_disconnect(fake: FakeProjectX, broker: ProjectXBroker) -> None:
    await broker.connect()
    stream = Stream(broker)
    await condition(lambda: ACCOUNT_ID in fake.subscribed_accounts())
    fake.close_hubs("Server is shutting down")
    await stream.ended()
    last = stream.events[-1]
    assert isinstance(last, LinkEvent)
    assert last.state is LinkState.DISCONNECTED
    assert "shutting down" in last.detail


async def test_gateway_logout_is_terminal(fake: FakeProjectX, broker: ProjectXBroker) -> None:
    fake.kick_on_login = True
    await broker.connect()
    stream = Stream(broker)
    await condition(lambda: ACCOUNT_ID in fake.subscribed_accounts())
    other = RestClient(fake.url)
    try:
        await other.login_key(fake.username, fake.api_key)  # the strategy signs in elsewhere
    finally:
        await other.aclose()
    await stream.ended()
    last = stream.events[-1]
    assert isinstance(last, LinkEvent)
    assert last.state is LinkState.FORCED_LOGOUT
    with pytest.raises(SessionLost):
        await broker.reconnect()
    with pytest.raises(SessionLost):
        await broker.snapshot()
    assert fake.logins == 2, "propdesk never signs in again by itself"


async def test_revoked_token_refuses_the_hubs(fake: FakeProjectX, broker: ProjectXBroker) -> None:
    await broker.connect()
    stream = Stream(broker)
    fake.revoke_tokens()
    await stream.ended()
    await broker.close()
    with pytest.raises(SessionLost, match="401"):
        await broker.reconnect()
    events = [e async for e in broker.events()]
    assert [e.state for e in events] == [LinkState.TOKEN_REVOKED]  # type: ignore[union-attr]


async def test_wrong_api_key_is_refused_and_not_retryable(
    fake: FakeProjectX, clock: ScaledClock, instruments: InstrumentBook
) -> None:
    broker = make_broker(fake, clock, instruments)
    fake.api_key = "a key the trader has since rotated"
    with pytest.raises(BrokerError, match="login refused") as refused:
        await broker.connect()
    assert not refused.value.retryable
    await broker.close()


async def test_unknown_account_is_named(
    fake: FakeProjectX, clock: ScaledClock, instruments: InstrumentBook
) -> None:
    del fake.accounts[ACCOUNT_ID]
    broker = make_broker(fake, clock, instruments)
    with pytest.raises(BrokerError, match=f"{ACCOUNT_NAME} are not on this login"):
        await broker.connect()
    await broker.close()


async def test_the_fake_offers_negotiation_and_ping_like_the_gateway(fake: FakeProjectX) -> None:
    async with httpx.AsyncClient() as http:
        base = fake.url.removesuffix("/api")
        negotiated = (await http.post(f"{base}/hubs/user/negotiate?negotiateVersion=1")).json()
        assert negotiated["availableTransports"][0]["transport"] == "WebSockets"
        assert (await http.get(f"{fake.url}/Status/ping")).json() == "pong"
        assert (await http.post(f"{fake.url}/Account/search", json={})).status_code == 401
