"""`SimBroker`: one client session on a `SimExchange`, speaking propdesk's broker protocol.

propdesk connects through one SimBroker, the demo strategy through another: each is its own login
with its own event stream, link state and faults, so a fault injected into propdesk's link leaves
the strategy trading, as it would at a real broker.

Fault injection (all take effect at once; none needs the event loop to be running):

- `latency_ms` (attribute, real milliseconds): every request sleeps this long before it takes effect
  and again before its reply; real time, so benchmarks measure what a slow broker costs.
- `disconnect()`: the transport drops; the stream ends with `LinkEvent(DISCONNECTED)`. Requests fail
  (retryable `BrokerError`) until `reconnect()`.
- `go_silent()` / `speak()`: no frames at all, not even heartbeats, while the link looks open:
  `last_frame_at` stops and only a watchdog can tell. Events meanwhile are lost, as on a half-open
  socket; requests are still answered (the request path is separate, as REST is at most brokers).
  A reconnect opens a fresh transport, which talks again unless `go_silent(survive_reconnect=True)`.
- `reject_next(n, reason)` and `reject_randomly(probability, reason)`: this session's next new
  orders (liquidations by `close_position`/`flatten` included) are rejected with that reason.
- `forced_logout()`: the stream ends with `LinkEvent(FORCED_LOGOUT)`; `reconnect()` and every request
  then raise `SessionLost` until the trader signs in again with `connect()`.

The exchange's own switch is `SimExchange.partial_fills_on_close(True)`.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime, timedelta
from typing import TypeVar

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
    OrderStatus,
    OrderUpdate,
    PositionUpdate,
    Quote,
    SessionLost,
    Snapshot,
    WorkingOrder,
    drain,
)
from propdesk.brokers.sim.exchange import SimExchange
from propdesk.domain.instruments import Contract

__all__ = ["INJECTED_REJECT", "SimBroker"]

T = TypeVar("T")

INJECTED_REJECT = "rejected by the broker (injected fault)"


class SimBroker(Broker):
    """A session on a SimExchange; watches `accounts` (default: every account on the exchange)."""

    capabilities = frozenset(
        {
            Capability.CANCEL_ALL,
            Capability.FLATTEN_ACCOUNT,
            Capability.LIQUIDATE_CONTRACT,
            Capability.MARKET_DATA,
        }
    )

    def __init__(
        self,
        exchange: SimExchange,
        *,
        name: str | None = None,
        accounts: Iterable[AccountRef] | None = None,
        heartbeat_seconds: float = 1.0,
        heartbeat_allowance: float | None = None,
        latency_ms: float = 0.0,
        seed: int = 0,
        max_quote_backlog: int = 10_000,
    ) -> None:
        """`name` defaults to the exchange's, which is the broker name in its AccountRefs, so the
        runtime finds this connection from an account. `heartbeat_allowance` (clock seconds)
        defaults to 5, or a quarter of a real second when the clock runs fast, so that an event
        loop busy for a few real milliseconds does not look like a dead link."""
        self.name = name or exchange.name
        self._exchange = exchange
        self._clock = exchange.clock
        self._watched = frozenset(accounts) if accounts is not None else None
        self._heartbeat = heartbeat_seconds
        allowance = heartbeat_allowance
        if allowance is None:
            allowance = max(5.0, 0.25 * self._clock.speed)
        self.heartbeat_allowance = timedelta(seconds=allowance)
        self.latency_ms = latency_ms
        self._rng = random.Random(f"{seed}/{self.name}/session")
        self._backlog = max_quote_backlog
        self._queue: asyncio.Queue[object] | None = None  # the open transport's stream
        self._signed_in = False
        self._forced_out = False
        self._silent = False
        self._silent_sticky = False
        self._last_frame: datetime | None = None
        self._last_beat: datetime | None = None
        self._subscribed: dict[str, Contract] = {}
        self._interest: set[str] = set()
        self._rejects: deque[str] = deque()
        self._reject_probability = 0.0
        self._reject_reason = INJECTED_REJECT
        self.quotes_sent = 0
        exchange.attach(self)

    # -- link ----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._queue is not None

    @property
    def last_frame_at(self) -> datetime | None:
        return self._last_frame

    async def connect(self) -> None:
        """Sign in (a fresh login, so it also ends a forced logout) and open the stream."""
        if self._queue is not None:
            return
        await self._delay()
        self._exchange.start()
        self._forced_out = False
        self._signed_in = True
        self._open()

    async def reconnect(self) -> None:
        """A new transport on the same session; never a new login."""
        if self._forced_out:
            raise SessionLost(f"{self.name}: the session was logged out; sign in again")
        if not self._signed_in:
            raise BrokerError(f"{self.name}: not signed in; call connect() first", retryable=False)
        await self._delay()
        if self._forced_out:
            raise SessionLost(f"{self.name}: the session was logged out; sign in again")
        self._end(LinkState.DISCONNECTED, "replaced by a reconnect")
        self._exchange.start()
        if not self._silent_sticky:
            self._silent = False
        self._open()

    async def close(self) -> None:
        self._end(LinkState.DISCONNECTED, "closed by the client")

    async def events(self) -> AsyncIterator[BrokerEvent]:
        queue = self._queue
        if queue is None:
            state = LinkState.FORCED_LOGOUT if self._forced_out else LinkState.DISCONNECTED
            yield LinkEvent(self._clock.now(), self.name, state, "not connected")
            return
        async for event in drain(queue):
            yield event

    # -- faults --------------------------------------------------------------------------------
    def disconnect(self, detail: str = "connection dropped (injected fault)") -> None:
        self._end(LinkState.DISCONNECTED, detail)

    def go_silent(self, *, survive_reconnect: bool = False) -> None:
        self._silent = True
        self._silent_sticky = survive_reconnect

    def speak(self) -> None:
        self._silent = False
        self._silent_sticky = False

    def forced_logout(self, detail: str = "logged out: another session signed in") -> None:
        self._forced_out = True
        self._end(LinkState.FORCED_LOGOUT, detail)

    def reject_next(self, n: int = 1, reason: str = INJECTED_REJECT) -> None:
        self._rejects.extend([reason] * n)

    def reject_randomly(self, probability: float, reason: str = INJECTED_REJECT) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {probability}")
        self._reject_probability = probability
        self._reject_reason = reason

    # -- requests ------------------------------------------------------------------------------
    async def subscribe(self, contracts: Iterable[Contract]) -> None:
        """Stream these contracts' quotes (kept across reconnects); the current quote comes at once."""
        contracts = list(contracts)

        def subscribe() -> None:
            for contract in contracts:
                self._exchange.activate(contract)
                self._subscribed[contract.key] = contract
                self._interested(contract)

        await self._call(subscribe)

    async def unsubscribe(self, contracts: Iterable[Contract]) -> None:
        """Stop a subscription; quotes still flow for contracts the watched accounts trade."""
        for contract in contracts:
            self._subscribed.pop(contract.key, None)
        self._refresh_interest()

    async def snapshot(self, accounts: Iterable[AccountRef] | None = None) -> Snapshot:
        refs = self._refs(accounts)
        return await self._call(lambda: self._exchange.snapshot(refs))

    async def place(self, account: AccountRef, order: OrderRequest) -> str:
        self._check_account(account)
        return await self._call(lambda: self._exchange.place(account, order, injected=self._inject))

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        self._check_account(account)
        await self._call(lambda: self._exchange.cancel(account, order_id))

    async def close_position(self, account: AccountRef, contract: Contract) -> None:
        self._check_account(account)
        await self._call(lambda: self._exchange.liquidate(account, contract, injected=self._inject))

    async def cancel_all(self, account: AccountRef, orders: Iterable[WorkingOrder] = ()) -> None:
        """Native: one request cancels every working order, whatever the caller's view holds."""
        self._check_account(account)
        await self._call(lambda: self._exchange.cancel_all(account))

    async def flatten(self, account: AccountRef, positions: Iterable[BrokerPosition] = ()) -> None:
        """Native: one request liquidates every position the broker holds for the account."""
        self._check_account(account)
        await self._call(lambda: self._exchange.flatten(account, injected=self._inject))

    # -- SimClient: called by the exchange -----------------------------------------------------
    def watches(self, ref: AccountRef) -> bool:
        return self._watched is None or ref in self._watched

    def deliver(self, event: BrokerEvent) -> None:
        queue = self._queue
        if queue is None or self._silent:
            return
        queue.put_nowait(event)
        self._last_frame = self._clock.now()
        if isinstance(event, OrderUpdate):
            if event.status is not OrderStatus.REJECTED:  # a rejected contract may not even exist
                self._interested(event.order.contract)
        elif isinstance(event, AccountFill):
            self._interested(event.fill.contract)
        elif isinstance(event, PositionUpdate):
            self._interested(event.position.contract)

    def offer_quote(self, quote: Quote) -> None:
        queue = self._queue
        if queue is None or self._silent or quote.mark.contract.key not in self._interest:
            return
        if queue.qsize() >= self._backlog:
            return  # nobody is reading: shed quotes (they coalesce anyway), never account events
        queue.put_nowait(quote)
        self.quotes_sent += 1
        self._last_frame = quote.mark.ts

    def on_step(self, now: datetime) -> None:
        if self._queue is None or self._silent:
            return
        last = self._last_beat
        if last is None or (now - last).total_seconds() >= self._heartbeat:
            self._last_beat = now
            self._last_frame = now

    # -- internals -----------------------------------------------------------------------------
    def _open(self) -> None:
        now = self._clock.now()
        self._queue = asyncio.Queue()
        self._last_frame = now
        self._last_beat = now
        self._queue.put_nowait(LinkEvent(now, self.name, LinkState.CONNECTED, "connected"))
        self._refresh_interest()
        for key in sorted(self._interest):
            contract = self._subscribed.get(key) or self._known_contract(key)
            if contract is not None:
                self._send_quote(contract)

    def _end(self, state: LinkState, detail: str) -> None:
        queue, self._queue = self._queue, None
        if queue is not None:
            # Said even while silent: the adapter itself notices its transport closing.
            queue.put_nowait(LinkEvent(self._clock.now(), self.name, state, detail))
            queue.put_nowait(END_OF_STREAM)

    def _refresh_interest(self) -> None:
        interest = set(self._subscribed)
        for ref in self._refs(None):
            interest.update(c.key for c in self._exchange.contracts_of(ref))
        self._interest = interest

    def _known_contract(self, key: str) -> Contract | None:
        for ref in self._refs(None):
            for contract in self._exchange.contracts_of(ref):
                if contract.key == key:
                    return contract
        return None

    def _interested(self, contract: Contract) -> None:
        if contract.key not in self._interest:
            self._interest.add(contract.key)
            self._send_quote(contract)

    def _send_quote(self, contract: Contract) -> None:
        quote = self._exchange.quote(contract)
        if quote is not None:
            self.offer_quote(quote)

    def _refs(self, accounts: Iterable[AccountRef] | None) -> list[AccountRef]:
        if accounts is None:
            if self._watched is not None:
                return sorted(self._watched, key=str)
            return self._exchange.accounts
        refs = list(accounts)
        for ref in refs:
            self._check_account(ref)
        return refs

    def _check_account(self, ref: AccountRef) -> None:
        if not self.watches(ref):
            raise BrokerError(f"{self.name}: account {ref} is not on this login", retryable=False)

    def _inject(self) -> str | None:
        if self._rejects:
            return self._rejects.popleft()
        if self._reject_probability and self._rng.random() < self._reject_probability:
            return self._reject_reason
        return None

    def _require_link(self) -> None:
        if self._forced_out:
            raise SessionLost(f"{self.name}: the session was logged out; sign in again")
        if self._queue is None:
            raise BrokerError(f"{self.name}: not connected")

    async def _delay(self) -> None:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)

    async def _call(self, request: Callable[[], T]) -> T:
        """A request: checked against the link, delayed both ways, applied atomically."""
        self._require_link()
        # Even with no latency a request leaves the caller before the venue acts on it, as a
        # socket write would: the caller's next request goes out without waiting for this one.
        await (self._delay() if self.latency_ms > 0 else asyncio.sleep(0))
        self._require_link()  # the link may have dropped while the request was on its way
        try:
            return request()
        finally:
            await self._delay()
