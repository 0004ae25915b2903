"""Helpers for the Rithmic adapter's tests: a fake gateway with two accounts and ES, the adapter
built through `from_settings`, and waiting on conditions with a deadline instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from fakes.rithmic import FakeRithmic

from propdesk.brokers.base import Broker
from propdesk.brokers.rithmic import RithmicBroker, from_settings
from propdesk.brokers.rithmic.mapping import rithmic_symbol
from propdesk.brokers.sim import front_month
from propdesk.domain.clock import Clock
from propdesk.domain.instruments import Contract, InstrumentBook

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=CT)  # a Tuesday morning, market open
SPEED = 10.0  # clock seconds per real second: the 15 s dead-link allowance is 1.5 s of real time
ES_PRICE = Decimal(6000)
ACCOUNTS = ("APEX-1", "APEX-2")
VALUES = {"username": "trader", "system": "Rithmic Test"}
SECRETS = {"password": "secret"}


def es_contract(instruments: InstrumentBook) -> Contract:
    return front_month(instruments.instrument("ES"), OPEN)


def es_symbol(instruments: InstrumentBook) -> str:
    return rithmic_symbol(es_contract(instruments))[0]


async def start_fake(clock: Clock, instruments: InstrumentBook) -> FakeRithmic:
    fake = FakeRithmic(clock)
    for account in ACCOUNTS:
        fake.add_account(account, Decimal(50_000))
    fake.add_account("OTHER", Decimal(50_000))  # the login sees it; propdesk does not watch it
    es = es_contract(instruments)
    symbol, exchange = rithmic_symbol(es)
    fake.add_contract(symbol, exchange, ES_PRICE, es.instrument.point_value)
    await fake.start()
    return fake


def make_broker(
    fake: FakeRithmic,
    instruments: InstrumentBook,
    clock: Clock,
    name: str = "rith",
    secrets: dict[str, str] | None = None,
) -> RithmicBroker:
    broker: Broker = from_settings(
        VALUES,
        environment="demo",
        server=fake.url,
        secret=(secrets or SECRETS).get,
        accounts=ACCOUNTS,
        instruments=instruments,
        clock=clock,
        name=name,
    )
    assert isinstance(broker, RithmicBroker)
    return broker


async def until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Wait (bounded) for a condition that something else makes true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.005)
