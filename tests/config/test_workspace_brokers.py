"""Each real broker connection made from the settings, as a user adds it, against its loopback fake:
connect, the strategy's fill reaches the ledger, FLATTEN ALL is verified flat and locks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from fakes.projectx import FakeProjectX
from fakes.rithmic import BUY as RITHMIC_BUY
from fakes.rithmic import FakeRithmic
from fakes.tradovate import FakeTradovate
from memory_keyring import MemoryKeyring

from propdesk.brokers.rithmic.mapping import rithmic_symbol
from propdesk.brokers.sim import front_month
from propdesk.config.model import AccountConfig, BrokerKind, Config, Connection, Environment
from propdesk.config.secrets import SecretStore
from propdesk.domain.guard import GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.accounts import LiveAccount
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.engine import Runtime
from propdesk.workspace import build_workspace, opening_alerts

OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("America/Chicago"))
ES = "CON.F.US.EP.Z26"
BUY = 0


async def _until(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def _watching(
    tmp_path: Path,
    clock: ScaledClock,
    connection: Connection,
    account: AccountConfig,
    secrets: dict[str, str],
) -> AsyncIterator[tuple[Runtime, LiveAccount]]:
    """The settings' one connection and account, built and started as the console does, the
    secrets in a keyring; yields once the link is up."""
    store = SecretStore(MemoryKeyring())
    store.store({(connection.id, key): value for key, value in secrets.items()})
    config = Config(connections=(connection,), accounts=(account,))
    workspace = build_workspace(config, secrets=store, journal=tmp_path / "j.sqlite", clock=clock)
    assert workspace.problems == []
    try:
        await workspace.start()
        runtime = workspace.runtime
        await _until(
            lambda: runtime.supervisors[connection.id].state.value == "connected", "the link"
        )
        yield runtime, runtime.accounts[account.key]
    finally:
        await workspace.stop()
        workspace.close()


async def _flatten_all_locks(runtime: Runtime, account: LiveAccount) -> None:
    results = await runtime.kill(FlattenScope(all=True), "test: FLATTEN ALL")
    assert [r.flat for r in results] == [True]
    assert account.risk.status.state is GuardState.LOCKED


async def test_a_projectx_connection_from_the_settings_is_watched_live(
    tmp_path: Path, instruments: InstrumentBook
) -> None:
    clock = ScaledClock(OPEN, speed=1.0)
    fake = FakeProjectX(instruments, now=clock.now, ping_interval=0.1)
    fake.add_account(7001, "50KTC-V2-7001", Decimal(50_000))
    fake.set_quote(ES, Decimal("6000.00"), Decimal("6000.25"))
    await fake.start()
    connection = Connection(
        "topstepx",
        BrokerKind.PROJECTX,
        Environment.LIVE,
        {"username": fake.username, "firm": "topstepx"},
        server=fake.url,
    )
    account_config = AccountConfig("topstepx", "50KTC-V2-7001", "topstep-combine-50k")
    try:
        async with _watching(
            tmp_path, clock, connection, account_config, {"api_key": fake.api_key}
        ) as (runtime, account):
            fake.place(7001, ES, BUY, 2)  # the strategy trades on its own session
            await _until(lambda: account.fills == 1, "the strategy's fill in the ledger")
            [position] = [p for p in account.risk.ledger.positions.values() if p.net]
            assert position.net == 2
            assert position.average_price is not None
            fake.set_quote(ES, Decimal("5999.00"), Decimal("5999.25"))
            # Long 2 ES marked at the bid: ($5,999.00 − average) × 2 × $50.
            expected = (Decimal("5999.00") - position.average_price) * 100
            await _until(
                lambda: account.risk.view().open_pnl == expected, "open P&L from the quote"
            )
            await _flatten_all_locks(runtime, account)
            assert fake.position(7001, ES) == 0
    finally:
        await fake.stop()


def test_a_missing_api_key_leaves_the_connection_unwatched_and_says_so(tmp_path: Path) -> None:
    connection = Connection(
        "topstepx", BrokerKind.PROJECTX, values={"username": "me", "firm": "topstepx"}
    )
    config = Config(
        connections=(connection, Connection("paper", BrokerKind.SIM)),
        accounts=(
            AccountConfig("topstepx", "50KTC-V2-7001", "topstep-combine-50k"),
            AccountConfig("paper", "P-1", "apex-eod-50k"),
        ),
    )
    workspace = build_workspace(
        config, secrets=SecretStore(MemoryKeyring()), journal=tmp_path / "j.sqlite"
    )
    workspace.close()
    assert list(workspace.runtime.accounts) == ["paper:P-1"]
    [alert] = opening_alerts(workspace)
    assert alert.startswith("NOT WATCHED — topstepx (ProjectX")
    assert "no API key in the keyring" in alert


async def test_a_tradovate_connection_from_the_settings_is_watched_live(
    tmp_path: Path, instruments: InstrumentBook
) -> None:
    clock = ScaledClock(OPEN, speed=1.0)
    fake = FakeTradovate(clock)
    account_id = fake.add_account("DEMO1", Decimal(50_000))
    es = front_month(instruments.instrument("ES"), OPEN)
    name = f"ES{es.month_code}{es.year % 10}"
    contract_id = fake.add_contract(name, Decimal(6000), es.instrument.point_value)
    await fake.start()
    connection = Connection(
        "tv",
        BrokerKind.TRADOVATE,
        Environment.DEMO,
        {"username": fake.username, "app_id": "propdesk", "cid": "8"},
        server=fake.url,
    )
    secrets = {"password": fake.password, "sec": "api-secret"}
    try:
        async with _watching(
            tmp_path, clock, connection, AccountConfig("tv", "DEMO1", "apex-eod-50k"), secrets
        ) as (runtime, account):
            fake.place(account_id, "Buy", contract_id, 1)  # the strategy's own session
            await _until(lambda: account.fills == 1, "the strategy's fill in the ledger")
            await _flatten_all_locks(runtime, account)
            assert fake.net(account_id, contract_id) == 0
    finally:
        await fake.stop()


async def test_a_rithmic_connection_from_the_settings_is_watched_live(
    tmp_path: Path, instruments: InstrumentBook
) -> None:
    clock = ScaledClock(OPEN, speed=1.0)
    fake = FakeRithmic(clock)
    fake.add_account("APEX-1", Decimal(50_000))
    es = front_month(instruments.instrument("ES"), OPEN)
    symbol, exchange = rithmic_symbol(es)
    fake.add_contract(symbol, exchange, Decimal(6000), es.instrument.point_value)
    await fake.start()
    connection = Connection(
        "rithmic",
        BrokerKind.RITHMIC,
        Environment.DEMO,
        {"username": fake.user, "system": fake.system},
        server=fake.url,
    )
    account_config = AccountConfig("rithmic", "APEX-1", "apex-eod-50k")
    try:
        async with _watching(
            tmp_path, clock, connection, account_config, {"password": fake.password}
        ) as (runtime, account):
            fake.place("APEX-1", RITHMIC_BUY, symbol, 1)  # the strategy's own session
            await _until(lambda: account.fills == 1, "the strategy's fill in the ledger")
            await _flatten_all_locks(runtime, account)
            assert fake.net("APEX-1", symbol) == 0
    finally:
        await fake.stop()
