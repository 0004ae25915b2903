"""`from_settings`: what a Rithmic connection needs, and where it connects."""

from __future__ import annotations

import logging

import pytest
from async_rithmic.helpers import background_task_mixin
from async_rithmic.plants.base import TEMPLATES_MAP

from propdesk.brokers.rithmic import (
    RithmicBroker,
    SettingsError,
    explain,
    from_settings,
    gateway_url,
)
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import SteadyClock


def _build(
    values: dict[str, str], secrets: dict[str, str], instruments: InstrumentBook, **kw: str
) -> RithmicBroker:
    broker = from_settings(
        values,
        environment=kw.get("environment", "demo"),
        server=kw.get("server", ""),
        secret=secrets.get,
        accounts=["A1", " "],
        instruments=instruments,
        clock=SteadyClock(),
        name="rith-demo",
    )
    assert isinstance(broker, RithmicBroker)
    return broker


def test_a_complete_demo_connection_uses_the_test_gateway(instruments: InstrumentBook) -> None:
    broker = _build(
        {"username": " trader ", "system": "Rithmic Test"}, {"password": "pw"}, instruments
    )
    login = broker.wire.login
    assert (login.url, login.user, login.system, login.app_name) == (
        "wss://rituz00100.rithmic.com:443",
        "trader",
        "Rithmic Test",
        "propdesk",
    )
    assert broker.name == "rith-demo"


def test_missing_values_and_secrets_are_named(instruments: InstrumentBook) -> None:
    with pytest.raises(SettingsError, match=r"lacks system, password \(keyring\)"):
        _build({"username": "trader"}, {}, instruments)


def test_a_live_connection_needs_the_firms_gateway(instruments: InstrumentBook) -> None:
    with pytest.raises(SettingsError, match="gateway URL your firm gave you"):
        _build(
            {"username": "t", "system": "Rithmic 01"},
            {"password": "pw"},
            instruments,
            environment="live",
        )
    broker = _build(
        {"username": "t", "system": "Rithmic 01", "gateway": "rprotocol.example:443"},
        {"password": "pw"},
        instruments,
        environment="live",
    )
    assert broker.wire.login.url == "wss://rprotocol.example:443"


def test_the_server_override_wins_and_must_be_a_websocket_url() -> None:
    assert gateway_url("live", "ws://127.0.0.1:5000", "wss://gw:443") == "ws://127.0.0.1:5000"
    with pytest.raises(SettingsError, match="not a WebSocket URL"):
        gateway_url("demo", "https://127.0.0.1:5000", "")
    with pytest.raises(SettingsError, match="is a name, not an address"):
        gateway_url("live", "", "Chicago Area")


def test_refusals_are_explained() -> None:
    assert "API access" in explain(["13", "permission denied"], "the login")
    assert explain(["5", "order is not working"], "the cancel") == (
        "Rithmic refused the cancel: order is not working (rp_code 5)"
    )
    assert "no reason given" in explain([], "x")


def test_the_librarys_debug_line_is_rendered_only_when_debug_logging_is_on() -> None:
    heartbeat = TEMPLATES_MAP[19](template_id=19)
    library = logging.getLogger("rithmic")
    before = library.level
    try:
        library.setLevel(logging.INFO)
        assert background_task_mixin.MessageToDict(heartbeat) == ""
        library.setLevel(logging.DEBUG)
        assert background_task_mixin.MessageToDict(heartbeat) == {"templateId": 19}
    finally:
        library.setLevel(before)
