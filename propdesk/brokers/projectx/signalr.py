"""A minimal ASP.NET SignalR client: the JSON hub protocol over one WebSocket.

Only what the ProjectX hubs need (research/broker-apis.md §2): WebSockets transport without the
negotiate step (as the official sample does), `?access_token=` authentication, the
`{"protocol":"json","version":1}` handshake, `\\x1e`-terminated records, invocations (type 1) both
ways, completions (3), pings (6) and close (7). No reconnect logic lives here: a closed or broken
hub raises, and the broker decides what that means.

The token rides in the URL, so the address websockets connects to and logs is a secret: whatever
this module reports (its errors, the server's words, websockets' debug log) goes through the
connection's `Redactor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from propdesk.brokers.redact import HEAD_MARGIN, Redactor

log = logging.getLogger(__name__)
_WEBSOCKETS_LOG = logging.getLogger("websockets.client")

SEPARATOR = "\x1e"
HANDSHAKE = json.dumps({"protocol": "json", "version": 1}) + SEPARATOR

INVOCATION, COMPLETION, PING, CLOSE = 1, 3, 6, 7


class HubError(Exception):
    """The hub cannot be used any more; `detail` says why, for the link event."""


class HubRefused(HubError):
    """The server refused the WebSocket upgrade; `status` is its HTTP status (401: bad token)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class HubClosed(HubError):
    """The server closed the hub: a type-7 record or the socket going away."""


class MalformedFrame(HubError):
    """A frame that is not SignalR JSON: the stream can no longer be trusted."""


@dataclass(frozen=True, slots=True)
class Invocation:
    target: str
    arguments: list[Any]


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":")) + SEPARATOR


def decode_records(text: str, redact: Callable[[str], str] = str) -> list[dict[str, Any]]:
    """The records of one text frame; raises MalformedFrame on anything but JSON objects.

    Numbers with a fraction become Decimal: prices must not pass through float on the way in.
    The frame's text in an error is redacted by `redact` before it is cut short.
    """
    if not text.endswith(SEPARATOR):
        raise MalformedFrame(f"a frame without the record separator: {_head(text, redact)!r}")
    records: list[dict[str, Any]] = []
    for raw in text.split(SEPARATOR)[:-1]:
        try:
            record = json.loads(raw, parse_float=Decimal)
        except ValueError as exc:
            raise MalformedFrame(
                f"a record that is not JSON ({exc}): {_head(raw, redact)!r}"
            ) from exc
        if not isinstance(record, dict):
            raise MalformedFrame(f"a record that is not a JSON object: {_head(raw, redact)!r}")
        records.append(record)
    return records


def _head(text: str, redact: Callable[[str], str]) -> str:
    """The start of a frame for an error: redacted before the cut, where half a secret leaks."""
    return redact(text[: 80 + HEAD_MARGIN])[:80]


class HubConnection:
    """One SignalR hub over one WebSocket; `frames` is called on every frame (liveness)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        on_frame: Callable[[], None],
        ping_every: float = 10.0,
        open_timeout: float = 10.0,
        redact: Redactor | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self._redact = redact if redact is not None else Redactor()
        self._redact.add(token)
        self._on_frame = on_frame
        self._ping_every = ping_every
        self._open_timeout = open_timeout
        self._socket: ClientConnection | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    async def open(self) -> None:
        """Connect and complete the handshake; raises HubRefused, HubError or OSError."""
        separator = "&" if "?" in self.url else "?"
        address = f"{self.url}{separator}access_token={quote(self._token, safe='')}"
        try:
            self._socket = await connect(
                address,
                open_timeout=self._open_timeout,
                ping_interval=None,  # SignalR's own pings keep the hub alive
                compression=None,
                max_size=4 * 1024 * 1024,
                logger=self._redact.logger(_WEBSOCKETS_LOG),
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise HubRefused(
                f"{self.url} refused the connection: HTTP {status}", status
            ) from self._redact.cause(exc)
        except (WebSocketException, TimeoutError) as exc:
            raise HubError(self._redact(f"{self.url}: {exc}")) from self._redact.cause(exc)
        try:
            await self._socket.send(HANDSHAKE)
            reply = await asyncio.wait_for(self._socket.recv(), self._open_timeout)
        except (ConnectionClosed, TimeoutError) as exc:
            await self.close()
            raise HubError(
                self._redact(f"{self.url}: no handshake reply ({exc})")
            ) from self._redact.cause(exc)
        records = decode_records(reply if isinstance(reply, str) else "", self._redact)
        if not records or records[0].get("error"):
            await self.close()
            detail = records[0].get("error") if records else "empty"
            raise HubError(self._redact(f"{self.url}: handshake refused: {detail}"))
        self._on_frame()
        self._pinger = asyncio.get_running_loop().create_task(self._ping())

    async def invoke(self, target: str, *arguments: object) -> None:
        """Send an invocation; its completion arrives on the stream (errors there are logged)."""
        socket = self._require()
        message = {
            "type": INVOCATION,
            "target": target,
            "arguments": list(arguments),
            "invocationId": str(next(self._ids)),
        }
        try:
            await socket.send(encode(message))
        except ConnectionClosed as exc:
            raise HubClosed(
                self._redact(f"{self.url} closed while sending {target}: {exc}")
            ) from self._redact.cause(exc)

    async def invocations(self) -> AsyncIterator[Invocation]:
        """The server's invocations, until the hub closes (HubClosed) or breaks (MalformedFrame)."""
        socket = self._require()
        while True:
            try:
                frame = await socket.recv()
            except ConnectionClosed as exc:
                raise HubClosed(self._redact(f"{self.url} closed: {exc}")) from self._redact.cause(
                    exc
                )
            self._on_frame()
            if not isinstance(frame, str):
                raise MalformedFrame(f"{self.url} sent a binary frame to a JSON hub")
            redact = self._redact
            for record in decode_records(frame, redact):
                kind = record.get("type")
                if kind == INVOCATION:
                    target, arguments = record.get("target"), record.get("arguments", [])
                    if not isinstance(target, str) or not isinstance(arguments, list):
                        raise MalformedFrame(
                            f"an invocation without target/arguments: {redact(record)}"
                        )
                    yield Invocation(target, arguments)
                elif kind == COMPLETION:
                    if record.get("error"):
                        log.warning("%s: invocation failed: %s", self.url, redact(record["error"]))
                elif kind == CLOSE:
                    raise HubClosed(
                        redact(record.get("error") or f"{self.url} closed by the server")
                    )
                elif kind == PING or isinstance(kind, int):
                    continue  # streaming and cancel records are not used by these hubs
                else:
                    raise MalformedFrame(f"a record without a message type: {redact(record)}")

    async def close(self) -> None:
        pinger, self._pinger = self._pinger, None
        if pinger is not None:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
        socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(), 1.0)

    def _require(self) -> ClientConnection:
        if self._socket is None:
            raise HubClosed(f"{self.url} is not open")
        return self._socket

    async def _ping(self) -> None:
        # The server drops a client it has not heard from in 30 s (ASP.NET's default).
        ping = encode({"type": PING})
        while True:
            await asyncio.sleep(self._ping_every)
            socket = self._socket
            if socket is None:
                return
            try:
                await socket.send(ping)
            except ConnectionClosed:
                return
