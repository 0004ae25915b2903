"""`TradovateBroker`: one Tradovate login serving the accounts the user set up.

The session is opened once (`auth/accesstokenrequest`) and then only renewed (`auth/renewaccesstoken`,
well before `expirationTime`); a reconnect re-opens the sockets on the same token and never logs in
again, because a new login closes the oldest of the user's two sessions — possibly the strategy's.
A token the server refuses (another login took the session, or it was revoked) is `SessionLost`.

Live state comes from the user socket: `user/syncrequest` gives the full state, `props` pushes the
changes. Marks come from the market-data socket (`md/subscribeQuote`) for every contract the accounts
hold or trade, plus whatever `subscribe` asks for. `snapshot()` is a fresh REST read, never the cache:
it is what the kill switch verifies a flatten with.

Flatten: `order/liquidatepositions` for the positions Tradovate reports (each liquidation also cancels
that contract's orders), `order/liquidateposition` for any other contract the caller still holds, and
one `order/cancelorder` per remaining working order (Tradovate has no account-wide cancel). Every
order-making request carries `isAutomated: true`, as Tradovate requires of automated orders.

Secrets: the password, the API secret and every token received are hidden (`Redactor`) in whatever
server text enters an error, a link event or a log line: a refusal may echo the request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from propdesk.brokers.base import (
    END_OF_STREAM,
    AccountFill,
    AccountRef,
    Broker,
    BrokerError,
    BrokerEvent,
    BrokerPosition,
    Capability,
    LinkEvent,
    LinkState,
    OrderRequest,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Quote,
    SessionLost,
    Snapshot,
    WorkingOrder,
    drain,
)
from propdesk.brokers.redact import Redactor
from propdesk.brokers.tradovate.endpoints import Endpoints
from propdesk.brokers.tradovate.entities import ContractBook, EntityBook, contract_ids_in
from propdesk.brokers.tradovate.quotes import marks_in, quote_contract_ids
from propdesk.brokers.tradovate.rest import Credentials, RestClient, Token
from propdesk.brokers.tradovate.stream import TradovateSocket
from propdesk.brokers.tradovate.wire import Push
from propdesk.domain.clock import Clock
from propdesk.domain.events import Side
from propdesk.domain.instruments import Contract, InstrumentBook

log = logging.getLogger(__name__)

RENEW_BEFORE = timedelta(minutes=15)  # Tradovate's advice: renew ~15 min before expiry
RENEW_RETRY = 30.0  # clock seconds between renewal attempts that failed without a verdict
_SNAPSHOT_LISTS = {
    "accounts": "/account/list",
    "cashBalances": "/cashBalance/list",
    "positions": "/position/list",
    "orders": "/order/list",
    "orderVersions": "/orderVersion/list",
    "fills": "/fill/list",
}
_ORDER_TYPES = {OrderType.MARKET: "Market", OrderType.LIMIT: "Limit", OrderType.STOP: "Stop"}


class TradovateBroker(Broker):
    capabilities = frozenset(
        {Capability.LIQUIDATE_CONTRACT, Capability.MARKET_DATA, Capability.TOKEN_RENEWAL}
    )

    def __init__(
        self,
        *,
        name: str,
        endpoints: Endpoints,
        credentials: Credentials,
        accounts: Sequence[str],
        instruments: InstrumentBook,
        clock: Clock,
        heartbeat_allowance: float = 10.0,
    ) -> None:
        self.name = name
        self.heartbeat_allowance = timedelta(seconds=heartbeat_allowance)
        self._endpoints = endpoints
        self._credentials = credentials
        self._wanted = tuple(accounts)
        self._clock = clock
        self._redact = Redactor(credentials.secrets())
        self.rest = RestClient(endpoints.rest, clock, name=name, redact=self._redact)
        self._contracts = ContractBook(instruments, clock.now)
        self._book = EntityBook(name, self._wanted, self._contracts)
        self._user: TradovateSocket | None = None
        self._md: TradovateSocket | None = None
        self._queue: asyncio.Queue[object] | None = None
        self._synced = False
        self._early: list[Push] = []  # pushes that came before the sync reply was applied
        self._interest: dict[str, Contract] = {}  # quotes wanted, by contract key
        self._quoted: set[str] = set()  # subscribed on the current md socket
        self._session_lost = False
        self._issued: datetime | None = None  # when the current token was obtained
        self._renewal: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._last_seen: datetime | None = None

    # -- link ----------------------------------------------------------------------------------
    @property
    def last_frame_at(self) -> datetime | None:
        """The older of the two sockets' last frames: both must be alive for marks and fills."""
        frames = [s.last_frame_at for s in (self._user, self._md) if s is not None]
        known = [f for f in frames if f is not None]
        if known:
            self._last_seen = min(known)
        return self._last_seen

    async def connect(self) -> None:
        """Sign in if there is no live session (the only login), then open the sockets."""
        if self._queue is not None:
            return
        token = self.rest.token
        if token is None or self._session_lost or token.expires <= self._clock.now():
            await self.rest.login(self._credentials)
            self._issued = self._clock.now()
            self._session_lost = False
        await self._open()

    async def reconnect(self) -> None:
        """New sockets on the same session; SessionLost if Tradovate no longer accepts its token."""
        if self._session_lost:
            raise SessionLost(f"{self.name}: the session was logged out; sign in again")
        if self.rest.token is None:
            raise BrokerError(f"{self.name}: not signed in; call connect() first", retryable=False)
        await self._close_transport("replaced by a reconnect")
        try:
            await self._open()
        except SessionLost:
            self._session_lost = True
            raise

    async def close(self) -> None:
        await self._close_transport("closed by the client")
        await self.rest.aclose()

    async def events(self) -> AsyncIterator[BrokerEvent]:
        queue = self._queue
        if queue is None:
            state = LinkState.FORCED_LOGOUT if self._session_lost else LinkState.DISCONNECTED
            yield self._link(state, "not connected")
            return
        async for event in drain(queue):
            yield event

    async def _open(self) -> None:
        token = await self._fresh_token()
        self._queue = asyncio.Queue()
        self._synced = False
        self._early = []
        self._quoted = set()
        self._book = EntityBook(self.name, self._wanted, self._contracts)
        user = TradovateSocket(
            self._endpoints.user_socket,
            self._clock,
            name=f"{self.name} user socket",
            on_push=self._on_user_push,
            on_end=self._on_socket_end,
            redact=self._redact,
        )
        self._user = user
        try:
            await user.start(token.access)
            data = await user.request("user/syncrequest", {"users": [token.user_id]})
            if not isinstance(data, dict):
                answer = self._redact.head(repr(data), 80)
                raise BrokerError(f"{self.name}: user/syncrequest answered {answer}")
            await self._resolve(contract_ids_in(data))
            try:
                self._book.load(data)
            except ValueError as exc:
                raise BrokerError(
                    f"{self.name}: malformed sync reply: {self._redact(exc)}"
                ) from self._redact.cause(exc)
            self._synced = True
            self._report_unknown_accounts()
            early, self._early = self._early, []
            for push in early:
                await self._on_user_push(push)
            detail = "connected"
            if token.md_access:
                detail = await self._open_md(token.md_access)
        except BaseException:
            await self._close_transport("the connection could not be opened", quiet=True)
            raise
        self._put(self._link(LinkState.CONNECTED, detail))
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.get_running_loop().create_task(
                self._renew_forever(), name=f"{self.name} token renewal"
            )

    @property
    def unknown_accounts(self) -> list[str]:
        """Configured accounts this login does not have (a typo, or another user's account)."""
        found = {ref.account_id for ref in self._book.refs.values()}
        return [a for a in self._wanted if a not in found]

    def _report_unknown_accounts(self) -> None:
        unknown = self.unknown_accounts
        if unknown:
            names = sorted(str(a.get("name", a.get("id"))) for a in self._book.accounts.values())
            log.error(
                "%s: account(s) %s are not on this Tradovate login, so they are NOT watched; "
                "the login has: %s",
                self.name,
                ", ".join(unknown),
                ", ".join(names) or "no accounts",
            )

    async def _open_md(self, md_token: str) -> str:
        """Open the market-data socket; without it fills and orders still flow (marks do not)."""
        md = TradovateSocket(
            self._endpoints.md_socket,
            self._clock,
            name=f"{self.name} market-data socket",
            on_push=self._on_md_push,
            on_end=self._on_socket_end,
            redact=self._redact,
        )
        try:
            await md.start(md_token)
        except BrokerError as exc:
            log.error("%s: no market data, open P&L will not be marked: %s", self.name, exc)
            return f"connected WITHOUT market data (open P&L is not marked): {exc}"
        self._md = md
        for position in self._book.snapshot(self._clock.now()).positions:
            if position.net:
                self._interest.setdefault(position.contract.key, position.contract)
        await self._quote(list(self._interest.values()))
        return "connected"

    async def _close_transport(self, detail: str, *, quiet: bool = False) -> None:
        queue, self._queue = self._queue, None
        if queue is not None and not quiet:
            queue.put_nowait(self._link(LinkState.DISCONNECTED, detail))
        if queue is not None:
            queue.put_nowait(END_OF_STREAM)
        tasks = [t for t in (self._renewal, *self._side_tasks) if t is not None]
        self._renewal = None
        self._side_tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in (self._user, self._md):
            if sock is not None:
                await sock.close()
        self._user = self._md = None

    def _on_socket_end(self, reason: str) -> None:
        """A socket ended by itself: the stream ends; the supervisor closes and reconnects."""
        queue, self._queue = self._queue, None
        if queue is not None:
            queue.put_nowait(self._link(LinkState.DISCONNECTED, reason))
            queue.put_nowait(END_OF_STREAM)

    def _end_terminal(self, state: LinkState, detail: str) -> None:
        self._session_lost = True
        queue, self._queue = self._queue, None
        if queue is not None:
            queue.put_nowait(self._link(state, detail))
            queue.put_nowait(END_OF_STREAM)

    def _link(self, state: LinkState, detail: str) -> LinkEvent:
        return LinkEvent(self._clock.now(), self.name, state, self._redact(detail))

    def _put(self, event: BrokerEvent) -> None:
        if self._queue is not None:
            self._queue.put_nowait(event)

    # -- the session's token --------------------------------------------------------------------
    def _renew_margin(self, token: Token) -> timedelta:
        lifetime = token.expires - (self._issued or self._clock.now())
        return min(RENEW_BEFORE, lifetime / 3)

    async def _fresh_token(self) -> Token:
        token = self.rest.token
        assert token is not None
        now = self._clock.now()
        if token.expires <= now:
            self._session_lost = True
            raise SessionLost(f"{self.name}: the session's token expired while the link was down")
        if token.expires - now <= self._renew_margin(token):
            token = await self._renew()
        return token

    async def _renew(self) -> Token:
        token = await self.rest.renew()
        self._issued = self._clock.now()
        return token

    async def _renew_forever(self) -> None:
        while True:
            token = self.rest.token
            assert token is not None
            due = token.expires - self._renew_margin(token) - self._clock.now()
            await self._clock.sleep(max(due.total_seconds(), 0.0))
            try:
                await self._renew()
            except SessionLost as exc:
                self._end_terminal(LinkState.TOKEN_REVOKED, f"token renewal refused: {exc}")
                return
            except BrokerError as exc:
                if self.rest.token is not None and self.rest.token.expires <= self._clock.now():
                    self._end_terminal(LinkState.TOKEN_REVOKED, f"the token expired: {exc}")
                    return
                log.warning("%s: token renewal failed, retrying: %s", self.name, exc)
                await self._clock.sleep(RENEW_RETRY)

    # -- pushes ---------------------------------------------------------------------------------
    async def _on_user_push(self, push: Push) -> None:
        if push.event == "shutdown":
            said = self._redact.head(repr(push.data), 120)
            raise BrokerError(f"Tradovate is shutting the connection down: {said}")
        if push.event != "props":
            return
        if not self._synced:
            self._early.append(push)
            return
        data = push.data
        if not isinstance(data, dict) or not isinstance(data.get("entity"), dict):
            raise ValueError(
                f"a props push without an entity: {self._redact.head(repr(data), 120)}"
            )
        entity = data["entity"]
        contract_id = entity.get("contractId")
        if isinstance(contract_id, int):
            await self._resolve({contract_id})
        events = self._book.apply(
            str(data.get("entityType")), str(data.get("eventType")), entity, self._clock.now()
        )
        for event in events:
            self._put(event)
            contract = _contract_of(event)
            if contract is not None and contract.key not in self._interest:
                self._interest[contract.key] = contract
                self._spawn(self._quote([contract]))

    async def _on_md_push(self, push: Push) -> None:
        if push.event != "md":
            return
        await self._resolve(quote_contract_ids(push.data))
        marks = marks_in(push.data, self._contracts, self._clock.now())
        for mark in marks:
            self._put(Quote(mark))

    async def _resolve(self, contract_ids: Iterable[int]) -> None:
        """Look up contracts Tradovate named by id only."""
        missing = self._contracts.missing(contract_ids)
        if not missing:
            return
        ids = ",".join(str(i) for i in sorted(missing))
        items = await self.rest.get("/contract/items", {"ids": ids})
        if not isinstance(items, list):
            answer = self._redact.head(repr(items), 80)
            raise BrokerError(f"{self.name}: contract/items answered {answer}")
        for item in items:
            if isinstance(item, dict):
                self._contracts.add(item)

    async def _quote(self, contracts: Sequence[Contract]) -> None:
        md = self._md
        if md is None or not md.open:
            return
        for contract in contracts:
            if contract.key in self._quoted:
                continue
            self._quoted.add(contract.key)
            try:
                answer = await md.request(
                    "md/subscribeQuote", {"symbol": self._contracts.name(contract)}
                )
            except BrokerError as exc:
                self._quoted.discard(contract.key)
                log.warning("%s: no quotes for %s: %s", self.name, contract.key, exc)
                continue
            if isinstance(answer, dict) and answer.get("errorText"):
                log.warning(
                    "%s: no quotes for %s: %s",
                    self.name,
                    contract.key,
                    self._redact(answer["errorText"]),
                )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # -- requests -------------------------------------------------------------------------------
    async def subscribe(self, contracts: Iterable[Contract]) -> None:
        wanted = [c for c in contracts if c.key not in self._interest]
        for contract in wanted:
            self._interest[contract.key] = contract
        await self._quote(wanted)

    async def snapshot(self, accounts: Iterable[AccountRef] | None = None) -> Snapshot:
        """A fresh read over REST (all lists at once), never the pushed cache."""
        keys = list(_SNAPSHOT_LISTS)
        answers = await asyncio.gather(*(self.rest.get(_SNAPSHOT_LISTS[k]) for k in keys))
        data = dict(zip(keys, answers, strict=True))
        try:
            await self._resolve(contract_ids_in(data))
            book = EntityBook(self.name, self._wanted, self._contracts)
            book.load(data)
        except ValueError as exc:
            raise BrokerError(
                f"{self.name}: malformed answer to a snapshot read: {self._redact(exc)}"
            ) from self._redact.cause(exc)
        return book.snapshot(self._clock.now(), accounts)

    async def place(self, account: AccountRef, order: OrderRequest) -> str:
        account_id = await self._account_id(account)
        body: dict[str, Any] = {
            "accountSpec": str(
                self._book.accounts.get(account_id, {}).get("name", account.account_id)
            ),
            "accountId": account_id,
            "action": "Buy" if order.side is Side.BUY else "Sell",
            "symbol": self._contracts.name(order.contract),
            "orderQty": order.qty,
            "orderType": _ORDER_TYPES[order.type],
            "isAutomated": True,
        }
        if order.limit_price is not None:
            body["price"] = float(order.limit_price)
        if order.stop_price is not None:
            body["stopPrice"] = float(order.stop_price)
        if order.tag:
            body["text"] = order.tag[:50]
        answer = await self.rest.post("/order/placeorder", body)
        return str(_order_id(answer, f"{self.name}: order on {account}", self._redact))

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        if not order_id.isdigit():
            raise BrokerError(
                f"{self.name}: {order_id!r} is not a Tradovate order id", retryable=False
            )
        answer = await self.rest.post(
            "/order/cancelorder", {"orderId": int(order_id), "isAutomated": True}
        )
        what = f"{self.name}: cancel of {order_id} on {account}"
        _order_id(answer, what, self._redact, optional=True)

    async def close_position(self, account: AccountRef, contract: Contract) -> None:
        account_id = await self._account_id(account)
        contract_id = await self._contract_id(contract)
        answer = await self.rest.post(
            "/order/liquidateposition",
            {
                "accountId": account_id,
                "contractId": contract_id,
                "admin": False,
                "isAutomated": True,
            },
        )
        what = f"{self.name}: liquidation of {contract.key} on {account}"
        _order_id(answer, what, self._redact, optional=True)

    async def cancel_all(self, account: AccountRef, orders: Iterable[WorkingOrder] = ()) -> None:
        """Emulated: a cancel per working order the caller or the pushed state knows of, at once.

        A cancel refused because the order is already gone (filled, cancelled by a liquidation) is
        not a failure: the kill switch's fresh read decides whether anything still works.
        """
        ids = {o.order_id for o in orders} | self._book.working_order_ids(account)
        results = await asyncio.gather(
            *(self.cancel(account, order_id) for order_id in sorted(ids)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BrokerError) and not result.retryable:
                log.info("%s", result)
            elif isinstance(result, BaseException):
                raise result

    async def flatten(self, account: AccountRef, positions: Iterable[BrokerPosition] = ()) -> None:
        """`liquidatepositions` for what Tradovate reports, `liquidateposition` for the rest."""
        known = self._book.position_ids(account)
        others = {
            p.contract.key: p.contract for p in positions if p.net and p.contract.key not in known
        }
        requests = [self.close_position(account, contract) for contract in others.values()]
        if known:
            requests.append(self._liquidate_many(account, sorted(known.values())))
        results = await asyncio.gather(*requests, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _liquidate_many(self, account: AccountRef, position_ids: list[int]) -> None:
        answer = await self.rest.post(
            "/order/liquidatepositions",
            {"positions": position_ids, "admin": False, "isAutomated": True},
        )
        if isinstance(answer, dict) and (answer.get("errorText") or answer.get("ok") is False):
            said = self._redact(answer.get("errorText") or answer)
            raise BrokerError(f"{self.name}: liquidation of {account} refused: {said}")

    async def _account_id(self, ref: AccountRef) -> int:
        account_id = self._book.account_id(ref)
        if account_id is None:
            accounts = await self.rest.get("/account/list")
            try:
                self._book.load({"accounts": accounts})
            except ValueError as exc:
                raise BrokerError(
                    f"{self.name}: malformed account list: {self._redact(exc)}"
                ) from self._redact.cause(exc)
            account_id = self._book.account_id(ref)
        if account_id is None:
            raise BrokerError(f"{self.name}: account {ref} is not on this login", retryable=False)
        return account_id

    async def _contract_id(self, contract: Contract) -> int:
        contract_id = self._contracts.ids.get(contract.key)
        if contract_id is None:
            item = await self.rest.get("/contract/find", {"name": self._contracts.name(contract)})
            if not isinstance(item, dict):
                raise BrokerError(
                    f"{self.name}: Tradovate does not know {contract.key}", retryable=False
                )
            try:
                self._contracts.add(item)
            except ValueError as exc:
                said = self._redact.head(repr(item), 80)
                raise BrokerError(
                    f"{self.name}: malformed contract {said}"
                ) from self._redact.cause(exc)
            contract_id = self._contracts.ids.get(contract.key)
        if contract_id is None:
            raise BrokerError(
                f"{self.name}: Tradovate does not know {contract.key}", retryable=False
            )
        return contract_id


def _order_id(answer: Any, what: str, redact: Redactor, *, optional: bool = False) -> int | None:
    if isinstance(answer, dict) and (answer.get("failureReason") or answer.get("failureText")):
        text = redact(answer.get("failureText") or answer.get("failureReason"))
        raise BrokerError(f"{what} refused: {text}", retryable=False)
    order_id = answer.get("orderId") if isinstance(answer, dict) else None
    if isinstance(order_id, int) and not isinstance(order_id, bool):
        return order_id
    if optional and isinstance(answer, dict):
        return None
    raise BrokerError(f"{what}: unexpected answer {redact.head(repr(answer), 120)}")


def _contract_of(event: BrokerEvent) -> Contract | None:
    if isinstance(event, AccountFill):
        return event.fill.contract
    if isinstance(event, PositionUpdate):
        return event.position.contract
    if isinstance(event, OrderUpdate):
        return event.order.contract
    return None
