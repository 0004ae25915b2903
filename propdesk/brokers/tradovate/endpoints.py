"""Where a Tradovate connection goes, and how it names itself to Tradovate.

Tradovate checks the app version and a device id at login; live environments are stricter about the
device id, so it must stay the same from one start to the next on one machine. It is not a secret: a
UUID derived from the connection id, the user name and the machine's id is enough, and needs no storage.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

APP_VERSION = "1.0"

_REST = {"demo": "https://demo.tradovateapi.com/v1", "live": "https://live.tradovateapi.com/v1"}
_USER_SOCKET = {
    "demo": "wss://demo.tradovateapi.com/v1/websocket",
    "live": "wss://live.tradovateapi.com/v1/websocket",
}
_MD_SOCKET = "wss://md.tradovateapi.com/v1/websocket"
_DEVICE_NAMESPACE = uuid.UUID("5b0f6f5e-4b0e-4f43-9d8c-7a1f2f5c0a11")
_MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


@dataclass(frozen=True, slots=True)
class Endpoints:
    rest: str  # base URL of the REST API, ending in /v1
    user_socket: str
    md_socket: str


def endpoints_for(environment: str, server: str = "") -> Endpoints:
    """Tradovate's own URLs for `environment`, or everything on `server` (a local test server).

    With `server`, the market-data socket is the user socket's URL too: the server tells the two
    apart by the token each one is authorized with.
    """
    if environment not in _REST:
        raise ValueError(f"unknown Tradovate environment {environment!r}: expected demo or live")
    if not server:
        return Endpoints(_REST[environment], _USER_SOCKET[environment], _MD_SOCKET)
    parts = urlsplit(server.rstrip("/"))
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise ValueError(f"server {server!r} is not an http(s) or ws(s) URL")
    secure = parts.scheme in ("https", "wss")
    path = parts.path if parts.path.endswith("/v1") else parts.path + "/v1"
    rest = urlunsplit(("https" if secure else "http", parts.netloc, path, "", ""))
    socket = urlunsplit(("wss" if secure else "ws", parts.netloc, path + "/websocket", "", ""))
    return Endpoints(rest, socket, socket)


def machine_id() -> str:
    """The OS's stable machine id where there is one; otherwise the MAC address uuid uses."""
    for path in _MACHINE_ID_FILES:
        try:
            text = path.read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text:
            return text
    return f"node-{uuid.getnode():012x}"


def device_id(connection: str, username: str, machine: str | None = None) -> str:
    """Stable per machine, connection and user; different users on one machine differ."""
    seed = f"{machine if machine is not None else machine_id()}/{connection}/{username}"
    return str(uuid.uuid5(_DEVICE_NAMESPACE, seed))
