"""Fixtures for the simulator's tests: contracts, a hand-driven venue and a running one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sim_helpers import OPEN, ManualClock, scaled

from propdesk.brokers.sim import SimBroker, SimExchange, front_month
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.instruments import Contract, InstrumentBook


@pytest.fixture
def es(instruments: InstrumentBook) -> Contract:
    return front_month(instruments.instrument("ES"), OPEN)


@pytest.fixture
def mes(instruments: InstrumentBook) -> Contract:
    return front_month(instruments.instrument("MES"), OPEN)


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(OPEN)


@pytest.fixture
def manual_exchange(
    instruments: InstrumentBook, calendar: TradingCalendar, manual_clock: ManualClock
) -> SimExchange:
    """A venue driven by hand: call `step()` and move the clock yourself."""
    return SimExchange(instruments, calendar, manual_clock, seed=1, id_prefix="")


@pytest.fixture
async def live(
    instruments: InstrumentBook, calendar: TradingCalendar
) -> AsyncIterator[tuple[SimExchange, SimBroker]]:
    """A running venue during market hours with one account and propdesk's session connected."""
    exchange = SimExchange(instruments, calendar, scaled(OPEN), seed=1)
    exchange.open_account("A1", Decimal(50_000))
    broker = SimBroker(exchange)
    await broker.connect()
    yield exchange, broker
    await broker.close()
    await exchange.stop()
