"""A loopback Rithmic R|Protocol gateway: one WebSocket endpoint, every plant on it.

It speaks the wire as research/broker-apis.md §3 and §6 describe it: binary frames of a 4-byte
big-endian length and a protobuf message (the classes shipped in async-rithmic), every message with a
`template_id`. A connection becomes an ORDER or a PNL plant session with its RequestLogin (10→11);
it then answers 18/19, 300/301, 302/303, 304/305, 308/309, 310/311, 336/337, 320 (→ 352 snapshots,
321), 312/313, 316/317, 346/347, 3504/3505, 3512/3513, 400/401 and 402 (→ 450, 451, 403), pushes
351/352 to order sessions and 450/451 to P&L sessions on every change, and answers anything else
with a Reject (75).

A small venue sits behind it: market orders fill at the contract's price, limits rest until
`move_price` crosses them, positions keep an average price, and balances move by realized P&L.

Controls (all synchronous; call them from the test's loop):
- `go_silent()` / `speak()`: open sessions stop sending anything (replies, pushes, heartbeat
  replies) while their sockets stay open; a new connection talks again;
- `drop()`: every socket is cut abruptly (no close frame);
- `forced_logout()`: every session gets a ForcedLogout (77), then its socket is closed, as when
  another login takes the user's sessions;
- `max_sessions` (constructor): a login beyond that many sessions of one plant forces the oldest
  one out (77, then closed), as Rithmic does when a user opens too many sessions;
- `deny_logins(rp_code, text)` / `allow_logins()`: logins answer that error (13 = permission denied);
- `echo_login_failures()`: a refused login's rp_code text repeats the whole request back, the
  password included, as some servers do;
- `reject_next(n, reason)`: the next n orders (exit-position orders included) are rejected;
- `partial_exits(qty)`: an exit-position order fills at most `qty` contracts, the rest is cancelled;
- `refuse_next(template_id, rp_code, text)`: the next request of that template is refused;
- `hold_replies(template_id)`: requests of that template are never answered (None: all answered);
- `send_raw(data)`: push raw bytes (or text) to every session (malformed frames).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from async_rithmic.plants.base import TEMPLATES_MAP
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError, Message
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

# The venue logs under its own name: what a fake logs is not propdesk's log.
VENUE_LOG = logging.getLogger("fakes.rithmic")

ORDER_PLANT, PNL_PLANT = 2, 4
FCM_ID, IB_ID = "PropFCM", "PropIB"
TRADER = 3  # ResponseLoginInfo.UserType.USER_TYPE_TRADER
BUY, SELL = 1, 2  # TransactionType
LIMIT, MARKET = 1, 2  # PriceType
STATUS, CANCEL, FILL, REJECT = 1, 3, 5, 6  # ExchangeOrderNotification.NotifyType
OPEN, COMPLETE = 13, 15  # RithmicOrderNotification.NotifyType


class FakeClock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> Awaitable[None]: ...


def frame(message: Message) -> bytes:
    body = message.SerializeToString()
    return len(body).to_bytes(4, "big", signed=True) + body


def message(template_id: int, **fields: Any) -> Message:
    msg = TEMPLATES_MAP[template_id]()
    msg.template_id = template_id
    for name, value in fields.items():
        if value is None:
            continue
        target = getattr(msg, name)
        if isinstance(value, list):
            target.extend(value)
        else:
            setattr(msg, name, value)
    return msg


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


@dataclass
class Contract:
    symbol: str
    exchange: str
    price: Decimal
    point_value: Decimal


@dataclass
class Account:
    account_id: str
    name: str
    balance: Decimal
    realized: Decimal = Decimal(0)


@dataclass
class Position:
    net: int = 0
    average: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)


@dataclass
class Order:
    basket_id: str
    account_id: str
    symbol: str
    side: int
    qty: int
    price_type: int
    price: Decimal | None
    tag: str
    auto: int
    filled: int = 0
    status: str = "open"  # open | complete
    exit_cap: int | None = None  # an exit order under partial_exits: fill at most this many


@dataclass
class Session:
    conn: ServerConnection
    plant: int = 0
    silent: bool = False
    order_accounts: set[str] = field(default_factory=set)
    pnl_accounts: set[str] = field(default_factory=set)

    def send(self, msg: Message) -> None:
        if self.silent:
            return
        self.send_bytes(frame(msg))

    def send_bytes(self, data: bytes | str) -> None:
        # Queued on the transport at once, in order: a push never overtakes the reply before it.
        transport = self.conn.transport
        if transport is None or transport.is_closing():
            return
        protocol = self.conn.protocol
        try:
            if isinstance(data, str):
                protocol.send_text(data.encode())
            else:
                protocol.send_binary(data)
        except Exception:  # the connection is closing: nothing to deliver
            return
        for chunk in protocol.data_to_send():
            if chunk:
                transport.write(chunk)


class FakeRithmic:
    def __init__(
        self,
        clock: FakeClock,
        *,
        user: str = "trader",
        password: str = "secret",
        system: str = "Rithmic Test",
        heartbeat_interval: float = 60.0,
        max_sessions: int | None = None,
    ) -> None:
        self.clock = clock
        self.user, self.password, self.system = user, password, system
        self.heartbeat_interval = heartbeat_interval
        self.max_sessions = max_sessions
        self.accounts: dict[str, Account] = {}
        self.contracts: dict[str, Contract] = {}
        self.positions: dict[tuple[str, str], Position] = {}
        self.orders: dict[str, Order] = {}
        self.fills: list[dict[str, Any]] = []
        self.sessions: list[Session] = []
        self.logins = 0
        self.received: list[tuple[int, Message]] = []
        self._ids = itertools.count(1001)
        self._server: Server | None = None
        self._deny: tuple[str, str] | None = None
        self._echo_logins = False
        self._rejects: list[str] = []
        self._exit_cap: int | None = None
        self._refusals: dict[int, list[list[str]]] = {}
        self._held: int | None = None

    # -- lifetime ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await serve(
            self._connection, "127.0.0.1", 0, ping_interval=None, logger=VENUE_LOG
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self.drop()
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)
        self._server = None

    # -- venue set-up and the strategy's own actions ---------------------------------------------
    def add_account(self, account_id: str, balance: Decimal, name: str = "") -> None:
        self.accounts[account_id] = Account(account_id, name or account_id, balance)

    def add_contract(
        self, symbol: str, exchange: str, price: Decimal, point_value: Decimal
    ) -> None:
        self.contracts[symbol] = Contract(symbol, exchange, price, point_value)

    def place(
        self,
        account_id: str,
        side: int,
        symbol: str,
        qty: int,
        price_type: int = MARKET,
        price: Decimal | None = None,
        *,
        tag: str = "strategy",
        auto: int = 2,
    ) -> str:
        """An order from any session (the strategy's included); returns its basket id."""
        order = Order(
            f"B{next(self._ids)}", account_id, symbol, side, qty, price_type, price, tag, auto
        )
        self.orders[order.basket_id] = order
        self._notify(order, STATUS, "open")
        if self._rejects:
            self._reject(order, self._rejects.pop(0))
            return order.basket_id
        self._try_fill(order)
        return order.basket_id

    def move_price(self, symbol: str, price: Decimal) -> None:
        self.contracts[symbol].price = price
        for order in list(self.orders.values()):
            if order.symbol == symbol and order.status == "open":
                self._try_fill(order)
        for (account_id, held), _position in self.positions.items():
            if held == symbol:
                self._push_pnl(account_id, symbol)

    def cancel(self, basket_id: str) -> bool:
        order = self.orders.get(basket_id)
        if order is None or order.status != "open":
            return False
        order.status = "complete"
        self._notify(order, CANCEL, "cancelled")
        return True

    def net(self, account_id: str, symbol: str) -> int:
        return self.positions.get((account_id, symbol), Position()).net

    def working_orders(self, account_id: str) -> list[Order]:
        return [
            o for o in self.orders.values() if o.account_id == account_id and o.status == "open"
        ]

    def is_flat(self, account_id: str) -> bool:
        held = any(p.net for (a, _s), p in self.positions.items() if a == account_id)
        return not held and not self.working_orders(account_id)

    def requests_of(self, template_id: int) -> list[Message]:
        return [m for t, m in self.received if t == template_id]

    # -- controls --------------------------------------------------------------------------------
    def go_silent(self) -> None:
        for session in self.sessions:
            session.silent = True

    def speak(self) -> None:
        for session in self.sessions:
            session.silent = False

    def drop(self) -> None:
        for session in list(self.sessions):
            if session.conn.transport is not None:
                session.conn.transport.abort()

    def forced_logout(self) -> None:
        for session in list(self.sessions):
            self._force_out(session)

    def _force_out(self, session: Session) -> None:
        session.silent = False
        session.send(message(77))
        session.plant = 0
        asyncio.get_running_loop().create_task(session.conn.close(1000, "forced logout"))

    def deny_logins(self, rp_code: str = "13", text: str = "permission denied") -> None:
        self._deny = (rp_code, text)

    def echo_login_failures(self) -> None:
        self._echo_logins = True

    def allow_logins(self) -> None:
        self._deny = None

    def reject_next(self, n: int = 1, reason: str = "rejected by the risk system") -> None:
        self._rejects.extend([reason] * n)

    def partial_exits(self, qty: int | None) -> None:
        self._exit_cap = qty

    def refuse_next(
        self, template_id: int, rp_code: str = "13", text: str = "permission denied"
    ) -> None:
        self._refusals.setdefault(template_id, []).append([rp_code, text])

    def hold_replies(self, template_id: int | None) -> None:
        self._held = template_id

    def send_raw(self, data: bytes | str) -> None:
        for session in self.sessions:
            if not session.silent:
                session.send_bytes(data)

    # -- connections -----------------------------------------------------------------------------
    async def _connection(self, conn: ServerConnection) -> None:
        session = Session(conn)
        self.sessions.append(session)
        try:
            async for data in conn:
                if isinstance(data, str) or len(data) < 4:
                    session.send(message(75, rp_code=["3", "malformed frame"]))
                    continue
                try:
                    self._handle(session, data[4:])
                except DecodeError:
                    session.send(message(75, rp_code=["3", "undecodable message"]))
        except ConnectionClosed:
            pass
        finally:
            self.sessions.remove(session)

    def _handle(self, session: Session, body: bytes) -> None:
        base = TEMPLATES_MAP[18]()  # any message parses template_id
        base.ParseFromString(body)
        template_id = base.template_id
        cls = TEMPLATES_MAP.get(template_id)
        if cls is None:
            session.send(message(75, rp_code=["3", f"unknown template {template_id}"]))
            return
        request = cls()
        request.ParseFromString(body)
        self.received.append((template_id, request))
        msg_id = list(getattr(request, "user_msg", []))
        if template_id == 10:
            self._login(session, request, msg_id)
            return
        if not session.plant:
            session.send(message(75, user_msg=msg_id, rp_code=["3", "not logged in"]))
            return
        if template_id == self._held:
            return
        refusals = self._refusals.get(template_id)
        if refusals:
            reply = template_id + 1 if template_id + 1 in TEMPLATES_MAP else 75
            session.send(message(reply, user_msg=msg_id, rp_code=refusals.pop(0)))
            return
        handler = getattr(self, f"_t{template_id}", None)
        if handler is None:
            session.send(message(75, user_msg=msg_id, rp_code=["3", "unsupported request"]))
            return
        handler(session, request, msg_id)

    def _login(self, session: Session, request: Any, msg_id: list[str]) -> None:
        refusal: list[str] | None = None
        if self._deny is not None:
            refusal = list(self._deny)
        elif (request.user, request.password, request.system_name) != (
            self.user,
            self.password,
            self.system,
        ):
            refusal = ["1038", "login failed"]
        if refusal is not None:
            if self._echo_logins:
                refusal[1] += f" for {json.dumps(MessageToDict(request))}"
            session.send(message(11, user_msg=msg_id, rp_code=refusal))
            return
        self.logins += 1
        session.plant = request.infra_type
        same_plant = [s for s in self.sessions if s.plant == session.plant]
        if self.max_sessions is not None and len(same_plant) > self.max_sessions:
            self._force_out(same_plant[0])  # sessions are listed oldest first
        session.send(
            message(
                11,
                user_msg=msg_id,
                rp_code=["0"],
                template_version="3.9",
                fcm_id=FCM_ID,
                ib_id=IB_ID,
                heartbeat_interval=self.heartbeat_interval,
            )
        )

    def _done(self, session: Session, template_id: int, msg_id: list[str], **fields: Any) -> None:
        session.send(message(template_id, user_msg=msg_id, rp_code=["0"], **fields))

    def _rows(
        self, session: Session, template_id: int, msg_id: list[str], rows: list[dict[str, Any]]
    ) -> None:
        for row in rows:
            session.send(message(template_id, user_msg=msg_id, rq_handler_rp_code=["0"], **row))
        self._done(session, template_id, msg_id)

    def _t18(self, session: Session, _r: Any, msg_id: list[str]) -> None:
        self._done(session, 19, msg_id)

    def _t12(self, session: Session, _r: Any, msg_id: list[str]) -> None:
        self._done(session, 13, msg_id)

    def _t300(self, session: Session, _r: Any, msg_id: list[str]) -> None:
        self._done(
            session,
            301,
            msg_id,
            fcm_id=FCM_ID,
            ib_id=IB_ID,
            user=self.user,
            user_type=TRADER,
            op_max_session_count=4,
        )

    def _t302(self, session: Session, _r: Any, msg_id: list[str]) -> None:
        rows = [
            {"fcm_id": FCM_ID, "ib_id": IB_ID, "account_id": a.account_id, "account_name": a.name}
            for a in self.accounts.values()
        ]
        self._rows(session, 303, msg_id, rows)

    def _t304(self, session: Session, _r: Any, msg_id: list[str]) -> None:
        rows = [{"account_id": a, "auto_liquidate": 1} for a in self.accounts]
        self._rows(session, 305, msg_id, rows)

    def _t310(self, session: Session, _r: Any, msg_id: list[str]) -> None:
        exchanges = sorted({c.exchange for c in self.contracts.values()})
        rows = [
            {"exchange": x, "trade_route": "simulator", "status": "UP", "is_default": True}
            for x in exchanges
        ]
        self._rows(session, 311, msg_id, rows)

    def _t308(self, session: Session, request: Any, msg_id: list[str]) -> None:
        session.order_accounts.add(request.account_id)
        self._done(session, 309, msg_id)

    def _t336(self, session: Session, _r: Any, msg_id: list[str]) -> None:
        self._done(session, 337, msg_id)

    def _t400(self, session: Session, request: Any, msg_id: list[str]) -> None:
        session.pnl_accounts.add(request.account_id)
        self._done(session, 401, msg_id)

    def _t320(self, session: Session, request: Any, msg_id: list[str]) -> None:
        for order in self.working_orders(request.account_id):
            session.send(self._exchange_note(order, STATUS, "open", is_snapshot=True))
        self._done(session, 321, msg_id)

    def _t402(self, session: Session, request: Any, msg_id: list[str]) -> None:
        account_id = request.account_id
        for (held_by, symbol), _p in self.positions.items():
            if held_by == account_id:
                session.send(self._instrument_pnl(account_id, symbol, is_snapshot=True))
        session.send(self._account_pnl(account_id, is_snapshot=True))
        self._done(session, 403, msg_id)

    def _t3512(self, session: Session, request: Any, msg_id: list[str]) -> None:
        rows = [f for f in self.fills if f["account_id"] == request.account_id]
        self._rows(session, 3513, msg_id, rows)

    def _t312(self, session: Session, request: Any, msg_id: list[str]) -> None:
        if request.account_id not in self.accounts or request.symbol not in self.contracts:
            session.send(message(313, user_msg=msg_id, rp_code=["5", "unknown account or symbol"]))
            return
        order = Order(
            f"B{next(self._ids)}",
            request.account_id,
            request.symbol,
            request.transaction_type,
            request.quantity,
            request.price_type,
            Decimal(str(request.price)) if request.price_type == LIMIT else None,
            request.user_tag,
            request.manual_or_auto,
        )
        self.orders[order.basket_id] = order
        self._done(session, 313, msg_id, user_tag=order.tag, basket_id=order.basket_id)
        self._notify(order, STATUS, "open")
        if self._rejects:
            self._reject(order, self._rejects.pop(0))
        else:
            self._try_fill(order)

    def _t316(self, session: Session, request: Any, msg_id: list[str]) -> None:
        order = self.orders.get(request.basket_id)
        if order is None or order.status != "open":
            session.send(message(317, user_msg=msg_id, rp_code=["5", "order is not working"]))
            return
        self._done(session, 317, msg_id, basket_id=order.basket_id)
        self.cancel(order.basket_id)

    def _t346(self, session: Session, request: Any, msg_id: list[str]) -> None:
        self._done(session, 347, msg_id)
        for order in self.working_orders(request.account_id):
            self.cancel(order.basket_id)

    def _t3504(self, session: Session, request: Any, msg_id: list[str]) -> None:
        account_id = request.account_id
        held = [
            (symbol, p.net)
            for (a, symbol), p in self.positions.items()
            if a == account_id and p.net and (not request.symbol or symbol == request.symbol)
        ]
        self._done(session, 3505, msg_id, symbol=request.symbol, exchange=request.exchange)
        for symbol, net in held:
            order = Order(
                f"B{next(self._ids)}",
                account_id,
                symbol,
                SELL if net > 0 else BUY,
                abs(net),
                MARKET,
                None,
                "exit-position",
                request.manual_or_auto,
                exit_cap=self._exit_cap,
            )
            self.orders[order.basket_id] = order
            self._notify(order, STATUS, "open")
            if self._rejects:
                self._reject(order, self._rejects.pop(0))
            else:
                self._try_fill(order)

    # -- the venue ---------------------------------------------------------------------------------
    def _try_fill(self, order: Order) -> None:
        contract = self.contracts[order.symbol]
        price = contract.price
        if order.price_type == LIMIT:
            assert order.price is not None
            crossed = price <= order.price if order.side == BUY else price >= order.price
            if not crossed:
                return
            price = order.price
        qty = order.qty - order.filled
        if order.exit_cap is not None:
            qty = min(qty, order.exit_cap)
        self._fill(order, qty, price)
        if order.filled < order.qty:
            # An exit that could only fill part: the rest is cancelled, as a thin market does.
            order.status = "complete"
            self._notify(order, CANCEL, "cancelled")

    def _fill(self, order: Order, qty: int, price: Decimal) -> None:
        if qty <= 0:
            return
        order.filled += qty
        fill_id = f"F{next(self._ids)}"
        if order.filled == order.qty:
            order.status = "complete"
        now = self.clock.now()
        self.fills.append(
            {
                "account_id": order.account_id,
                "basket_id": order.basket_id,
                "symbol": order.symbol,
                "exchange": self.contracts[order.symbol].exchange,
                "transaction_type": "BUY" if order.side == BUY else "SELL",
                "fill_id": fill_id,
                "fill_price": float(price),
                "fill_size": qty,
                "ssboe": int(now.timestamp()),
                "usecs": now.microsecond,
            }
        )
        self._book(order.account_id, order.symbol, qty if order.side == BUY else -qty, price)
        self._notify(order, FILL, order.status, fill=(fill_id, qty, price))
        self._push_pnl(order.account_id, order.symbol)

    def _book(self, account_id: str, symbol: str, signed: int, price: Decimal) -> None:
        position = self.positions.setdefault((account_id, symbol), Position())
        point_value = self.contracts[symbol].point_value
        net = position.net
        if net == 0 or (net > 0) == (signed > 0):
            total = abs(net) + abs(signed)
            position.average = (position.average * abs(net) + price * abs(signed)) / total
            position.net = net + signed
            return
        closing = min(abs(net), abs(signed))
        direction = 1 if net > 0 else -1
        realized = (price - position.average) * closing * direction * point_value
        position.realized += realized
        account = self.accounts[account_id]
        account.realized += realized
        account.balance += realized
        position.net = net + signed
        if position.net == 0:
            position.average = Decimal(0)
        elif (position.net > 0) != (net > 0):
            position.average = price

    def _reject(self, order: Order, reason: str) -> None:
        order.status = "complete"
        self._notify(order, REJECT, "complete", text=reason)

    def _open_pnl(self, account_id: str, symbol: str) -> Decimal:
        position = self.positions.get((account_id, symbol), Position())
        contract = self.contracts[symbol]
        return (contract.price - position.average) * position.net * contract.point_value

    def _instrument_pnl(
        self, account_id: str, symbol: str, *, is_snapshot: bool = False
    ) -> Message:
        position = self.positions[(account_id, symbol)]
        now = self.clock.now()
        return message(
            450,
            is_snapshot=is_snapshot,
            fcm_id=FCM_ID,
            ib_id=IB_ID,
            account_id=account_id,
            symbol=symbol,
            exchange=self.contracts[symbol].exchange,
            net_quantity=position.net,
            open_position_quantity=abs(position.net),
            avg_open_fill_price=float(position.average),
            open_position_pnl=_money(self._open_pnl(account_id, symbol)),
            closed_position_pnl=_money(position.realized),
            ssboe=int(now.timestamp()),
            usecs=now.microsecond,
        )

    def _account_pnl(self, account_id: str, *, is_snapshot: bool = False) -> Message:
        account = self.accounts[account_id]
        opened = sum(
            (self._open_pnl(a, s) for (a, s) in self.positions if a == account_id), Decimal(0)
        )
        net = sum(p.net for (a, _s), p in self.positions.items() if a == account_id)
        now = self.clock.now()
        return message(
            451,
            is_snapshot=is_snapshot,
            fcm_id=FCM_ID,
            ib_id=IB_ID,
            account_id=account_id,
            account_balance=_money(account.balance),
            cash_on_hand=_money(account.balance),
            open_position_pnl=_money(opened),
            closed_position_pnl=_money(account.realized),
            day_pnl=_money(account.realized + opened),
            net_quantity=net,
            ssboe=int(now.timestamp()),
            usecs=now.microsecond,
        )

    def _push_pnl(self, account_id: str, symbol: str) -> None:
        for session in self.sessions:
            if session.plant == PNL_PLANT and account_id in session.pnl_accounts:
                session.send(self._instrument_pnl(account_id, symbol))
                session.send(self._account_pnl(account_id))

    def _exchange_note(
        self,
        order: Order,
        notify_type: int,
        status: str,
        *,
        is_snapshot: bool = False,
        fill: tuple[str, int, Decimal] | None = None,
        text: str = "",
    ) -> Message:
        now = self.clock.now()
        fields: dict[str, Any] = {
            "notify_type": notify_type,
            "is_snapshot": is_snapshot,
            "status": status,
            "basket_id": order.basket_id,
            "user_tag": order.tag,
            "fcm_id": FCM_ID,
            "ib_id": IB_ID,
            "account_id": order.account_id,
            "symbol": order.symbol,
            "exchange": self.contracts[order.symbol].exchange,
            "quantity": order.qty,
            "transaction_type": order.side,
            "price_type": order.price_type,
            "manual_or_auto": order.auto,
            "total_fill_size": order.filled,
            "total_unfilled_size": 0 if order.status != "open" else order.qty - order.filled,
            "text": text,
            "ssboe": int(now.timestamp()),
            "usecs": now.microsecond,
        }
        if order.price is not None:
            fields["price"] = float(order.price)
        if fill is not None:
            fill_id, qty, price = fill
            fields |= {"fill_id": fill_id, "fill_size": qty, "fill_price": float(price)}
        return message(352, **fields)

    def _notify(
        self,
        order: Order,
        notify_type: int,
        status: str,
        *,
        fill: tuple[str, int, Decimal] | None = None,
        text: str = "",
    ) -> None:
        note = self._exchange_note(order, notify_type, status, fill=fill, text=text)
        rithmic = message(
            351,
            notify_type=OPEN if order.status == "open" else COMPLETE,
            status=order.status,
            basket_id=order.basket_id,
            user_tag=order.tag,
            account_id=order.account_id,
            symbol=order.symbol,
            exchange=self.contracts[order.symbol].exchange,
            quantity=order.qty,
            transaction_type=order.side,
            price_type=order.price_type,
            total_fill_size=order.filled,
            total_unfilled_size=note.total_unfilled_size,
            completion_reason=text,
        )
        for session in self.sessions:
            if session.plant == ORDER_PLANT and order.account_id in session.order_accounts:
                session.send(rithmic)
                session.send(note)
