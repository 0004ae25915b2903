"""The adapter against the loopback fake: session, sync state, pushes, quotes, orders, flatten."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from fakes.tradovate import FakeTradovate
from tradovate_helpers import ES_PRICE, es_contract, make_broker, start_fake, until

from propdesk.brokers.base import (
    AccountFill,
    AccountRef,
    BrokerError,
    BrokerEvent,
    LinkEvent,
    LinkState,
    OrderRequest,
    OrderType,
    Quote,
    SessionLost,
)
from propdesk.brokers.tradovate import TradovateBroker, device_id
from propdesk.domain.events import Side
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import ScaledClock

DEMO1 = AccountRef("tdv", "DEMO1")


class Recorder:
    """Collects the broker's event stream in the background."""

    def __init__(self, broker: TradovateBroker) -> None:
        self.events: list[BrokerEvent] = []
        self._task = asyncio.get_running_loop().create_task(self._run(broker))

    async def _run(self, broker: TradovateBroker) -> None:
        async for event in broker.events():
            self.events.append(event)

    def of(self, kind: type) -> list[BrokerEvent]:
        return [e for e in self.events if isinstance(e, kind)]

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def broker(
    fake: FakeTradovate, instruments: InstrumentBook, clock: ScaledClock
) -> AsyncIterator[TradovateBroker]:
    adapter = make_broker(fake, instruments, clock)
    await adapter.connect()
    yield adapter
    await adapter.close()


async def test_login_once_with_app_version_device_id_and_the_secrets(
    fake: FakeTradovate, broker: TradovateBroker
) -> None:
    [login] = [body for _m, path, body in fake.requests if path == "auth/accesstokenrequest"]
    assert login["name"] == "trader"
    assert login["password"] == "secret"
    assert login["sec"] == "api-secret"
    assert login["cid"] == 8
    assert login["appId"] == "propdesk"
    assert login["appVersion"]
    assert login["deviceId"] == device_id("tdv", "trader"), "stable: derived, not random"
    assert device_id("tdv", "trader") != device_id("tdv", "other")
    await broker.reconnect()
    await broker.reconnect()
    assert fake.logins == 1, "a reconnect never logs in again"


async def test_snapshot_reads_positions_orders_fills_and_balances(
    fake: FakeTradovate, broker: TradovateBroker, instruments: InstrumentBook
) -> None:
    es = es_contract(instruments)
    account = fake.account_by_name("DEMO1")
    contract = fake.contract_by_name("ESZ6")
    assert contract is not None
    fake.place(account, "Buy", contract, 3)
    fake.place(account, "Sell", contract, 1, "Limit", ES_PRICE + 10)
    snapshot = await broker.snapshot()
    assert {a.ref.account_id for a in snapshot.accounts} == {"DEMO1", "DEMO2"}
    [position] = snapshot.positions_of(DEMO1)
    assert (position.contract, position.net, position.average_price) == (es, 3, ES_PRICE)
    [order] = snapshot.orders_of(DEMO1)
    assert (order.side, order.qty, order.type, order.limit_price) == (
        Side.SELL,
        1,
        OrderType.LIMIT,
        ES_PRICE + 10,
    )
    [fill] = [f for f in snapshot.fills if f.account == DEMO1]
    assert fill.fill.qty == 3
    assert fill.fill.price == ES_PRICE
    assert fill.fill.fill_id
    assert fill.fill.fee is None, "a Tradovate fill carries no fee (not a fee of 0)"
    assert snapshot.is_flat(AccountRef("tdv", "DEMO2"))


async def test_pushes_become_fills_orders_positions_and_quotes(
    fake: FakeTradovate, broker: TradovateBroker, instruments: InstrumentBook
) -> None:
    recorder = Recorder(broker)
    try:
        account = fake.account_by_name("DEMO1")
        contract = fake.contract_by_name("ESZ6")
        assert contract is not None
        fake.place(account, "Buy", contract, 2)
        await until(lambda: recorder.of(AccountFill), what="the fill push")
        [fill] = recorder.of(AccountFill)
        assert fill.account == DEMO1
        assert fill.fill.qty == 2
        assert fill.fill.fee is None
        # The adapter subscribed quotes for the contract it now holds.
        await until(lambda: recorder.of(Quote), what="a quote for the held contract")
        fake.move_price("ESZ6", ES_PRICE - 4)
        await until(
            lambda: any(q.mark.last == ES_PRICE - 4 for q in recorder.of(Quote)),  # type: ignore[union-attr]
            what="the moved quote",
        )
        quote = recorder.of(Quote)[-1]
        assert quote.mark.contract == es_contract(instruments)  # type: ignore[union-attr]
        assert quote.mark.bid == ES_PRICE - Decimal("4.25")  # type: ignore[union-attr]
    finally:
        await recorder.stop()


async def test_every_order_is_automated_and_rejects_are_errors(
    fake: FakeTradovate, broker: TradovateBroker, instruments: InstrumentBook
) -> None:
    es = es_contract(instruments)
    order_id = await broker.place(DEMO1, OrderRequest(es, Side.BUY, 1, tag="test"))
    assert order_id.isdigit()
    fake.reject_next(1, "risk says no")
    with pytest.raises(BrokerError, match="risk says no"):
        await broker.place(DEMO1, OrderRequest(es, Side.BUY, 1))
    await broker.close_position(DEMO1, es)
    await broker.flatten(DEMO1, [])
    sent = fake.orders_sent()
    assert len(sent) >= 3
    assert all(body.get("isAutomated") is True for body in sent)


async def test_flatten_liquidates_and_cancels_what_is_left(
    fake: FakeTradovate, broker: TradovateBroker
) -> None:
    account = fake.account_by_name("DEMO1")
    contract = fake.contract_by_name("ESZ6")
    assert contract is not None
    fake.place(account, "Buy", contract, 2)
    fake.place(account, "Buy", contract, 1, "Limit", ES_PRICE - 20)
    before = await broker.snapshot([DEMO1])
    await until(lambda: bool(broker._book.position_ids(DEMO1)), what="the position push")
    await asyncio.gather(
        broker.cancel_all(DEMO1, before.orders_of(DEMO1)),
        broker.flatten(DEMO1, before.positions_of(DEMO1)),
    )
    after = await broker.snapshot([DEMO1])
    assert after.is_flat(DEMO1)
    paths = [path for _m, path, _b in fake.requests]
    assert "order/liquidatepositions" in paths


async def test_partial_liquidation_leaves_a_position_the_next_round_closes(
    fake: FakeTradovate, broker: TradovateBroker
) -> None:
    account = fake.account_by_name("DEMO1")
    contract = fake.contract_by_name("ESZ6")
    assert contract is not None
    fake.place(account, "Buy", contract, 3)
    fake.partial_liquidations(1)
    snapshot = await broker.snapshot([DEMO1])
    await broker.flatten(DEMO1, snapshot.positions_of(DEMO1))
    snapshot = await broker.snapshot([DEMO1])
    assert [p.net for p in snapshot.positions_of(DEMO1)] == [2]
    fake.partial_liquidations(None)
    await broker.flatten(DEMO1, snapshot.positions_of(DEMO1))
    assert (await broker.snapshot([DEMO1])).is_flat(DEMO1)


async def test_rate_limit_and_revoked_token_are_told_apart(
    fake: FakeTradovate, broker: TradovateBroker
) -> None:
    fake.fail_next(429)
    with pytest.raises(BrokerError, match="429") as limited:
        await broker.snapshot()
    assert not isinstance(limited.value, SessionLost)
    fake.revoke()
    with pytest.raises(SessionLost):
        await broker.snapshot()
    with pytest.raises(SessionLost):
        await broker.reconnect()
    assert fake.logins == 1


async def test_a_penalty_ticket_is_waited_out_and_resent(
    fake: FakeTradovate, instruments: InstrumentBook, clock: ScaledClock
) -> None:
    fake.p_ticket_next(1, seconds=2.0)
    adapter = make_broker(fake, instruments, clock)
    try:
        await adapter.connect()
        logins = [b for _m, p, b in fake.requests if p == "auth/accesstokenrequest"]
        assert len(logins) == 2
        assert "p-ticket" in logins[1]
    finally:
        await adapter.close()


async def test_a_captcha_is_not_fought(
    fake: FakeTradovate, instruments: InstrumentBook, clock: ScaledClock
) -> None:
    fake.p_ticket_next(1, seconds=1.0, captcha=True)
    adapter = make_broker(fake, instruments, clock)
    try:
        with pytest.raises(BrokerError, match="captcha") as refused:
            await adapter.connect()
        assert not refused.value.retryable
    finally:
        await adapter.close()


async def test_the_token_is_renewed_before_expiry_never_logged_in_again(
    clock: ScaledClock, instruments: InstrumentBook
) -> None:
    fake = await start_fake(clock, instruments, token_lifetime=timedelta(seconds=15))
    adapter = make_broker(fake, instruments, clock)
    try:
        await adapter.connect()
        first = adapter.rest.token
        # Renewed a third of the lifetime before expiry: every ~10 clock seconds (1 s real).
        await until(lambda: fake.renewals >= 2, timeout=8, what="two renewals")
        assert fake.logins == 1
        assert adapter.rest.token != first
        assert adapter.rest.token is not None
        assert adapter.rest.token.expires > clock.now()
        await adapter.snapshot()  # the renewed token works
    finally:
        await adapter.close()
        await fake.stop()


async def test_the_heartbeat_keeps_the_link_and_silence_stops_frames(
    fake: FakeTradovate, broker: TradovateBroker, clock: ScaledClock
) -> None:
    sock = next(s for s in fake.sockets if s.kind == "user")
    await until(lambda: sock.received.count("[]") >= 2, what="two client heartbeats")
    first = broker.last_frame_at
    await until(lambda: broker.last_frame_at != first, what="a server heartbeat")
    fake.go_silent()
    silent_from = broker.last_frame_at
    assert silent_from is not None
    await until(lambda: clock.now() - silent_from > timedelta(seconds=6), what="time passing")
    assert broker.last_frame_at == silent_from, "no frame while the server is silent"


async def test_a_login_elsewhere_ends_the_stream_and_reconnect_is_refused(
    fake: FakeTradovate, broker: TradovateBroker
) -> None:
    recorder = Recorder(broker)
    login = {
        "name": "trader",
        "password": "secret",
        "appId": "strategy",
        "appVersion": "2",
        "cid": 9,
        "sec": "x",
        "deviceId": "other-device",
    }
    try:
        async with httpx.AsyncClient(base_url=f"{fake.url}/v1") as other:
            # Two sessions are allowed: the strategy's login leaves ours alone ...
            await other.post("/auth/accesstokenrequest", json=login)
            assert not recorder.of(LinkEvent)[1:]
            await broker.snapshot()
            # ... a third (a browser, say) closes the oldest: ours.
            await other.post("/auth/accesstokenrequest", json=login)
        await until(lambda: bool(recorder.of(LinkEvent)[1:]), what="the stream's end")
        end = recorder.of(LinkEvent)[-1]
        assert end.state is LinkState.DISCONNECTED  # type: ignore[union-attr]
        assert "another session" in end.detail  # type: ignore[union-attr]
        with pytest.raises(SessionLost):
            await broker.reconnect()
        assert fake.logins == 3, "propdesk logged in once"
    finally:
        await recorder.stop()


async def test_an_account_the_login_lacks_is_said_to_be_unwatched(
    fake: FakeTradovate,
    instruments: InstrumentBook,
    clock: ScaledClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = make_broker(fake, instruments, clock, accounts=("DEMO1", "DEMO9"))
    try:
        await adapter.connect()
        assert adapter.unknown_accounts == ["DEMO9"]
        assert "DEMO9 are not on this Tradovate login" in caplog.text
        snapshot = await adapter.snapshot()
        assert [a.ref.account_id for a in snapshot.accounts] == ["DEMO1"]
    finally:
        await adapter.close()


async def test_a_refused_renewal_ends_the_stream_as_token_revoked(
    clock: ScaledClock, instruments: InstrumentBook
) -> None:
    fake = await start_fake(clock, instruments, token_lifetime=timedelta(seconds=15))
    adapter = make_broker(fake, instruments, clock)
    try:
        await adapter.connect()
        recorder = Recorder(adapter)
        fake.revoke(drop=False)  # the sockets stay up: only the renewal can tell
        await until(
            lambda: any(e.state is LinkState.TOKEN_REVOKED for e in recorder.of(LinkEvent)),  # type: ignore[union-attr]
            timeout=5,
            what="the revoked renewal",
        )
        await recorder.stop()
        with pytest.raises(SessionLost):
            await adapter.reconnect()
        assert fake.logins == 1
    finally:
        await adapter.close()
        await fake.stop()
