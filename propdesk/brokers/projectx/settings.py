"""Building a ProjectX connection from the settings: the composition root's one entry point."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from propdesk.brokers.base import Broker
from propdesk.brokers.projectx.broker import ProjectXBroker
from propdesk.brokers.projectx.firms import Gateway, gateway_for, load_firms
from propdesk.domain.clock import Clock
from propdesk.domain.instruments import InstrumentBook


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
    firms: Mapping[str, Gateway] | None = None,
) -> Broker:
    """A ProjectX broker for one connection; ValueError says what is missing or unknown.

    `values`: `username`, `firm` (a key of resources/projectx_firms.toml) and optionally `hubs`
    (the hubs' base URL, when `server` points somewhere whose hubs are not under the same host's
    `/hubs`). `server` replaces the firm's REST base. `secret("api_key")` is the API key.
    `environment` picks nothing here: a firm's practice and funded accounts share its gateway, and
    the ProjectX demo gateway is a firm entry of its own ("demo").
    """
    del environment
    username = (values.get("username") or "").strip()
    if not username:
        raise ValueError(f"{name}: the ProjectX user name is not set")
    api_key = secret("api_key")
    if not api_key:
        raise ValueError(f"{name}: no API key in the keyring for this connection")
    if not accounts:
        raise ValueError(f"{name}: no account is set up on this connection")
    gateway = gateway_for(
        values.get("firm", ""),
        server,
        firms if firms is not None else load_firms(),
        hubs=values.get("hubs", ""),
    )
    return ProjectXBroker(
        name=name,
        gateway=gateway,
        username=username,
        api_key=api_key,
        accounts=accounts,
        instruments=instruments,
        clock=clock,
    )
