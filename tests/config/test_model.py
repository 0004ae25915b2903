"""The settings' data model: every problem is reported against the field it belongs to."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from propdesk.config.model import (
    AccountConfig,
    BrokerKind,
    Config,
    ConfigError,
    Connection,
    Environment,
    account_profile,
    config_to_data,
)
from propdesk.config.parse import parse_config
from propdesk.domain.firms import ProfileSet


def _valid() -> dict[str, Any]:
    return {
        "version": 1,
        "connections": [
            {"id": "paper", "broker": "sim", "demo_strategy": True},
            {
                "id": "tv-main",
                "broker": "tradovate",
                "environment": "live",
                "username": "trader",
                "app_id": "propdesk",
                "cid": "1234",
            },
        ],
        "accounts": [
            {
                "connection": "paper",
                "account_id": "P-1",
                "profile": "topstep-combine-50k",
                "name": "Paper Topstep",
                "cluster": "trend",
                "overrides": {"max_loss.amount": "1500"},
            },
            {"connection": "tv-main", "account_id": "APEX-9", "profile": "apex-eod-50k"},
        ],
        "buffers": {"stop_fraction": "70%", "cutoff_buffer_minutes": 20},
        "disconnect": {"flatten_after_seconds": 30},
        "alerts": {"sound": False, "phone_url": "https://ntfy.sh/my-desk"},
    }


def _issues(data: dict[str, Any], profiles: ProfileSet) -> dict[str, str]:
    with pytest.raises(ConfigError) as error:
        parse_config(data, profiles)
    return {issue.field: issue.message for issue in error.value.issues}


def test_a_valid_file_reads_into_typed_settings(profiles: ProfileSet) -> None:
    config = parse_config(_valid(), profiles)
    paper, tradovate = config.connections
    assert paper.broker is BrokerKind.SIM
    assert paper.demo_strategy
    assert tradovate.environment is Environment.LIVE
    assert tradovate.username == "trader"
    assert config.accounts[0].key == "paper:P-1"
    assert config.buffers.stop_fraction == Decimal("0.70")
    protocol = config.protocol()
    assert protocol.stop_fraction == Decimal("0.70")
    assert protocol.cutoff_buffer == timedelta(minutes=20)
    assert protocol.connection_down_limit == timedelta(seconds=30)
    assert not config.alerts.sound
    assert config.alerts.phone_url == "https://ntfy.sh/my-desk"


def test_the_file_form_reads_back_to_the_same_settings(profiles: ProfileSet) -> None:
    config = parse_config(_valid(), profiles)
    assert parse_config(config_to_data(config), profiles) == config


def test_overrides_apply_and_are_labelled_as_the_users(profiles: ProfileSet) -> None:
    config = parse_config(_valid(), profiles)
    from datetime import date

    profile = account_profile(config.accounts[0], profiles, date(2026, 11, 25))
    assert profile.max_loss.amount.value == Decimal(1500)
    assert profile.max_loss.amount.source == "user override"


def test_every_problem_names_its_field(profiles: ProfileSet) -> None:
    data = _valid()
    data["connections"].append({"id": "Bad Id!", "broker": "sim"})
    data["connections"].append({"id": "px", "broker": "projectx"})
    data["connections"].append({"id": "cqg", "broker": "cqg"})
    data["connections"][1]["cid"] = "abc"
    data["connections"][1]["password"] = "hunter2"
    data["accounts"].append({"connection": "nowhere", "account_id": "", "profile": "acme-1m"})
    data["accounts"].append(
        {
            "connection": "paper",
            "account_id": "P-2",
            "profile": "apex-eod-50k",
            "overrides": {"max_loss.amount": "lots"},
        }
    )
    data["buffers"] = {"warn_fraction": "1.5", "cutoff_buffer_minutes": "soon"}
    data["disconnect"] = {"flatten_after_seconds": -1}
    data["alerts"] = {"phone_url": "ftp://x", "phone_min_level": "loud", "desktop": "yes"}
    issues = _issues(data, profiles)
    assert "lower case" in issues["connections[2].id"]
    assert (
        issues["connections[3].username"]
        == "User name is required for ProjectX (TopstepX and other firms)"
    )
    assert "firm" in issues["connections[3].firm"].lower()
    assert "not a broker propdesk knows" in issues["connections[4].broker"]
    assert issues["connections[1].cid"] == "the CID is a number"
    assert "secrets go to the keyring: Settings → Connections" in issues["connections[1].password"]
    assert "no connection is named 'nowhere'" in issues["accounts[2].connection"]
    assert "required" in issues["accounts[2].account_id"]
    assert "no firm profile is named 'acme-1m'" in issues["accounts[2].profile"]
    assert any(f.startswith("accounts[3].overrides.max_loss.amount") for f in issues)
    assert "between 0 and 1" in issues["buffers.warn_fraction"]
    assert "whole number" in issues["buffers.cutoff_buffer_minutes"]
    assert "from 0 to 3600" in issues["disconnect.flatten_after_seconds"]
    assert "http(s)" in issues["alerts.phone_url"]
    assert "one of" in issues["alerts.phone_min_level"]
    assert "true or false" in issues["alerts.desktop"]


def test_duplicates_are_refused(profiles: ProfileSet) -> None:
    data = _valid()
    data["connections"].append({"id": "paper", "broker": "sim"})
    data["accounts"].append(dict(data["accounts"][0]))
    issues = _issues(data, profiles)
    assert "used by another connection" in issues["connections[2].id"]
    assert "already set up" in issues["accounts[2].account_id"]


def test_levels_must_rise_warn_then_reduce_then_stop(profiles: ProfileSet) -> None:
    data = _valid()
    data["buffers"] = {"warn_fraction": "0.6", "reduce_fraction": "0.55", "stop_fraction": "0.7"}
    assert "each level must be above the last" in _issues(data, profiles)["buffers.stop_fraction"]


def test_the_last_line_after_an_unlock_is_a_setting_above_the_stop(profiles: ProfileSet) -> None:
    data = _valid()
    data["buffers"] = {"last_line_fraction": "85%"}
    config = parse_config(data, profiles)
    assert config.protocol().last_line_fraction == Decimal("0.85")
    assert config_to_data(config)["buffers"]["last_line_fraction"] == "0.85"
    data["buffers"] = {"stop_fraction": "0.8", "last_line_fraction": "0.7"}
    assert "between your stop" in _issues(data, profiles)["buffers.last_line_fraction"]


def test_a_zero_disconnect_limit_turns_the_policy_off(profiles: ProfileSet) -> None:
    data = _valid()
    data["disconnect"] = {"flatten_after_seconds": 0}
    assert parse_config(data, profiles).protocol().connection_down_limit is None


def test_an_empty_file_is_the_default_settings(profiles: ProfileSet) -> None:
    config = parse_config({}, profiles)
    assert config == Config()
    assert config.protocol().stop_fraction == Decimal("0.75")


def test_lookups(profiles: ProfileSet) -> None:
    config = Config(
        connections=(Connection("a", BrokerKind.SIM),),
        accounts=(AccountConfig("a", "1", "apex-eod-50k"),),
    )
    assert config.connection("a") is config.connections[0]
    assert config.connection("b") is None
