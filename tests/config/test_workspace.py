"""The configured workspace: the simulator connection runs; a broker this version lacks is reported."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from memory_keyring import MemoryKeyring

from propdesk.config.model import AccountConfig, BrokerKind, Config, Connection, Environment
from propdesk.config.secrets import SecretStore
from propdesk.workspace import build_workspace, opening_alerts

PAPER = Connection("paper", BrokerKind.SIM, demo_strategy=False)
CONFIG = Config(
    connections=(
        PAPER,
        Connection(
            "px",
            BrokerKind.PROJECTX,
            Environment.LIVE,
            {"username": "trader", "firm": "topstepx"},
        ),
    ),
    accounts=(
        AccountConfig("paper", "P-1", "topstep-combine-50k", name="Paper Topstep"),
        AccountConfig("paper", "P-2", "apex-eod-50k", overrides={"max_loss.amount": "1500"}),
        AccountConfig("px", "TS-1", "topstep-combine-50k"),
    ),
)


async def test_simulator_accounts_are_watched_and_a_missing_adapter_is_said_in_red(
    tmp_path: Path,
) -> None:
    workspace = build_workspace(
        CONFIG, secrets=SecretStore(MemoryKeyring()), journal=tmp_path / "journal.sqlite"
    )
    try:
        assert set(workspace.runtime.accounts) == {"paper:P-1", "paper:P-2"}
        p2 = workspace.runtime.accounts["paper:P-2"].setup
        assert str(p2.profile.max_loss.amount.value) == "1500"
        assert p2.name == "paper:P-2"
        assert workspace.label == "LIVE"  # a live connection is configured
        [alert] = opening_alerts(workspace)
        assert alert.startswith("NOT WATCHED — px (ProjectX")
        assert "no API key in the keyring" in alert
        await workspace.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while any(a.risk.view().ts is None for a in workspace.runtime.accounts.values()):
            assert loop.time() < deadline, "no market data reached the accounts"
            await asyncio.sleep(0.02)
        assert workspace.runtime.supervisors["paper"].state.value == "connected"
    finally:
        await workspace.stop()
        workspace.close()


async def test_a_changed_setup_keeps_the_journaled_one_and_says_so(tmp_path: Path) -> None:
    paper_only = replace(CONFIG, connections=(PAPER,), accounts=CONFIG.accounts[:1])
    journal = tmp_path / "journal.sqlite"
    first = build_workspace(paper_only, secrets=SecretStore(MemoryKeyring()), journal=journal)
    first.close()
    assert opening_alerts(first) == []
    changed = replace(
        paper_only,
        accounts=(replace(paper_only.accounts[0], overrides={"max_loss.amount": "1000"}),),
    )
    second = build_workspace(changed, secrets=SecretStore(MemoryKeyring()), journal=journal)
    try:
        assert second.label.startswith("SETTINGS")
        account = second.runtime.accounts["paper:P-1"]
        assert str(account.setup.profile.max_loss.amount.value) == "2000"
        [alert] = opening_alerts(second)
        assert alert.startswith("paper:P-1: your settings changed")
    finally:
        second.close()
