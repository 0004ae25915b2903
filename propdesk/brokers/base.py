"""The one async protocol every broker adapter speaks (simulator, Tradovate, ProjectX, Rithmic).

Shaped by the real APIs (research/broker-apis.md §0):
- a session is opened once and kept alive by renewing its token; `reconnect()` re-opens the transport
  with the same session and never logs in again, because a second login can kick the strategy's own
  session off the account;
- a forced logout (the broker or another login took the session) is terminal: the adapter emits
  `LinkState.FORCED_LOGOUT` and refuses to reconnect, so propdesk never fights the strategy for it;
- cancel-all and flatten are native where the broker has them and emulated where it does not
  (`capabilities` says which); liquidation is per contract where that is all the broker offers;
- after any reconnect the caller re-reads `snapshot()`: events sent during the gap are lost.

Adapters emit domain events tagged with the account they belong to; prices and money are Decimal,
times are aware UTC.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.instruments import Contract


class Capability(StrEnum):
    CANCEL_ALL = "cancel_all"  # one call cancels every working order of an account
    FLATTEN_ACCOUNT = "flatten_account"  # one call closes every position of an account
    LIQUIDATE_CONTRACT = "liquidate_contract"  # one call closes one contract's position
    MARKET_DATA = "market_data"  # the adapter streams quotes (marks) itself
    TOKEN_RENEWAL = "token_renewal"  # sessions are extended, never re-opened by a new login


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class OrderStatus(StrEnum):
    WORKING = "working"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account's identity: the broker connection it is reached through and the broker's id."""

    broker: str
    account_id: str

    def __str__(self) -> str:
        return f"{self.broker}:{self.account_id}"


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    ref: AccountRef
    name: str
    balance: Decimal
    can_trade: bool = True


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    account: AccountRef
    contract: Contract
    net: int  # signed contracts
    average_price: Decimal


@dataclass(frozen=True, slots=True)
class OrderRequest:
    contract: Contract
    side: Side
    qty: int
    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tag: str = ""  # who sent it: "propdesk-flatten", "demo-strategy", …


@dataclass(frozen=True, slots=True)
class WorkingOrder:
    account: AccountRef
    order_id: str
    contract: Contract
    side: Side
    qty: int
    filled: int
    type: OrderType
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tag: str = ""

    @property
    def remaining(self) -> int:
        return self.qty - self.filled


@dataclass(frozen=True, slots=True)
class AccountFill:
    account: AccountRef
    fill: Fill  # fill.fill_id is the broker's id: the ledger's dedupe key after a reconnect

    @property
    def ts(self) -> datetime:
        return self.fill.ts


@dataclass(frozen=True, slots=True)
class Quote:
    """A quote from the broker's market data; the hub coalesces these per contract."""

    mark: Mark

    @property
    def ts(self) -> datetime:
        return self.mark.ts


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order changed; `order` is its state now (status tells whether it still works)."""

    ts: datetime
    order: WorkingOrder
    status: OrderStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """The broker's own view of one position (for reconciliation, not for P&L)."""

    ts: datetime
    position: BrokerPosition


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    ts: datetime
    account: AccountRef
    balance: Decimal


class LinkState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # the transport dropped; the session may still be valid
    SILENT = "silent"  # no frame within the heartbeat allowance: treated as dead
    FORCED_LOGOUT = "forced_logout"  # terminal: do not reconnect
    TOKEN_REVOKED = "token_revoked"  # terminal until the trader signs in again


@dataclass(frozen=True, slots=True)
class LinkEvent:
    ts: datetime
    broker: str
    state: LinkState
    detail: str = ""


BrokerEvent = AccountFill | Quote | OrderUpdate | PositionUpdate | BalanceUpdate | LinkEvent

END_OF_STREAM: Any = object()  # put on a transport's queue: its event stream ends there


async def drain(queue: asyncio.Queue[Any]) -> AsyncIterator[BrokerEvent]:
    """One transport's events, in order, until END_OF_STREAM (what every adapter's events() yields)."""
    while True:
        item = await queue.get()
        if item is END_OF_STREAM:
            return
        yield item


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A fresh read of everything the broker holds for the connection's accounts."""

    taken_at: datetime
    accounts: tuple[BrokerAccount, ...]
    positions: tuple[BrokerPosition, ...]
    orders: tuple[WorkingOrder, ...]
    fills: tuple[AccountFill, ...] = field(default=())  # today's fills, for the ledger's catch-up

    def positions_of(self, account: AccountRef) -> list[BrokerPosition]:
        return [p for p in self.positions if p.account == account and p.net != 0]

    def orders_of(self, account: AccountRef) -> list[WorkingOrder]:
        return [o for o in self.orders if o.account == account and o.remaining > 0]

    def is_flat(self, account: AccountRef) -> bool:
        return not self.positions_of(account) and not self.orders_of(account)


class BrokerError(Exception):
    """A request the broker refused or could not answer; `retryable` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class SessionLost(BrokerError):
    """Forced logout or revoked token: reconnecting would fight another session."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class Broker(abc.ABC):
    """One connection to one broker (one login), serving one or more accounts."""

    #: A short name, unique among the configured connections ("sim", "tradovate-demo", …).
    name: str
    capabilities: frozenset[Capability] = frozenset()
    #: Silence longer than this means the link is dead (the broker's heartbeat plus slack).
    heartbeat_allowance: timedelta = timedelta(seconds=10)

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the session (log in once) and the transport."""

    @abc.abstractmethod
    async def reconnect(self) -> None:
        """Re-open the transport on the existing session; raises SessionLost if it is gone."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the transport and end the event stream; idempotent."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[BrokerEvent]:
        """The live stream; ends when the connection closes or drops (a LinkEvent says which)."""

    @abc.abstractmethod
    async def snapshot(self, accounts: Iterable[AccountRef] | None = None) -> Snapshot:
        """Read accounts, positions, working orders and today's fills afresh from the broker."""

    async def exposure(self, account: AccountRef) -> Snapshot:
        """A fresh read of one account's positions and working orders: what a flatten verifies.

        The full snapshot by default. A broker whose snapshot costs several requests an account
        against a rate limit reads only these two, so verifying a kill of many accounts does not
        spend the limit on balances and fills (ProjectX).
        """
        return await self.snapshot([account])

    @abc.abstractmethod
    async def place(self, account: AccountRef, order: OrderRequest) -> str:
        """Send an order; returns the broker's order id."""

    @abc.abstractmethod
    async def cancel(self, account: AccountRef, order_id: str) -> None: ...

    @abc.abstractmethod
    async def close_position(self, account: AccountRef, contract: Contract) -> None:
        """Close one contract's position at market (native liquidation where the broker has it)."""

    @property
    @abc.abstractmethod
    def last_frame_at(self) -> datetime | None:
        """When the last frame of any kind arrived (liveness for the watchdog)."""

    async def subscribe(self, contracts: Iterable[Contract]) -> None:  # noqa: B027 - optional hook
        """Ask for quotes on these contracts (brokers with MARKET_DATA); others ignore it."""

    # -- emulated where the broker has no native call ---------------------------------------
    async def cancel_all(self, account: AccountRef, orders: Iterable[WorkingOrder]) -> None:
        """Cancel every working order; `orders` is the caller's latest view, used when emulating.

        Emulated cancels go out together, not one round trip after another.
        """
        await _all(self.cancel(account, order.order_id) for order in orders)

    async def flatten(self, account: AccountRef, positions: Iterable[BrokerPosition]) -> None:
        """Close every position; emulated per contract, all at once, unless the broker has a native call."""
        await _all(self.close_position(account, p.contract) for p in positions if p.net)


async def _all(requests: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run requests concurrently; every one is tried, the first failure is raised after all finish."""
    results = await asyncio.gather(*requests, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
