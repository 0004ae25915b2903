"""A loopback Tradovate: REST under /v1 and the WebSocket at /v1/websocket on one port.

It speaks the wire as research/broker-apis.md §1 and §6 describe it: access tokens with an expiry and
renewal, at most two sessions per user (a third login closes the oldest and revokes its token), socket
frames `o`/`h`/`a[...]`/`c[...]`, requests `op\\nid\\nquery\\nbody`, `user/syncrequest` followed by
`props` pushes on every change, and a market-data socket (the same path, authorized with the
md token) answering `md/subscribeQuote`.

A small venue sits behind it: market orders fill at the contract's price, limits and stops rest until
`move_price` crosses them, positions keep an average price, and the cash balance moves by realized P&L.

Controls (all synchronous; call them from the test's loop):
- `go_silent(sticky=)` / `speak()`: open sockets stop sending anything, heartbeats included;
- `drop()`: every socket is cut abruptly (no close frame); `close_sockets()`: `c` frame, then close;
- `revoke(drop=)`: every session's token is revoked (and, by default, its sockets dropped);
- `kick_oldest()`: another login takes the oldest session (its token revoked, its sockets closed);
- `fail_next(status, n)`: the next n REST requests (auth excluded) answer that HTTP status;
- `echo_next(n, status)`: the next n REST requests (the login included) are refused with a body that
  echoes the request: its JSON body (a login's password and API secret) and its Authorization
  header (the session's token), as `errorText` and `failureText`, with that HTTP status;
- `p_ticket_next(n, seconds, captcha=)`: the next n logins answer a penalty ticket instead;
- `reject_next(n, reason)`: the next n orders (liquidations included) are rejected;
- `partial_liquidations(qty)`: a liquidation fills at most `qty` contracts, the rest is cancelled;
- `send_raw(text)`: push raw text to every user socket (malformed frames);
- `forget_finished()`: a new trading day (finished orders, their fills, flat positions leave).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.frames import Opcode
from websockets.server import ServerProtocol

# The venue logs under its own name: what a fake logs is not propdesk's log.
VENUE_LOG = logging.getLogger("fakes.tradovate")

USER_ID = 7001
HEARTBEAT_SECONDS = 2.5
WORKING = "Working"


class FakeClock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> Awaitable[None]: ...


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _echo(method: str, target: str, headers: dict[str, str], body: Any) -> dict[str, Any]:
    """A refusal that repeats the request back, secrets and all, as some servers do."""
    request = {"body": body, "authorization": headers.get("authorization"), "target": target}
    text = f"cannot process {method} {json.dumps(request)}"
    return {"errorText": text, "failureReason": "UnknownReason", "failureText": text}


def _num(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class Session:
    number: int
    token: str
    md_token: str
    expires: datetime
    revoked: bool = False
    old_tokens: set[str] = field(default_factory=set)


class FakeSocket:
    """One accepted WebSocket, driven through websockets' sans-I/O protocol."""

    def __init__(self, writer: asyncio.StreamWriter, protocol: ServerProtocol) -> None:
        self.writer = writer
        self.protocol = protocol
        self.kind = ""  # "user" or "md" once authorized
        self.session: Session | None = None
        self.synced = False
        self.silent = False
        self.quotes: set[int] = set()
        self.closed = False
        self.received: list[str] = []

    def flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.writer.write(chunk)
            else:
                self.abort()

    def send(self, text: str) -> None:
        if self.closed or self.silent:
            return
        self.protocol.send_text(text.encode())
        self.flush()

    def send_close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.protocol.send_text(f"c{json.dumps([code, reason])}".encode())
        self.protocol.send_close(1000, reason)
        self.flush()
        self.closed = True
        self.writer.close()

    def abort(self) -> None:
        self.closed = True
        self.writer.transport.abort()


class FakeTradovate:
    def __init__(
        self,
        clock: FakeClock,
        *,
        username: str = "trader",
        password: str = "secret",
        token_lifetime: timedelta = timedelta(minutes=90),
        max_sessions: int = 2,
        client_timeout: float = 30.0,
    ) -> None:
        self.clock = clock
        self.username = username
        self.password = password
        self.token_lifetime = token_lifetime
        self.max_sessions = max_sessions
        self.client_timeout = client_timeout
        self.port = 0
        self.sessions: list[Session] = []
        self.sockets: list[FakeSocket] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # method, path, body
        self.logins = 0
        self.renewals = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1000)
        self._silent_sticky = False
        self._fail: list[int] = []
        self._echo: list[int] = []
        self._p_tickets: list[tuple[float, bool]] = []
        self._rejects: list[str] = []
        self._partial: int | None = None
        # The venue.
        self.accounts: dict[int, dict[str, Any]] = {}
        self.cash: dict[int, dict[str, Any]] = {}
        self.contracts: dict[int, dict[str, Any]] = {}
        self.prices: dict[int, Decimal] = {}
        self.point_values: dict[int, Decimal] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.versions: dict[int, dict[str, Any]] = {}  # by order id
        self.fills: list[dict[str, Any]] = []
        self.positions: dict[tuple[int, int], dict[str, Any]] = {}

    # -- lifetime ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._spawn(self._heartbeats())

    async def stop(self) -> None:
        for sock in list(self.sockets):
            sock.abort()
        for writer in list(self._writers):  # idle keep-alive clients would hold wait_closed()
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the venue ---------------------------------------------------------------------------
    def add_account(self, name: str, balance: Decimal) -> int:
        account_id = next(self._ids)
        self.accounts[account_id] = {
            "id": account_id,
            "name": name,
            "userId": USER_ID,
            "accountType": "Customer",
            "active": True,
            "archived": False,
            "timestamp": _iso(self.clock.now()),
        }
        self.cash[account_id] = {
            "id": next(self._ids),
            "accountId": account_id,
            "timestamp": _iso(self.clock.now()),
            "currencyId": 1,
            "amount": _num(balance),
            "realizedPnL": 0,
            "weekRealizedPnL": 0,
        }
        return account_id

    def add_contract(self, name: str, price: Decimal, point_value: Decimal) -> int:
        contract_id = next(self._ids)
        self.contracts[contract_id] = {"id": contract_id, "name": name, "contractMaturityId": 1}
        self.prices[contract_id] = price
        self.point_values[contract_id] = point_value
        return contract_id

    def contract_by_name(self, name: str) -> int | None:
        return next((c["id"] for c in self.contracts.values() if c["name"] == name), None)

    def account_by_name(self, name: str) -> int:
        return next(a["id"] for a in self.accounts.values() if a["name"] == name)

    def net(self, account_id: int, contract_id: int) -> int:
        position = self.positions.get((account_id, contract_id))
        return 0 if position is None else int(position["netPos"])

    def working_orders(self, account_id: int) -> list[dict[str, Any]]:
        return [
            o
            for o in self.orders.values()
            if o["accountId"] == account_id and o["ordStatus"] == WORKING
        ]

    def move_price(self, name: str, price: Decimal) -> None:
        contract_id = self.contract_by_name(name)
        assert contract_id is not None, name
        self.prices[contract_id] = price
        for order in list(self.orders.values()):
            if order["contractId"] != contract_id or order["ordStatus"] != WORKING:
                continue
            version = self.versions[order["id"]]
            buy = order["action"] == "Buy"
            if version["orderType"] == "Limit":
                limit = Decimal(str(version["price"]))
                if (buy and price <= limit) or (not buy and price >= limit):
                    self._fill(order, self._remaining(order), limit)
            elif version["orderType"] == "Stop":
                stop = Decimal(str(version["stopPrice"]))
                if (buy and price >= stop) or (not buy and price <= stop):
                    self._fill(order, self._remaining(order), price)
        self._push_quote(contract_id)

    def place(
        self,
        account_id: int,
        action: str,
        contract_id: int,
        qty: int,
        order_type: str = "Market",
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        *,
        liquidation: bool = False,
    ) -> dict[str, Any]:
        """An order as the venue sees it (the strategy's and the adapter's alike)."""
        now = _iso(self.clock.now())
        order_id = next(self._ids)
        order = {
            "id": order_id,
            "accountId": account_id,
            "contractId": contract_id,
            "timestamp": now,
            "action": action,
            "ordStatus": "PendingNew",
            "admin": False,
        }
        version = {
            "id": next(self._ids),
            "orderId": order_id,
            "orderQty": qty,
            "orderType": order_type,
            "price": None if price is None else _num(price),
            "stopPrice": None if stop_price is None else _num(stop_price),
            "timestamp": now,
        }
        self.orders[order_id] = order
        self.versions[order_id] = version
        self._push(account_id, "order", "Created", order)
        self._push(account_id, "orderVersion", "Created", version)
        if self._rejects:
            reason = self._rejects.pop(0)
            order["ordStatus"] = "Rejected"
            self._push(account_id, "order", "Updated", order)
            return {"failureReason": "UnknownReason", "failureText": reason}
        order["ordStatus"] = WORKING
        self._push(account_id, "order", "Updated", order)
        if order_type == "Market":
            fill_qty = qty if not liquidation or self._partial is None else min(qty, self._partial)
            self._fill(order, fill_qty, self.prices[contract_id])
            if order["ordStatus"] == WORKING:  # a partial liquidation: the rest is not worked
                order["ordStatus"] = "Canceled"
                self._push(account_id, "order", "Updated", order)
        else:
            self.move_price(self.contracts[contract_id]["name"], self.prices[contract_id])
        return {"orderId": order_id}

    def cancel(self, order_id: int) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None or order["ordStatus"] != WORKING:
            return {"failureReason": "UnknownReason", "failureText": "Order is not working"}
        order["ordStatus"] = "Canceled"
        order["timestamp"] = _iso(self.clock.now())
        self._push(order["accountId"], "order", "Updated", order)
        return {"orderId": order_id}

    def liquidate(self, account_id: int, contract_id: int) -> dict[str, Any]:
        """Cancels the contract's working orders, then closes its position at market."""
        for order in self.working_orders(account_id):
            if order["contractId"] == contract_id:
                self.cancel(order["id"])
        net = self.net(account_id, contract_id)
        if net == 0:
            return {"orderId": None}
        action = "Sell" if net > 0 else "Buy"
        return self.place(account_id, action, contract_id, abs(net), liquidation=True)

    def _remaining(self, order: dict[str, Any]) -> int:
        done = sum(f["qty"] for f in self.fills if f["orderId"] == order["id"])
        return int(self.versions[order["id"]]["orderQty"]) - done

    def _fill(self, order: dict[str, Any], qty: int, price: Decimal) -> None:
        account_id, contract_id = order["accountId"], order["contractId"]
        now = _iso(self.clock.now())
        fill = {
            "id": next(self._ids),
            "orderId": order["id"],
            "contractId": contract_id,
            "timestamp": now,
            "tradeDate": {"year": 2026, "month": 11, "day": 24},
            "action": order["action"],
            "qty": qty,
            "price": _num(price),
            "active": True,
        }
        self.fills.append(fill)
        self._push(account_id, "fill", "Created", fill)
        if self._remaining(order) <= 0:
            order["ordStatus"] = "Filled"
            order["timestamp"] = now
            self._push(account_id, "order", "Updated", order)
        self._book(account_id, contract_id, qty if order["action"] == "Buy" else -qty, price)

    def _book(self, account_id: int, contract_id: int, signed: int, price: Decimal) -> None:
        key = (account_id, contract_id)
        position = self.positions.get(key)
        created = position is None
        if position is None:
            position = {
                "id": next(self._ids),
                "accountId": account_id,
                "contractId": contract_id,
                "netPos": 0,
                "netPrice": None,
                "bought": 0,
                "sold": 0,
                "prevPos": 0,
            }
            self.positions[key] = position
        net = int(position["netPos"])
        average = Decimal(str(position["netPrice"])) if position["netPrice"] is not None else price
        realized = Decimal(0)
        if net and (net > 0) != (signed > 0):
            closed = min(abs(net), abs(signed))
            direction = 1 if net > 0 else -1
            realized = (price - average) * closed * direction * self.point_values[contract_id]
        new_net = net + signed
        if new_net == 0:
            new_average: Decimal | None = None
        elif net == 0 or (net > 0) != (new_net > 0):
            new_average = price
        elif abs(new_net) > abs(net):
            new_average = (average * abs(net) + price * abs(signed)) / abs(new_net)
        else:
            new_average = average
        position["netPos"] = new_net
        position["netPrice"] = None if new_average is None else _num(new_average)
        position["bought" if signed > 0 else "sold"] += abs(signed)
        position["timestamp"] = _iso(self.clock.now())
        self._push(account_id, "position", "Created" if created else "Updated", position)
        if realized:
            cash = self.cash[account_id]
            cash["amount"] = _num(Decimal(str(cash["amount"])) + realized)
            cash["realizedPnL"] = _num(Decimal(str(cash["realizedPnL"])) + realized)
            cash["timestamp"] = _iso(self.clock.now())
            self._push(account_id, "cashBalance", "Updated", cash)

    # -- controls ----------------------------------------------------------------------------
    def go_silent(self, *, sticky: bool = False) -> None:
        for sock in self.sockets:
            sock.silent = True
        self._silent_sticky = sticky

    def speak(self) -> None:
        self._silent_sticky = False
        for sock in self.sockets:
            sock.silent = False

    def drop(self) -> None:
        for sock in list(self.sockets):
            sock.abort()

    def close_sockets(self, code: int = 1000, reason: str = "closed by the server") -> None:
        for sock in list(self.sockets):
            sock.send_close(code, reason)

    def revoke(self, *, drop: bool = True) -> None:
        for session in self.sessions:
            session.revoked = True
        if drop:
            self.drop()

    def kick_oldest(self) -> None:
        live = [s for s in self.sessions if not s.revoked]
        if live:
            self._end_session(live[0], "another session signed in")

    def fail_next(self, status: int, n: int = 1) -> None:
        self._fail.extend([status] * n)

    def echo_next(self, n: int = 1, status: int = 200) -> None:
        self._echo.extend([status] * n)

    def p_ticket_next(self, n: int = 1, seconds: float = 1.0, *, captcha: bool = False) -> None:
        self._p_tickets.extend([(seconds, captcha)] * n)

    def reject_next(self, n: int = 1, reason: str = "rejected by the risk system") -> None:
        self._rejects.extend([reason] * n)

    def partial_liquidations(self, qty: int | None) -> None:
        self._partial = qty

    def send_raw(self, text: str) -> None:
        for sock in self.sockets:
            if sock.kind == "user":
                sock.send(text)

    def orders_sent(self) -> list[dict[str, Any]]:
        """Every order-making request propdesk sent (placeorder and liquidations)."""
        paths = {"order/placeorder", "order/liquidateposition", "order/liquidatepositions"}
        return [body for _method, path, body in self.requests if path in paths]

    def forget_finished(self) -> None:
        """A new trading day: finished orders, their fills and flat positions leave the lists."""
        done = {i for i, o in self.orders.items() if o["ordStatus"] != WORKING}
        for order_id in done:
            del self.orders[order_id]
            del self.versions[order_id]
        self.fills = [f for f in self.fills if f["orderId"] not in done]
        self.positions = {k: p for k, p in self.positions.items() if p["netPos"]}

    def _end_session(self, session: Session, reason: str) -> None:
        session.revoked = True
        for sock in list(self.sockets):
            if sock.session is session:
                sock.send_close(1000, reason)

    # -- HTTP --------------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *rest = head.decode("latin-1").split("\r\n")
                method, target, _version = line.split(" ", 2)
                headers = {}
                for header in rest:
                    if ":" in header:
                        key, value = header.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                if headers.get("upgrade", "").lower() == "websocket":
                    await self._websocket(head, reader, writer)
                    return
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                status, payload = self._route(method, target, headers, body)
                data = json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _route(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(target)
        path = parts.path.removeprefix("/v1/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body: dict[str, Any] = json.loads(raw) if raw else {}
        self.requests.append((method, path, body))
        if self._echo:
            return self._echo.pop(0), _echo(method, target, headers, body)
        if path == "auth/accesstokenrequest":
            return self._login(body)
        if self._fail:
            status = self._fail.pop(0)
            return status, {"errorText": f"HTTP {status}"}
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        session = self._session_of(token)
        if session is None:
            return 401, {"errorText": "Access is denied"}
        if path == "auth/renewaccesstoken":
            return 200, self._renew(session)
        handler = self._routes().get((method, path))
        if handler is None:
            return 404, {"errorText": f"no such endpoint {method} {path}"}
        return 200, handler(query, body)

    def _routes(self) -> dict[tuple[str, str], Callable[[dict[str, str], dict[str, Any]], Any]]:
        return {
            ("GET", "account/list"): lambda q, b: list(self.accounts.values()),
            ("GET", "cashBalance/list"): lambda q, b: list(self.cash.values()),
            ("POST", "cashBalance/getcashbalancesnapshot"): self._cash_snapshot,
            ("GET", "position/list"): lambda q, b: list(self.positions.values()),
            ("GET", "order/list"): lambda q, b: list(self.orders.values()),
            ("GET", "orderVersion/list"): lambda q, b: list(self.versions.values()),
            ("GET", "fill/list"): lambda q, b: list(self.fills),
            ("GET", "contract/item"): lambda q, b: self.contracts.get(int(q["id"])),
            ("GET", "contract/items"): lambda q, b: [
                self.contracts[int(i)] for i in q["ids"].split(",") if int(i) in self.contracts
            ],
            ("GET", "contract/find"): lambda q, b: self.contracts.get(
                self.contract_by_name(q["name"]) or -1
            ),
            ("POST", "order/placeorder"): self._place_request,
            ("POST", "order/cancelorder"): lambda q, b: self.cancel(int(b["orderId"])),
            ("POST", "order/liquidateposition"): lambda q, b: self.liquidate(
                int(b["accountId"]), int(b["contractId"])
            ),
            ("POST", "order/liquidatepositions"): self._liquidate_many,
        }

    def _login(self, body: dict[str, Any]) -> tuple[int, Any]:
        if self._p_tickets and not body.get("p-ticket"):
            seconds, captcha = self._p_tickets.pop(0)
            return 200, {"p-ticket": secrets.token_hex(8), "p-time": seconds, "p-captcha": captcha}
        missing = [k for k in ("appId", "appVersion", "cid", "sec", "deviceId") if not body.get(k)]
        if missing:
            return 200, {"errorText": f"missing {', '.join(missing)}"}
        if body.get("name") != self.username or body.get("password") != self.password:
            return 200, {"errorText": "Incorrect username or password. Please try again."}
        self.logins += 1
        live = [s for s in self.sessions if not s.revoked]
        while len(live) >= self.max_sessions:
            self._end_session(live.pop(0), "another session signed in")
        session = Session(
            len(self.sessions) + 1,
            secrets.token_hex(16),
            secrets.token_hex(16),
            self.clock.now() + self.token_lifetime,
        )
        self.sessions.append(session)
        return 200, self._token_body(session)

    def _token_body(self, session: Session) -> dict[str, Any]:
        return {
            "accessToken": session.token,
            "mdAccessToken": session.md_token,
            "expirationTime": _iso(session.expires),
            "userStatus": "Active",
            "userId": USER_ID,
            "name": self.username,
            "hasLive": False,
        }

    def _renew(self, session: Session) -> dict[str, Any]:
        self.renewals += 1
        session.old_tokens.add(session.token)
        session.token = secrets.token_hex(16)
        session.expires = self.clock.now() + self.token_lifetime
        return self._token_body(session)

    def _session_of(self, token: str, *, md: bool = False) -> Session | None:
        now = self.clock.now()
        for session in self.sessions:
            if session.revoked or session.expires <= now:
                continue
            if md and token == session.md_token:
                return session
            if not md and (token == session.token or token in session.old_tokens):
                return session
        return None

    def _cash_snapshot(self, _q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        cash = self.cash[int(body["accountId"])]
        return {"totalCashValue": cash["amount"], "realizedPnL": cash["realizedPnL"], "openPnL": 0}

    def _place_request(self, _q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        contract_id = self.contract_by_name(str(body.get("symbol")))
        if contract_id is None:
            return {"failureReason": "UnknownReason", "failureText": "Unknown symbol"}
        price = body.get("price")
        stop = body.get("stopPrice")
        return self.place(
            int(body["accountId"]),
            str(body["action"]),
            contract_id,
            int(body["orderQty"]),
            str(body.get("orderType", "Market")),
            None if price is None else Decimal(str(price)),
            None if stop is None else Decimal(str(stop)),
        )

    def _liquidate_many(self, _q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        by_id = {p["id"]: p for p in self.positions.values()}
        for position_id in body.get("positions", []):
            position = by_id.get(int(position_id))
            if position is not None:
                self.liquidate(position["accountId"], position["contractId"])
        return {"ok": True}

    # -- WebSocket ---------------------------------------------------------------------------
    async def _websocket(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        protocol = ServerProtocol(max_size=2**22, logger=VENUE_LOG)
        protocol.receive_data(head)
        request = protocol.events_received()[0]
        protocol.send_response(protocol.accept(request))  # type: ignore[arg-type]
        sock = FakeSocket(writer, protocol)
        sock.silent = self._silent_sticky
        sock.flush()
        self.sockets.append(sock)
        sock.send("o")
        self._spawn(self._client_watch(sock))
        try:
            while not sock.closed:
                data = await reader.read(65536)
                if not data:
                    protocol.receive_eof()
                    break
                protocol.receive_data(data)
                for event in protocol.events_received():
                    if getattr(event, "opcode", None) is Opcode.TEXT:
                        self._socket_message(sock, event.data.decode())  # type: ignore[union-attr]
                sock.flush()
        except (ConnectionError, OSError):
            pass
        finally:
            sock.closed = True
            self.sockets.remove(sock)
            with contextlib.suppress(Exception):
                writer.close()

    async def _client_watch(self, sock: FakeSocket) -> None:
        """Tradovate drops a client that stops sending (the `[]` heartbeat keeps it alive)."""
        seen = 0
        while not sock.closed:
            await self.clock.sleep(self.client_timeout)
            if len(sock.received) == seen and not sock.closed:
                sock.send_close(1000, "heartbeat timeout")
            seen = len(sock.received)

    async def _heartbeats(self) -> None:
        while True:
            await self.clock.sleep(HEARTBEAT_SECONDS)
            for sock in list(self.sockets):
                sock.send("h")

    def _reply(self, sock: FakeSocket, rid: int, status: int, data: Any = None) -> None:
        message: dict[str, Any] = {"s": status, "i": rid}
        if data is not None:
            message["d"] = data
        sock.send("a" + json.dumps([message]))

    def _socket_message(self, sock: FakeSocket, text: str) -> None:
        sock.received.append(text)
        if text == "[]":
            return
        parts = text.split("\n", 3)
        if len(parts) < 2:
            return
        op, rid_text = parts[0], parts[1]
        body = parts[3] if len(parts) > 3 else ""
        try:
            rid = int(rid_text)
        except ValueError:
            return
        if op == "authorize":
            session = self._session_of(body)
            kind = "user"
            if session is None:
                session, kind = self._session_of(body, md=True), "md"
            if session is None:
                self._reply(sock, rid, 401, "Access is denied")
                return
            sock.session, sock.kind = session, kind
            self._reply(sock, rid, 200)
            return
        if sock.session is None or sock.session.revoked:
            self._reply(sock, rid, 401, "Access is denied")
            return
        if op == "user/syncrequest" and sock.kind == "user":
            sock.synced = True
            self._reply(sock, rid, 200, self._sync_data())
        elif op == "md/subscribeQuote" and sock.kind == "md":
            request = json.loads(body or "{}")
            contract_id = self.contract_by_name(str(request.get("symbol")))
            if contract_id is None:
                self._reply(sock, rid, 200, {"errorText": "Unknown symbol"})
                return
            sock.quotes.add(contract_id)
            self._reply(sock, rid, 200, {"mode": "None"})
            self._push_quote(contract_id, only=sock)
        elif op == "md/unsubscribeQuote" and sock.kind == "md":
            contract_id = self.contract_by_name(str(json.loads(body or "{}").get("symbol")))
            sock.quotes.discard(contract_id or -1)
            self._reply(sock, rid, 200, {})
        else:
            self._reply(sock, rid, 404, f"unknown operation {op}")

    def _sync_data(self) -> dict[str, Any]:
        return {
            "users": [{"id": USER_ID, "name": self.username, "status": "Active"}],
            "accounts": list(self.accounts.values()),
            "accountRiskStatuses": [],
            "cashBalances": list(self.cash.values()),
            "positions": list(self.positions.values()),
            "orders": list(self.orders.values()),
            "orderVersions": list(self.versions.values()),
            "fills": list(self.fills),
            "contracts": list(self.contracts.values()),
        }

    def _push(
        self, _account_id: int, entity_type: str, event_type: str, entity: dict[str, Any]
    ) -> None:
        text = "a" + json.dumps(
            [
                {
                    "e": "props",
                    "d": {"entityType": entity_type, "eventType": event_type, "entity": entity},
                }
            ]
        )
        for sock in self.sockets:
            if sock.kind == "user" and sock.synced:
                sock.send(text)

    def _push_quote(self, contract_id: int, only: FakeSocket | None = None) -> None:
        price = self.prices[contract_id]
        tick = Decimal("0.25")
        quote = {
            "timestamp": _iso(self.clock.now()),
            "contractId": contract_id,
            "entries": {
                "Bid": {"price": _num(price - tick), "size": 10},
                "Offer": {"price": _num(price + tick), "size": 12},
                "Trade": {"price": _num(price), "size": 1},
            },
        }
        text = "a" + json.dumps([{"e": "md", "d": {"quotes": [quote]}}])
        for sock in [only] if only is not None else self.sockets:
            if sock.kind == "md" and contract_id in sock.quotes:
                sock.send(text)
