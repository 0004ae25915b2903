"""The settings file: all or nothing, comments kept, secrets never in it."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from memory_keyring import LowPriorityKeyring, MemoryKeyring

from propdesk.config.model import (
    AccountConfig,
    BrokerKind,
    Config,
    ConfigError,
    Connection,
    Environment,
)
from propdesk.config.secrets import SERVICE, NoSecureKeyring, SecretStore
from propdesk.config.store import default_config_path, load_config, save_config
from propdesk.domain.firms import ProfileSet

TRADOVATE = Connection(
    "tv",
    BrokerKind.TRADOVATE,
    Environment.DEMO,
    {"username": "trader", "app_id": "propdesk", "cid": "42"},
)
CONFIG = Config(
    connections=(Connection("paper", BrokerKind.SIM), TRADOVATE),
    accounts=(
        AccountConfig("paper", "P-1", "topstep-combine-50k", name="Paper"),
        AccountConfig("tv", "DEMO123", "apex-eod-50k"),
    ),
)
SECRETS = {("tv", "password"): "hunter2", ("tv", "sec"): "s3cret"}


def test_save_then_load_round_trips_and_keeps_secrets_out_of_the_file(
    tmp_path: Path, profiles: ProfileSet
) -> None:
    path = tmp_path / "propdesk" / "config.toml"
    backend = MemoryKeyring()
    save_config(path, CONFIG, profiles, SecretStore(backend), SECRETS)
    assert load_config(path, profiles) == CONFIG
    text = path.read_text()
    assert "hunter2" not in text
    assert "s3cret" not in text
    assert "OS keyring" in text  # the header says where secrets live
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert backend.entries[(SERVICE, "tv:password")] == "hunter2"


def test_no_file_means_first_run(tmp_path: Path, profiles: ProfileSet) -> None:
    assert load_config(tmp_path / "missing.toml", profiles) is None


def test_a_broken_file_is_reported_not_guessed(tmp_path: Path, profiles: ProfileSet) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[[connections]\nid = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, profiles)


def test_the_users_comments_survive_a_save(tmp_path: Path, profiles: ProfileSet) -> None:
    path = tmp_path / "config.toml"
    store = SecretStore(MemoryKeyring())
    save_config(path, CONFIG, profiles, store, SECRETS)
    path.write_text(
        path.read_text().replace("[buffers]", "[buffers]\n# my own stops, agreed with my coach")
    )
    later = replace(CONFIG, accounts=CONFIG.accounts[:1])
    save_config(path, later, profiles, store, {})
    assert "# my own stops, agreed with my coach" in path.read_text()
    assert load_config(path, profiles) == later


def test_a_missing_secret_refuses_the_save_and_writes_nothing(
    tmp_path: Path, profiles: ProfileSet
) -> None:
    path = tmp_path / "config.toml"
    backend = MemoryKeyring()
    with pytest.raises(ConfigError) as refused:
        save_config(path, CONFIG, profiles, SecretStore(backend), {("tv", "password"): "x"})
    assert [i.field for i in refused.value.issues] == ["connections[1].sec"]
    assert not path.exists()
    assert backend.entries == {}


def test_without_a_secure_keyring_nothing_is_saved(tmp_path: Path, profiles: ProfileSet) -> None:
    path = tmp_path / "config.toml"
    path.write_text("version = 1\n")
    weak = LowPriorityKeyring()
    with pytest.raises(NoSecureKeyring):
        save_config(path, CONFIG, profiles, SecretStore(weak), SECRETS)
    assert path.read_text() == "version = 1\n"
    assert weak.entries == {}


def test_a_simulator_only_setup_needs_no_keyring(tmp_path: Path, profiles: ProfileSet) -> None:
    path = tmp_path / "config.toml"
    paper_only = replace(CONFIG, connections=CONFIG.connections[:1], accounts=CONFIG.accounts[:1])
    save_config(path, paper_only, profiles, SecretStore(LowPriorityKeyring()), {})
    assert load_config(path, profiles) == paper_only


def test_a_failed_write_takes_the_new_secrets_back(
    tmp_path: Path, profiles: ProfileSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    backend = MemoryKeyring()
    backend.entries[(SERVICE, "tv:password")] = "old"

    def fail(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("propdesk.config.store.write_atomically", fail)
    with pytest.raises(ConfigError, match="disk full"):
        save_config(path, CONFIG, profiles, SecretStore(backend), SECRETS)
    assert backend.entries == {(SERVICE, "tv:password"): "old"}
    assert not path.exists()


def test_the_config_path_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROPDESK_CONFIG", str(tmp_path / "x.toml"))
    assert default_config_path() == tmp_path / "x.toml"
    monkeypatch.delenv("PROPDESK_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_config_path() == tmp_path / "cfg" / "propdesk" / "config.toml"
