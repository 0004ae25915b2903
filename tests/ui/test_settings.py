"""The settings window: a field-level message for each problem, nothing half-saved, secrets to the keyring."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "config"))
from memory_keyring import LowPriorityKeyring, MemoryKeyring

from propdesk.config.model import BrokerKind, Config
from propdesk.config.secrets import SERVICE, SecretStore
from propdesk.config.store import load_config
from propdesk.domain.firms import ProfileSet
from propdesk.ui.settings_dialog import KEEP_SECRET, SettingsDialog


def _dialog(
    qtbot, tmp_path: Path, profiles: ProfileSet, backend=None, config: Config | None = None
) -> SettingsDialog:
    dialog = SettingsDialog(
        config,
        path=tmp_path / "config.toml",
        profiles=profiles,
        secrets=SecretStore(backend if backend is not None else MemoryKeyring()),
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _paper_with_one_account(dialog: SettingsDialog) -> None:
    dialog.add_connection()  # a simulator connection named paper-1
    dialog.connection_page.demo_strategy.setChecked(True)
    dialog.add_account()
    dialog.account_page.account_id.widget.setText("P-1")
    dialog.account_page.display_name.widget.setText("Paper Topstep")
    dialog.account_page.profile.setCurrentIndex(
        dialog.account_page.profile.findData("apex-eod-50k")
    )
    dialog.account_page.overrides.widget.setPlainText("max_loss.amount = 1500")


def _add_projectx_connection(dialog: SettingsDialog) -> None:
    """A ProjectX connection "px" as a user fills it in, its API key typed in."""
    page = dialog.connection_page
    dialog.add_connection()
    page.connection_id.widget.setText("px")
    page.broker.setCurrentIndex(page.broker.findData("projectx"))
    page.kind_fields["username"].widget.setText("trader")
    page.kind_fields["firm"].widget.setText("topstepx")
    page.secret_fields["api_key"].widget.setText("key")


def test_first_settings_save_and_read_back(qtbot, tmp_path: Path, profiles: ProfileSet) -> None:
    dialog = _dialog(qtbot, tmp_path, profiles)
    saved: list[Config] = []
    dialog.saved.connect(saved.append)
    _paper_with_one_account(dialog)
    dialog.general_page.fields["buffers.stop_fraction"].widget.setText("70%")
    assert dialog.save()
    config = load_config(tmp_path / "config.toml", profiles)
    assert saved == [config]
    assert config is not None
    [connection] = config.connections
    assert connection.broker is BrokerKind.SIM
    assert connection.demo_strategy
    [account] = config.accounts
    assert (account.key, account.name, account.profile) == (
        "paper-1:P-1",
        "Paper Topstep",
        "apex-eod-50k",
    )
    assert account.overrides == {"max_loss.amount": "1500"}
    assert config.buffers.stop_fraction == Decimal("0.70")


def test_each_problem_is_shown_beside_its_field_and_nothing_is_written(
    qtbot, tmp_path: Path, profiles: ProfileSet
) -> None:
    dialog = _dialog(qtbot, tmp_path, profiles)
    _paper_with_one_account(dialog)
    dialog.account_page.account_id.widget.setText("")
    dialog.account_page.overrides.widget.setPlainText("max_loss.amount = lots")
    dialog.general_page.fields["buffers.cutoff_buffer_minutes"].widget.setText("soon")
    assert not dialog.save()
    assert not (tmp_path / "config.toml").exists()
    assert dialog.account_page.account_id.error.isVisibleTo(dialog)
    assert "required" in dialog.account_page.account_id.error.text()
    assert "max_loss.amount" in dialog.account_page.overrides.error.text()
    minutes = dialog.general_page.fields["buffers.cutoff_buffer_minutes"]
    assert "whole number" in minutes.error.text()
    assert "Not saved: 3 problems" in dialog.summary.text()
    assert (
        dialog.tabs.currentWidget() is dialog.account_page
    )  # the first problem is brought to view

    dialog.account_page.account_id.widget.setText("P-1")
    dialog.account_page.overrides.widget.setPlainText("")
    minutes.widget.setText("20")
    assert dialog.save()
    assert not dialog.account_page.account_id.error.isVisibleTo(dialog)
    assert load_config(tmp_path / "config.toml", profiles) is not None


def test_a_level_typed_as_nan_is_a_problem_beside_it_not_a_crash(
    qtbot, tmp_path: Path, profiles: ProfileSet
) -> None:
    dialog = _dialog(qtbot, tmp_path, profiles)
    _paper_with_one_account(dialog)
    stop = dialog.general_page.fields["buffers.stop_fraction"]
    stop.widget.setText("NaN%")
    assert not dialog.save()
    assert stop.error.text() == "'NaN%' is not a number"
    assert not (tmp_path / "config.toml").exists()


def test_a_broker_connection_needs_its_secrets_and_they_go_to_the_keyring_only(
    qtbot, tmp_path: Path, profiles: ProfileSet
) -> None:
    backend = MemoryKeyring()
    dialog = _dialog(qtbot, tmp_path, profiles, backend)
    _paper_with_one_account(dialog)
    dialog.add_connection()
    dialog.tabs.setCurrentWidget(dialog.connection_page)
    dialog.connection_page.connection_id.widget.setText("tv-main")
    dialog.connection_page.broker.setCurrentIndex(
        dialog.connection_page.broker.findData("tradovate")
    )
    assert dialog.connection_page.secret_fields["password"].box.isVisibleTo(dialog)
    assert not dialog.connection_page.secret_fields["api_key"].box.isVisibleTo(dialog)
    dialog.connection_page.kind_fields["username"].widget.setText("trader")
    dialog.connection_page.kind_fields["app_id"].widget.setText("propdesk")
    dialog.connection_page.kind_fields["cid"].widget.setText("42")
    dialog.connection_page.secret_fields["password"].widget.setText("hunter2")
    assert not dialog.save()
    assert dialog.connection_page.secret_fields["sec"].error.text() == "API secret is required"
    assert not (tmp_path / "config.toml").exists()
    assert backend.entries == {}

    dialog.connection_page.secret_fields["sec"].widget.setText("s3cret")
    assert dialog.save()
    text = (tmp_path / "config.toml").read_text()
    assert "hunter2" not in text
    assert "s3cret" not in text
    assert backend.entries == {
        (SERVICE, "tv-main:password"): "hunter2",
        (SERVICE, "tv-main:sec"): "s3cret",
    }

    # Opened again: the secrets are not shown, and an empty field keeps them.
    again = _dialog(
        qtbot, tmp_path, profiles, backend, load_config(tmp_path / "config.toml", profiles)
    )
    again.connection_page.items.setCurrentRow(1)
    assert again.connection_page.secret_fields["password"].widget.text() == ""
    assert again.connection_page.secret_fields["password"].widget.placeholderText() == KEEP_SECRET
    assert again.save()
    assert backend.entries[(SERVICE, "tv-main:password")] == "hunter2"


def test_without_a_secure_keyring_the_save_is_refused_with_what_to_install(
    qtbot, tmp_path: Path, profiles: ProfileSet
) -> None:
    weak = LowPriorityKeyring()
    told: list[str] = []
    dialog = SettingsDialog(
        None,
        path=tmp_path / "config.toml",
        profiles=profiles,
        secrets=SecretStore(weak),
        refused=told.append,
    )
    qtbot.addWidget(dialog)
    _add_projectx_connection(dialog)
    assert not dialog.save()
    assert not (tmp_path / "config.toml").exists()
    assert weak.entries == {}
    assert "keyring" in dialog.summary.text()
    assert len(told) == 1
    assert "gnome-keyring" in told[0]


def test_renaming_a_connection_moves_its_accounts_and_secrets(
    qtbot, tmp_path: Path, profiles: ProfileSet
) -> None:
    backend = MemoryKeyring()
    dialog = _dialog(qtbot, tmp_path, profiles, backend)
    _add_projectx_connection(dialog)
    dialog.add_account()
    dialog.account_page.account_id.widget.setText("TS-1")
    assert dialog.save()

    again = _dialog(
        qtbot, tmp_path, profiles, backend, load_config(tmp_path / "config.toml", profiles)
    )
    again.connection_page.connection_id.widget.setText("topstepx-main")
    assert again.save()
    config = load_config(tmp_path / "config.toml", profiles)
    assert config is not None
    assert config.accounts[0].key == "topstepx-main:TS-1"
    assert backend.entries == {(SERVICE, "topstepx-main:api_key"): "key"}


@pytest.mark.parametrize("size", [(1366, 768)])
def test_the_window_fits_the_small_screen(
    qtbot, tmp_path: Path, profiles: ProfileSet, size
) -> None:
    dialog = _dialog(qtbot, tmp_path, profiles)
    _paper_with_one_account(dialog)
    assert dialog.minimumSizeHint().width() <= size[0]
    assert dialog.minimumSizeHint().height() <= size[1] - 60
