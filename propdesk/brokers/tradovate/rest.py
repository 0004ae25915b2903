"""Tradovate's REST API over httpx: login once, renew, and JSON requests with the session's token.

Failures become `BrokerError`s the kill switch understands: transport errors and HTTP 429/5xx are
retryable; a 401 means the token was revoked (another login took the session, or it expired) and is
`SessionLost`, because logging in again would fight the strategy for the session. A penalty ticket
(`p-ticket`) is honoured by waiting `p-time` seconds and resending with the ticket; `p-captcha`
cannot be solved by a program and fails the login.

Whatever the server answers goes through the session's `Redactor` before it enters an error: a
refusal may echo the login's password and API secret, or the request's token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from propdesk.brokers.base import BrokerError, SessionLost
from propdesk.brokers.redact import Redactor
from propdesk.domain.clock import Clock

log = logging.getLogger(__name__)

MAX_P_TICKETS = 3  # penalty tickets honoured in a row before the request is given up
REQUEST_TIMEOUT = 10.0  # seconds; Tradovate answers in milliseconds when it answers at all


@dataclass(frozen=True, slots=True)
class Credentials:
    name: str
    password: str
    app_id: str
    app_version: str
    cid: str
    sec: str
    device_id: str

    def body(self) -> dict[str, Any]:
        cid: int | str = int(self.cid) if self.cid.isdigit() else self.cid
        return {
            "name": self.name,
            "password": self.password,
            "appId": self.app_id,
            "appVersion": self.app_version,
            "cid": cid,
            "sec": self.sec,
            "deviceId": self.device_id,
        }

    def secrets(self) -> tuple[str, str]:
        return self.password, self.sec


@dataclass(frozen=True, slots=True)
class Token:
    access: str
    md_access: str
    expires: datetime
    user_id: int


class RestClient:
    """One session's REST side; `token` is set by `login` and replaced by `renew`.

    Every token received is added to `redact`, which hides them in what the server says.
    """

    def __init__(
        self, base_url: str, clock: Clock, *, name: str, redact: Redactor | None = None
    ) -> None:
        self._base = base_url.rstrip("/")
        self._clock = clock
        self._name = name
        self.redact = redact if redact is not None else Redactor()
        self._http: httpx.AsyncClient | None = None
        self.token: Token | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(
                base_url=self._base,
                timeout=REQUEST_TIMEOUT,
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- the session --------------------------------------------------------------------------
    async def login(self, credentials: Credentials) -> Token:
        """`auth/accesstokenrequest`: the one login of a session."""
        self.redact.add(*credentials.secrets())
        data = await self._send("POST", "/auth/accesstokenrequest", credentials.body(), auth=False)
        self.token = self._token(data, what="login")
        return self.token

    async def renew(self) -> Token:
        """`auth/renewaccesstoken`: extends the session without a new login (nobody is kicked)."""
        data = await self._send("GET", "/auth/renewaccesstoken", None)
        current = self.token
        token = self._token(data, what="token renewal")
        if current is not None and not token.md_access:
            token = Token(token.access, current.md_access, token.expires, token.user_id)
        self.token = token
        return token

    def _token(self, data: Any, *, what: str) -> Token:
        redact = self.redact
        if not isinstance(data, dict):
            raise BrokerError(f"{self._name}: {what} answered {redact.head(repr(data), 120)}")
        # Whatever came, its tokens are secrets from here on, even if the rest is unusable.
        redact.add(*(str(data.get(k) or "") for k in ("accessToken", "mdAccessToken")))
        if data.get("errorText"):
            raise BrokerError(
                f"{self._name}: {what} refused: {redact(data['errorText'])}", retryable=False
            )
        try:
            expires = datetime.fromisoformat(str(data["expirationTime"]))
            user_id = data.get("userId")
            if user_id is None and self.token is not None:
                user_id = self.token.user_id
            return Token(
                str(data["accessToken"]),
                str(data.get("mdAccessToken") or ""),
                expires,
                int(user_id),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BrokerError(
                f"{self._name}: {what} answered without a token: {redact(exc)}"
            ) from redact.cause(exc)

    # -- requests -----------------------------------------------------------------------------
    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self._send("GET", path, None, params=params)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return await self._send("POST", path, body)

    async def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        params: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        for _ in range(MAX_P_TICKETS + 1):
            data = await self._once(method, path, body, params, auth)
            ticket = data.get("p-ticket") if isinstance(data, dict) else None
            if not ticket:
                return data
            if data.get("p-captcha"):
                raise BrokerError(
                    f"{self._name}: Tradovate asks for a captcha on {path} (too many requests); "
                    "wait about an hour before signing in again",
                    retryable=False,
                )
            wait = _seconds(data.get("p-time"))
            log.warning("%s: penalty ticket on %s, waiting %.1f s", self._name, path, wait)
            await self._clock.sleep(wait)
            body = {**(body or {}), "p-ticket": ticket}
        raise BrokerError(f"{self._name}: {path}: still throttled after {MAX_P_TICKETS} tickets")

    async def _once(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str] | None,
        auth: bool,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if auth:
            if self.token is None:
                raise BrokerError(f"{self._name}: not signed in", retryable=False)
            headers["Authorization"] = f"Bearer {self.token.access}"
        try:
            response = await self._client().request(
                method, path, json=body, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise BrokerError(
                f"{self._name}: {path}: {type(exc).__name__}: {self.redact(exc)}"
            ) from self.redact.cause(exc)
        status = response.status_code
        if status == 401:
            raise SessionLost(f"{self._name}: {path}: HTTP 401, the session's token is not valid")
        if status == 429:
            raise BrokerError(f"{self._name}: {path}: HTTP 429, rate limited by Tradovate")
        if status >= 400:
            retryable = status >= 500 or status in (408, 423)
            text = self.redact.head(response.text, 160)
            raise BrokerError(f"{self._name}: {path}: HTTP {status} {text}", retryable=retryable)
        try:
            return response.json()
        except ValueError as exc:
            raise BrokerError(f"{self._name}: {path}: the answer is not JSON") from exc


def _seconds(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1.0
    return min(max(seconds, 0.0), 3600.0)
