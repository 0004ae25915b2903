"""Helpers for the Tradovate adapter's tests: a fake venue with two accounts and ES, the adapter
built through `from_settings`, and waiting on conditions with a deadline instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from fakes.tradovate import FakeTradovate

from propdesk.brokers.base import Broker
from propdesk.brokers.sim import front_month
from propdesk.brokers.tradovate import TradovateBroker, from_settings
from propdesk.domain.clock import Clock
from propdesk.domain.instruments import Contract, InstrumentBook

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=CT)  # a Tuesday morning, market open
SPEED = 10.0  # clock seconds per real second: the 10 s dead-link allowance is 1 s of real time
ES_PRICE = Decimal(6000)
ACCOUNTS = ("DEMO1", "DEMO2")
VALUES = {"username": "trader", "app_id": "propdesk", "cid": "8"}
SECRETS = {"password": "secret", "sec": "api-secret"}


def tradovate_name(contract: Contract) -> str:
    return f"{contract.instrument.root}{contract.month_code}{contract.year % 10}"


def es_contract(instruments: InstrumentBook) -> Contract:
    return front_month(instruments.instrument("ES"), OPEN)


async def start_fake(
    clock: Clock, instruments: InstrumentBook, *, token_lifetime: timedelta = timedelta(minutes=90)
) -> FakeTradovate:
    fake = FakeTradovate(clock, token_lifetime=token_lifetime)
    for name in ACCOUNTS:
        fake.add_account(name, Decimal(50_000))
    es = es_contract(instruments)
    fake.add_contract(tradovate_name(es), ES_PRICE, es.instrument.point_value)
    await fake.start()
    return fake


def make_broker(
    fake: FakeTradovate,
    instruments: InstrumentBook,
    clock: Clock,
    name: str = "tdv",
    accounts: tuple[str, ...] = ACCOUNTS,
) -> TradovateBroker:
    broker: Broker = from_settings(
        VALUES,
        environment="demo",
        server=fake.url,
        secret=SECRETS.get,
        accounts=accounts,
        instruments=instruments,
        clock=clock,
        name=name,
    )
    assert isinstance(broker, TradovateBroker)
    return broker


async def until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Wait (bounded) for a condition that something else makes true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.005)
