"""Fixtures for the ProjectX adapter: the loopback gateway, the adapter on it, a Runtime on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from fakes.projectx import FakeProjectX
from projectx_helpers import ACCOUNT_ID, ACCOUNT_NAME, ES, OPEN, OTHER_ID, Rig, make_broker

from propdesk.brokers.base import AccountRef
from propdesk.brokers.projectx import ProjectXBroker
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import Notice


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(OPEN, speed=1.0)


@pytest.fixture
async def fake(instruments: InstrumentBook, clock: ScaledClock) -> AsyncIterator[FakeProjectX]:
    server = FakeProjectX(instruments, now=clock.now, ping_interval=0.1)
    server.add_account(ACCOUNT_ID, ACCOUNT_NAME, Decimal(50_000))
    server.add_account(OTHER_ID, "50KTC-V2-7002", Decimal(50_000))
    server.set_quote(ES, Decimal("6000.00"), Decimal("6000.25"))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def broker(
    fake: FakeProjectX, clock: ScaledClock, instruments: InstrumentBook
) -> AsyncIterator[ProjectXBroker]:
    adapter = make_broker(fake, clock, instruments)
    yield adapter
    await adapter.close()


@pytest.fixture
def protocol() -> Protocol:
    return Protocol(connection_down_limit=None)


@pytest.fixture
async def rig(
    tmp_path: Path,
    fake: FakeProjectX,
    broker: ProjectXBroker,
    clock: ScaledClock,
    instruments: InstrumentBook,
    profiles: ProfileSet,
    protocol: Protocol,
) -> AsyncIterator[Rig]:
    journal = Journal(tmp_path / "journal.sqlite")
    ref = AccountRef("px", ACCOUNT_NAME)
    setup = AccountSetup(ref, profiles.get("topstep-combine-50k"), protocol, name=ACCOUNT_NAME)
    runtime = Runtime(
        [broker],
        [setup],
        clock=clock,
        journal=journal,
        instruments=instruments,
        reconnect_backoff=(0.1, 0.2),
    )
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    await runtime.start()
    yield Rig(fake, broker, runtime, journal, notices, ref)
    await runtime.stop()
    journal.close()
