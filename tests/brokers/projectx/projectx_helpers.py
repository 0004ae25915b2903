"""Shared pieces of the ProjectX adapter's tests: constants, the rig, waiting without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fakes.projectx import FakeProjectX
from notice_wait import notice_matching

from propdesk.brokers.base import AccountRef
from propdesk.brokers.projectx import ProjectXBroker, gateway_for
from propdesk.domain.guard import GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import Notice

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=CT)  # a Tuesday morning, market open
ES = "CON.F.US.EP.Z26"
NQ = "CON.F.US.ENQ.Z26"
ACCOUNT_ID = 7001
ACCOUNT_NAME = "50KTC-V2-7001"
OTHER_ID = 7002  # on the same login, not watched by propdesk
DOWN_LIMIT = Protocol(connection_down_limit=timedelta(seconds=1))


def make_broker(
    fake: FakeProjectX, clock: ScaledClock, instruments: InstrumentBook, **options: float
) -> ProjectXBroker:
    settings: dict[str, float] = {
        "heartbeat_allowance": 1.0,
        "ping_every": 0.5,
        "request_timeout": 5.0,
    }
    settings.update(options)
    return ProjectXBroker(
        name="px",
        gateway=gateway_for("topstepx", fake.url, {}),
        username=fake.username,
        api_key=fake.api_key,
        accounts=[ACCOUNT_NAME],
        instruments=instruments,
        clock=clock,
        **settings,  # type: ignore[arg-type]
    )


@dataclass
class Rig:
    fake: FakeProjectX
    broker: ProjectXBroker
    runtime: Runtime
    journal: Journal
    notices: list[Notice]
    ref: AccountRef

    @property
    def key(self) -> str:
        return str(self.ref)

    async def until(self, predicate: Callable[[Notice], bool], timeout: float = 10.0) -> Notice:
        """Wait for a notice matching `predicate` (already seen ones count)."""
        return await notice_matching(self.runtime, self.notices, predicate, timeout)

    def state(self) -> GuardState:
        return self.runtime.accounts[self.key].risk.status.state


async def condition(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `predicate()` holds, checking after every turn of the loop (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the condition did not hold in time")
        await asyncio.sleep(0.005)
