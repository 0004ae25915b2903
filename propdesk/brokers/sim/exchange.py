"""The simulated exchange and broker back office: accounts, orders, matching, fees, and its clock loop.

Everything here is synchronous and runs on the event loop's thread, so each request is atomic with
respect to the matching step. One asyncio task (`start()`) paces the whole venue by the injected Clock:
every step it moves the prices of the open markets, publishes changed quotes, works the resting orders,
and gives each attached session the chance to send its heartbeat. Link faults (latency, drops, silence,
forced logouts) belong to the sessions (`SimBroker`); the exchange's own fault switch is
`partial_fills_on_close`.

Matching, deliberately simple but with the awkward cases a risk tool must survive:
- market orders fill at the touch (buy at the ask, sell at the bid); more than two contracts fill in
  pieces of one or two, one piece per step;
- limit orders fill at the touch when marketable on arrival, else rest and fill at their price once the
  touch reaches it (in the same pieces);
- stop orders rest until the touch reaches the stop, then work as market orders; a stop already through
  the market is rejected, as CME does;
- nothing fills, and no order is accepted, while the product group's session is closed (resting orders
  stay working through the break).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from propdesk.brokers.base import (
    AccountFill,
    AccountRef,
    BalanceUpdate,
    BrokerError,
    BrokerEvent,
    BrokerPosition,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Quote,
    Snapshot,
    WorkingOrder,
)
from propdesk.brokers.sim.accounts import FeeTable, SimAccount
from propdesk.brokers.sim.market import PriceModel, SimMarket
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.clock import Clock
from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.instruments import MONTH_CODES, Contract, InstrumentBook

__all__ = ["Injector", "OrderRejected", "SimClient", "SimExchange"]

log = logging.getLogger(__name__)

Injector = Callable[[], str | None]
"""Asked once per new order: a reason to reject it, or None (the sessions' injected rejects)."""

LIQUIDATION_TAG = "sim-liquidation"
_FINISHED_KEPT = 10_000  # finished orders remembered, so a late cancel hears "already filled"


class OrderRejected(BrokerError):
    """The exchange refused an order; it still got an id, and watchers saw it as REJECTED."""

    def __init__(self, order_id: str, reason: str, *, retryable: bool) -> None:
        super().__init__(f"order {order_id} rejected: {reason}", retryable=retryable)
        self.order_id = order_id
        self.reason = reason


class SimClient(Protocol):
    """What the exchange needs of an attached session (SimBroker implements it)."""

    def watches(self, ref: AccountRef) -> bool: ...

    def deliver(self, event: BrokerEvent) -> None:
        """An event of a watched account."""

    def offer_quote(self, quote: Quote) -> None:
        """A changed quote; the session forwards it only if it cares about the contract."""

    def on_step(self, now: datetime) -> None:
        """Called every exchange step, open market or not: the session's heartbeat pace."""


@dataclass(slots=True, eq=False)
class _Order:
    ref: AccountRef
    order_id: str
    contract: Contract
    side: Side
    qty: int
    type: OrderType
    limit_price: Decimal | None
    stop_price: Decimal | None
    tag: str
    group: str
    filled: int = 0
    triggered: bool = False  # a stop whose price was reached: it now works as a market order
    one_lot: bool = False  # fills one contract per step (partial_fills_on_close)

    @property
    def remaining(self) -> int:
        return self.qty - self.filled

    def view(self) -> WorkingOrder:
        return WorkingOrder(
            self.ref,
            self.order_id,
            self.contract,
            self.side,
            self.qty,
            self.filled,
            self.type,
            self.limit_price,
            self.stop_price,
            self.tag,
        )


class SimExchange:
    """A venue with any number of accounts and attached client sessions.

    `step()` is public so tests can drive the venue by hand with a manual clock; `start()` runs it
    on the Clock at `step_seconds` per step (stretched when the clock runs so fast that more than
    `max_steps_per_second` real steps would be needed: the price model scales with the step, so the
    market looks the same, only coarser).
    """

    def __init__(
        self,
        instruments: InstrumentBook,
        calendar: TradingCalendar,
        clock: Clock,
        *,
        name: str = "sim",
        seed: int = 0,
        market: SimMarket | None = None,
        fees: FeeTable | None = None,
        step_seconds: float = 0.25,
        max_steps_per_second: float = 500.0,
        id_prefix: str | None = None,
    ) -> None:
        if step_seconds <= 0 or max_steps_per_second <= 0:
            raise ValueError("step_seconds and max_steps_per_second must be > 0")
        self.name = name
        self.instruments = instruments
        self.calendar = calendar
        self.clock = clock
        self.market = market if market is not None else SimMarket(seed=seed)
        self.fees = fees if fees is not None else FeeTable()
        self.step_seconds = step_seconds
        self.max_steps_per_second = max_steps_per_second
        self._rng = random.Random(f"{seed}/exchange")
        # Ids must stay unique across runs, even with a simulated clock that starts at the same
        # instant each time: propdesk's journal dedupes fills by id after a restart. Pass
        # `id_prefix` for reproducible ids in tests.
        self._prefix = id_prefix if id_prefix is not None else f"{secrets.token_hex(3)}-"
        self._seq = 0
        self._accounts: dict[AccountRef, SimAccount] = {}
        self._working: dict[str, _Order] = {}
        self._finished: dict[tuple[AccountRef, str], OrderStatus] = {}  # recent, for cancel replies
        self._clients: list[SimClient] = []
        self._close_in_pieces = False
        self._open_groups: set[str] = set()  # product groups open at the last step
        self._task: asyncio.Task[None] | None = None
        self.steps = 0

    # -- accounts and sessions -----------------------------------------------------------------
    def open_account(self, account_id: str, balance: Decimal, name: str = "") -> AccountRef:
        ref = AccountRef(self.name, account_id)
        if ref in self._accounts:
            raise ValueError(f"account {ref} is already open")
        self._accounts[ref] = SimAccount(ref, name or account_id, Decimal(balance))
        return ref

    def restore_account(
        self,
        ref: AccountRef,
        balance: Decimal,
        positions: Iterable[tuple[Contract, int, Decimal]],
    ) -> None:
        """Set an account's books (balance, open positions at their average price).

        The simulator lives inside propdesk's process: after a restart its books come back from
        propdesk's journal, since a real broker would still hold them.
        """
        account = self._account(ref)
        account.balance = Decimal(balance)
        account.positions.clear()
        for contract, net, price in positions:
            if net:
                account.position(contract).apply(net, price)
                account.contracts[contract.key] = contract

    def restore_quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        """Set where a contract's market left off before a restart (its last quote).

        Like `restore_account`, the prices come back from propdesk's journal: a real market does
        not reopen at a fixed price after a restart, and a jump there would move every open P&L.
        Silent, unlike `move_price`: nothing is published and no order is worked, the market just
        starts from here. Raises ValueError for a quote off the tick grid or with bid >= ask.
        """
        self.market.resume(contract, bid, ask)

    @property
    def accounts(self) -> list[AccountRef]:
        return list(self._accounts)

    def attach(self, client: SimClient) -> None:
        if client not in self._clients:
            self._clients.append(client)

    def detach(self, client: SimClient) -> None:
        with contextlib.suppress(ValueError):
            self._clients.remove(client)

    # -- fault switch --------------------------------------------------------------------------
    def partial_fills_on_close(self, on: bool = True) -> None:
        """While on, orders that reduce a position (liquidations included) fill one lot per step."""
        self._close_in_pieces = on

    # -- market data ---------------------------------------------------------------------------
    def is_open(self, contract: Contract, at: datetime | None = None) -> bool:
        return self.calendar.is_open(
            contract.instrument.product_group, at if at is not None else self.clock.now()
        )

    def quote(self, contract: Contract) -> Quote | None:
        """The contract's quote now, or None while its market is closed (or it is not listed)."""
        if not self._listed(contract):
            return None
        now = self.clock.now()
        if not self.is_open(contract, now):
            return None
        model = self.market.book(contract)
        return Quote(Mark(now, contract, model.bid, model.ask))

    def move_price(self, contract: Contract, bid: Decimal, *, spread: int = 1) -> Quote | None:
        """Scenario control: the bid jumps to `bid` now (the ask `spread` ticks above), as in a
        sudden move. While the market is open the quote goes out and resting orders are worked at
        once; returns that quote (None while closed: the price waits for the open)."""
        inst = contract.instrument
        ticks, rest = divmod(Decimal(bid), inst.tick_size)
        if rest:
            raise ValueError(f"{bid} is not on {inst.root}'s tick grid ({inst.tick_size})")
        model = self.market.book(contract)
        model.jump(int(ticks), spread)
        now = self.clock.now()
        if not self.is_open(contract, now):
            return None
        quote = Quote(Mark(now, contract, model.bid, model.ask))
        for client in self._clients:
            client.offer_quote(quote)
        for order in [o for o in self._working.values() if o.contract == contract]:
            if order.order_id in self._working:
                self._match(order, model, now, arriving=False)
        return quote

    def activate(self, contract: Contract) -> None:
        """Start pricing a contract (someone subscribed to it or traded it)."""
        if self._listed(contract):
            self.market.book(contract)

    # -- requests ------------------------------------------------------------------------------
    def place(
        self, ref: AccountRef, request: OrderRequest, *, injected: Injector | None = None
    ) -> str:
        """Accept (and maybe fill at once) or reject an order; returns its id.

        Raises OrderRejected (after telling the watchers) when refused, BrokerError for an
        unknown account.
        """
        account = self._account(ref)
        now = self.clock.now()
        order_id = self._next_id("O")
        order = _Order(
            ref,
            order_id,
            request.contract,
            request.side,
            request.qty,
            request.type,
            request.limit_price,
            request.stop_price,
            request.tag,
            request.contract.instrument.product_group,
        )
        reason, retryable = self._check(order, now)
        if reason is None and injected is not None:
            reason, retryable = injected(), True
        if reason is not None:
            self._finish(order, OrderStatus.REJECTED)
            self._publish(ref, OrderUpdate(now, order.view(), OrderStatus.REJECTED, reason))
            raise OrderRejected(order_id, reason, retryable=retryable)

        net = account.net(order.contract)
        closing = (net > 0 and order.side is Side.SELL) or (net < 0 and order.side is Side.BUY)
        order.one_lot = self._close_in_pieces and closing and order.qty <= abs(net)
        account.contracts[order.contract.key] = order.contract
        self.market.book(order.contract)
        self._working[order_id] = order
        self._publish(ref, OrderUpdate(now, order.view(), OrderStatus.WORKING, "accepted"))
        self._match(order, self.market.book(order.contract), now, arriving=True)
        return order_id

    def cancel(self, ref: AccountRef, order_id: str, reason: str = "cancelled on request") -> None:
        self._account(ref)
        order = self._working.get(order_id)
        if order is None or order.ref != ref:
            # Too late to cancel is the common case (a market order filled on arrival); say so.
            status = self._finished.get((ref, order_id))
            state = f"already {status.value}" if status is not None else "unknown"
            raise BrokerError(f"cannot cancel order {order_id} on {ref}: {state}", retryable=False)
        self._cancel(order, reason)

    def cancel_all(self, ref: AccountRef) -> int:
        """Native cancel-all: every working order of the account; returns how many."""
        self._account(ref)
        orders = [o for o in self._working.values() if o.ref == ref]
        for order in orders:
            self._cancel(order, "cancel all")
        return len(orders)

    def liquidate(
        self, ref: AccountRef, contract: Contract, *, injected: Injector | None = None
    ) -> str | None:
        """Native per-contract liquidation: cancel that contract's orders, close its position.

        Cancelling first makes it idempotent: a second call replaces the first one's unfilled
        remainder instead of closing twice. Returns the closing order's id (None when flat).
        """
        account = self._account(ref)
        for order in [o for o in self._working.values() if o.ref == ref and o.contract == contract]:
            self._cancel(order, "liquidation")
        net = account.net(contract)
        if not net:
            return None
        side = Side.SELL if net > 0 else Side.BUY
        return self.place(
            ref, OrderRequest(contract, side, abs(net), tag=LIQUIDATION_TAG), injected=injected
        )

    def flatten(self, ref: AccountRef, *, injected: Injector | None = None) -> list[str]:
        """Native account flatten: liquidate every position; every contract is tried, then the
        first refusal is raised."""
        account = self._account(ref)
        placed: list[str] = []
        errors: list[BrokerError] = []
        for position in list(account.positions.values()):
            if not position.net:
                continue
            try:
                order_id = self.liquidate(ref, position.contract, injected=injected)
            except BrokerError as exc:
                errors.append(exc)
                continue
            if order_id is not None:
                placed.append(order_id)
        if errors:
            raise errors[0]
        return placed

    def snapshot(self, refs: Iterable[AccountRef]) -> Snapshot:
        now = self.clock.now()
        day_start = self.calendar.day_bounds(now)[0]
        accounts = [self._account(ref) for ref in refs]
        wanted = {a.ref for a in accounts}
        positions: list[BrokerPosition] = []
        fills: list[AccountFill] = []
        for account in accounts:
            positions.extend(account.open_positions())
            fills.extend(account.fills_since(day_start))
        return Snapshot(
            taken_at=now,
            accounts=tuple(a.view() for a in accounts),
            positions=tuple(positions),
            orders=tuple(o.view() for o in self._working.values() if o.ref in wanted),
            fills=tuple(fills),
        )

    def contracts_of(self, ref: AccountRef) -> list[Contract]:
        """Contracts the account has traded or holds orders in: their quotes matter to it."""
        account = self._accounts.get(ref)
        return list(account.contracts.values()) if account is not None else []

    # -- the clock loop ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Run the venue on the clock (idempotent; needs a running event loop)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"sim {self.name}"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> SimExchange:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def effective_step(self) -> float:
        """Clock seconds per step: `step_seconds`, stretched to cap the real step rate."""
        return max(self.step_seconds, self.clock.speed / self.max_steps_per_second)

    async def _run(self) -> None:
        clock = self.clock
        # Paced against deadlines, not by sleeping a step after each step: the loop's own overhead
        # would otherwise make the market run slower than the clock (a quarter slower at 60x).
        due = clock.now()
        while True:
            dt = self.effective_step()
            due += timedelta(seconds=dt)
            wait = (due - clock.now()).total_seconds()
            if wait > 0:
                await clock.sleep(wait)
            else:
                if wait < -10 * dt:
                    # After a long stall, skip ahead rather than burst to catch up.
                    due = clock.now()
                await asyncio.sleep(0)
            try:
                self.step(dt)
            except Exception:  # a bug in one step must not stop the venue (and every heartbeat)
                log.exception("sim step failed")

    def step(self, dt: float | None = None) -> None:
        """One venue step: prices of open markets, quotes, resting orders, heartbeats."""
        if dt is None:
            dt = self.step_seconds
        now = self.clock.now()
        self.steps += 1
        is_open = self.calendar.is_open
        open_groups: dict[str, bool] = {}
        was_open = self._open_groups
        clients = self._clients
        for contract, model in self.market.books():
            group = contract.instrument.product_group
            opened = open_groups.get(group)
            if opened is None:
                opened = open_groups[group] = is_open(group, now)
            if not opened:
                continue
            # The first quote after a close goes out whether or not this step moved the price:
            # it is the opening quote, and the market may have gapped (`move_price`) meanwhile.
            if model.step(dt) or group not in was_open:
                quote = Quote(Mark(now, contract, model.bid, model.ask))
                for client in clients:
                    client.offer_quote(quote)
        if self._working:
            market = self.market
            for order in list(self._working.values()):
                if order.order_id in self._working and open_groups.get(order.group):
                    self._match(order, market.book(order.contract), now, arriving=False)
        self._open_groups = {group for group, opened in open_groups.items() if opened}
        for client in clients:
            client.on_step(now)

    # -- internals -----------------------------------------------------------------------------
    def _account(self, ref: AccountRef) -> SimAccount:
        account = self._accounts.get(ref)
        if account is None:
            raise BrokerError(f"unknown account {ref}", retryable=False)
        return account

    def _listed(self, contract: Contract) -> bool:
        inst = contract.instrument
        try:
            return self.instruments.instrument(inst.root) == inst
        except ValueError:
            return False

    def _next_id(self, kind: str) -> str:
        self._seq += 1
        return f"{self._prefix}{kind}{self._seq}"

    def _check(self, order: _Order, now: datetime) -> tuple[str | None, bool]:
        """(reason to reject, retryable) or (None, _) when the order may go in."""
        contract = order.contract
        inst = contract.instrument
        if order.qty <= 0:
            return f"quantity must be at least 1, got {order.qty}", False
        if not self._listed(contract):
            return f"unknown contract {contract.key}: {inst.root} is not listed here", False
        if (contract.year, _month_number(contract.month_code)) < (now.year, now.month):
            return f"unknown contract {contract.key}: it has expired", False
        if order.type is OrderType.LIMIT and order.limit_price is None:
            return "a limit order needs a limit price", False
        if order.type is OrderType.STOP and order.stop_price is None:
            return "a stop order needs a stop price", False
        for price in (order.limit_price, order.stop_price):
            if price is not None and (price <= 0 or price % inst.tick_size):
                return f"price {price} is not on {inst.root}'s tick grid ({inst.tick_size})", False
        if not self.calendar.is_open(order.group, now):
            reopen = self.calendar.next_open(order.group, now)
            return (
                f"market closed: {inst.root} ({order.group}) opens again at "
                f"{reopen:%Y-%m-%d %H:%M} UTC",
                True,
            )
        if order.type is OrderType.STOP:
            model = self.market.book(contract)
            stop = order.stop_price
            assert stop is not None
            if order.side is Side.BUY and stop <= model.ask:
                return f"buy stop {stop} is not above the ask {model.ask}", False
            if order.side is Side.SELL and stop >= model.bid:
                return f"sell stop {stop} is not below the bid {model.bid}", False
        return None, True

    def _match(self, order: _Order, model: PriceModel, now: datetime, *, arriving: bool) -> None:
        buy = order.side is Side.BUY
        kind = order.type
        if kind is OrderType.STOP and not order.triggered:
            stop = order.stop_price
            assert stop is not None
            if not ((buy and model.ask >= stop) or (not buy and model.bid <= stop)):
                return
            order.triggered = True
        if kind is OrderType.LIMIT:
            limit = order.limit_price
            assert limit is not None
            touch = model.ask if buy else model.bid
            if (buy and touch > limit) or (not buy and touch < limit):
                return
            # Marketable on arrival takes the touch; a resting order is hit at its own price.
            price = touch if arriving else limit
        else:
            price = model.ask if buy else model.bid
        remaining = order.remaining
        if order.one_lot:
            qty = 1
        elif order.qty > 2:
            qty = min(remaining, self._rng.choice((1, 2)))
        else:
            qty = remaining
        self._fill(order, qty, price, now)

    def _fill(self, order: _Order, qty: int, price: Decimal, now: datetime) -> None:
        account = self._accounts[order.ref]
        contract = order.contract
        inst = contract.instrument
        fee = self.fees.per_side(inst) * qty
        fill = Fill(now, contract, order.side, qty, price, fee, self._next_id("F"))
        position = account.position(contract)
        realized = position.apply(fill.signed_qty, price) * inst.point_value
        account.balance += realized - fee
        order.filled += qty
        done = order.remaining == 0
        if done:
            del self._working[order.order_id]
            self._finish(order, OrderStatus.FILLED)
        account_fill = AccountFill(order.ref, fill)
        account.fills.append(account_fill)
        ref = order.ref
        self._publish(ref, account_fill)
        status = OrderStatus.FILLED if done else OrderStatus.WORKING
        self._publish(
            ref, OrderUpdate(now, order.view(), status, "filled" if done else "partial fill")
        )
        self._publish(
            ref,
            PositionUpdate(
                now, BrokerPosition(ref, contract, position.net, position.average_price())
            ),
        )
        self._publish(ref, BalanceUpdate(now, ref, account.balance))

    def _cancel(self, order: _Order, reason: str) -> None:
        del self._working[order.order_id]
        self._finish(order, OrderStatus.CANCELLED)
        self._publish(
            order.ref, OrderUpdate(self.clock.now(), order.view(), OrderStatus.CANCELLED, reason)
        )

    def _finish(self, order: _Order, status: OrderStatus) -> None:
        finished = self._finished
        finished[(order.ref, order.order_id)] = status
        if len(finished) > _FINISHED_KEPT:
            del finished[next(iter(finished))]

    def _publish(self, ref: AccountRef, event: BrokerEvent) -> None:
        for client in self._clients:
            if client.watches(ref):
                client.deliver(event)


def _month_number(code: str) -> int:
    return MONTH_CODES.index(code) + 1
