"""A broker that cannot connect at start leaves the others watched; its supervisor keeps logging in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from propdesk.brokers.base import BrokerError, LinkState
from propdesk.brokers.sim import SimBroker, SimExchange
from propdesk.domain.account import calendar_for
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import Alert, LinkChanged, Notice

OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("America/Chicago"))


class FlakyLogin(SimBroker):
    """A simulator login that fails its first `failures` connects with `error`."""

    def __init__(self, exchange: SimExchange, failures: int, error: Exception) -> None:
        super().__init__(exchange)
        self.failures = failures
        self.error = error
        self.attempts = 0

    async def connect(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error
        await super().connect()


async def _run(
    tmp_path: Path,
    profiles: ProfileSet,
    instruments: InstrumentBook,
    flaky: tuple[int, Exception],
) -> tuple[Runtime, FlakyLogin, list[Notice], list[SimExchange]]:
    profile = profiles.get("topstep-combine-50k")
    calendar = calendar_for(profile)
    clock = ScaledClock(OPEN, speed=30.0)
    good_venue = SimExchange(instruments, calendar, clock, name="good")
    bad_venue = SimExchange(instruments, calendar, clock, name="bad")
    good_ref = good_venue.open_account("G-1", Decimal(50_000))
    bad_ref = bad_venue.open_account("B-1", Decimal(50_000))
    bad = FlakyLogin(bad_venue, *flaky)
    runtime = Runtime(
        [SimBroker(good_venue), bad],
        [AccountSetup(good_ref, profile), AccountSetup(bad_ref, profile)],
        clock=clock,
        journal=Journal(tmp_path / "journal.sqlite"),
        instruments=instruments,
        reconnect_backoff=(0.1,),
    )
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    for venue in (good_venue, bad_venue):
        venue.start()
    await runtime.start()
    return runtime, bad, notices, [good_venue, bad_venue]


async def _until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def _stop(runtime: Runtime, venues: list[SimExchange]) -> None:
    await runtime.stop()
    for venue in venues:
        await venue.stop()
    runtime.journal.close()


async def test_a_network_failure_at_start_is_retried_while_the_others_run(
    tmp_path: Path, profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    runtime, bad, notices, venues = await _run(
        tmp_path, profiles, instruments, (2, OSError("network is unreachable"))
    )
    try:
        assert runtime.supervisors["good"].state is LinkState.CONNECTED
        first = [n for n in notices if isinstance(n, LinkChanged) and n.broker == "bad"]
        assert first[0].state is LinkState.DISCONNECTED
        assert "network is unreachable" in first[0].detail
        assert any(
            isinstance(n, Alert) and "bad" in n.text and "network is unreachable" in n.text
            for n in notices
        )
        await _until(
            lambda: runtime.supervisors["bad"].state is LinkState.CONNECTED, "the retried login"
        )
        assert bad.attempts == 3
        account = runtime.accounts["bad:B-1"]
        await _until(lambda: account.risk.view().ts is not None, "market data after the login")
    finally:
        await _stop(runtime, venues)


async def test_a_refused_login_is_not_retried(
    tmp_path: Path, profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    refused = BrokerError("password incorrect", retryable=False)
    runtime, bad, _, venues = await _run(tmp_path, profiles, instruments, (99, refused))
    try:
        await _until(
            lambda: "not retried" in runtime.supervisors["bad"].detail, "the refusal to retry"
        )
        assert bad.attempts == 2  # the start-up login and one retry that was refused again
        assert runtime.supervisors["good"].state is LinkState.CONNECTED
    finally:
        await _stop(runtime, venues)
