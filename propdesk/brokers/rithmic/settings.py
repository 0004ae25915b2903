"""The one entry point the composition root calls: a RithmicBroker from a connection's settings.

Plain values: `username`, `system` (the Rithmic system name, e.g. "Rithmic Test", "Rithmic 01",
or the firm's own), `gateway` (optional: the gateway URL the firm gave, e.g.
"wss://rprotocol.rithmic.com:443"), `app_name` (optional: the name Rithmic approved at conformance).
Secret: `password`. `server` overrides the gateway (a local fake). Without either, only the demo
environment has a known gateway: Rithmic's test gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from propdesk import __version__
from propdesk.brokers.base import Broker
from propdesk.brokers.rithmic.broker import RithmicBroker
from propdesk.brokers.rithmic.wire import Login
from propdesk.domain.clock import Clock
from propdesk.domain.instruments import InstrumentBook

TEST_GATEWAY = "wss://rituz00100.rithmic.com:443"
APP_NAME = "propdesk"


class SettingsError(ValueError):
    """The connection's settings lack something a Rithmic login needs."""


def gateway_url(environment: str, server: str, gateway: str) -> str:
    url = server.strip() or gateway.strip()
    if not url:
        if environment != "demo":
            raise SettingsError(
                "a live Rithmic connection needs the gateway URL your firm gave you"
            )
        url = TEST_GATEWAY
    if "://" not in url:
        if "." not in url:
            # R|Trader's gateway names ("Chicago Area") have no published R|Protocol address.
            raise SettingsError(
                f"gateway {url!r} is a name, not an address: give the R|Protocol URL "
                "(wss://host:port) your firm or Rithmic gave you"
            )
        url = f"wss://{url}"
    if not url.startswith(("wss://", "ws://")):
        raise SettingsError(f"gateway {url!r} is not a WebSocket URL (wss://host:port)")
    return url


def from_settings(
    values: Mapping[str, str],
    *,
    environment: str,
    server: str,
    secret: Callable[[str], str | None],
    accounts: Sequence[str],
    instruments: InstrumentBook,
    clock: Clock,
    name: str,
) -> Broker:
    missing = [key for key in ("username", "system") if not values.get(key, "").strip()]
    password = secret("password")
    if not password:
        missing.append("password (keyring)")
    if missing:
        raise SettingsError(f"Rithmic connection {name!r} lacks {', '.join(missing)}")
    try:
        url = gateway_url(environment, server, values.get("gateway", ""))
    except SettingsError as exc:
        raise SettingsError(f"Rithmic connection {name!r}: {exc}") from exc
    login = Login(
        url=url,
        user=values["username"].strip(),
        password=password,
        system=values["system"].strip(),
        app_name=values.get("app_name", "").strip() or APP_NAME,
        app_version=__version__,
    )
    return RithmicBroker(
        name=name,
        login=login,
        accounts=[a.strip() for a in accounts if a.strip()],
        instruments=instruments,
        clock=clock,
    )
