"""The runtime on the simulator: events → ledger → guard → journal → kill switch, links, locks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from notice_wait import notice_matching

from propdesk.brokers.base import AccountRef, LinkState, OrderRequest, OrderType
from propdesk.brokers.sim import SimBroker, SimExchange, front_month
from propdesk.domain.account import calendar_for
from propdesk.domain.events import Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import ActionType, GuardState
from propdesk.domain.instruments import Contract, InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime.accounts import AccountSetup, risk_for, setup_from_json
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.control import FlattenScope, UnknownScope
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal, rebuild
from propdesk.runtime.notices import (
    ActionTaken,
    FillBooked,
    FlattenFinished,
    LinkChanged,
    Notice,
    StateChanged,
)

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=CT)  # a Tuesday morning, market open
SPEED = 30.0


@dataclass
class Rig:
    runtime: Runtime
    exchange: SimExchange
    broker: SimBroker
    strategy: SimBroker  # the strategy's own session
    refs: list[AccountRef]
    es: Contract
    notices: list[Notice]
    journal: Journal

    async def until(self, predicate: Callable[[Notice], bool], timeout: float = 10.0) -> Notice:
        """Wait for a notice matching `predicate` (already seen ones count)."""
        return await notice_matching(self.runtime, self.notices, predicate, timeout)

    async def flat_at_broker(self, ref: AccountRef, timeout: float = 5.0) -> bool:
        """Poll the broker (a fresh read each time) until the account is flat, or time out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if (await self.broker.snapshot([ref])).is_flat(ref):
                return True
            await asyncio.sleep(0.01)
        return False

    def state(self, ref: AccountRef) -> GuardState:
        return self.runtime.accounts[str(ref)].risk.status.state


def setups(profiles: ProfileSet, refs: list[AccountRef], protocol: Protocol) -> list[AccountSetup]:
    ids = ["topstep-combine-50k", "tradeify-growth-50k", "apex-eod-50k"]
    return [
        AccountSetup(r, profiles.get(ids[i % 3]), protocol, cluster="c") for i, r in enumerate(refs)
    ]


@pytest.fixture
async def rig(
    tmp_path: Path,
    instruments: InstrumentBook,
    profiles: ProfileSet,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Rig]:
    protocol = getattr(request, "param", Protocol(connection_down_limit=None))
    clock = ScaledClock(OPEN, speed=SPEED)
    calendar = calendar_for(profiles.get("topstep-combine-50k"))
    exchange = SimExchange(instruments, calendar, clock, seed=3)
    refs = [exchange.open_account(f"A{i}", Decimal(50_000)) for i in range(3)]
    broker = SimBroker(exchange)
    strategy = SimBroker(exchange, name="strategy", accounts=refs)
    journal = Journal(tmp_path / "journal.sqlite")
    runtime = Runtime(
        [broker],
        setups(profiles, refs, protocol),
        clock=clock,
        journal=journal,
        instruments=instruments,
        reconnect_backoff=(0.5, 1.0),
    )
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    exchange.start()
    await strategy.connect()
    await runtime.start()
    es = front_month(instruments.instrument("ES"), OPEN)
    yield Rig(runtime, exchange, broker, strategy, refs, es, notices, journal)
    await runtime.stop()
    await strategy.close()
    await exchange.stop()
    journal.close()


async def buy(
    rig: Rig,
    ref: AccountRef,
    qty: int = 1,
    order_type: OrderType = OrderType.MARKET,
    price: Decimal | None = None,
) -> str:
    return await rig.strategy.place(
        ref, OrderRequest(rig.es, Side.BUY, qty, order_type, limit_price=price, tag="strategy")
    )


async def test_kill_all_verifies_flat_and_locks(rig: Rig) -> None:
    for ref in rig.refs:
        await buy(rig, ref, 2)
        await buy(rig, ref, 1, OrderType.LIMIT, rig.exchange.quote(rig.es).mark.bid - 20)  # type: ignore[union-attr]
    results = await rig.runtime.kill(FlattenScope(all=True), reason="FLATTEN ALL pressed")
    assert [r.flat for r in results] == [True, True, True]
    assert all(r.detail == "verified flat" for r in results)
    for ref in rig.refs:
        await rig.until(
            lambda n, k=str(ref): (
                isinstance(n, StateChanged) and n.account == k and n.new is GuardState.LOCKED
            )
        )
        snapshot = await rig.broker.snapshot([ref])
        assert snapshot.is_flat(ref)
        assert rig.state(ref) is GuardState.LOCKED
        assert rig.runtime.accounts[str(ref)].risk.status.lock_until is None, (
            "a manual kill needs a confirmed unlock"
        )
    again = await rig.runtime.kill(FlattenScope(all=True))
    assert all(r.flat for r in again), "pressing it twice is safe"


async def test_an_unknown_account_or_cluster_is_named_beside_the_known_ones(rig: Rig) -> None:
    known = ", ".join(str(r) for r in rig.refs)
    with pytest.raises(UnknownScope) as caught:
        await rig.runtime.kill(FlattenScope(accounts=(str(rig.refs[0]), "sim:NOPE")))
    assert str(caught.value) == f"no account sim:NOPE (known: {known})"
    # A cluster nobody is in is no "0 of 0 accounts flat": it is a typo, said as one.
    with pytest.raises(UnknownScope) as caught:
        await rig.runtime.kill(FlattenScope(cluster="nope"))
    assert str(caught.value) == "no cluster nope (known: c)"
    with pytest.raises(UnknownScope) as caught:
        rig.runtime.unlock("sim:NOPE", confirmed=True)
    assert str(caught.value) == f"no account sim:NOPE (known: {known})"
    # Refused whole: not even the known account of the first scope was killed.
    assert [rig.state(ref) for ref in rig.refs] == [GuardState.ACTIVE] * 3
    assert rig.runtime.accounts[str(rig.refs[0])].flattens == 0


async def test_a_kill_journals_every_account_in_one_commit_before_any_request_leaves(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    for ref in rig.refs:
        await buy(rig, ref, 1)
        await rig.until(lambda n, k=str(ref): isinstance(n, FillBooked) and n.account == k)
    commits = 0
    commit = rig.journal.commit

    def counted() -> int:
        nonlocal commits
        commits += 1
        return commit()

    monkeypatch.setattr(rig.journal, "commit", counted)
    # At each request: (commits so far, the last committed record, the last record written).
    seen: list[tuple[int, int, int]] = []
    for name in ("cancel_all", "flatten"):
        sent = getattr(rig.broker, name)

        async def request(*args: object, _sent=sent) -> None:  # type: ignore[no-untyped-def]
            seen.append((commits, rig.journal.committed_seq, rig.journal.last_seq()))
            await _sent(*args)

        monkeypatch.setattr(rig.broker, name, request)
    before = rig.journal.committed_seq
    results = await rig.runtime.kill(FlattenScope(all=True), reason="FLATTEN ALL pressed")
    assert all(r.flat for r in results)
    assert len(seen) == 2 * len(rig.refs), "a cancel-all and a close-all for every account"
    assert all(committed == written for _, committed, written in seen), (
        "nothing the kill wrote is uncommitted when a request leaves"
    )
    assert {n for n, _, _ in seen} == {1}, "one commit for all three accounts, before the first"
    kills = [
        r
        for r in rig.journal.records(after=before, kinds=("event",))
        if r.payload.get("type") == "kill"
    ]
    assert sorted(r.account for r in kills) == sorted(str(ref) for ref in rig.refs)
    assert max(r.seq for r in kills) <= seen[0][1], "every account's kill, in that one commit"


async def test_locked_account_undoes_whatever_the_strategy_does(rig: Rig) -> None:
    ref = rig.refs[0]
    await rig.runtime.kill(FlattenScope(accounts=(str(ref),)))
    await rig.until(lambda n: isinstance(n, StateChanged) and n.new is GuardState.LOCKED)
    seen = len(rig.notices)
    await buy(rig, ref, 1)  # a market order: it fills, then the lock closes the position at once
    closed = await rig.until(
        lambda n: isinstance(n, FlattenFinished) and rig.notices.index(n) >= seen, timeout=10
    )
    assert closed.flat
    seen = len(rig.notices)
    order_id = await buy(rig, ref, 1, OrderType.LIMIT, rig.exchange.quote(rig.es).mark.bid - 40)  # type: ignore[union-attr]
    cancel = await rig.until(
        lambda n: (
            isinstance(n, ActionTaken)
            and rig.notices.index(n) >= seen
            and n.action.type is ActionType.CANCEL_ORDERS
        )
    )
    assert "working order" in cancel.action.reason
    # The cancel request is in flight: read the broker until it has landed.
    assert await rig.flat_at_broker(ref), f"order {order_id} should be cancelled, the account flat"
    assert rig.state(ref) is GuardState.LOCKED


async def test_a_mark_through_the_floor_flattens_and_locks(rig: Rig) -> None:
    ref = rig.refs[0]  # Topstep 50K: daily limit 1,000, the user's stop at 750
    await buy(rig, ref, 2)
    filled = await rig.until(lambda n: isinstance(n, FillBooked) and n.account == str(ref))
    # The notices carry the account's figures at that instant (the chart's markers go there).
    start = rig.runtime.accounts[str(ref)].risk.ledger.day_start_balance
    assert filled.equity - start == filled.day_pnl
    assert -100 < filled.day_pnl <= 0, "a fresh buy costs at most its spread and fees"
    bid = rig.exchange.quote(rig.es).mark.bid  # type: ignore[union-attr]
    rig.exchange.move_price(rig.es, bid - 10)  # −10 points × 2 × $50 = −1,000
    changed = await rig.until(
        lambda n: (
            isinstance(n, StateChanged) and n.account == str(ref) and n.new is GuardState.FLATTENING
        )
    )
    assert "daily" in changed.reason
    assert changed.day_pnl <= -1000, "flattening at the mark that broke the daily limit"
    assert changed.equity - start == changed.day_pnl
    await rig.until(
        lambda n: (
            isinstance(n, StateChanged) and n.account == str(ref) and n.new is GuardState.LOCKED
        )
    )
    assert (await rig.broker.snapshot([ref])).is_flat(ref)


async def test_silence_is_a_dead_link_and_reconnect_rereads(rig: Rig) -> None:
    rig.broker.go_silent()
    silent = await rig.until(
        lambda n: isinstance(n, LinkChanged) and n.state is LinkState.SILENT, timeout=15
    )
    assert "no frame for" in silent.detail
    await rig.until(
        lambda n: isinstance(n, LinkChanged) and n.state is LinkState.CONNECTED, timeout=15
    )
    assert rig.runtime.supervisors["sim"].reconnects == 1


@pytest.mark.parametrize(
    "rig", [Protocol(connection_down_limit=timedelta(seconds=5))], indirect=True
)
async def test_down_longer_than_allowed_flattens_and_locks_on_reconnect(rig: Rig) -> None:
    ref = rig.refs[1]
    await buy(rig, ref, 1)
    await rig.until(lambda n: isinstance(n, FillBooked) and n.account == str(ref))
    rig.broker.go_silent()  # dead for the watchdog's allowance (7.5 clock-seconds here) > 5
    await rig.until(
        lambda n: isinstance(n, LinkChanged) and n.state is LinkState.SILENT, timeout=15
    )
    back = await rig.until(
        lambda n: isinstance(n, LinkChanged) and n.state is LinkState.CONNECTED, timeout=15
    )
    assert back.detail.startswith("reconnected after")
    locked = await rig.until(
        lambda n: (
            isinstance(n, StateChanged) and n.account == str(ref) and n.new is GuardState.LOCKED
        ),
        timeout=15,
    )
    assert "connection was down" in locked.reason
    assert "(allowed 5 s)" in locked.reason
    assert await rig.flat_at_broker(ref)
    assert rig.state(rig.refs[0]) is GuardState.LOCKED, (
        "every account of the link follows the policy"
    )


async def test_forced_logout_alarms_and_never_reconnects(rig: Rig) -> None:
    rig.broker.forced_logout()
    await rig.until(lambda n: isinstance(n, LinkChanged) and n.state is LinkState.FORCED_LOGOUT)
    supervisor = rig.runtime.supervisors["sim"]
    await asyncio.wait_for(rig.runtime._tasks[-1], 5)
    assert supervisor.terminal
    assert supervisor.reconnects == 0
    assert not any(
        isinstance(n, LinkChanged) and n.state is LinkState.CONNECTED for n in rig.notices
    )


async def test_journal_rebuilds_the_live_state(rig: Rig, instruments: InstrumentBook) -> None:
    for ref in rig.refs:
        await buy(rig, ref, 1)
    await rig.runtime.kill(FlattenScope(accounts=(str(rig.refs[0]),)))
    await rig.until(lambda n: isinstance(n, StateChanged) and n.new is GuardState.LOCKED)
    rig.runtime.tick(rig.runtime.clock.now())
    rig.journal.commit()
    rebuilt = rebuild(
        rig.journal.records(), lambda _r, c: risk_for(setup_from_json(c)), instruments
    )
    for key, account in rig.runtime.accounts.items():
        assert rebuilt.accounts[key].durable_state() == account.risk.durable_state(), key
    assert rebuilt.accounts[str(rig.refs[0])].status.state is GuardState.LOCKED


async def test_the_demo_strategy_keeps_trying_and_every_attempt_is_undone(
    tmp_path: Path, instruments: InstrumentBook, profiles: ProfileSet
) -> None:
    from propdesk.brokers.sim import build_demo

    clock = ScaledClock(OPEN, speed=120)
    calendar = calendar_for(profiles.get("topstep-combine-50k"))
    demo = build_demo(instruments, calendar, clock, seed=4, aggression=0.5, interval=5.0)
    journal = Journal(tmp_path / "j.sqlite")
    runtime = Runtime(
        [demo.broker],
        setups(profiles, list(demo.accounts), Protocol()),
        clock=clock,
        journal=journal,
        instruments=instruments,
    )
    enforced: list[ActionTaken] = []
    demo.exchange.start()
    await runtime.start()
    demo.strategy.start()
    try:
        results = await runtime.kill(FlattenScope(all=True), reason="FLATTEN ALL pressed")
        assert all(r.flat for r in results)
        placed_at_lock = demo.strategy.stats.placed
        runtime.notices.register(
            lambda n: enforced.append(n) if isinstance(n, ActionTaken) else None
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        # Wait (bounded) until the strategy has come back several times while locked.
        while demo.strategy.stats.placed < placed_at_lock + 4 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert demo.strategy.stats.placed >= placed_at_lock + 4, "the strategy keeps trying"
        for ref in demo.accounts:
            assert runtime.accounts[str(ref)].risk.status.state is GuardState.LOCKED
        kinds = {n.action.type for n in enforced}
        assert kinds & {ActionType.FLATTEN, ActionType.CANCEL_ORDERS}, "each attempt was undone"
        # What undid an attempt says why; alerts (a firm's hold-time or consistency warning on
        # the attempts' own trades) are not enforcement.
        undone = (ActionType.FLATTEN, ActionType.CANCEL_ORDERS)
        assert all("locked" in n.action.reason for n in enforced if n.action.type in undone)
        await demo.strategy.stop()  # no new attempts; whatever it left must be gone
        for ref in demo.accounts:
            deadline = loop.time() + 10
            while loop.time() < deadline:
                snap = await demo.broker.snapshot([ref])
                if snap.is_flat(ref) and not runtime.killswitch.in_progress(ref):
                    break
                await asyncio.sleep(0.02)
            assert snap.is_flat(ref), (
                f"{ref} holds {snap.positions_of(ref)} / {snap.orders_of(ref)}"
            )
    finally:
        await demo.strategy.stop()
        await runtime.stop()
        await demo.exchange.stop()
        journal.close()


async def test_working_orders_carry_their_roots_and_groups(
    rig: Rig, instruments: InstrumentBook
) -> None:
    ref = rig.refs[0]
    risk = rig.runtime.accounts[str(ref)].risk
    cl = front_month(instruments.instrument("CL"), OPEN)
    quote = rig.exchange.quote(cl)
    assert quote is not None
    assert quote.mark.bid is not None
    request = OrderRequest(
        cl, Side.BUY, 1, OrderType.LIMIT, limit_price=quote.mark.bid - 5, tag="strategy"
    )
    await rig.strategy.place(ref, request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while risk.working_orders == (0, 0) and loop.time() < deadline:
        await asyncio.sleep(0.01)  # the order reaches the runtime through the broker's feed
    assert risk.working_orders == (1, 1)
    assert risk.working_scope == (frozenset({"CL"}), frozenset({"energy"}))
    assert risk.groups == frozenset({"energy"}), "crude's hours apply to this account now"
    rig.journal.commit()
    rebuilt = rebuild(
        rig.journal.records(), lambda _r, c: risk_for(setup_from_json(c)), instruments
    )
    assert rebuilt.accounts[str(ref)].working_scope == risk.working_scope
