"""The Tradovate adapter under the real runtime (journal, guard, kill switch, supervisor)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fakes.tradovate import FakeTradovate
from notice_wait import notice_matching
from tradovate_helpers import ACCOUNTS, ES_PRICE, make_broker, until

from propdesk.brokers.base import AccountRef, LinkState
from propdesk.brokers.tradovate import TradovateBroker
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import FillBooked, FlattenFinished, LinkChanged, Notice, StateChanged

REFS = [AccountRef("tdv", name) for name in ACCOUNTS]


@dataclass
class Rig:
    runtime: Runtime
    broker: TradovateBroker
    fake: FakeTradovate
    notices: list[Notice]

    async def until(self, predicate: Callable[[Notice], bool], timeout: float = 10.0) -> Notice:
        """Wait for a notice matching `predicate` (already seen ones count)."""
        return await notice_matching(self.runtime, self.notices, predicate, timeout)

    def buy(
        self, account: str, qty: int, order_type: str = "Market", price: Decimal | None = None
    ) -> None:
        """The strategy trades from its own session: the venue pushes the result to propdesk."""
        contract = self.fake.contract_by_name("ESZ6")
        assert contract is not None
        self.fake.place(self.fake.account_by_name(account), "Buy", contract, qty, order_type, price)

    def flat_at_venue(self, account: str) -> bool:
        account_id = self.fake.account_by_name(account)
        held = [p for (a, _c), p in self.fake.positions.items() if a == account_id and p["netPos"]]
        return not held and not self.fake.working_orders(account_id)

    def state(self, ref: AccountRef) -> GuardState:
        return self.runtime.accounts[str(ref)].risk.status.state


@pytest.fixture
async def rig(
    tmp_path: Path,
    fake: FakeTradovate,
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
    rig = Rig(runtime, broker, fake, notices)
    rig.buy("DEMO1", 1)  # held before propdesk starts: the snapshot's fills catch the ledger up
    await runtime.start()
    yield rig
    await runtime.stop()
    journal.close()


def _state(ref: AccountRef, state: GuardState) -> Callable[[Notice], bool]:
    return lambda n: isinstance(n, StateChanged) and n.account == str(ref) and n.new is state


async def test_a_breach_on_live_marks_flattens_verifies_and_locks(rig: Rig) -> None:
    demo1 = REFS[0]
    ledger = rig.runtime.accounts[str(demo1)].risk.ledger
    assert {k: p.net for k, p in ledger.positions.items()} == {"ESZ26": 1}, "caught up at start"
    rig.buy("DEMO1", 1)
    booked = await rig.until(lambda n: isinstance(n, FillBooked) and n.account == str(demo1))
    assert booked.fill.price == ES_PRICE  # type: ignore[union-attr]
    rig.buy("DEMO1", 1, "Limit", ES_PRICE - 50)  # a resting order the flatten must cancel
    await until(lambda: len(rig.runtime.accounts[str(demo1)].orders) == 1, what="the working order")
    assert {k: p.net for k, p in ledger.positions.items()} == {"ESZ26": 2}
    rig.fake.move_price("ESZ6", ES_PRICE - 10)  # −10 points × 2 × $50 = −1,000: past the 750 stop
    changed = await rig.until(_state(demo1, GuardState.FLATTENING))
    assert "daily" in changed.reason  # type: ignore[union-attr]
    finished = await rig.until(lambda n: isinstance(n, FlattenFinished) and n.account == str(demo1))
    assert finished.flat
    assert finished.detail == "verified flat"
    await rig.until(_state(demo1, GuardState.LOCKED))
    assert rig.flat_at_venue("DEMO1")
    assert (await rig.broker.snapshot([demo1])).is_flat(demo1)
    assert all(body.get("isAutomated") is True for body in rig.fake.orders_sent())
    assert rig.state(REFS[1]) is GuardState.ACTIVE, "the other account is untouched"


@pytest.mark.parametrize(
    "rig", [Protocol(connection_down_limit=timedelta(seconds=5))], indirect=True
)
async def test_down_longer_than_allowed_flattens_and_locks_on_reconnect(rig: Rig) -> None:
    rig.fake.go_silent()  # dead for the 10 s allowance, more than the 5 s allowed
    silent = await rig.until(lambda n: isinstance(n, LinkChanged) and n.state is LinkState.SILENT)
    assert "no frame for" in silent.detail  # type: ignore[union-attr]
    back = await rig.until(
        lambda n: isinstance(n, LinkChanged) and n.state is LinkState.CONNECTED, timeout=15
    )
    assert back.detail.startswith("reconnected after")  # type: ignore[union-attr]
    locked = await rig.until(_state(REFS[0], GuardState.LOCKED), timeout=15)
    assert "connection was down" in locked.reason  # type: ignore[union-attr]
    await until(lambda: rig.flat_at_venue("DEMO1"), what="DEMO1 flat at the venue")
    assert rig.fake.logins == 1, "the reconnect reused the session"


async def test_forced_logout_alarms_and_never_reconnects(rig: Rig) -> None:
    rig.fake.kick_oldest()  # the strategy (or a browser) signed in: Tradovate closed our session
    lost = await rig.until(
        lambda n: isinstance(n, LinkChanged) and n.state is LinkState.FORCED_LOGOUT
    )
    assert "reconnect refused" in lost.detail  # type: ignore[union-attr]
    supervisor = rig.runtime.supervisors["tdv"]
    await asyncio.wait_for(rig.runtime._tasks[-1], 5)
    assert supervisor.terminal
    assert supervisor.reconnects == 0
    assert rig.fake.logins == 1, "propdesk never logs in again by itself"
    assert not any(
        isinstance(n, LinkChanged) and n.state is LinkState.CONNECTED for n in rig.notices
    )
