"""The ProjectX Gateway's REST side: POST JSON with a Bearer token, 429 backoff, `success` checks.

Logical errors come back as HTTP 200 with `success: false` (research/broker-apis.md §2): those are
`BrokerError(retryable=False)`. HTTP 429 is retried after the server's `Retry-After` (or a short
backoff) a few times before giving up retryably; a 401 means the token is gone (`TokenRejected`).
What the gateway says goes through the client's `Redactor` before it enters an error: a refusal may
echo the API key or the token. The key and every token received are added to it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from propdesk.brokers.base import BrokerError, SessionLost
from propdesk.brokers.redact import Redactor

RATE_LIMIT_BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0)  # seconds, when the server names no Retry-After
MAX_RETRY_AFTER = 30.0  # never sleep longer than this on one 429 (a kill is waiting)


class TokenRejected(SessionLost):
    """HTTP 401: the session's token expired or was revoked."""


def _wire(value: object) -> object:
    # JSON has one number type; a tick-aligned Decimal's float repr is the same decimal text.
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")


class RestClient:
    """One gateway's REST API; `token` is set by `login_key` and replaced by `validate`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        backoff: Sequence[float] = RATE_LIMIT_BACKOFF,
        redact: Redactor | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None
        self.redact = redact if redact is not None else Redactor()
        self._timeout = timeout
        self._backoff = tuple(backoff)
        self._http: httpx.AsyncClient | None = None
        self.throttled = 0  # 429s met so far, for the console and the tests

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        return self._http

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def login_key(self, username: str, api_key: str) -> str:
        self.redact.add(api_key)
        reply = await self.post(
            "Auth/loginKey", {"userName": username, "apiKey": api_key}, auth=False
        )
        token = reply.get("token")
        if not isinstance(token, str) or not token:
            raise BrokerError("the gateway accepted the login but sent no token", retryable=False)
        self.redact.add(token)
        self.token = token
        return token

    async def validate(self) -> str:
        """Extend the session; the gateway may hand back a new token, which replaces the old."""
        reply = await self.post("Auth/validate", {})
        token = reply.get("newToken")
        if isinstance(token, str) and token:
            self.redact.add(token)
            self.token = token
        assert self.token is not None
        return self.token

    async def post(self, path: str, body: dict[str, Any], *, auth: bool = True) -> dict[str, Any]:
        url = f"{self.base_url}/{path}"
        content = json.dumps(body, default=_wire)
        attempt = 0
        while True:
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            if auth:
                if self.token is None:
                    raise BrokerError(f"{path}: not logged in", retryable=False)
                headers["Authorization"] = f"Bearer {self.token}"
            try:
                response = await self._client().post(url, content=content, headers=headers)
            except httpx.TimeoutException as exc:
                raise BrokerError(
                    f"{path}: no answer in {self._timeout:g} s ({self.redact(repr(exc))})"
                ) from self.redact.cause(exc)
            except httpx.HTTPError as exc:
                raise BrokerError(f"{path}: {self.redact(repr(exc))}") from self.redact.cause(exc)
            if response.status_code == 429:
                self.throttled += 1
                if attempt >= len(self._backoff):
                    raise BrokerError(f"{path}: rate limited (HTTP 429) {attempt + 1} times")
                # Real seconds, not the runtime's clock: the gateway's rate window is wall time.
                await asyncio.sleep(self._retry_after(response, attempt))
                attempt += 1
                continue
            return self._reply(path, response)

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        try:
            delay = float(header) if header is not None else self._backoff[attempt]
        except ValueError:
            delay = self._backoff[attempt]  # an HTTP date: not worth parsing for a short wait
        return min(max(delay, 0.0), MAX_RETRY_AFTER)

    def _reply(self, path: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status == 401:
            raise TokenRejected(f"{path}: the gateway rejected the session token (HTTP 401)")
        if status >= 500:
            raise BrokerError(f"{path}: gateway error HTTP {status}")
        if status != 200:
            raise BrokerError(f"{path}: HTTP {status}: {self._said(response)}", retryable=False)
        try:
            reply = json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            said = self._said(response)
            raise BrokerError(f"{path}: the reply is not JSON: {said!r}") from self.redact.cause(
                exc
            )
        if not isinstance(reply, dict):
            raise BrokerError(f"{path}: the reply is not a JSON object: {self._said(response)!r}")
        if reply.get("success") is not True:
            message = reply.get("errorMessage") or f"error code {reply.get('errorCode')}"
            raise BrokerError(f"{path}: {self.redact(message)}", retryable=False)
        return reply

    def _said(self, response: httpx.Response) -> str:
        """The start of what the gateway said, redacted."""
        return self.redact.head(response.text, 200)
