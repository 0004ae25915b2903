"""`ProjectXBroker`: one ProjectX Gateway login (TopstepX and other firms) as a propdesk Broker.

- Session: `Auth/loginKey` once in `connect()`; `Auth/validate` renews the token in the background
  (the gateway may hand back a new one). `reconnect()` re-opens the hubs with the current token and
  never logs in again: a new login could kick the strategy's own session.
- Transport: the user hub (accounts, orders, positions, trades of every configured account) and the
  market hub (quotes of every contract held, ordered or asked for). Subscriptions are re-made on
  every new transport; events during a gap are lost, so the caller re-reads `snapshot()`.
- P&L: fills carry price and fees, so the ledger books realized P&L trade by trade; open P&L comes
  from market-hub quotes. The gateway's own `balance` arrives as BalanceUpdate for comparison.
- Flatten: the gateway has no cancel-all and no account flatten. `cancel_all` cancels each working
  order; `flatten` waits for that account's cancels to be answered (a resting bracket must not
  outlive its position) and then sends `Position/closeContract` for every position at once. The
  kill switch then re-reads until flat.
- Terminal: `GatewayLogout` is a forced logout (another login took the session); a token the
  gateway refuses (HTTP 401, a refused hub upgrade, a refused renewal) is a revoked token. Both end
  the stream with that state and make every later call raise `SessionLost`.
- Robustness: a malformed frame or payload is logged, and the transport is reset (the link reports
  DISCONNECTED; the supervisor reconnects and re-reads), so a bad message can cost a re-read but
  never a crash or a silently wrong view.
- Secrets: the API key and every token received are hidden (`Redactor`) in whatever gateway text
  enters an error, a link event or a log line: a refusal may echo the request, and the hubs' URL
  carries the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from propdesk.brokers.base import (
    END_OF_STREAM,
    AccountFill,
    AccountRef,
    BalanceUpdate,
    Broker,
    BrokerError,
    BrokerEvent,
    BrokerPosition,
    Capability,
    LinkEvent,
    LinkState,
    OrderRequest,
    OrderUpdate,
    PositionUpdate,
    Quote,
    SessionLost,
    Snapshot,
    WorkingOrder,
    drain,
)
from propdesk.brokers.projectx import payloads
from propdesk.brokers.projectx.firms import Gateway
from propdesk.brokers.projectx.payloads import PayloadError, QuoteBook
from propdesk.brokers.projectx.rest import RATE_LIMIT_BACKOFF, RestClient, TokenRejected
from propdesk.brokers.projectx.signalr import (
    HubClosed,
    HubConnection,
    HubError,
    HubRefused,
    Invocation,
    MalformedFrame,
)
from propdesk.brokers.projectx.snapshot import AccountReplies, read_snapshot, trading_day_start
from propdesk.brokers.redact import Redactor
from propdesk.domain.clock import Clock
from propdesk.domain.instruments import Contract, InstrumentBook

__all__ = ["ProjectXBroker"]

log = logging.getLogger(__name__)


class ProjectXBroker(Broker):
    capabilities = frozenset(
        {Capability.LIQUIDATE_CONTRACT, Capability.MARKET_DATA, Capability.TOKEN_RENEWAL}
    )

    def __init__(
        self,
        *,
        name: str,
        gateway: Gateway,
        username: str,
        api_key: str,
        accounts: Sequence[str],
        instruments: InstrumentBook,
        clock: Clock,
        heartbeat_allowance: float = 30.0,
        ping_every: float = 10.0,
        renew_every: float = 3600.0,
        request_timeout: float = 10.0,
        rate_limit_backoff: Sequence[float] = RATE_LIMIT_BACKOFF,
    ) -> None:
        """`accounts` are what the trader configured: each a ProjectX account id or name.

        `heartbeat_allowance` (clock seconds): ASP.NET hubs ping every 15 s, so 30 s of silence is
        a dead link. `renew_every` (clock seconds): tokens last 24 h; renewing hourly leaves room
        for a gateway that is briefly unreachable.
        """
        self.name = name
        self.gateway = gateway
        self.heartbeat_allowance = timedelta(seconds=heartbeat_allowance)
        self._username = username
        self._api_key = api_key
        self._configured = tuple(accounts)
        self._instruments = instruments
        self._clock = clock
        self._ping_every = ping_every
        self._renew_every = renew_every
        self._timeout = request_timeout
        self._redact = Redactor([api_key])
        self.rest = RestClient(
            gateway.api, timeout=request_timeout, backoff=rate_limit_backoff, redact=self._redact
        )
        self._ids: dict[AccountRef, int] = {}
        self._refs: dict[int, AccountRef] = {}
        self._queue: asyncio.Queue[object] | None = None
        self._hubs: dict[str, HubConnection] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._renewer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._signed_in = False
        self._lost: LinkState | None = None
        self._lost_detail = ""
        self._last_frame: datetime | None = None
        self._renewed_at: datetime | None = None
        self._quote_ids: dict[str, Contract] = {}  # contract id -> contract, quotes wanted
        self._quotes = QuoteBook()
        self._cancelling: dict[AccountRef, asyncio.Future[None]] = {}
        self.resets = 0  # transports reset after malformed data

    # -- link -----------------------------------------------------------------------------------
    @property
    def last_frame_at(self) -> datetime | None:
        return self._last_frame

    @property
    def connected(self) -> bool:
        return self._queue is not None

    async def connect(self) -> None:
        """Log in with the API key (the one login of this session) and open the hubs."""
        if self._queue is not None:
            return
        try:
            await self.rest.login_key(self._username, self._api_key)
        except BrokerError as exc:
            what = "login failed" if exc.retryable else "login refused"
            raise BrokerError(f"{self.name}: {what}: {exc}", retryable=exc.retryable) from exc
        self._renewed_at = self._clock.now()
        self._lost = None
        self._signed_in = True
        await self._resolve_accounts()
        await self._open()
        self._start_renewer()

    async def reconnect(self) -> None:
        """New hubs on the same session (the current token); never a new login."""
        self._check_session()
        await self._teardown_now(LinkState.DISCONNECTED, "replaced by a reconnect")
        await self._open()
        self._start_renewer()

    async def close(self) -> None:
        """Close the transport and stop renewing; the session stays valid for `reconnect()`."""
        await self._teardown_now(LinkState.DISCONNECTED, "closed by the client")
        renewer, self._renewer = self._renewer, None
        if renewer is not None and renewer is not asyncio.current_task():
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.rest.aclose()

    async def events(self) -> AsyncIterator[BrokerEvent]:
        queue = self._queue
        if queue is None:
            state = self._lost or LinkState.DISCONNECTED
            yield self._link(state, self._lost_detail or "not connected")
            return
        async for event in drain(queue):
            yield event

    # -- requests -------------------------------------------------------------------------------
    async def subscribe(self, contracts: Iterable[Contract]) -> None:
        """Stream these contracts' quotes, now and after every reconnect."""
        for contract in contracts:
            await self._want_quotes(contract)

    async def snapshot(self, accounts: Iterable[AccountRef] | None = None) -> Snapshot:
        refs = list(accounts) if accounts is not None else list(self._ids)
        ids = [self._account_id(ref) for ref in refs]
        now = self._clock.now()
        since = trading_day_start(now)
        requests = [self._post("Account/search", {"onlyActiveAccounts": False})]
        for account_id in ids:
            requests.append(self._post("Position/searchOpen", {"accountId": account_id}))
            requests.append(self._post("Order/searchOpen", {"accountId": account_id}))
            requests.append(
                self._post("Trade/search", {"accountId": account_id, "startTimestamp": since})
            )
        results = await asyncio.gather(*requests, return_exceptions=True)
        replies: list[dict[str, Any]] = []
        for result in results:
            if isinstance(result, BaseException):
                failures = [r for r in results if isinstance(r, BaseException)]
                raise next((f for f in failures if isinstance(f, SessionLost)), result)
            replies.append(result)
        per_account = [
            AccountReplies(ref, self._ids[ref], *replies[1 + 3 * i : 4 + 3 * i])
            for i, ref in enumerate(refs)
        ]
        try:
            return read_snapshot(now, replies[0], per_account, self._contract)
        except PayloadError as exc:
            raise BrokerError(
                f"{self.name}: unreadable snapshot: {self._redact(exc)}"
            ) from self._redact.cause(exc)

    async def exposure(self, account: AccountRef) -> Snapshot:
        """Positions and working orders only: 2 requests, not the snapshot's 4 (200 a minute)."""
        account_id = self._account_id(account)
        now = self._clock.now()
        positions, orders = await asyncio.gather(
            self._post("Position/searchOpen", {"accountId": account_id}),
            self._post("Order/searchOpen", {"accountId": account_id}),
        )
        replies = AccountReplies(account, account_id, positions, orders, {"trades": []})
        try:
            return read_snapshot(now, {"accounts": []}, [replies], self._contract)
        except PayloadError as exc:
            raise BrokerError(
                f"{self.name}: unreadable positions or orders: {self._redact(exc)}"
            ) from self._redact.cause(exc)

    async def place(self, account: AccountRef, order: OrderRequest) -> str:
        body: dict[str, Any] = {
            "accountId": self._account_id(account),
            "contractId": order.contract.projectx_id,
            "type": payloads.TYPE_TO_WIRE[order.type],
            "side": payloads.SIDE_TO_WIRE[order.side],
            "size": order.qty,
            "limitPrice": order.limit_price,
            "stopPrice": order.stop_price,
        }
        if order.tag:
            body["customTag"] = order.tag
        reply = await self._post("Order/place", body)
        order_id = reply.get("orderId")
        if isinstance(order_id, bool) or not isinstance(order_id, int | str):
            raise BrokerError(
                f"{self.name}: Order/place answered without an order id: {self._redact(reply)}"
            )
        return str(order_id)

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        if not order_id.isdigit():
            raise BrokerError(
                f"{self.name}: {order_id!r} is not a ProjectX order id", retryable=False
            )
        await self._post(
            "Order/cancel", {"accountId": self._account_id(account), "orderId": int(order_id)}
        )

    async def close_position(self, account: AccountRef, contract: Contract) -> None:
        body = {"accountId": self._account_id(account), "contractId": contract.projectx_id}
        await self._post("Position/closeContract", body)

    async def cancel_all(self, account: AccountRef, orders: Iterable[WorkingOrder]) -> None:
        """Emulated: every working order in the caller's view is cancelled, all at once."""
        self._account_id(account)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Registered before the first await, so a flatten started right after waits for it.
        self._cancelling[account] = done
        try:
            await super().cancel_all(account, [o for o in orders if o.remaining > 0])
        finally:
            done.set_result(None)
            if self._cancelling.get(account) is done:
                del self._cancelling[account]

    async def flatten(self, account: AccountRef, positions: Iterable[BrokerPosition]) -> None:
        """Close every position per contract, once this account's cancels are answered."""
        positions = list(positions)
        pending = self._cancelling.get(account)
        if pending is not None:
            await pending
        await super().flatten(account, positions)

    # -- session internals ----------------------------------------------------------------------
    def _check_session(self) -> None:
        if self._lost is not None:
            raise SessionLost(f"{self.name}: {self._lost_detail}; sign in again")
        if not self._signed_in:
            raise BrokerError(f"{self.name}: not signed in; call connect() first", retryable=False)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check_session()
        try:
            return await self.rest.post(path, body)
        except TokenRejected as exc:
            self._lose(LinkState.TOKEN_REVOKED, str(exc))
            raise

    def _account_id(self, ref: AccountRef) -> int:
        account_id = self._ids.get(ref)
        if account_id is None:
            raise BrokerError(f"{self.name}: account {ref} is not on this login", retryable=False)
        return account_id

    async def _resolve_accounts(self) -> None:
        reply = await self._post("Account/search", {"onlyActiveAccounts": False})
        listed = reply.get("accounts")
        if not isinstance(listed, list):
            raise BrokerError(f"{self.name}: Account/search sent no account list", retryable=False)
        by_key: dict[str, int] = {}
        for record in listed:
            try:
                record = payloads.unwrap(record)
                account_id = payloads.integer(record, "id")
            except PayloadError as exc:
                raise BrokerError(
                    f"{self.name}: unreadable account: {self._redact(exc)}"
                ) from self._redact.cause(exc)
            by_key[str(account_id)] = account_id
            if isinstance(record.get("name"), str):
                by_key.setdefault(record["name"].strip().lower(), account_id)
        missing = []
        ids: dict[AccountRef, int] = {}
        for configured in self._configured:
            account_id = by_key.get(configured.strip()) or by_key.get(configured.strip().lower())
            if account_id is None:
                missing.append(configured)
                continue
            ids[AccountRef(self.name, configured)] = account_id
        if missing:
            known = ", ".join(sorted(k for k in by_key if not k.isdigit())) or "none"
            raise BrokerError(
                f"{self.name}: account(s) {', '.join(missing)} are not on this login "
                f"(it has: {known})",
                retryable=False,
            )
        self._ids = ids
        self._refs = {account_id: ref for ref, account_id in ids.items()}

    def _start_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(
                self._renew(), name=f"renew {self.name}"
            )

    async def _renew(self) -> None:
        # Due a fixed time after the last renewal, not after this task started: a link that
        # drops more often than `renew_every` must not postpone renewal until the token expires.
        while self._lost is None:
            renewed = self._renewed_at or self._clock.now()
            elapsed = (self._clock.now() - renewed).total_seconds()
            await self._clock.sleep(max(0.0, self._renew_every - elapsed))
            try:
                await self.rest.validate()
            except TokenRejected as exc:
                self._lose(LinkState.TOKEN_REVOKED, f"token renewal refused: {exc}")
                return
            except BrokerError as exc:
                if not exc.retryable:  # success: false, the gateway will not extend this session
                    self._lose(LinkState.TOKEN_REVOKED, f"token renewal refused: {exc}")
                    return
                log.warning("%s: token renewal failed, trying again soon: %s", self.name, exc)
                await self._clock.sleep(min(60.0, self._renew_every))
                continue
            self._renewed_at = self._clock.now()

    def _lose(self, state: LinkState, detail: str) -> None:
        """The session is gone for good (until the trader signs in): say so and stop."""
        detail = self._redact(detail)
        if self._lost is None:
            log.error("%s: %s", self.name, detail)
            self._lost, self._lost_detail = state, detail
        self._end(state, detail)
        renewer, self._renewer = self._renewer, None
        if renewer is not None and renewer is not asyncio.current_task():
            renewer.cancel()

    # -- transport internals --------------------------------------------------------------------
    def _frame(self) -> None:
        self._last_frame = self._clock.now()

    async def _open(self) -> None:
        token = self.rest.token
        assert token is not None
        hubs = {
            "user": self._hub(self.gateway.user_hub, token),
            "market": self._hub(self.gateway.market_hub, token),
        }
        opened = await asyncio.gather(*(h.open() for h in hubs.values()), return_exceptions=True)
        errors = [e for e in opened if isinstance(e, BaseException)]
        if errors:
            await asyncio.gather(*(h.close() for h in hubs.values()), return_exceptions=True)
            refused = [e for e in errors if isinstance(e, HubRefused) and e.status in (401, 403)]
            if refused:
                self._lose(LinkState.TOKEN_REVOKED, f"the hubs refused the session: {refused[0]}")
                raise SessionLost(f"{self.name}: {refused[0]}")
            raise BrokerError(
                f"{self.name}: the hubs did not open: {self._redact(errors[0])}"
            ) from self._redact.cause(errors[0])
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._queue, self._hubs = queue, hubs
        self._quotes.forget()
        queue.put_nowait(self._link(LinkState.CONNECTED, "connected"))
        try:
            await self._subscribe_all(hubs)
        except HubError as exc:
            await self._teardown_now(LinkState.DISCONNECTED, f"subscribing failed: {exc}")
            raise BrokerError(
                f"{self.name}: subscribing failed: {self._redact(exc)}"
            ) from self._redact.cause(exc)
        loop = asyncio.get_running_loop()
        self._readers = [
            loop.create_task(self._read(kind, hub, queue), name=f"{self.name} {kind} hub")
            for kind, hub in hubs.items()
        ]

    def _hub(self, url: str, token: str) -> HubConnection:
        return HubConnection(
            url,
            token,
            on_frame=self._frame,
            ping_every=self._ping_every,
            open_timeout=self._timeout,
            redact=self._redact,
        )

    async def _subscribe_all(self, hubs: dict[str, HubConnection]) -> None:
        user, market = hubs["user"], hubs["market"]
        await user.invoke("SubscribeAccounts")
        for account_id in self._refs:
            await user.invoke("SubscribeOrders", account_id)
            await user.invoke("SubscribePositions", account_id)
            await user.invoke("SubscribeTrades", account_id)
        for contract_id in self._quote_ids:
            await market.invoke("SubscribeContractQuotes", contract_id)

    async def _want_quotes(self, contract: Contract) -> None:
        contract_id = contract.projectx_id
        if contract_id in self._quote_ids:
            return
        self._quote_ids[contract_id] = contract
        market = self._hubs.get("market")
        if market is not None:
            try:
                await market.invoke("SubscribeContractQuotes", contract_id)
            except HubError as exc:  # the next transport subscribes it again
                log.info("%s: quote subscription for %s deferred: %s", self.name, contract_id, exc)

    def _interested(self, contract: Contract) -> None:
        if contract.projectx_id in self._quote_ids:
            return
        task = asyncio.get_running_loop().create_task(self._want_quotes(contract))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _read(self, kind: str, hub: HubConnection, queue: asyncio.Queue[object]) -> None:
        handle = self._on_user if kind == "user" else self._on_market
        try:
            async for invocation in hub.invocations():
                handle(invocation, queue)
                if self._queue is not queue:
                    return
        except HubClosed as exc:
            self._end(LinkState.DISCONNECTED, f"the {kind} hub closed: {exc}", queue)
        except (MalformedFrame, PayloadError) as exc:
            said = self._redact(exc)
            log.warning("%s: malformed data on the %s hub, resetting: %s", self.name, kind, said)
            self.resets += 1
            self._end(
                LinkState.DISCONNECTED, f"reset after malformed {kind}-hub data: {said}", queue
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("%s: the %s hub failed\n%s", self.name, kind, self._redact.traceback(exc))
            self._end(LinkState.DISCONNECTED, f"the {kind} hub failed: {exc!r}", queue)

    def _end(
        self, state: LinkState, detail: str, queue: asyncio.Queue[object] | None = None
    ) -> None:
        """End the open transport's stream (once) and tear its hubs down in the background."""
        current = self._queue
        if current is None or (queue is not None and queue is not current):
            return
        self._queue = None
        current.put_nowait(self._link(state, detail))
        current.put_nowait(END_OF_STREAM)
        hubs, readers = list(self._hubs.values()), self._readers
        self._hubs, self._readers = {}, []
        task = asyncio.get_running_loop().create_task(self._teardown(hubs, readers))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _link(self, state: LinkState, detail: str) -> LinkEvent:
        return LinkEvent(self._clock.now(), self.name, state, self._redact(detail))

    async def _teardown_now(self, state: LinkState, detail: str) -> None:
        self._end(state, detail)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    @staticmethod
    async def _teardown(hubs: list[HubConnection], readers: list[asyncio.Task[None]]) -> None:
        me = asyncio.current_task()
        for reader in readers:
            if reader is not me:
                reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.gather(*(h.close() for h in hubs), return_exceptions=True)

    # -- hub payloads ---------------------------------------------------------------------------
    def _on_user(self, invocation: Invocation, queue: asyncio.Queue[object]) -> None:
        target = invocation.target
        if target == "GatewayLogout":
            self._lose(
                LinkState.FORCED_LOGOUT,
                "the gateway logged this session out (GatewayLogout): another login took it",
            )
            return
        handler = {
            "GatewayUserAccount": self._account_event,
            "GatewayUserOrder": self._order_event,
            "GatewayUserPosition": self._position_event,
            "GatewayUserTrade": self._trade_event,
        }.get(target)
        if handler is None:
            return  # an event propdesk does not use: it still counted as a frame
        account_field = "id" if target == "GatewayUserAccount" else "accountId"
        for argument in invocation.arguments:
            for item in argument if isinstance(argument, list) else [argument]:
                record = payloads.unwrap(item)
                ref = self._refs.get(payloads.integer(record, account_field))
                if ref is not None:
                    event = handler(record, ref)
                    if event is not None:
                        queue.put_nowait(event)

    def _account_event(self, record: dict[str, Any], ref: AccountRef) -> BrokerEvent:
        balance = payloads.required_decimal(record, "balance")
        return BalanceUpdate(self._clock.now(), ref, balance)

    def _order_event(self, record: dict[str, Any], ref: AccountRef) -> BrokerEvent:
        parsed = payloads.order(record, ref, self._contract)
        self._interested(parsed.order.contract)
        return OrderUpdate(self._clock.now(), parsed.order, parsed.status)

    def _position_event(self, record: dict[str, Any], ref: AccountRef) -> BrokerEvent:
        position = payloads.position(record, ref, self._contract)
        if position.net:
            self._interested(position.contract)
        return PositionUpdate(self._clock.now(), position)

    def _trade_event(self, record: dict[str, Any], ref: AccountRef) -> BrokerEvent | None:
        fill = payloads.trade(record, ref, self._contract, self._clock.now())
        if fill is None:
            return None
        self._interested(fill.contract)
        return AccountFill(ref, fill)

    def _on_market(self, invocation: Invocation, queue: asyncio.Queue[object]) -> None:
        if invocation.target != "GatewayQuote":
            return  # trades and depth are not used: they only count as frames
        arguments = invocation.arguments
        if len(arguments) < 2 or not isinstance(arguments[0], str):
            said = self._redact.head(repr(arguments), 120)
            raise PayloadError(f"GatewayQuote needs (contractId, data), got {said}")
        contract_id = arguments[0]
        contract = self._quote_ids.get(contract_id)
        if contract is None:
            return  # no longer wanted (or never asked for)
        record = payloads.unwrap(arguments[1])
        mark = self._quotes.mark(record, contract, contract_id, self._clock.now())
        queue.put_nowait(Quote(mark))

    def _contract(self, contract_id: str) -> Contract:
        return self._instruments.parse(contract_id, at=self._clock.now())
