"""The demo strategy: an automated trader for the simulator, deliberately not a well-behaved one.

It trades its accounts through its OWN SimBroker session, never propdesk's, exactly as a real bot runs
apart from the risk console. It enters 1–`max_qty` contracts at a time, exits on a target, a stop or
a time limit, and now and then (`aggression`) turns stubborn: it holds a loser far past its stop and
even adds to it, so an account's P&L sometimes runs toward its firm's floor. It knows nothing of
propdesk: when its orders are cancelled or its position closed under it (a lock), it just keeps going
and enters again later. That is what the runtime's lock enforcement is tested against. Only when it is
told to stop trading an account (`stop_trading`, as a trader's stop command would stop a real bot)
does it leave that account alone, until `resume_trading`.

Every choice comes from `random.Random(seed)`; every wait is a Clock sleep; every broker error is
counted and survived, so the strategy never blocks and never dies of a reject.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from propdesk.brokers.base import (
    AccountRef,
    BrokerError,
    BrokerEvent,
    BrokerPosition,
    LinkEvent,
    LinkState,
    OrderRequest,
    OrderType,
    Quote,
    SessionLost,
)
from propdesk.brokers.sim.broker import SimBroker
from propdesk.brokers.sim.exchange import OrderRejected
from propdesk.domain.clock import Clock
from propdesk.domain.events import Mark, Side
from propdesk.domain.instruments import Contract

__all__ = ["DEMO_TAG", "DemoStrategy", "StrategyStats"]

log = logging.getLogger(__name__)

DEMO_TAG = "demo-strategy"

# In ticks: ES 12/16 = 3/4 points, CL 12/16 = 12/16 cents. A sane bot's numbers.
_TARGET_TICKS = 12
_STOP_TICKS = 16


@dataclass(slots=True)
class StrategyStats:
    placed: int = 0  # orders the broker accepted
    rejected: int = 0
    failed: int = 0  # requests that failed for any other broker reason
    entries: int = 0
    exits: int = 0
    adds: int = 0  # contracts added to a losing position
    flats_seen: int = 0  # times a position it held vanished without its own exit (closed under it)


@dataclass(slots=True)
class _Trade:
    contract: Contract
    opened_at: datetime
    stubborn: bool
    stop_ticks: float
    target_ticks: float
    max_hold: float  # clock seconds
    held: bool = False  # a position was seen: the entry filled
    exiting: bool = False


class DemoStrategy:
    def __init__(
        self,
        session: SimBroker,
        accounts: Sequence[AccountRef],
        contracts: Sequence[Contract],
        clock: Clock,
        *,
        seed: int = 0,
        aggression: float = 0.3,
        interval: float = 20.0,
        max_qty: int = 3,
        entry_probability: float = 0.5,
        tag: str = DEMO_TAG,
    ) -> None:
        """`interval`: clock seconds between looks at each account (jittered ±50%).
        `aggression` in [0, 1]: the share of trades that turn stubborn, and how stubborn."""
        if not accounts or not contracts:
            raise ValueError("the demo strategy needs at least one account and one contract")
        if not 0.0 <= aggression <= 1.0:
            raise ValueError(f"aggression must be within [0, 1], got {aggression}")
        if max_qty < 1 or interval <= 0:
            raise ValueError("max_qty must be >= 1 and interval > 0")
        self.session = session
        self.accounts = tuple(accounts)
        self.contracts = tuple(contracts)
        self._clock = clock
        self._rng = random.Random(f"{seed}/demo-strategy")
        self.aggression = aggression
        self.interval = interval
        self.max_qty = max_qty
        self.entry_probability = entry_probability
        self.tag = tag
        self.stats = StrategyStats()
        self.marks: dict[str, Mark] = {}
        self._trades: dict[AccountRef, _Trade] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.stopped: set[AccountRef] = set()  # accounts it was told to stop trading

    # -- lifetime ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks)

    def start(self) -> None:
        """Start trading in the background (idempotent; needs a running event loop)."""
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._trade_loop(), name="demo strategy"),
            loop.create_task(self._pump(), name="demo strategy feed"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.session.close()

    def stop_trading(self, account: AccountRef) -> None:
        """Leave this account alone: no entries, no exits, no cancels (the risk console owns it)."""
        self.stopped.add(account)
        self._trades.pop(account, None)

    def resume_trading(self, account: AccountRef) -> None:
        self.stopped.discard(account)

    # -- the feed ------------------------------------------------------------------------------
    async def _pump(self) -> None:
        """Keep the latest quote per contract; come back after any drop, as a bot would."""
        session, clock = self.session, self._clock
        while True:
            if not session.connected:
                try:
                    await session.connect()
                    await session.subscribe(self.contracts)
                except BrokerError as exc:
                    log.info("demo strategy: cannot connect: %s", exc)
                    await clock.sleep(2.0)
                    continue
            async for event in session.events():
                self.on_event(event)
            await clock.sleep(2.0)
            with contextlib.suppress(SessionLost, BrokerError):
                await session.reconnect()

    def on_event(self, event: BrokerEvent) -> None:
        """What the feed tells the strategy: it only needs the latest quotes."""
        if isinstance(event, Quote):
            self.marks[event.mark.contract.key] = event.mark
        elif isinstance(event, LinkEvent) and event.state is not LinkState.CONNECTED:
            log.info("demo strategy: link %s (%s)", event.state, event.detail)

    # -- decisions -----------------------------------------------------------------------------
    async def _trade_loop(self) -> None:
        # The first look comes after a random part of an interval, as if the bot had been running.
        await self._clock.sleep(self.interval * self._rng.uniform(0.1, 1.0))
        while True:
            await self.decide_once()
            await self._clock.sleep(self.interval * self._rng.uniform(0.5, 1.5))

    async def decide_once(self) -> None:
        """One look at every account: manage the position, or maybe enter. Errors are counted."""
        for account in self.accounts:
            if account in self.stopped:
                continue
            try:
                await self._decide(account)
            except OrderRejected as exc:
                self.stats.rejected += 1
                log.debug("demo strategy on %s: %s", account, exc)
            except BrokerError as exc:
                self.stats.failed += 1
                log.debug("demo strategy on %s: %s", account, exc)

    async def _decide(self, account: AccountRef) -> None:
        snapshot = await self.session.snapshot([account])
        positions = snapshot.positions_of(account)
        now = self._clock.now()
        if positions:
            await self._manage(account, positions[0], now)
            return
        orders = snapshot.orders_of(account)
        if orders:
            # An entry that has rested too long is re-quoted: cancel now, enter again next time.
            for order in orders:
                if order.tag == self.tag and self._rng.random() < 0.5:
                    await self.session.cancel(account, order.order_id)
            return
        trade = self._trades.pop(account, None)
        if trade is not None and trade.held and not trade.exiting:
            self.stats.flats_seen += 1
        if self._rng.random() < self.entry_probability:
            await self._enter(account, now)

    async def _enter(self, account: AccountRef, now: datetime) -> None:
        rng = self._rng
        contract = rng.choice(self.contracts)
        side = rng.choice((Side.BUY, Side.SELL))
        qty = rng.randint(1, self.max_qty)
        mark = self.marks.get(contract.key)
        if (
            mark is not None
            and mark.bid is not None
            and mark.ask is not None
            and rng.random() < 0.25
        ):
            # Join the touch and wait; propdesk sees a working order that adds exposure.
            price = mark.bid if side is Side.BUY else mark.ask
            request = OrderRequest(
                contract, side, qty, OrderType.LIMIT, limit_price=price, tag=self.tag
            )
        else:
            request = OrderRequest(contract, side, qty, tag=self.tag)
        stubborn = rng.random() < self.aggression
        stretch = 4.0 + 8.0 * self.aggression if stubborn else 1.0
        self._trades[account] = _Trade(
            contract,
            now,
            stubborn,
            stop_ticks=_STOP_TICKS * stretch,
            target_ticks=_TARGET_TICKS,
            max_hold=self.interval * (40.0 if stubborn else 10.0),
        )
        await self._place(account, request)
        self.stats.entries += 1

    async def _manage(self, account: AccountRef, position: BrokerPosition, now: datetime) -> None:
        contract = position.contract
        trade = self._trades.get(account)
        if trade is None or trade.contract != contract:
            # A position it does not remember (a restart, or one it added elsewhere): adopt it.
            trade = self._trades[account] = _Trade(
                contract, now, False, _STOP_TICKS, _TARGET_TICKS, self.interval * 10.0
            )
        trade.held = True
        mark = self.marks.get(contract.key)
        if mark is None or mark.bid is None or mark.ask is None:
            return
        long = position.net > 0
        exit_price = mark.bid if long else mark.ask
        move = (exit_price - position.average_price) / contract.instrument.tick_size
        ticks = float(move if long else -move)
        held = (now - trade.opened_at).total_seconds()
        if ticks >= trade.target_ticks or ticks <= -trade.stop_ticks or held >= trade.max_hold:
            trade.exiting = True
            side = Side.SELL if long else Side.BUY
            await self._place(
                account, OrderRequest(contract, side, abs(position.net), tag=self.tag)
            )
            self.stats.exits += 1
        elif (
            trade.stubborn
            and ticks <= -_STOP_TICKS
            and abs(position.net) < self.max_qty
            and self._rng.random() < self.aggression
        ):
            # Averaging down: the classic way a bot walks an account into its floor.
            side = Side.BUY if long else Side.SELL
            await self._place(account, OrderRequest(contract, side, 1, tag=self.tag))
            self.stats.adds += 1

    async def _place(self, account: AccountRef, request: OrderRequest) -> None:
        await self.session.place(account, request)
        self.stats.placed += 1
