"""Wiring for the embedded demo: one exchange, its accounts, propdesk's session and the strategy's.

The runtime receives `demo.broker` like any other broker and never touches the strategy; the app
starts and stops the demo around the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from propdesk.brokers.base import AccountRef
from propdesk.brokers.sim.broker import SimBroker
from propdesk.brokers.sim.contracts import DEMO_ROOTS, front_months
from propdesk.brokers.sim.exchange import SimExchange
from propdesk.brokers.sim.strategy import DemoStrategy
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.clock import Clock
from propdesk.domain.instruments import InstrumentBook

__all__ = ["DEFAULT_DEMO_ACCOUNTS", "SimDemo", "build_demo"]

DEFAULT_DEMO_ACCOUNTS: Mapping[str, Decimal] = {
    "DEMO-50K-1": Decimal(50_000),
    "DEMO-50K-2": Decimal(50_000),
}


@dataclass(frozen=True, slots=True)
class SimDemo:
    exchange: SimExchange
    broker: SimBroker  # propdesk's own connection: hand this to the runtime
    strategy: DemoStrategy  # trades through a session of its own
    accounts: tuple[AccountRef, ...]

    def start(self) -> None:
        """Start the venue and the strategy (needs a running loop); the runtime connects `broker`."""
        self.exchange.start()
        self.strategy.start()

    async def stop(self) -> None:
        await self.strategy.stop()
        await self.broker.close()
        await self.exchange.stop()


def build_demo(
    instruments: InstrumentBook,
    calendar: TradingCalendar,
    clock: Clock,
    *,
    accounts: Mapping[str, Decimal] = DEFAULT_DEMO_ACCOUNTS,
    roots: Sequence[str] = DEMO_ROOTS,
    seed: int = 0,
    aggression: float = 0.3,
    interval: float = 20.0,
    name: str = "sim",
    latency_ms: float = 0.0,
) -> SimDemo:
    """`latency_ms`: each way, on propdesk's own connection (a slow broker), not the strategy's."""
    exchange = SimExchange(instruments, calendar, clock, name=name, seed=seed)
    refs = tuple(
        exchange.open_account(account_id, balance) for account_id, balance in accounts.items()
    )
    broker = SimBroker(exchange, latency_ms=latency_ms)
    strategy = DemoStrategy(
        SimBroker(exchange, accounts=refs, seed=seed + 1),
        refs,
        front_months(instruments, roots, clock.now()),
        clock,
        seed=seed,
        aggression=aggression,
        interval=interval,
    )
    return SimDemo(exchange, broker, strategy, refs)
