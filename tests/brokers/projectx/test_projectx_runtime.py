"""A real Runtime (temp journal) on the ProjectX adapter and the loopback gateway: the whole path."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from fakes.projectx import BUY, SELL, STOP
from projectx_helpers import ACCOUNT_ID, DOWN_LIMIT, ES, Rig, condition

from propdesk.brokers.base import LinkState
from propdesk.brokers.projectx.rest import RestClient
from propdesk.domain.guard import GuardState
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.notices import (
    Alert,
    FillBooked,
    FlattenFinished,
    Level,
    LinkChanged,
    StateChanged,
)

POINT = Decimal(50)  # ES: $50 a point


def is_state(rig: Rig, state: GuardState) -> bool:
    return rig.state() is state


async def test_live_fills_and_quotes_reach_the_ledger(rig: Rig) -> None:
    await condition(lambda: ACCOUNT_ID in rig.fake.subscribed_accounts())
    rig.fake.place(ACCOUNT_ID, ES, BUY, 2)
    booked = await rig.until(lambda n: isinstance(n, FillBooked))
    assert booked.account == rig.key  # type: ignore[union-attr]
    account = rig.runtime.accounts[rig.key]
    assert {k: p.net for k, p in account.risk.ledger.positions.items()} == {"ESZ26": 2}
    await condition(lambda: account.broker_balance == rig.fake.accounts[ACCOUNT_ID].balance)
    # Open P&L from the market hub: the long is marked at the bid.
    await condition(lambda: ES in rig.fake.subscribed_quotes())
    rig.fake.set_quote(ES, Decimal("5996.00"), Decimal("5996.25"))
    expected = (
        Decimal(50_000) - Decimal("2.80") + (Decimal("5996.00") - Decimal("6000.25")) * 2 * POINT
    )
    await condition(lambda: account.risk.view().equity == expected)
    # Realized P&L from the closing trade, fees included.
    rig.fake.place(ACCOUNT_ID, ES, SELL, 2)
    await condition(lambda: not account.risk.ledger.positions)
    realized = (Decimal("5996.00") - Decimal("6000.25")) * 2 * POINT - Decimal("5.60")
    assert account.risk.view().balance == Decimal(50_000) + realized
    assert rig.fake.accounts[ACCOUNT_ID].balance == Decimal(50_000) + realized, "the gateway agrees"


async def test_a_guard_breach_cancels_then_closes_and_verifies_flat(rig: Rig) -> None:
    await condition(lambda: ACCOUNT_ID in rig.fake.subscribed_accounts())
    rig.fake.place(ACCOUNT_ID, ES, SELL, 2, STOP, stop_price=Decimal("5900"))  # a resting bracket
    rig.fake.place(ACCOUNT_ID, ES, BUY, 2)
    await rig.until(lambda n: isinstance(n, FillBooked))
    await condition(lambda: len(rig.runtime.accounts[rig.key].orders) == 1)
    rig.fake.set_quote(ES, Decimal("5990.00"), Decimal("5990.25"))  # −10.25 × 2 × $50 < −750
    flattening = await rig.until(
        lambda n: isinstance(n, StateChanged) and n.new is GuardState.FLATTENING
    )
    assert "daily" in flattening.reason  # type: ignore[union-attr]
    finished = await rig.until(lambda n: isinstance(n, FlattenFinished))
    assert finished.flat  # type: ignore[union-attr]
    await rig.until(lambda n: isinstance(n, StateChanged) and n.new is GuardState.LOCKED)
    assert rig.fake.position(ACCOUNT_ID, ES) == 0
    assert not rig.fake.working_orders(ACCOUNT_ID)
    paths = [path for path, _ in rig.fake.requests]
    assert paths.index("Order/cancel") < paths.index("Position/closeContract"), (
        "a resting bracket is cancelled before its position is closed"
    )


async def test_partial_fills_during_a_flatten_are_closed_until_flat(rig: Rig) -> None:
    rig.fake.partial_closes = True  # each close fills one contract only
    rig.fake.place(ACCOUNT_ID, ES, BUY, 3)
    await rig.until(lambda n: isinstance(n, FillBooked))
    await condition(lambda: rig.runtime.accounts[rig.key].positions.get("ESZ26") is not None)
    [result] = await rig.runtime.kill(FlattenScope(accounts=(rig.key,)), reason="test")
    assert result.flat, result
    assert result.attempts >= 3, "one contract closed per attempt, the re-read sees the rest"
    assert rig.fake.position(ACCOUNT_ID, ES) == 0
    closes = [path for path, _ in rig.fake.requests if path == "Position/closeContract"]
    assert len(closes) == result.attempts


async def test_a_flatten_verifies_with_two_reads_an_attempt_not_the_whole_snapshot(
    rig: Rig,
) -> None:
    """200 requests a minute: verifying a kill of 20 accounts must not spend 4 reads on each."""
    rig.fake.partial_closes = True
    rig.fake.place(ACCOUNT_ID, ES, BUY, 2)
    await rig.until(lambda n: isinstance(n, FillBooked))
    await condition(lambda: rig.runtime.accounts[rig.key].positions.get("ESZ26") is not None)
    before = len(rig.fake.requests)
    [result] = await rig.runtime.kill(FlattenScope(accounts=(rig.key,)), reason="test")
    assert result.flat, result
    during = [path for path, _ in rig.fake.requests[before:]]
    assert during.count("Position/searchOpen") == result.attempts
    assert during.count("Order/searchOpen") == result.attempts
    assert "Account/search" not in during
    assert "Trade/search" not in during


@pytest.mark.parametrize("protocol", [DOWN_LIMIT])
async def test_down_longer_than_allowed_flattens_and_locks_on_reconnect(rig: Rig) -> None:
    await condition(lambda: ACCOUNT_ID in rig.fake.subscribed_accounts())
    rig.fake.place(ACCOUNT_ID, ES, BUY, 1)
    await rig.until(lambda n: isinstance(n, FillBooked))
    await condition(lambda: ES in rig.fake.subscribed_quotes())
    rig.fake.go_silent()  # a half-open link: no frame, not even a ping
    await rig.until(lambda n: isinstance(n, LinkChanged) and n.state is LinkState.SILENT)
    back = await rig.until(lambda n: isinstance(n, LinkChanged) and n.state is LinkState.CONNECTED)
    assert back.detail.startswith("reconnected after")  # type: ignore[union-attr]
    locked = await rig.until(lambda n: isinstance(n, StateChanged) and n.new is GuardState.LOCKED)
    assert "connection was down" in locked.reason  # type: ignore[union-attr]
    await condition(lambda: rig.fake.position(ACCOUNT_ID, ES) == 0)
    # The same session: subscriptions re-made on the new hubs, no second login.
    assert rig.fake.logins == 1
    assert ACCOUNT_ID in rig.fake.subscribed_accounts()
    assert ES in rig.fake.subscribed_quotes()


async def test_fills_missed_while_the_link_was_down_are_caught_up(rig: Rig) -> None:
    await condition(lambda: ACCOUNT_ID in rig.fake.subscribed_accounts())
    rig.fake.go_silent()
    rig.fake.place(ACCOUNT_ID, ES, BUY, 1)  # lost on the silent hub
    missed = str(rig.fake.trades[-1]["id"])
    rig.fake.drop_connections()
    await rig.until(lambda n: isinstance(n, LinkChanged) and n.state is LinkState.DISCONNECTED)
    booked = await rig.until(lambda n: isinstance(n, FillBooked))
    assert booked.fill.fill_id == missed  # type: ignore[union-attr]
    await condition(lambda: rig.runtime.supervisors["px"].state is LinkState.CONNECTED)
    assert rig.runtime.accounts[rig.key].risk.ledger.positions["ESZ26"].net == 1


async def test_gateway_logout_alarms_and_never_reconnects(rig: Rig) -> None:
    rig.fake.kick_on_login = True
    await condition(lambda: ACCOUNT_ID in rig.fake.subscribed_accounts())
    strategy = RestClient(rig.fake.url)
    try:
        await strategy.login_key(rig.fake.username, rig.fake.api_key)
    finally:
        await strategy.aclose()
    await rig.until(lambda n: isinstance(n, LinkChanged) and n.state is LinkState.FORCED_LOGOUT)
    alarm = await rig.until(lambda n: isinstance(n, Alert) and n.level is Level.CRITICAL)
    assert "GatewayLogout" in alarm.text  # type: ignore[union-attr]
    supervisor = rig.runtime.supervisors["px"]
    supervise = next(t for t in rig.runtime._tasks if t.get_name() == "supervise px")
    await asyncio.wait_for(supervise, 5)
    assert supervisor.terminal
    assert supervisor.reconnects == 0
    assert rig.fake.logins == 2, "only the strategy's login: propdesk does not fight for it"


async def test_a_revoked_token_stops_at_the_first_refused_reconnect(rig: Rig) -> None:
    await condition(lambda: ACCOUNT_ID in rig.fake.subscribed_accounts())
    rig.fake.revoke_tokens()
    refused = await rig.until(
        lambda n: isinstance(n, LinkChanged) and n.state is LinkState.FORCED_LOGOUT
    )
    assert "401" in refused.detail  # type: ignore[union-attr]
    supervise = next(t for t in rig.runtime._tasks if t.get_name() == "supervise px")
    await asyncio.wait_for(supervise, 5)
    assert rig.runtime.supervisors["px"].reconnects == 0
    assert rig.fake.logins == 1
