"""Leaving the demo: Settings from the window, a saved account, the choice to apply it now.

Also which workspace the console opens: the settings' accounts, or the demo on first run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "config"))
from memory_keyring import MemoryKeyring
from ui_helpers import open_console, until

from propdesk.app import DemoWorkspace, Workspaces, choose_workspace
from propdesk.config.model import AccountConfig, BrokerKind, Config, ConfigError, Connection
from propdesk.config.secrets import SecretStore
from propdesk.config.store import load_config, save_config
from propdesk.domain.firms import ProfileSet
from propdesk.ui.settings_flow import SettingsFlow
from propdesk.workspace import ConfiguredWorkspace


@dataclass
class Source:
    config_path: Path
    profiles: ProfileSet
    secrets: SecretStore = field(default_factory=lambda: SecretStore(MemoryKeyring()))

    def load(self) -> Config | None:
        return load_config(self.config_path, self.profiles)


def _workspaces(tmp_path: Path, profiles: ProfileSet) -> Workspaces:
    return Workspaces(
        config_path=tmp_path / "config.toml",
        profiles=profiles,
        secrets=SecretStore(MemoryKeyring()),
        speed=60.0,
        seed=7,
        journal=tmp_path / "journal.sqlite",
        control_path=None,
    )


PAPER = Config(
    connections=(Connection("paper", BrokerKind.SIM),),
    accounts=(AccountConfig("paper", "P-1", "topstep-combine-50k"),),
)


def test_first_run_opens_the_demo_and_settings_with_accounts_open_them(
    tmp_path: Path, profiles: ProfileSet
) -> None:
    workspaces = _workspaces(tmp_path, profiles)
    first = choose_workspace(workspaces, demo=False)
    first.close()
    assert isinstance(first, DemoWorkspace)
    save_config(workspaces.config_path, PAPER, profiles, workspaces.secrets, {})
    workspaces.journal = tmp_path / "journal2.sqlite"
    configured = choose_workspace(workspaces, demo=False)
    configured.close()
    assert isinstance(configured, ConfiguredWorkspace)
    assert list(configured.runtime.accounts) == ["paper:P-1"]
    forced = choose_workspace(workspaces, demo=True)
    forced.close()
    assert isinstance(forced, DemoWorkspace)


def test_an_invalid_settings_file_is_refused_not_guessed(
    tmp_path: Path, profiles: ProfileSet
) -> None:
    workspaces = _workspaces(tmp_path, profiles)
    workspaces.config_path.write_text('[[accounts]]\nconnection = "nowhere"\n')
    with pytest.raises(ConfigError, match="nowhere"):
        choose_workspace(workspaces, demo=False)


async def test_leave_demo_add_an_account_and_apply_it(
    tmp_path: Path, qtbot, profiles: ProfileSet
) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        source = Source(tmp_path / "config.toml", profiles)
        flow = SettingsFlow(window, demo=True, source=source)
        window.settings_requested.emit()
        dialog = flow.dialog
        assert dialog is not None
        await until(dialog.isVisible, what="the settings window")
        assert dialog.connections[0]["broker"] == "sim"  # leaving the demo starts with a connection
        dialog.add_account()
        dialog.account_page.account_id.widget.setText("P-1")
        console.asked.answer = True
        dialog.save_button.click()
        await until(flow.apply.is_set, what="the choice to apply the settings")
        assert flow.chosen is not None
        assert [a.key for a in flow.chosen.accounts] == ["paper-1:P-1"]
        title, question = console.asked.questions[-1]
        assert title == "Leave the demo?"
        assert "Watch the 1 account(s)" in question
        assert load_config(source.config_path, profiles) == flow.chosen


async def test_saving_without_applying_keeps_the_demo_and_says_so(
    tmp_path: Path, qtbot, profiles: ProfileSet
) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        flow = SettingsFlow(window, demo=True, source=Source(tmp_path / "config.toml", profiles))
        window.settings_requested.emit()
        assert flow.dialog is not None
        flow.dialog.add_account()
        flow.dialog.account_page.account_id.widget.setText("P-1")
        console.asked.answer = False
        assert flow.dialog.save()
        assert not flow.apply.is_set()
        assert "apply the next time propdesk starts" in window.banner.label.text()
