"""Helpers for the simulator's tests: fixed instants, a hand-driven clock, an event recorder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from propdesk.brokers.base import AccountFill, AccountRef, BrokerEvent, OrderUpdate, Quote
from propdesk.brokers.sim import SimBroker
from propdesk.runtime.clock import ScaledClock

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2025, 6, 11, 9, 0, tzinfo=CT)  # a Wednesday, all groups trading
BREAK = datetime(2025, 6, 11, 16, 20, tzinfo=CT)  # inside the daily 16:00-17:00 CT maintenance halt
SATURDAY = datetime(2025, 6, 14, 12, 0, tzinfo=CT)
FAST = 600.0  # clock seconds per real second: a minute of market in 0.1 s


class ManualClock:
    """Time moves only when the test says so; sleepers never wake, so nothing runs behind its back."""

    speed = 1.0

    def __init__(self, start: datetime) -> None:
        self.t = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self.t = when.astimezone(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.get_running_loop().create_future()


class Recorder:
    """Pumps a broker's stream into a list; `next` awaits a matching event with a timeout."""

    def __init__(self, broker: SimBroker) -> None:
        self.events: list[BrokerEvent] = []
        self.ended = False
        self._new = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._pump(broker))

    async def _pump(self, broker: SimBroker) -> None:
        async for event in broker.events():
            self.events.append(event)
            self._new.set()
        self.ended = True
        self._new.set()

    def mark(self) -> int:
        """An index: `next(..., after=mark)` ignores what arrived before it."""
        return len(self.events)

    async def next(
        self,
        predicate: Callable[[BrokerEvent], bool],
        *,
        after: int = 0,
        timeout: float = 2.0,
    ) -> BrokerEvent:
        i = after
        async with asyncio.timeout(timeout):
            while True:
                while i < len(self.events):
                    if predicate(self.events[i]):
                        return self.events[i]
                    i += 1
                if self.ended:
                    raise AssertionError(f"the stream ended without a match: {self.events[after:]}")
                self._new.clear()
                await self._new.wait()

    async def until_ended(self, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            await self._task

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def scaled(start: datetime, speed: float = FAST) -> ScaledClock:
    return ScaledClock(start, speed=speed)


class Watcher:
    """A bare SimClient: records what the exchange tells the watched accounts."""

    def __init__(self, accounts: set[AccountRef] | None = None) -> None:
        self.accounts = accounts
        self.events: list[BrokerEvent] = []
        self.quotes: list[Quote] = []
        self.steps = 0

    def watches(self, ref: AccountRef) -> bool:
        return self.accounts is None or ref in self.accounts

    def deliver(self, event: BrokerEvent) -> None:
        self.events.append(event)

    def offer_quote(self, quote: Quote) -> None:
        self.quotes.append(quote)

    def on_step(self, now: datetime) -> None:
        self.steps += 1

    def fills(self) -> list[AccountFill]:
        return [e for e in self.events if isinstance(e, AccountFill)]

    def updates(self) -> list[OrderUpdate]:
        return [e for e in self.events if isinstance(e, OrderUpdate)]
