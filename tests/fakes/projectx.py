"""A loopback ProjectX Gateway: REST under `/api` and the SignalR hubs under `/hubs`, on one port.

It speaks what propdesk's adapter needs (research/broker-apis.md §2 and §6): `Auth/loginKey`,
`Auth/validate` (a `newToken`), account, position, order and trade reads, `Order/place`,
`Order/cancel`, `Position/closeContract`, `Position/partialCloseContract`, `GET Status/ping`;
logical errors as HTTP 200 with `success: false`, 401 for a bad token, 429 when throttled.
The hubs `/hubs/user` and `/hubs/market` take an optional `POST …/negotiate`, then a WebSocket with
`?access_token=` (a bad token is refused with 401), `\\x1e`-framed JSON records, the `{}` handshake
reply, type-1 `Subscribe*` invocations (a type-3 completion when they carry an `invocationId`),
`GatewayUser*` and `GatewayQuote` pushes, bare or wrapped in `{"action", "data"}`, type-6 pings
and type-7 closes.

The venue is deliberately small: market orders fill at once at the quote (buy at the ask, sell at
the bid), limit and stop orders rest until cancelled, closes fill at the quote. Fees are charged
per contract per fill; a trade's `profitAndLoss` is null on an opening fill, as ProjectX sends it.

Controls (all synchronous, effective at once): `go_silent()`/`speak()` (the open hubs send no frame
at all, not even pings, as on a half-open socket; REST still answers; new hubs talk), `drop_connections()` (abrupt: the sockets are aborted),
`close_hubs(error)` (a type-7 close), `revoke_tokens()` (REST 401, hubs refused, sockets dropped),
`kick_on_login` (a later login of the same user sends `GatewayLogout` to the earlier session and
revokes its tokens; `force_logout()` does so at once), `throttle(n)` (the next n REST calls get
429), `echo_next(n, status)` (the next n REST calls, the login included, are refused with the
request echoed back: its body with the API key, its Authorization header with the token; status
200 says it as `success: false` and `errorMessage`, any other status as the body's `error`),
`echo_hub_refusals(n)` (the next n hub upgrades are refused, HTTP 500, with the request's target,
`access_token` and all, in the body),
`reject_next(n, reason)` (orders and closes), `partial_closes` (a close fills one contract
at a time), `send_raw(hub, text)` (any bytes as a hub frame, for malformed-frame tests).
Nothing here talks to the internet: the server binds 127.0.0.1 on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from propdesk.domain.instruments import InstrumentBook

# The venue logs under its own name: what a fake logs is not propdesk's log.
VENUE_LOG = logging.getLogger("fakes.projectx")

SEPARATOR = "\x1e"

# ProjectX codes (research/broker-apis.md §2).
OPEN, FILLED, CANCELLED, REJECTED = 1, 2, 3, 5
LIMIT, MARKET, STOP = 1, 2, 4
BUY, SELL = 0, 1
LONG, SHORT = 1, 2


def _wire(value: object) -> object:
    # JSON has one number type; a float's shortest repr is the decimal text it came from.
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")


def dumps(value: object) -> str:
    return json.dumps(value, default=_wire)


@dataclass
class FakeAccount:
    id: int
    name: str
    balance: Decimal
    can_trade: bool = True

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "balance": self.balance,
            "canTrade": self.can_trade,
            "isVisible": True,
            "simulated": True,
        }


@dataclass
class FakeOrder:
    id: int
    account_id: int
    contract_id: str
    type: int
    side: int
    size: int
    created: datetime
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    status: int = OPEN
    fill_volume: int = 0
    filled_price: Decimal | None = None
    tag: str | None = None

    def json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "creationTimestamp": self.created,
            "updateTimestamp": now,
            "status": self.status,
            "type": self.type,
            "side": self.side,
            "size": self.size,
            "limitPrice": self.limit_price,
            "stopPrice": self.stop_price,
            "fillVolume": self.fill_volume,
            "filledPrice": self.filled_price,
            "customTag": self.tag,
        }


@dataclass
class FakePosition:
    id: int
    account_id: int
    contract_id: str
    net: int
    average_price: Decimal
    created: datetime

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "creationTimestamp": self.created,
            "type": LONG if self.net > 0 else SHORT,
            "size": abs(self.net),
            "averagePrice": self.average_price,
        }


@dataclass
class FakeSession:
    """One login: its tokens are what the hubs and REST accept."""

    username: str
    tokens: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class HubPeer:
    """One open hub WebSocket."""

    hub: str  # "user" | "market"
    token: str
    session: FakeSession
    protocol: ServerProtocol
    writer: asyncio.StreamWriter
    handshaken: bool = False
    silent: bool = False
    accounts: bool = False  # SubscribeAccounts
    orders: set[int] = field(default_factory=set)
    positions: set[int] = field(default_factory=set)
    trades: set[int] = field(default_factory=set)
    quotes: set[str] = field(default_factory=set)
    invocations: list[tuple[str, list[Any]]] = field(default_factory=list)

    def write(self, text: str) -> None:
        if self.writer.is_closing():
            return
        self.protocol.send_text(text.encode())
        self.writer.write(b"".join(self.protocol.data_to_send()))


class FakeProjectX:
    """A ProjectX gateway on 127.0.0.1; `url` is the REST base, `hubs_url` the hubs' base."""

    def __init__(
        self,
        instruments: InstrumentBook,
        *,
        now: Callable[[], datetime] | None = None,
        username: str = "trader",
        api_key: str = "key-1",
        ping_interval: float = 0.2,
        fee_per_contract: Decimal = Decimal("1.40"),
    ) -> None:
        self.instruments = instruments
        self.now = now or (lambda: datetime.now(UTC))
        self.username = username
        self.api_key = api_key
        self.ping_interval = ping_interval
        self.fee_per_contract = fee_per_contract
        self.accounts: dict[int, FakeAccount] = {}
        self.orders: dict[int, FakeOrder] = {}
        self.positions: dict[tuple[int, str], FakePosition] = {}
        self.trades: list[dict[str, Any]] = []
        self.quotes: dict[str, dict[str, Any]] = {}
        self.sessions: list[FakeSession] = []
        self.peers: list[HubPeer] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []  # REST log: path, body
        self.logins = 0
        self.negotiations = 0
        # controls
        self.wrapped = False
        self.silent = False
        self.kick_on_login = False
        self.partial_closes = False
        self._throttled = 0
        self._echo: list[int] = []
        self._echo_hubs = 0
        self.retry_after = 0.05
        self._rejects: list[str] = []
        self._ids = itertools.count(1001)
        self._server: asyncio.Server | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    # -- lifetime -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._pinger = asyncio.get_running_loop().create_task(self._ping_loop())

    async def stop(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        if self._server is not None:
            self._server.close()
        # Aborting the sockets ends every connection's task; cancelling them instead makes
        # asyncio's stream callback log the cancellation as an error.
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def hubs_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/hubs"

    # -- the venue ------------------------------------------------------------------------------
    def add_account(self, account_id: int, name: str, balance: Decimal) -> FakeAccount:
        account = FakeAccount(account_id, name, balance)
        self.accounts[account_id] = account
        return account

    def set_quote(
        self,
        contract_id: str,
        bid: Decimal,
        ask: Decimal,
        last: Decimal | None = None,
    ) -> None:
        """A new quote, pushed to the market hub's subscribers."""
        quote = {
            "symbol": contract_id.rsplit(".", 1)[0].removeprefix("CON."),
            "bestBid": bid,
            "bestAsk": ask,
            "lastPrice": last if last is not None else (bid + ask) / 2,
            "lastUpdated": self.now(),
            "timestamp": self.now(),
        }
        self.quotes[contract_id] = quote
        for peer in self._peers("market"):
            if contract_id in peer.quotes:
                self._invoke(peer, "GatewayQuote", [contract_id, self._payload(quote)])

    def place(
        self,
        account_id: int,
        contract_id: str,
        side: int,
        size: int,
        order_type: int = MARKET,
        *,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        tag: str | None = None,
    ) -> FakeOrder:
        """An order from the strategy's own session (not over this fake's REST)."""
        order = FakeOrder(
            next(self._ids),
            account_id,
            contract_id,
            order_type,
            side,
            size,
            self.now(),
            limit_price,
            stop_price,
            tag=tag,
        )
        self.orders[order.id] = order
        if order_type == MARKET:
            self._fill(order, size)
        else:
            self._push_order(order)
        return order

    def position(self, account_id: int, contract_id: str) -> int:
        found = self.positions.get((account_id, contract_id))
        return found.net if found else 0

    def working_orders(self, account_id: int) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.account_id == account_id and o.status == OPEN]

    # -- controls -------------------------------------------------------------------------------
    def go_silent(self, *, new_connections_too: bool = False) -> None:
        """The open hubs stop sending anything (a half-open link); new ones talk unless told not to."""
        for peer in self.peers:
            peer.silent = True
        self.silent = new_connections_too

    def speak(self) -> None:
        for peer in self.peers:
            peer.silent = False
        self.silent = False

    def drop_connections(self) -> None:
        for peer in list(self.peers):
            peer.writer.transport.abort()

    def close_hubs(self, error: str | None = "Server closed the connection.") -> None:
        for peer in list(self.peers):
            record: dict[str, Any] = {"type": 7}
            if error is not None:
                record["error"] = error
            peer.write(dumps(record) + SEPARATOR)
            peer.writer.close()

    def revoke_tokens(self) -> None:
        for session in self.sessions:
            session.revoked = True
        self.drop_connections()

    def force_logout(self, session: FakeSession | None = None) -> None:
        """`GatewayLogout` to a session's user hubs (every session by default); its tokens die."""
        for target in [session] if session else list(self.sessions):
            target.revoked = True
            for peer in self._peers("user"):
                if peer.session is target:
                    self._invoke(peer, "GatewayLogout", [self._payload({"reason": "logout"})])

    def throttle(self, n: int, retry_after: float = 0.05) -> None:
        self._throttled += n
        self.retry_after = retry_after

    def echo_next(self, n: int = 1, status: int = 200) -> None:
        self._echo.extend([status] * n)

    def echo_hub_refusals(self, n: int = 1) -> None:
        self._echo_hubs += n

    def reject_next(self, n: int = 1, reason: str = "Order rejected by the risk system") -> None:
        self._rejects.extend([reason] * n)

    def send_raw(self, hub: str, text: str) -> None:
        for peer in self._peers(hub):
            peer.write(text)

    def push_user(self, target: str, payload: object) -> None:
        """Any payload under any target, to every user hub (for malformed-payload tests)."""
        for peer in self._peers("user"):
            self._invoke(peer, target, [payload])

    def subscribed_quotes(self) -> set[str]:
        return {c for peer in self._peers("market") for c in peer.quotes}

    def subscribed_accounts(self) -> set[int]:
        return {a for peer in self._peers("user") for a in peer.orders}

    # -- venue internals ------------------------------------------------------------------------
    def _fill(self, order: FakeOrder, qty: int) -> None:
        quote = self.quotes.get(order.contract_id)
        if quote is None:
            raise ValueError(f"no quote for {order.contract_id}: set one before trading")
        price: Decimal = quote["bestAsk"] if order.side == BUY else quote["bestBid"]
        signed = qty if order.side == BUY else -qty
        key = (order.account_id, order.contract_id)
        position = self.positions.get(key)
        point_value = self.instruments.parse(order.contract_id).instrument.point_value
        pnl: Decimal | None = None
        if position is None or position.net == 0:
            position = FakePosition(
                next(self._ids), order.account_id, order.contract_id, signed, price, self.now()
            )
            self.positions[key] = position
        elif (position.net > 0) == (signed > 0):
            total = position.net + signed
            position.average_price = (
                position.average_price * position.net + price * signed
            ) / total
            position.net = total
        else:
            closed = min(abs(signed), abs(position.net))
            direction = 1 if position.net > 0 else -1
            pnl = (price - position.average_price) * direction * closed * point_value
            remainder = position.net + signed
            if remainder and (remainder > 0) != (position.net > 0):
                position.average_price = price  # flipped through flat
            position.net = remainder
        fees = self.fee_per_contract * qty
        account = self.accounts[order.account_id]
        account.balance += (pnl or Decimal(0)) - fees
        order.fill_volume += qty
        order.filled_price = price
        if order.fill_volume >= order.size:
            order.status = FILLED
        trade = {
            "id": next(self._ids),
            "accountId": order.account_id,
            "contractId": order.contract_id,
            "creationTimestamp": self.now(),
            "price": price,
            "profitAndLoss": pnl,
            "fees": fees,
            "side": order.side,
            "size": qty,
            "voided": False,
            "orderId": order.id,
        }
        self.trades.append(trade)
        self._push_order(order)
        self._push("GatewayUserTrade", "trades", order.account_id, trade)
        self._push("GatewayUserPosition", "positions", order.account_id, position.json())
        if position.net == 0:
            del self.positions[key]
        self._push_account(account)

    def _close(self, account_id: int, contract_id: str, size: int | None) -> dict[str, Any]:
        position = self.positions.get((account_id, contract_id))
        if position is None or position.net == 0:
            return _failure(2, f"no open position in {contract_id}")
        if self._rejects:
            return _failure(3, self._rejects.pop(0))
        qty = abs(position.net) if size is None else min(size, abs(position.net))
        if self.partial_closes:
            qty = 1
        side = SELL if position.net > 0 else BUY
        self.place(account_id, contract_id, side, qty)
        return {"success": True, "errorCode": 0, "errorMessage": None}

    def _push_order(self, order: FakeOrder) -> None:
        self._push("GatewayUserOrder", "orders", order.account_id, order.json(self.now()))

    def _push_account(self, account: FakeAccount) -> None:
        for peer in self._peers("user"):
            if peer.accounts:
                self._invoke(peer, "GatewayUserAccount", [self._payload(account.json())])

    def _push(self, target: str, kind: str, account_id: int, payload: dict[str, Any]) -> None:
        for peer in self._peers("user"):
            if account_id in getattr(peer, kind):
                self._invoke(peer, target, [self._payload(payload)])

    def _payload(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"action": 1, "data": data} if self.wrapped else data

    def _peers(self, hub: str) -> list[HubPeer]:
        return [p for p in self.peers if p.hub == hub and p.handshaken]

    def _invoke(self, peer: HubPeer, target: str, arguments: list[Any]) -> None:
        if peer.silent:
            return
        peer.write(dumps({"type": 1, "target": target, "arguments": arguments}) + SEPARATOR)

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            for peer in self._peers("user") + self._peers("market"):
                if not peer.silent:
                    peer.write('{"type":6}' + SEPARATOR)

    # -- HTTP -----------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                method, target, headers = _parse_head(head)
                if headers.get("upgrade", "").lower() == "websocket":
                    await self._hub(head, target, reader, writer)
                    return
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                status, payload, extra = self._route(method, target, headers, body)
                _respond(writer, status, payload, extra)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(task)
            self._writers.discard(writer)
            writer.close()

    def _route(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, object, dict[str, str]]:
        path = urlsplit(target).path
        if method == "POST" and path.startswith("/hubs/") and path.endswith("/negotiate"):
            self.negotiations += 1
            return 200, _negotiation(next(self._ids)), {}
        if not path.startswith("/api/"):
            return 404, {"error": f"no route {path}"}, {}
        name = path.removeprefix("/api/")
        if self._throttled > 0:
            self._throttled -= 1
            return 429, {"error": "Too Many Requests"}, {"Retry-After": str(self.retry_after)}
        if method == "GET" and name == "Status/ping":
            return 200, "pong", {}
        if method != "POST":
            return 405, {"error": "POST only"}, {}
        try:
            request = json.loads(body or b"{}", parse_float=Decimal)
        except ValueError:
            return 400, {"error": "body is not JSON"}, {}
        self.requests.append((name, request))
        if self._echo:
            status = self._echo.pop(0)
            echo = {"body": request, "authorization": headers.get("authorization"), "path": path}
            text = f"cannot process {dumps(echo)}"
            return status, _failure(9, text) if status == 200 else {"error": text}, {}
        if name == "Auth/loginKey":
            return 200, self._login(request), {}
        session, token = self._authorised(headers)
        if session is None:
            return 401, "", {}
        handler = self._handlers().get(name)
        if handler is None:
            return 404, {"error": f"no endpoint {name}"}, {}
        try:
            return 200, handler(request, session, token), {}
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            return 200, _failure(1, f"bad request: {exc!r}"), {}

    def _handlers(self) -> dict[str, Callable[[dict[str, Any], FakeSession, str], object]]:
        return {
            "Auth/validate": self._validate,
            "Auth/logout": self._logout,
            "Account/search": lambda r, s, t: _ok(
                accounts=[a.json() for a in self.accounts.values()]
            ),
            "Position/searchOpen": lambda r, s, t: _ok(
                positions=[
                    p.json()
                    for p in self.positions.values()
                    if p.account_id == r["accountId"] and p.net
                ]
            ),
            "Order/searchOpen": lambda r, s, t: _ok(
                orders=[o.json(self.now()) for o in self.working_orders(r["accountId"])]
            ),
            "Order/search": lambda r, s, t: _ok(
                orders=[
                    o.json(self.now())
                    for o in self.orders.values()
                    if o.account_id == r["accountId"]
                ]
            ),
            "Trade/search": self._trade_search,
            "Order/place": self._place,
            "Order/cancel": self._cancel,
            "Position/closeContract": lambda r, s, t: self._close(
                r["accountId"], r["contractId"], None
            ),
            "Position/partialCloseContract": lambda r, s, t: self._close(
                r["accountId"], r["contractId"], int(r["size"])
            ),
        }

    def _login(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("userName") != self.username or request.get("apiKey") != self.api_key:
            return {"token": None, "success": False, "errorCode": 3, "errorMessage": None}
        self.logins += 1
        if self.kick_on_login:
            for older in [s for s in self.sessions if not s.revoked]:
                self.force_logout(older)
        session = FakeSession(self.username)
        token = f"token-{next(self._ids)}"
        session.tokens.add(token)
        self.sessions.append(session)
        return {"token": token, "success": True, "errorCode": 0, "errorMessage": None}

    def _validate(self, _request: dict[str, Any], session: FakeSession, _token: str) -> object:
        token = f"token-{next(self._ids)}"
        session.tokens.add(token)
        return {"success": True, "errorCode": 0, "errorMessage": None, "newToken": token}

    def _logout(self, _request: dict[str, Any], session: FakeSession, _token: str) -> object:
        session.revoked = True
        return _ok()

    def _trade_search(self, request: dict[str, Any], _s: FakeSession, _t: str) -> object:
        start = datetime.fromisoformat(request["startTimestamp"])
        return _ok(
            trades=[
                t
                for t in self.trades
                if t["accountId"] == request["accountId"] and t["creationTimestamp"] >= start
            ]
        )

    def _place(self, request: dict[str, Any], _s: FakeSession, _t: str) -> object:
        account_id = request["accountId"]
        if account_id not in self.accounts:
            return _failure(1, f"account {account_id} not found")
        self.instruments.parse(request["contractId"])  # an unknown contract is a ValueError
        if self._rejects:
            return _failure(2, self._rejects.pop(0))
        order = self.place(
            account_id,
            request["contractId"],
            int(request["side"]),
            int(request["size"]),
            int(request["type"]),
            limit_price=request.get("limitPrice"),
            stop_price=request.get("stopPrice"),
            tag=request.get("customTag"),
        )
        return _ok(orderId=order.id)

    def _cancel(self, request: dict[str, Any], _s: FakeSession, _t: str) -> object:
        order = self.orders.get(int(request["orderId"]))
        if order is None or order.account_id != request["accountId"]:
            return _failure(1, f"order {request['orderId']} not found")
        if order.status != OPEN:
            return _failure(2, f"order {order.id} is not open")
        order.status = CANCELLED
        self._push_order(order)
        return _ok()

    def _authorised(self, headers: dict[str, str]) -> tuple[FakeSession | None, str]:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        return self._session_of(token), token

    def _session_of(self, token: str) -> FakeSession | None:
        for session in self.sessions:
            if token in session.tokens and not session.revoked:
                return session
        return None

    # -- hubs -----------------------------------------------------------------------------------
    async def _hub(
        self,
        head: bytes,
        target: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        parts = urlsplit(target)
        hub = parts.path.removeprefix("/hubs/").strip("/")
        token = parse_qs(parts.query).get("access_token", [""])[0]
        protocol = ServerProtocol(logger=VENUE_LOG)
        protocol.receive_data(head)
        request = next(e for e in protocol.events_received() if isinstance(e, Request))
        session = self._session_of(token)
        if self._echo_hubs > 0:
            self._echo_hubs -= 1
            protocol.send_response(protocol.reject(500, f"cannot upgrade {target}\n"))
            writer.write(b"".join(protocol.data_to_send()))
            await writer.drain()
            return
        if hub not in ("user", "market") or session is None:
            status = 404 if hub not in ("user", "market") else 401
            protocol.send_response(protocol.reject(status, "Unauthorized\n"))
            writer.write(b"".join(protocol.data_to_send()))
            await writer.drain()
            return
        protocol.send_response(protocol.accept(request))
        writer.write(b"".join(protocol.data_to_send()))
        peer = HubPeer(hub, token, session, protocol, writer, silent=self.silent)
        self.peers.append(peer)
        buffer = ""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    protocol.receive_eof()
                    return
                protocol.receive_data(data)
                for event in protocol.events_received():
                    if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        buffer += event.data.decode()
                        *records, buffer = buffer.split(SEPARATOR)
                        for record in records:
                            self._record(peer, record)
                    elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                        return
                writer.write(b"".join(protocol.data_to_send()))
        finally:
            self.peers.remove(peer)

    def _record(self, peer: HubPeer, record: str) -> None:
        message = json.loads(record)
        if not peer.handshaken:
            peer.handshaken = message.get("protocol") == "json"
            peer.write("{}" + SEPARATOR if peer.handshaken else '{"error":"bad handshake"}\x1e')
            return
        kind = message.get("type")
        if kind == 7:
            peer.writer.close()
            return
        if kind != 1:
            return
        target, arguments = message["target"], message.get("arguments", [])
        peer.invocations.append((target, arguments))
        self._subscribe(peer, target, arguments)
        if message.get("invocationId") is not None:
            peer.write(
                dumps({"type": 3, "invocationId": message["invocationId"], "result": None})
                + SEPARATOR
            )

    def _subscribe(self, peer: HubPeer, target: str, arguments: list[Any]) -> None:
        if target == "SubscribeAccounts":
            peer.accounts = True
        elif target == "SubscribeOrders":
            peer.orders.add(int(arguments[0]))
        elif target == "SubscribePositions":
            peer.positions.add(int(arguments[0]))
        elif target == "SubscribeTrades":
            peer.trades.add(int(arguments[0]))
        elif target == "SubscribeContractQuotes":
            contract_id = str(arguments[0])
            peer.quotes.add(contract_id)
            quote = self.quotes.get(contract_id)
            if quote is not None:
                self._invoke(peer, "GatewayQuote", [contract_id, self._payload(quote)])
        elif target == "UnsubscribeContractQuotes":
            peer.quotes.discard(str(arguments[0]))


def _ok(**fields: object) -> dict[str, Any]:
    return {"success": True, "errorCode": 0, "errorMessage": None, **fields}


def _failure(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errorCode": code, "errorMessage": message}


def _negotiation(connection: int) -> dict[str, Any]:
    return {
        "negotiateVersion": 1,
        "connectionId": f"c{connection}",
        "connectionToken": f"t{connection}",
        "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text"]}],
    }


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}


def _respond(
    writer: asyncio.StreamWriter, status: int, payload: object, extra: dict[str, str]
) -> None:
    body = b"" if payload == "" else dumps(payload).encode()
    reason = _REASONS.get(status, "Too Many Requests" if status == 429 else "Error")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in extra.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
