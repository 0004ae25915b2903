"""The demo strategy: trades through its own session, holds losers when aggressive, never gives up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sim_helpers import OPEN, ManualClock, Recorder, Watcher, scaled

from propdesk.brokers.base import (
    AccountRef,
    BrokerEvent,
    OrderStatus,
    OrderUpdate,
    Quote,
)
from propdesk.brokers.sim import (
    DEMO_TAG,
    DemoStrategy,
    SimBroker,
    SimDemo,
    SimExchange,
    build_demo,
)
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import Side
from propdesk.domain.instruments import Contract, InstrumentBook

D = Decimal


def new_demo_order(account: AccountRef, seen: set[str]):
    def match(event: BrokerEvent) -> bool:
        return (
            isinstance(event, OrderUpdate)
            and event.status is OrderStatus.WORKING
            and event.reason == "accepted"
            and event.order.account == account
            and event.order.tag == DEMO_TAG
            and event.order.order_id not in seen
        )

    return match


@pytest.fixture
async def demo(instruments: InstrumentBook, calendar: TradingCalendar) -> AsyncIterator[SimDemo]:
    demo = build_demo(instruments, calendar, scaled(OPEN), seed=11, interval=5.0)
    await demo.broker.connect()  # what the runtime does with propdesk's connection
    demo.start()
    yield demo
    await demo.stop()


async def test_the_strategy_trades_its_accounts_through_its_own_session(demo: SimDemo) -> None:
    assert demo.strategy.session is not demo.broker
    events = Recorder(demo.broker)
    for account in demo.accounts:
        await events.next(new_demo_order(account, set()), timeout=3)
    assert demo.strategy.stats.placed >= 2
    roots = {e.order.contract.instrument.root for e in events.events if isinstance(e, OrderUpdate)}
    assert roots <= {"ES", "NQ", "MES", "CL"}
    await events.close()


async def test_the_strategy_keeps_trying_after_a_lock(demo: SimDemo) -> None:
    """What propdesk does to a locked account: cancel everything, close everything, again and again."""
    broker, account = demo.broker, demo.accounts[0]
    events = Recorder(broker)
    seen: set[str] = set()
    for _ in range(3):
        order = await events.next(new_demo_order(account, seen), after=events.mark(), timeout=3)
        assert isinstance(order, OrderUpdate)
        seen.add(order.order.order_id)
        await broker.cancel_all(account)
        await broker.flatten(account)
        snap = await broker.snapshot([account])
        seen.update(o.order_id for o in snap.orders_of(account))
        if not snap.is_flat(account):  # partial pieces still working: close them too
            await broker.cancel_all(account)
            await broker.flatten(account)
    # Each round, after the account was flattened, it placed a new order anyway.
    assert len(seen) >= 3
    assert demo.strategy.stats.placed >= 3
    await events.close()


# -- decisions, driven by hand -----------------------------------------------------------------
async def _manual_strategy(
    instruments: InstrumentBook,
    calendar: TradingCalendar,
    es: Contract,
    *,
    aggression: float,
    seed: int = 5,
) -> tuple[SimExchange, DemoStrategy, Watcher, AccountRef]:
    clock = ManualClock(OPEN)
    exchange = SimExchange(instruments, calendar, clock, seed=seed, id_prefix="")
    account = exchange.open_account("S1", D(50_000))
    watcher = Watcher()
    exchange.attach(watcher)
    session = SimBroker(exchange, accounts=[account])
    await session.connect()  # its venue loop sleeps on the manual clock: nothing moves by itself
    strategy = DemoStrategy(
        session, [account], [es], clock, seed=seed, aggression=aggression, entry_probability=1.0
    )
    return exchange, strategy, watcher, account


def _feed(strategy: DemoStrategy, exchange: SimExchange, contract: Contract) -> None:
    quote = exchange.quote(contract)
    assert isinstance(quote, Quote)
    strategy.on_event(quote)


async def _enter_and_drop(
    exchange: SimExchange, strategy: DemoStrategy, account: AccountRef, es: Contract
) -> int:
    """Enter (no quote known yet: a market order), then move the market 40 ticks against it."""
    await strategy.decide_once()
    [position] = (await strategy.session.snapshot([account])).positions_of(account)
    against = position.average_price + (-10 if position.net > 0 else 10)
    exchange.move_price(es, against)
    _feed(strategy, exchange, es)
    return position.net


async def test_a_sane_strategy_cuts_a_loser(
    instruments: InstrumentBook, calendar: TradingCalendar, es: Contract
) -> None:
    exchange, strategy, _, account = await _manual_strategy(
        instruments, calendar, es, aggression=0.0
    )
    await _enter_and_drop(exchange, strategy, account, es)
    await strategy.decide_once()
    assert (await strategy.session.snapshot([account])).is_flat(account)
    assert strategy.stats.exits == 1
    await exchange.stop()


async def test_an_aggressive_strategy_holds_and_adds_to_a_loser(
    instruments: InstrumentBook, calendar: TradingCalendar, es: Contract
) -> None:
    exchange, strategy, _, account = await _manual_strategy(
        instruments, calendar, es, aggression=1.0
    )
    net = await _enter_and_drop(exchange, strategy, account, es)
    await strategy.decide_once()
    [position] = (await strategy.session.snapshot([account])).positions_of(account)
    assert strategy.stats.exits == 0  # 40 ticks against it, and it holds on
    assert abs(position.net) == min(abs(net) + 1, strategy.max_qty)
    assert (position.net > 0) == (net > 0)
    await exchange.stop()


async def test_a_stubborn_trade_still_ends_at_its_time_limit(
    instruments: InstrumentBook, calendar: TradingCalendar, es: Contract
) -> None:
    exchange, strategy, _, account = await _manual_strategy(
        instruments, calendar, es, aggression=1.0
    )
    await _enter_and_drop(exchange, strategy, account, es)
    assert isinstance(strategy._clock, ManualClock)
    strategy._clock.advance(strategy.interval * 41)
    _feed(strategy, exchange, es)
    await strategy.decide_once()
    assert (await strategy.session.snapshot([account])).is_flat(account)
    await exchange.stop()


async def test_the_same_seed_makes_the_same_decisions(
    instruments: InstrumentBook, calendar: TradingCalendar, es: Contract
) -> None:
    async def run(seed: int) -> list[tuple[Side, int, str]]:
        exchange, strategy, watcher, _ = await _manual_strategy(
            instruments, calendar, es, aggression=0.5, seed=seed
        )
        for _ in range(150):
            for _ in range(20):
                exchange.step(1.0)
            assert isinstance(strategy._clock, ManualClock)
            strategy._clock.advance(20)
            _feed(strategy, exchange, es)
            await strategy.decide_once()
        await exchange.stop()
        return [
            (u.order.side, u.order.qty, u.order.type.value)
            for u in watcher.updates()
            if u.reason == "accepted"
        ]

    first = await run(7)
    assert len(first) >= 10
    assert await run(7) == first
    assert await run(8) != first


async def test_the_strategy_comes_back_after_its_own_session_drops(demo: SimDemo) -> None:
    session, account = demo.strategy.session, demo.accounts[0]
    events = Recorder(demo.broker)
    await events.next(new_demo_order(account, set()), timeout=3)
    session.disconnect()
    mark = events.mark()
    await events.next(new_demo_order(account, set()), after=mark, timeout=3)
    session.forced_logout()  # a bot signs straight back in; propdesk never would
    mark = events.mark()
    await events.next(new_demo_order(account, set()), after=mark, timeout=3)
    assert session.connected
    await events.close()
