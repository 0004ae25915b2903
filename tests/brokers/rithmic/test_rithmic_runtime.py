"""The Rithmic adapter under the real runtime (journal, guard, kill switch, supervisor)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fakes.rithmic import BUY, LIMIT, MARKET, FakeRithmic
from notice_wait import notice_matching
from rithmic_helpers import ACCOUNTS, ES_PRICE, es_symbol, make_broker, until

from propdesk.brokers.base import AccountRef, LinkState
from propdesk.brokers.rithmic import RithmicBroker
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import FillBooked, FlattenFinished, LinkChanged, Notice, StateChanged

REFS = [AccountRef("rith", name) for name in ACCOUNTS]


@dataclass
class Rig:
    runtime: Runtime
    broker: RithmicBroker
    fake: FakeRithmic
    symbol: str
    notices: list[Notice]

    async def until(self, predicate: Callable[[Notice], bool], timeout: float = 10.0) -> Notice:
        """Wait for a notice matching `predicate` (already seen ones count)."""
        return await notice_matching(self.runtime, self.notices, predicate, timeout)

    def buy(self, account: str, qty: int, price: Decimal | None = None) -> str:
        """The strategy trades from its own session: the gateway pushes the result to propdesk."""
        kind = MARKET if price is None else LIMIT
        return self.fake.place(account, BUY, self.symbol, qty, kind, price)

    def state(self, ref: AccountRef) -> GuardState:
        return self.runtime.accounts[str(ref)].risk.status.state


@pytest.fixture
async def rig(
    tmp_path: Path,
    fake: FakeRithmic,
    clock: ScaledClock,
    instruments: InstrumentBook,
    profiles: ProfileSet,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Rig]:
    protocol = getattr(request, "param", Protocol(connection_down_limit=None))
    profile = profiles.get("topstep-combine-50k")
    broker = make_broker(fake, instruments, clock)
    journal = Journal(tmp_path / "journal.sqlite")
    runtime = Runtime(
        [broker],
        [AccountSetup(ref, profile, protocol) for ref in REFS],
        clock=clock,
        journal=journal,
        instruments=instruments,
        reconnect_backoff=(0.5, 1.0),
    )
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    rig = Rig(runtime, broker, fake, es_symbol(instruments), notices)
    rig.buy("APEX-1", 1)  # held before propdesk starts: the snapshot's fills catch the ledger up
    await runtime.start()
    yield rig
    await runtime.stop()
    journal.close()


def _library_tasks() -> list[str]:
    names = {"recv_loop", "process_loop", "heartbeat_loop", "reconnect_loop"}
    return [t.get_name() for t in asyncio.all_tasks() if t.get_name() in names and not t.done()]


def _state(ref: AccountRef, state: GuardState) -> Callable[[Notice], bool]:
    return lambda n: isinstance(n, StateChanged) and n.account == str(ref) and n.new is state


def _link(state: LinkState) -> Callable[[Notice], bool]:
    return lambda n: isinstance(n, LinkChanged) and n.state is state


async def test_a_breach_on_live_pnl_flattens_natively_verifies_and_locks(rig: Rig) -> None:
    apex1 = REFS[0]
    account = rig.runtime.accounts[str(apex1)]
    ledger = account.risk.ledger
    assert {k: p.net for k, p in ledger.positions.items()} == {"ESZ26": 1}, "caught up at start"
    assert account.broker_balance == Decimal(50_000)
    rig.buy("APEX-1", 1)
    booked = await rig.until(lambda n: isinstance(n, FillBooked) and n.account == str(apex1))
    assert booked.fill.price == ES_PRICE  # type: ignore[union-attr]
    rig.buy("APEX-1", 1, ES_PRICE - 50)  # a resting order the flatten must cancel
    await until(lambda: len(account.orders) == 1, what="the working order")
    assert {k: p.net for k, p in ledger.positions.items()} == {"ESZ26": 2}
    # −10 points × 2 × $50 = −1,000 of open P&L, past the 750 stop: the P&L plant says so.
    rig.fake.move_price(rig.symbol, ES_PRICE - 10)
    changed = await rig.until(_state(apex1, GuardState.FLATTENING))
    assert "daily" in changed.reason  # type: ignore[union-attr]
    finished = await rig.until(lambda n: isinstance(n, FlattenFinished) and n.account == str(apex1))
    assert finished.flat, finished
    assert finished.detail == "verified flat"
    await rig.until(_state(apex1, GuardState.LOCKED))
    assert rig.fake.is_flat("APEX-1")
    assert (await rig.broker.snapshot([apex1])).is_flat(apex1)
    assert [m.account_id for m in rig.fake.requests_of(346)][:1] == ["APEX-1"], "native cancel-all"
    exits = rig.fake.requests_of(3504)
    assert exits, "native exit-position"
    assert exits[0].account_id == "APEX-1"
    assert not exits[0].symbol, "no symbol: exit every position of the account"
    assert all(m.manual_or_auto == 2 for m in exits), "flagged as automated"
    assert account.broker_balance == Decimal(49_000), "the realized loss reached the balance"
    assert rig.state(REFS[1]) is GuardState.ACTIVE, "the other account is untouched"


async def test_partial_exits_and_a_rejected_exit_are_retried_until_flat(rig: Rig) -> None:
    apex1 = REFS[0]
    rig.buy("APEX-1", 2)
    await until(
        lambda: rig.runtime.accounts[str(apex1)].risk.ledger.positions["ESZ26"].net == 3,
        what="3 held",
    )
    rig.fake.reject_next(1, "exchange closed for this product")
    rig.fake.partial_exits(1)  # each exit fills one contract, the rest is cancelled
    rig.fake.move_price(rig.symbol, ES_PRICE - 7)  # −7 × 3 × $50 = −1,050
    finished = await rig.until(
        lambda n: isinstance(n, FlattenFinished) and n.account == str(apex1), timeout=15
    )
    assert finished.flat, finished
    assert finished.attempts >= 4  # type: ignore[union-attr]
    assert rig.fake.is_flat("APEX-1")
    assert len(rig.fake.requests_of(3504)) >= 4, "one rejected exit, then three partial ones"


@pytest.mark.parametrize(
    "rig", [Protocol(connection_down_limit=timedelta(seconds=5))], indirect=True
)
async def test_down_longer_than_allowed_flattens_and_locks_on_reconnect(rig: Rig) -> None:
    logins = rig.fake.logins
    rig.fake.go_silent()  # sockets open, nothing arrives: only propdesk's watchdog can tell
    silent = await rig.until(_link(LinkState.SILENT))
    assert "no frame for" in silent.detail  # type: ignore[union-attr]
    back = await rig.until(_link(LinkState.CONNECTED), timeout=15)
    assert back.detail.startswith("reconnected after")  # type: ignore[union-attr]
    locked = await rig.until(_state(REFS[0], GuardState.LOCKED), timeout=15)
    assert "connection was down" in locked.reason  # type: ignore[union-attr]
    await until(lambda: rig.fake.is_flat("APEX-1"), what="APEX-1 flat at the gateway")
    assert rig.fake.logins == logins + 2, "one new login per plant, by propdesk's supervisor"


async def test_an_abrupt_drop_reconnects_without_the_library_reconnecting(rig: Rig) -> None:
    logins = rig.fake.logins
    rig.fake.drop()
    down = await rig.until(_link(LinkState.DISCONNECTED))
    assert "connection closed" in down.detail  # type: ignore[union-attr]
    await rig.until(_link(LinkState.CONNECTED), timeout=15)
    assert rig.fake.logins == logins + 2, "only the supervisor logged in again, once per plant"
    rig.buy("APEX-2", 1)
    await rig.until(lambda n: isinstance(n, FillBooked) and n.account == str(REFS[1]))


async def test_forced_logout_alarms_and_never_reconnects(rig: Rig) -> None:
    logins = rig.fake.logins
    rig.fake.forced_logout()  # another login took the user's sessions
    lost = await rig.until(_link(LinkState.FORCED_LOGOUT))
    assert "ForcedLogout" in lost.detail  # type: ignore[union-attr]
    supervisor = rig.runtime.supervisors["rith"]
    await asyncio.wait_for(rig.runtime._tasks[-1], 5)
    assert supervisor.terminal
    assert supervisor.reconnects == 0
    # The library's own reconnect loop (on by default, 10 s then more) must not be left running.
    await until(lambda: not _library_tasks(), what="async-rithmic's tasks to end")
    await until(lambda: not rig.fake.sessions, what="every socket closed")
    assert not rig.broker.wire.is_open
    assert rig.fake.logins == logins, "nobody logged in again"
    assert not any(
        isinstance(n, LinkChanged) and n.state is LinkState.CONNECTED for n in rig.notices
    )


async def test_a_second_login_takes_the_session_and_propdesk_does_not_fight_back(
    rig: Rig, instruments: InstrumentBook
) -> None:
    rig.fake.max_sessions = 1
    strategy = make_broker(rig.fake, instruments, rig.runtime.clock, name="strategy")
    await strategy.connect()  # the strategy signs in with the same user: Rithmic kicks propdesk
    try:
        lost = await rig.until(_link(LinkState.FORCED_LOGOUT))
        assert "another login" in lost.detail  # type: ignore[union-attr]
        await asyncio.wait_for(rig.runtime._tasks[-1], 5)
        assert rig.runtime.supervisors["rith"].terminal
        await until(lambda: len(rig.fake.sessions) == 2, what="only the strategy's two sessions")
        assert strategy.wire.is_open, "the strategy keeps its session"
        assert (await strategy.snapshot()).accounts
    finally:
        await strategy.close()
