"""A runtime the chart and header tests drive by hand: real profiles and risk, no venue, no loop.

Time moves only when the test says so (`desk.at(...)`); events go straight into an account's risk
engine, and the notices the engine would send are emitted the way it sends them (after the ledger
booked the event), so every number on screen is known in advance.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from PySide6.QtWidgets import QApplication

from propdesk.app import demo_setups
from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.guard import GuardState
from propdesk.domain.news import NewsEvent
from propdesk.resources import load_instruments, load_profiles
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import FillBooked, StateChanged
from propdesk.ui.bridge import Bridge, Frame

CT = ZoneInfo("America/Chicago")
DAY = (2026, 11, 16)  # a Monday with a full CME session


def ct(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(*DAY, hour, minute, second, tzinfo=CT)


class ManualClock:
    speed = 1.0

    def __init__(self, start: datetime) -> None:
        self.t = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - nothing sleeps here
        raise AssertionError("the desk's clock never sleeps")


@dataclass
class Desk:
    runtime: Runtime
    clock: ManualClock
    bridge: Bridge
    journal: Journal

    def at(self, when: datetime) -> Frame:
        """Move the clock to `when` and run one frame."""
        self.clock.t = when.astimezone(UTC)
        return self.bridge.tick()

    def fill(self, key: str, when: datetime, side: str, qty: int, price: str) -> Fill:
        contract = self.runtime.instruments.parse("ESZ6")
        fill = Fill(when, contract, Side(side), qty, Decimal(price))
        self._step(key, fill, when)
        ledger = self.runtime.accounts[key].risk.ledger
        self.runtime.notices.emit(FillBooked(when, key, fill, ledger.equity, ledger.day_pnl))
        return fill

    def mark(self, key: str, when: datetime, bid: str) -> None:
        contract = self.runtime.instruments.parse("ESZ6")
        self._step(key, Mark(when, contract, Decimal(bid), Decimal(bid) + Decimal("0.25")), when)

    def _step(self, key: str, event: Fill | Mark, when: datetime) -> None:
        account = self.runtime.accounts[key]
        before = account.risk.status.state
        account.risk.process(event)
        after: GuardState = account.risk.status.state
        if after is not before:
            reason, ledger = account.risk.status.reason, account.risk.ledger
            self.runtime.notices.emit(
                StateChanged(when, key, before, after, reason, ledger.equity, ledger.day_pnl)
            )

    def deliver(self) -> None:
        """Run the queued notices (the bridge's connection is queued, as with the real runtime)."""
        QApplication.processEvents()


def build_desk(
    tmp_path: Path, *, start: datetime, news: tuple[NewsEvent, ...] = ()
) -> Iterator[Desk]:
    """The demo's three accounts (Topstep, Apex, Tradeify) at their starting balances."""
    setups: list[AccountSetup] = demo_setups(load_profiles(), news)
    clock = ManualClock(start)
    journal = Journal(tmp_path / "desk.sqlite")
    broker = types.SimpleNamespace(name="sim")
    runtime = Runtime(
        [broker],  # type: ignore[list-item]  # restore() never calls the broker
        setups,
        clock=clock,
        journal=journal,
        instruments=load_instruments(),
    )
    runtime.restore()
    bridge = Bridge(runtime)
    try:
        yield Desk(runtime, clock, bridge, journal)
    finally:
        bridge.stop()
        bridge.deleteLater()
        journal.close()
