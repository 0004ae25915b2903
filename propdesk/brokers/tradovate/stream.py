"""One Tradovate WebSocket (the user socket or the market-data socket): open, authorize, requests
matched to their responses by id, the `[]` heartbeat every 2.5 s, and pushes handed to a callback.

The socket ends (and says why, once) on a close frame, a dropped transport, a malformed frame or a
callback that fails: the owner resets the connection rather than carry on with a view it cannot trust.
What the server says (close reasons, malformed frames) and what websockets logs (the authorize
frame carries the token) goes through the connection's `Redactor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from propdesk.brokers.base import BrokerError, SessionLost
from propdesk.brokers.redact import Redactor
from propdesk.brokers.tradovate.wire import (
    HEARTBEAT,
    FrameKind,
    MalformedFrame,
    Push,
    Response,
    encode_request,
    parse_frame,
)
from propdesk.domain.clock import Clock

log = logging.getLogger(__name__)
_WEBSOCKETS_LOG = logging.getLogger("websockets.client")

HEARTBEAT_SECONDS = 2.5  # Tradovate drops a client that stays quiet much longer
OPEN_TIMEOUT = 10.0  # real seconds for the transport, the `o` frame and each response

PushHandler = Callable[[Push], Awaitable[None]]
EndHandler = Callable[[str], None]


class TradovateSocket:
    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        name: str,
        on_push: PushHandler,
        on_end: EndHandler,
        redact: Redactor,
    ) -> None:
        self._url = url
        self._redact = redact
        self._clock = clock
        self._name = name
        self._on_push = on_push
        self._on_end = on_end
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Response]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._opened: asyncio.Future[None] | None = None
        self._ended = False
        self.last_frame_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self._ws is not None and not self._ended

    async def start(self, token: str) -> None:
        """Connect, wait for `o`, authorize with `token`; SessionLost if the token is refused."""
        loop = asyncio.get_running_loop()
        try:
            self._ws = await connect(
                self._url,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=None,
                max_size=2**23,
                logger=self._redact.logger(_WEBSOCKETS_LOG),
            )
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            raise BrokerError(
                self._redact(f"{self._name}: cannot open {self._url}: {exc}")
            ) from self._redact.cause(exc)
        self._opened = loop.create_future()
        self._tasks.append(loop.create_task(self._read(), name=f"{self._name} socket reader"))
        try:
            await asyncio.wait_for(asyncio.shield(self._opened), OPEN_TIMEOUT)
            response = await self._request("authorize", token)
        except BaseException:
            await self.close()
            raise
        if response.status == 401:
            await self.close()
            raise SessionLost(f"{self._name}: the socket refused the session's token (401)")
        if response.status != 200:
            await self.close()
            raise BrokerError(f"{self._name}: authorize answered {response.status}")
        self._tasks.append(loop.create_task(self._heartbeat(), name=f"{self._name} heartbeat"))

    async def request(self, endpoint: str, body: Any = None) -> Any:
        """A request on the socket; its `d` on status 200, BrokerError otherwise."""
        response = await self._request(endpoint, body)
        if response.status == 401:
            raise SessionLost(f"{self._name}: {endpoint}: 401")
        if response.status != 200:
            raise BrokerError(f"{self._name}: {endpoint} answered {response.status}")
        return response.data

    async def close(self) -> None:
        self._end("closed by the client")
        ws, self._ws = self._ws, None
        current = asyncio.current_task()
        tasks, self._tasks = [t for t in self._tasks if t is not current], []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)

    # ------------------------------------------------------------------------------------------
    async def _request(self, endpoint: str, body: Any) -> Response:
        ws = self._ws
        if ws is None or self._ended:
            raise BrokerError(f"{self._name}: the socket is closed")
        request_id = next(self._ids)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await ws.send(encode_request(endpoint, request_id, body))
            return await asyncio.wait_for(future, OPEN_TIMEOUT)
        except (websockets.WebSocketException, OSError) as exc:
            raise BrokerError(
                f"{self._name}: {endpoint}: {self._redact(exc)}"
            ) from self._redact.cause(exc)
        except TimeoutError as exc:
            raise BrokerError(f"{self._name}: {endpoint}: no answer") from exc
        finally:
            self._pending.pop(request_id, None)

    async def _heartbeat(self) -> None:
        while self._ws is not None and not self._ended:
            await self._clock.sleep(HEARTBEAT_SECONDS)
            try:
                await self._ws.send(HEARTBEAT)
            except (websockets.WebSocketException, OSError, AttributeError):
                return  # the reader notices the transport's end and says why

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        reason = "the connection closed"
        try:
            async for text in ws:
                self.last_frame_at = self._clock.now()
                frame = parse_frame(text)
                if frame.kind is FrameKind.OPEN:
                    if self._opened is not None and not self._opened.done():
                        self._opened.set_result(None)
                elif frame.kind is FrameKind.CLOSE:
                    reason = f"closed by Tradovate: {frame.close_reason or 'no reason given'}"
                    break
                for message in frame.messages:
                    if isinstance(message, Response):
                        future = self._pending.get(message.request_id)
                        if future is not None and not future.done():
                            future.set_result(message)
                    else:
                        await self._on_push(message)
        except MalformedFrame as exc:
            detail = self._redact(exc)
            log.warning("%s: malformed frame, resetting the connection: %s", self._name, detail)
            reason = f"malformed frame: {detail}"
        except (websockets.WebSocketException, OSError) as exc:
            reason = f"the connection dropped: {exc}"
        except asyncio.CancelledError:
            raise
        except ValueError as exc:  # a payload that does not read as Tradovate's entities
            detail = self._redact(exc)
            log.warning("%s: malformed payload, resetting the connection: %s", self._name, detail)
            reason = f"malformed payload: {detail}"
        except Exception as exc:  # a push the owner could not apply: its view is now suspect
            log.error(
                "%s: a push failed, resetting the connection\n%s",
                self._name,
                self._redact.traceback(exc),
            )
            reason = f"a message could not be applied: {exc!r}"
        self._end(self._redact(reason))
        with contextlib.suppress(Exception):
            await ws.close()

    def _end(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        error = BrokerError(f"{self._name}: {reason}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(error)
            self._opened.exception()  # retrieved here: start() may have stopped waiting
        if reason != "closed by the client":
            self._on_end(reason)
