"""The one entry point the composition root calls: a TradovateBroker from a connection's settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from propdesk.brokers.base import Broker
from propdesk.brokers.tradovate.broker import TradovateBroker
from propdesk.brokers.tradovate.endpoints import APP_VERSION, device_id, endpoints_for
from propdesk.brokers.tradovate.rest import Credentials
from propdesk.domain.clock import Clock
from propdesk.domain.instruments import InstrumentBook

PLAIN_VALUES = ("username", "app_id", "cid")
SECRETS = ("password", "sec")


class SettingsError(ValueError):
    """The connection's settings lack something a Tradovate login needs."""


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
    """`values` holds username, app_id and cid; `secret` gives "password" and "sec" (the keyring)."""
    missing = [key for key in PLAIN_VALUES if not values.get(key, "").strip()]
    found = {key: secret(key) for key in SECRETS}
    missing += [f"{key} (keyring)" for key, value in found.items() if not value]
    if missing:
        raise SettingsError(f"Tradovate connection {name!r} lacks {', '.join(missing)}")
    try:
        endpoints = endpoints_for(environment, server)
    except ValueError as exc:
        raise SettingsError(f"Tradovate connection {name!r}: {exc}") from exc
    username = values["username"].strip()
    credentials = Credentials(
        name=username,
        password=found["password"] or "",
        app_id=values["app_id"].strip(),
        app_version=APP_VERSION,
        cid=values["cid"].strip(),
        sec=found["sec"] or "",
        device_id=device_id(name, username),
    )
    return TradovateBroker(
        name=name,
        endpoints=endpoints,
        credentials=credentials,
        accounts=accounts,
        instruments=instruments,
        clock=clock,
    )
