"""Settings → adapter: environments, the server override, the device id, missing secrets."""

from __future__ import annotations

import pytest

from propdesk.brokers.tradovate import SettingsError, device_id, endpoints_for, from_settings
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import SteadyClock


def test_demo_and_live_use_tradovates_own_urls() -> None:
    demo, live = endpoints_for("demo"), endpoints_for("live")
    assert demo.rest == "https://demo.tradovateapi.com/v1"
    assert live.rest == "https://live.tradovateapi.com/v1"
    assert live.user_socket == "wss://live.tradovateapi.com/v1/websocket"
    assert demo.md_socket == live.md_socket == "wss://md.tradovateapi.com/v1/websocket"
    with pytest.raises(ValueError, match="environment"):
        endpoints_for("paper")


def test_a_server_override_puts_everything_on_it() -> None:
    local = endpoints_for("live", "http://127.0.0.1:5000")
    assert local.rest == "http://127.0.0.1:5000/v1"
    assert local.user_socket == local.md_socket == "ws://127.0.0.1:5000/v1/websocket"
    assert endpoints_for("demo", "https://proxy.example/v1").user_socket == (
        "wss://proxy.example/v1/websocket"
    )


def test_the_device_id_is_stable_per_machine_connection_and_user() -> None:
    assert device_id("tdv", "ann", "m1") == device_id("tdv", "ann", "m1")
    assert device_id("tdv", "ann", "m1") != device_id("tdv", "ann", "m2")
    assert device_id("tdv", "ann", "m1") != device_id("tdv2", "ann", "m1")
    assert device_id("tdv", "ann") == device_id("tdv", "ann"), "the real machine id is stable"


def test_missing_values_and_secrets_are_named(instruments: InstrumentBook) -> None:
    with pytest.raises(SettingsError, match=r"cid, sec \(keyring\)"):
        from_settings(
            {"username": "ann", "app_id": "propdesk"},
            environment="demo",
            server="",
            secret={"password": "pw"}.get,
            accounts=["DEMO1"],
            instruments=instruments,
            clock=SteadyClock(),
            name="tdv",
        )
