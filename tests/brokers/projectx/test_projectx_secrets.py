"""ProjectX refusals that echo the request back show no API key or token anywhere: not in the
error, the link events, the notices, the journal, stdout or the logs (issue 11)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fakes.projectx import BUY, FakeProjectX
from notice_wait import notice_matching
from projectx_helpers import ACCOUNT_ID, ACCOUNT_NAME, ES, OPEN, make_broker
from secret_leaks import (
    assert_hidden,
    error_text,
    journal_text,
    log_everything,
    log_text,
    watched_runtime,
)

from propdesk.brokers.base import AccountRef, BrokerError, LinkEvent, OrderRequest
from propdesk.brokers.projectx import ProjectXBroker
from propdesk.domain.events import Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import FillBooked, FlattenFinished, LinkChanged

API_KEY = "Zq8#Lk2!vR9mWx/px"
REF = AccountRef("px", ACCOUNT_NAME)


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(OPEN, speed=10.0)  # the kill switch's ten attempts in under two seconds


@pytest.fixture
async def fake(instruments: InstrumentBook, clock: ScaledClock) -> AsyncIterator[FakeProjectX]:
    server = FakeProjectX(instruments, now=clock.now, api_key=API_KEY, ping_interval=0.1)
    server.add_account(ACCOUNT_ID, ACCOUNT_NAME, Decimal(50_000))
    server.set_quote(ES, Decimal("6000.00"), Decimal("6000.25"))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def broker(
    fake: FakeProjectX, clock: ScaledClock, instruments: InstrumentBook
) -> AsyncIterator[ProjectXBroker]:
    adapter = make_broker(fake, clock, instruments, heartbeat_allowance=30.0)
    yield adapter
    await adapter.close()


def _tokens(fake: FakeProjectX) -> list[str]:
    return [token for session in fake.sessions for token in session.tokens]


async def _link_events(broker: ProjectXBroker) -> str:
    """The link events of the broker's stream, until it ends."""
    return "\n".join([repr(e) async for e in broker.events() if isinstance(e, LinkEvent)])


@pytest.mark.parametrize("status", [200, 400])
async def test_a_refused_login_that_echoes_the_request_shows_no_api_key(
    fake: FakeProjectX,
    broker: ProjectXBroker,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    log_everything(caplog)
    fake.echo_next(1, status)
    with pytest.raises(BrokerError) as refused:
        await broker.connect()
    assert "cannot process" in str(refused.value), "the echo reached the error"
    events = await _link_events(broker)
    assert_hidden([API_KEY], error=error_text(refused.value), events=events, logs=log_text(caplog))


@pytest.mark.parametrize("status", [200, 400])
async def test_a_refused_order_that_echoes_the_request_shows_no_token(
    fake: FakeProjectX,
    broker: ProjectXBroker,
    instruments: InstrumentBook,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    log_everything(caplog)
    await broker.connect()
    stream = asyncio.create_task(_link_events(broker))
    fake.echo_next(1, status)
    contract = instruments.parse(ES, at=datetime(2026, 11, 17, tzinfo=UTC))
    with pytest.raises(BrokerError) as refused:
        await broker.place(REF, OrderRequest(contract, Side.BUY, 1))
    assert "cannot process" in str(refused.value), "the echo reached the error"
    await broker.close()
    events = await asyncio.wait_for(stream, 5)
    assert_hidden(
        [API_KEY, *_tokens(fake)],
        error=error_text(refused.value),
        events=events,
        logs=log_text(caplog),
    )


async def test_a_login_refused_with_an_echo_reaches_no_notice_journal_stdout_or_log(
    fake: FakeProjectX,
    broker: ProjectXBroker,
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
    runtime, notices = watched_runtime(broker, [REF], clock, journal, instruments, profiles)
    await runtime.start()
    refused = await notice_matching(
        runtime,
        notices,
        lambda n: isinstance(n, LinkChanged) and "not retried" in n.detail,
    )
    assert "cannot process" in refused.detail  # type: ignore[union-attr]
    await runtime.stop()
    journal.close()
    assert_hidden(
        [API_KEY],
        notices="\n".join(repr(n) for n in notices),
        journal=journal_text(tmp_path / "journal.sqlite"),
        stdout=capsys.readouterr().out,
        logs=log_text(caplog),
    )


async def test_a_kill_refused_with_echoes_reaches_no_notice_journal_stdout_or_log(
    fake: FakeProjectX,
    broker: ProjectXBroker,
    clock: ScaledClock,
    instruments: InstrumentBook,
    profiles: ProfileSet,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log_everything(caplog)
    journal = Journal(tmp_path / "journal.sqlite")
    runtime, notices = watched_runtime(broker, [REF], clock, journal, instruments, profiles)
    await runtime.start()
    fake.place(ACCOUNT_ID, ES, BUY, 1)  # something to flatten
    await notice_matching(runtime, notices, lambda n: isinstance(n, FillBooked))
    fake.echo_next(10_000, 400)  # every request of the kill is refused with the request echoed
    [result] = await runtime.kill(FlattenScope(accounts=(str(REF),)), reason="test")
    assert not result.flat
    assert "cannot process" in result.detail, "the echo reached the kill's verdict"
    await notice_matching(runtime, notices, lambda n: isinstance(n, FlattenFinished))
    await runtime.stop()
    journal.close()
    assert_hidden(
        [API_KEY, *_tokens(fake)],
        notices="\n".join(repr(n) for n in notices),
        journal=journal_text(tmp_path / "journal.sqlite"),
        stdout=capsys.readouterr().out,
        logs=log_text(caplog),
    )


async def test_a_hub_refusal_that_echoes_the_url_shows_no_token(
    fake: FakeProjectX, broker: ProjectXBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """The hubs' URL carries the token; websockets keeps the refusal's body in its exception."""
    log_everything(caplog)
    fake.echo_hub_refusals(2)
    with pytest.raises(BrokerError, match="the hubs did not open") as refused:
        await broker.connect()
    assert_hidden([API_KEY, *_tokens(fake)], error=error_text(refused.value), logs=log_text(caplog))
