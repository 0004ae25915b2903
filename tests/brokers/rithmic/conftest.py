"""Fixtures for the Rithmic adapter: a loopback fake gateway and a scaled clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakes.rithmic import FakeRithmic
from rithmic_helpers import OPEN, SPEED, start_fake

from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import ScaledClock


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(OPEN, speed=SPEED)


@pytest.fixture
async def fake(clock: ScaledClock, instruments: InstrumentBook) -> AsyncIterator[FakeRithmic]:
    server = await start_fake(clock, instruments)
    yield server
    await server.stop()
