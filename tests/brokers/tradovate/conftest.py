"""Fixtures for the Tradovate adapter: a loopback fake and a scaled clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakes.tradovate import FakeTradovate
from tradovate_helpers import OPEN, SPEED, start_fake

from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import ScaledClock


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(OPEN, speed=SPEED)


@pytest.fixture
async def fake(clock: ScaledClock, instruments: InstrumentBook) -> AsyncIterator[FakeTradovate]:
    server = await start_fake(clock, instruments)
    yield server
    await server.stop()
