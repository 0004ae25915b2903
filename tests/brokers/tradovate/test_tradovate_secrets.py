"""Tradovate refusals that echo the request back show no password, API secret or token anywhere:
not in the error, the link events, the notices, the journal, stdout or the logs (issue 11)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from fakes.tradovate import FakeTradovate
from notice_wait import notice_matching
from secret_leaks import (
    assert_hidden,
    error_text,
    journal_text,
    log_everything,
    log_text,
    watched_runtime,
)
from tradovate_helpers import ACCOUNTS, VALUES, es_contract, tradovate_name

from propdesk.brokers.base import AccountRef, BrokerError, LinkEvent, OrderRequest
from propdesk.brokers.tradovate import TradovateBroker, from_settings
from propdesk.domain.events import Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import FlattenFinished, LinkChanged

PASSWORD = "Zq8#Lk2!vR9mWx/td"
SEC = "7Hd$Qm4@Xp1kTy3%td"
REFS = [AccountRef("tdv", name) for name in ACCOUNTS]


@pytest.fixture
async def fake(clock: ScaledClock, instruments: InstrumentBook) -> AsyncIterator[FakeTradovate]:
    server = FakeTradovate(clock, password=PASSWORD)
    for name in ACCOUNTS:
        server.add_account(name, Decimal(50_000))
    es = es_contract(instruments)
    server.add_contract(tradovate_name(es), Decimal(6000), es.instrument.point_value)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def broker(fake: FakeTradovate, instruments: InstrumentBook, clock: ScaledClock) -> TradovateBroker:
    built = from_settings(
        VALUES,
        environment="demo",
        server=fake.url,
        secret={"password": PASSWORD, "sec": SEC}.get,
        accounts=ACCOUNTS,
        instruments=instruments,
        clock=clock,
        name="tdv",
    )
    assert isinstance(built, TradovateBroker)
    return built


def _tokens(fake: FakeTradovate) -> list[str]:
    return [t for s in fake.sessions for t in (s.token, s.md_token, *s.old_tokens)]


async def _link_events(broker: TradovateBroker) -> str:
    """The link events of the broker's stream, until it ends."""
    return "\n".join([repr(e) async for e in broker.events() if isinstance(e, LinkEvent)])


@pytest.mark.parametrize("status", [200, 400])
async def test_a_refused_login_that_echoes_the_request_shows_no_secret(
    fake: FakeTradovate,
    broker: TradovateBroker,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    log_everything(caplog)
    fake.echo_next(1, status)
    with pytest.raises(BrokerError) as refused:
        await broker.connect()
    assert "cannot process POST" in str(refused.value), "the echo reached the error"
    events = await _link_events(broker)
    await broker.close()
    assert_hidden(
        [PASSWORD, SEC], error=error_text(refused.value), events=events, logs=log_text(caplog)
    )


@pytest.mark.parametrize("status", [200, 400])
async def test_a_refused_order_that_echoes_the_request_shows_no_token(
    fake: FakeTradovate,
    broker: TradovateBroker,
    instruments: InstrumentBook,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    log_everything(caplog)
    await broker.connect()
    stream = asyncio.create_task(_link_events(broker))
    fake.echo_next(1, status)
    with pytest.raises(BrokerError) as refused:
        await broker.place(REFS[0], OrderRequest(es_contract(instruments), Side.BUY, 1))
    assert "cannot process POST" in str(refused.value), "the echo reached the error"
    await broker.close()
    events = await asyncio.wait_for(stream, 5)
    assert_hidden(
        [PASSWORD, SEC, *_tokens(fake)],
        error=error_text(refused.value),
        events=events,
        logs=log_text(caplog),
    )


async def test_a_login_refused_with_an_echo_reaches_no_notice_journal_stdout_or_log(
    fake: FakeTradovate,
    broker: TradovateBroker,
    clock: ScaledClock,
    instruments: InstrumentBook,
    profiles: ProfileSet,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log_everything(caplog)
    fake.echo_next(2, 200)  # the start-up login and the supervisor's one more try
    journal = Journal(tmp_path / "journal.sqlite")
    runtime, notices = watched_runtime(broker, REFS, clock, journal, instruments, profiles)
    await runtime.start()
    refused = await notice_matching(
        runtime,
        notices,
        lambda n: isinstance(n, LinkChanged) and "not retried" in n.detail,
    )
    assert "cannot process POST" in refused.detail  # type: ignore[union-attr]
    await runtime.stop()
    journal.close()
    assert_hidden(
        [PASSWORD, SEC],
        notices="\n".join(repr(n) for n in notices),
        journal=journal_text(tmp_path / "journal.sqlite"),
        stdout=capsys.readouterr().out,
        logs=log_text(caplog),
    )


async def test_a_kill_refused_with_echoes_reaches_no_notice_journal_stdout_or_log(
    fake: FakeTradovate,
    broker: TradovateBroker,
    clock: ScaledClock,
    instruments: InstrumentBook,
    profiles: ProfileSet,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log_everything(caplog)
    contract = fake.contract_by_name("ESZ6")
    assert contract is not None
    fake.place(fake.account_by_name(ACCOUNTS[0]), "Buy", contract, 1)  # something to flatten
    journal = Journal(tmp_path / "journal.sqlite")
    runtime, notices = watched_runtime(broker, REFS, clock, journal, instruments, profiles)
    await runtime.start()
    fake.echo_next(10_000, 400)  # every request of the kill is refused with the request echoed
    [result] = await runtime.kill(FlattenScope(accounts=(str(REFS[0]),)), reason="test")
    assert not result.flat
    assert "cannot process" in result.detail, "the echo reached the kill's verdict"
    await notice_matching(runtime, notices, lambda n: isinstance(n, FlattenFinished))
    await runtime.stop()
    journal.close()
    assert_hidden(
        [PASSWORD, SEC, *_tokens(fake)],
        notices="\n".join(repr(n) for n in notices),
        journal=journal_text(tmp_path / "journal.sqlite"),
        stdout=capsys.readouterr().out,
        logs=log_text(caplog),
    )
