"""A Rithmic login refusal that echoes the request back shows the password nowhere: not in the
error, the link events, the notices, the journal, stdout or the logs, async-rithmic's own debug
log included (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.rithmic import FakeRithmic
from notice_wait import notice_matching
from rithmic_helpers import ACCOUNTS, make_broker
from secret_leaks import (
    assert_hidden,
    error_text,
    journal_text,
    log_everything,
    log_text,
    watched_runtime,
)

from propdesk.brokers.base import AccountRef, BrokerError
from propdesk.brokers.rithmic import RithmicBroker
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import LinkChanged

PASSWORD = "Zq8#Lk2!vR9mWx/rt"  # what propdesk holds and sends; the venue expects another


def _broker(fake: FakeRithmic, instruments: InstrumentBook, clock: ScaledClock) -> RithmicBroker:
    return make_broker(fake, instruments, clock, secrets={"password": PASSWORD})


@pytest.mark.parametrize("refusal", ["wrong password", "permission denied"])
async def test_a_refused_login_that_echoes_the_request_shows_no_password(
    fake: FakeRithmic,
    instruments: InstrumentBook,
    clock: ScaledClock,
    caplog: pytest.LogCaptureFixture,
    refusal: str,
) -> None:
    log_everything(caplog)
    fake.echo_login_failures()
    if refusal == "permission denied":
        fake.password = PASSWORD  # the right password, and still refused: rp_code 13
        fake.deny_logins("13", "permission denied")
    broker = _broker(fake, instruments, clock)
    with pytest.raises(BrokerError, match="Rithmic refused the login") as refused:
        await broker.connect()
    await broker.close()  # a refused Rithmic login emits no link event: the error is all it says
    assert fake.logins == 0
    assert_hidden([PASSWORD], error=error_text(refused.value), logs=log_text(caplog))


async def test_a_login_refused_with_an_echo_reaches_no_notice_journal_stdout_or_log(
    fake: FakeRithmic,
    instruments: InstrumentBook,
    clock: ScaledClock,
    profiles: ProfileSet,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log_everything(caplog)
    fake.echo_login_failures()
    broker = _broker(fake, instruments, clock)
    journal = Journal(tmp_path / "journal.sqlite")
    refs = [AccountRef("rith", a) for a in ACCOUNTS]
    runtime, notices = watched_runtime(broker, refs, clock, journal, instruments, profiles)
    await runtime.start()
    refused = await notice_matching(
        runtime,
        notices,
        lambda n: isinstance(n, LinkChanged) and "not retried" in n.detail,
    )
    assert "login failed for" in refused.detail, "the echo reached the notice"  # type: ignore[union-attr]
    await runtime.stop()
    journal.close()
    assert_hidden(
        [PASSWORD],
        notices="\n".join(repr(n) for n in notices),
        journal=journal_text(tmp_path / "journal.sqlite"),
        stdout=capsys.readouterr().out,
        logs=log_text(caplog),
    )
