"""Which gateway a ProjectX connection talks to: the firm table and the `server` override.

Every firm on ProjectX runs its own gateway (REST base and hubs base); the table is data, in
resources/projectx_firms.toml. A connection's `server` setting replaces the firm's REST base (a
local test server, or a firm not in the table yet). The hubs then default to the same host under
`/hubs` (`http://host:port/api` → `ws://host:port/hubs`), which is how a single-port server (the
tests' fake) lays them out; a `hubs` setting overrides that when a gateway puts them elsewhere, as
TopstepX does (`rtc.` beside `api.`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

FIRMS_RESOURCE = "projectx_firms.toml"


class FirmTableError(ValueError):
    """projectx_firms.toml is malformed, or a connection names a firm it does not list."""


@dataclass(frozen=True, slots=True)
class Gateway:
    """One ProjectX gateway: `api` is the REST base, `hubs` the base of /user and /market."""

    name: str
    api: str
    hubs: str
    verified: bool = False

    @property
    def user_hub(self) -> str:
        return f"{_websocket(self.hubs)}/user"

    @property
    def market_hub(self) -> str:
        return f"{_websocket(self.hubs)}/market"


def parse_firms(text: str) -> dict[str, Gateway]:
    """The firm table (the TOML text; reading the file is the caller's job)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FirmTableError(f"{FIRMS_RESOURCE} is not valid TOML: {exc}") from exc
    firms = document.get("firms")
    if not isinstance(firms, dict) or not firms:
        raise FirmTableError(f"{FIRMS_RESOURCE}: no [firms.<key>] tables")
    table: dict[str, Gateway] = {}
    for key, entry in firms.items():
        if not isinstance(entry, dict):
            raise FirmTableError(f"{FIRMS_RESOURCE}: firms.{key} must be a table")
        values = {}
        for name in ("name", "api", "hubs"):
            value = entry.get(name)
            if not isinstance(value, str) or not value.strip():
                raise FirmTableError(f"{FIRMS_RESOURCE}: firms.{key}.{name} must be a string")
            values[name] = value.strip().rstrip("/")
        for name in ("api", "hubs"):
            _check_url(values[name], f"{FIRMS_RESOURCE}: firms.{key}.{name}")
        table[key.lower()] = Gateway(
            values["name"], values["api"], values["hubs"], entry.get("verified") is True
        )
    return table


def load_firms() -> dict[str, Gateway]:
    """The firm table shipped with propdesk."""
    from propdesk.resources import read_text  # data files only; resources import nothing above

    return parse_firms(read_text(FIRMS_RESOURCE))


def gateway_for(firm: str, server: str, firms: Mapping[str, Gateway], *, hubs: str = "") -> Gateway:
    """The gateway a connection uses: its `server` (and `hubs`) if set, else its firm's."""
    if server:
        _check_url(server, "server")
        base = server.rstrip("/")
        hub_base = hubs.rstrip("/") if hubs else _hubs_beside(base)
        _check_url(hub_base, "hubs")
        return Gateway(f"{firm or 'ProjectX'} at {base}", base, hub_base)
    key = firm.strip().lower()
    if not key:
        raise FirmTableError(
            f"choose the firm whose gateway to use (one of {', '.join(sorted(firms))}) "
            "or set the connection's server"
        )
    gateway = firms.get(key)
    if gateway is None:
        raise FirmTableError(
            f"no ProjectX gateway is known for firm {firm!r} (known: {', '.join(sorted(firms))}); "
            "set the connection's server to the firm's API base URL"
        )
    if hubs:
        _check_url(hubs, "hubs")
        return Gateway(gateway.name, gateway.api, hubs.rstrip("/"), gateway.verified)
    return gateway


def _hubs_beside(api: str) -> str:
    parts = urlsplit(api)
    return urlunsplit((parts.scheme, parts.netloc, "/hubs", "", ""))


def _websocket(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def _check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise FirmTableError(f"{where}: {url!r} is not an http(s) or ws(s) URL")
