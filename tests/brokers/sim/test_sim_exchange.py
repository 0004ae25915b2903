"""The venue driven by hand: matching, partial fills, fees, rejects, books and native calls."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import pytest
from sim_helpers import BREAK, CT, ManualClock, Watcher

from propdesk.brokers.base import (
    AccountRef,
    BalanceUpdate,
    BrokerError,
    OrderRequest,
    OrderStatus,
    OrderType,
    PositionUpdate,
)
from propdesk.brokers.sim import LIQUIDATION_TAG, FeeTable, OrderRejected, SimExchange
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import Side
from propdesk.domain.instruments import Contract, InstrumentBook

D = Decimal


@pytest.fixture
def watcher(manual_exchange: SimExchange) -> Watcher:
    w = Watcher()
    manual_exchange.attach(w)
    return w


@pytest.fixture
def acct(manual_exchange: SimExchange) -> AccountRef:
    return manual_exchange.open_account("A1", D(50_000))


def buy(contract: Contract, qty: int = 1, **kw: object) -> OrderRequest:
    return OrderRequest(contract, Side.BUY, qty, **kw)  # type: ignore[arg-type]


def sell(contract: Contract, qty: int = 1, **kw: object) -> OrderRequest:
    return OrderRequest(contract, Side.SELL, qty, **kw)  # type: ignore[arg-type]


def test_market_orders_fill_at_the_touch_with_fees(
    manual_exchange: SimExchange, watcher: Watcher, acct: AccountRef, es: Contract
) -> None:
    ex = manual_exchange
    ex.move_price(es, D("6000.00"))
    ex.place(acct, buy(es, 2))
    ex.move_price(es, D("6010.00"))
    ex.place(acct, sell(es, 2))
    fills = [f.fill for f in watcher.fills()]
    assert [(f.side, f.qty, f.price, f.fee) for f in fills] == [
        (Side.BUY, 2, D("6000.25"), D("4.20")),  # bought at the ask
        (Side.SELL, 2, D("6010.00"), D("4.20")),  # sold at the bid
    ]
    # 9.75 points x 2 x $50 - 4 x $2.10
    assert ex.snapshot([acct]).accounts[0].balance == D(50_000) + D("975.00") - D("8.40")
    balances = [e.balance for e in watcher.events if isinstance(e, BalanceUpdate)]
    assert balances == [D(50_000) - D("4.20"), D(50_000) + D("975.00") - D("8.40")]
    assert len({f.fill_id for f in fills}) == 2
    assert all(f.fill_id for f in fills)
    statuses = [(u.status, u.order.filled) for u in watcher.updates()]
    assert statuses == [
        (OrderStatus.WORKING, 0),
        (OrderStatus.FILLED, 2),
        (OrderStatus.WORKING, 0),
        (OrderStatus.FILLED, 2),
    ]


def test_micro_fees_and_a_fee_table_override(
    manual_exchange: SimExchange, watcher: Watcher, acct: AccountRef, mes: Contract, es: Contract
) -> None:
    manual_exchange.place(acct, buy(mes, 1))
    assert watcher.fills()[-1].fill.fee == D("0.62")
    table = FeeTable({"ES": D("1.50")})
    assert table.per_side(es.instrument) == D("1.50")
    assert table.per_side(mes.instrument) == D("0.62")


def test_large_market_orders_fill_in_pieces_over_steps(
    manual_exchange: SimExchange, watcher: Watcher, acct: AccountRef, es: Contract
) -> None:
    ex = manual_exchange
    order_id = ex.place(acct, buy(es, 7))
    pieces = [f.fill.qty for f in watcher.fills()]
    assert len(pieces) == 1  # one piece at once, the rest on later steps
    for _ in range(10):
        ex.step()
    pieces = [f.fill.qty for f in watcher.fills()]
    assert sum(pieces) == 7
    assert set(pieces) <= {1, 2}
    assert len(pieces) >= 4
    partials = [u for u in watcher.updates() if u.order.order_id == order_id]
    assert [u.order.filled for u in partials][1:] == [
        sum(pieces[: i + 1]) for i in range(len(pieces))
    ]
    assert all(u.status is OrderStatus.WORKING for u in partials[:-1])
    assert partials[-1].status is OrderStatus.FILLED
    snap = ex.snapshot([acct])
    assert snap.positions[0].net == 7
    assert not snap.orders
    assert (
        snap.positions[0].average_price
        == sum((f.fill.price * f.fill.qty for f in watcher.fills()), D(0)) / 7
    )


def test_limit_orders_rest_then_fill_at_their_price(
    manual_exchange: SimExchange, watcher: Watcher, acct: AccountRef, es: Contract
) -> None:
    ex = manual_exchange
    ex.move_price(es, D("6000.00"))
    resting = ex.place(acct, buy(es, 1, type=OrderType.LIMIT, limit_price=D("5995.00")))
    assert not watcher.fills()
    assert [o.order_id for o in ex.snapshot([acct]).orders] == [resting]
    ex.move_price(es, D("5996.00"))  # ask 5996.25: not yet
    assert not watcher.fills()
    ex.move_price(es, D("5990.00"))  # ask 5990.25 is through the limit
    assert [(f.fill.price, f.fill.qty) for f in watcher.fills()] == [(D("5995.00"), 1)]
    # A marketable limit takes the touch, which is better than its limit.
    ex.place(acct, sell(es, 1, type=OrderType.LIMIT, limit_price=D("5980.00")))
    assert watcher.fills()[-1].fill.price == D("5990.00")
    assert not ex.snapshot([acct]).orders


def test_stop_orders_trigger_into_market_orders(
    manual_exchange: SimExchange, watcher: Watcher, acct: AccountRef, es: Contract
) -> None:
    ex = manual_exchange
    ex.move_price(es, D("6000.00"))
    ex.place(acct, buy(es, 1, type=OrderType.STOP, stop_price=D("6005.00")))
    ex.place(acct, sell(es, 1, type=OrderType.STOP, stop_price=D("5990.00")))
    ex.move_price(es, D("6004.50"))  # ask 6004.75: below the buy stop
    assert not watcher.fills()
    ex.move_price(es, D("6006.00"), spread=2)
    assert [(f.fill.side, f.fill.price) for f in watcher.fills()] == [(Side.BUY, D("6006.50"))]
    ex.move_price(es, D("5989.75"))
    assert watcher.fills()[-1].fill.price == D("5989.75")  # the sell stop hit the bid
    assert not ex.snapshot([acct]).orders
    with pytest.raises(OrderRejected, match="not above the ask"):
        ex.place(acct, buy(es, 1, type=OrderType.STOP, stop_price=D("5989.00")))


@pytest.mark.parametrize(
    ("request_for", "reason"),
    [
        (lambda c: buy(c, 0), "quantity must be at least 1"),
        (lambda c: buy(c, -2), "quantity must be at least 1"),
        (lambda c: buy(c, 1, type=OrderType.LIMIT), "needs a limit price"),
        (lambda c: buy(c, 1, type=OrderType.STOP), "needs a stop price"),
        (
            lambda c: buy(c, 1, type=OrderType.LIMIT, limit_price=D("6000.10")),
            "not on ES's tick grid",
        ),
        (lambda c: buy(dataclasses.replace(c, year=2024, key="")), "has expired"),
        (
            lambda c: buy(
                Contract(dataclasses.replace(c.instrument, root="QQ"), c.month_code, c.year)
            ),
            "unknown contract QQ",
        ),
    ],
)
def test_rejects_say_why(
    manual_exchange: SimExchange,
    watcher: Watcher,
    acct: AccountRef,
    es: Contract,
    request_for: object,
    reason: str,
) -> None:
    request = request_for(es)  # type: ignore[operator]
    with pytest.raises(OrderRejected, match=reason) as caught:
        manual_exchange.place(acct, request)
    assert not caught.value.retryable
    [update] = watcher.updates()
    assert update.status is OrderStatus.REJECTED
    assert reason in update.reason
    assert update.order.order_id == caught.value.order_id
    assert not watcher.fills()
    assert not manual_exchange.snapshot([acct]).orders


def test_injected_rejects_and_unknown_accounts(
    manual_exchange: SimExchange, watcher: Watcher, acct: AccountRef, es: Contract
) -> None:
    with pytest.raises(OrderRejected, match="risk check failed") as caught:
        manual_exchange.place(acct, buy(es), injected=lambda: "risk check failed")
    assert caught.value.retryable
    with pytest.raises(BrokerError, match="unknown account"):
        manual_exchange.place(AccountRef("sim", "nope"), buy(es))


def test_closed_market_rejects_orders_and_fills_nothing(
    manual_exchange: SimExchange,
    manual_clock: ManualClock,
    watcher: Watcher,
    acct: AccountRef,
    es: Contract,
) -> None:
    ex = manual_exchange
    ex.move_price(es, D("6000.00"))
    resting = ex.place(acct, buy(es, 1, type=OrderType.LIMIT, limit_price=D("5990.00")))
    manual_clock.set(BREAK)
    with pytest.raises(OrderRejected, match=r"market closed: ES \(equity\) opens again") as caught:
        ex.place(acct, buy(es))
    assert caught.value.retryable
    quotes_before = len(watcher.quotes)
    assert ex.move_price(es, D("5980.00")) is None  # the move waits for the open
    for _ in range(50):
        ex.step()
    assert len(watcher.quotes) == quotes_before
    assert not watcher.fills()
    assert watcher.steps == 50  # the venue still steps (heartbeats), it just does not trade
    assert [o.order_id for o in ex.snapshot([acct]).orders] == [resting]
    manual_clock.set(datetime(2025, 6, 11, 17, 0, 1, tzinfo=CT))
    ex.step()
    assert [f.fill.price for f in watcher.fills()] == [D("5990.00")]
    assert len(watcher.quotes) > quotes_before


def test_fifo_positions_average_price_and_snapshot(
    manual_exchange: SimExchange, watcher: Watcher, acct: AccountRef, es: Contract, mes: Contract
) -> None:
    ex = manual_exchange
    ex.move_price(es, D("6000.00"))
    ex.place(acct, buy(es, 1))  # 6000.25
    ex.move_price(es, D("6002.00"))
    ex.place(acct, buy(es, 1))  # 6002.25
    ex.move_price(es, D("6004.00"))
    ex.place(acct, sell(es, 1))  # closes the 6000.25 lot at 6004.00: +3.75 points
    ex.place(acct, sell(mes, 2))
    working = ex.place(acct, buy(es, 1, type=OrderType.LIMIT, limit_price=D("5900.00")))
    snap = ex.snapshot([acct])
    nets = {p.contract.key: (p.net, p.average_price) for p in snap.positions}
    mes_bid = ex.market.book(mes).bid
    assert nets == {es.key: (1, D("6002.25")), mes.key: (-2, mes_bid)}
    assert [o.order_id for o in snap.orders] == [working]
    assert len(snap.fills) == 4
    assert {f.account for f in snap.fills} == {acct}
    fees = D("2.10") * 3 + D("0.62") * 2
    assert snap.accounts[0].balance == D(50_000) + D("3.75") * 50 - fees
    last = [e for e in watcher.events if isinstance(e, PositionUpdate)][-1]
    assert last.position.contract == mes
    assert last.position.net == -2


def test_native_cancel_all_and_flatten_leave_a_fresh_read_flat(
    manual_exchange: SimExchange, watcher: Watcher, acct: AccountRef, es: Contract, mes: Contract
) -> None:
    ex = manual_exchange
    ex.place(acct, buy(es, 2))
    ex.place(acct, sell(mes, 1))
    ex.place(acct, buy(es, 1, type=OrderType.LIMIT, limit_price=D("5000.00")))
    ex.place(acct, sell(mes, 1, type=OrderType.LIMIT, limit_price=D("7000.00")))
    assert ex.cancel_all(acct) == 2
    placed = ex.flatten(acct)
    assert len(placed) == 2
    snap = ex.snapshot([acct])
    assert snap.is_flat(acct)
    cancelled = [u for u in watcher.updates() if u.status is OrderStatus.CANCELLED]
    assert [u.reason for u in cancelled] == ["cancel all", "cancel all"]
    liquidations = [u for u in watcher.updates() if u.order.tag == LIQUIDATION_TAG]
    assert {u.order.order_id for u in liquidations} == set(placed)
    assert ex.flatten(acct) == []  # idempotent: nothing left to close


def test_a_late_cancel_is_refused_and_says_why(
    manual_exchange: SimExchange, acct: AccountRef, es: Contract
) -> None:
    ex = manual_exchange
    done = ex.place(acct, buy(es))
    with pytest.raises(BrokerError, match="already filled") as caught:
        ex.cancel(acct, done)
    assert not caught.value.retryable
    resting = ex.place(acct, buy(es, type=OrderType.LIMIT, limit_price=D("5000.00")))
    ex.cancel(acct, resting)
    with pytest.raises(BrokerError, match="already cancelled"):
        ex.cancel(acct, resting)
    with pytest.raises(BrokerError, match="unknown"):
        ex.cancel(acct, "no-such-order")


def test_partial_fills_on_close_flatten_one_lot_per_step(
    manual_exchange: SimExchange, watcher: Watcher, acct: AccountRef, es: Contract
) -> None:
    ex = manual_exchange
    ex.place(acct, buy(es, 2))
    ex.partial_fills_on_close(True)
    ex.place(acct, buy(es, 2))  # adds to the position: not a closing order
    assert ex.snapshot([acct]).positions[0].net == 4
    [closing] = ex.flatten(acct)
    snap = ex.snapshot([acct])
    assert snap.positions[0].net == 3
    assert [o.order_id for o in snap.orders] == [closing]
    # A second flatten replaces the remainder rather than closing twice.
    [again] = ex.flatten(acct)
    assert again != closing
    assert ex.snapshot([acct]).positions[0].net == 2
    steps = 0
    while not ex.snapshot([acct]).is_flat(acct):
        ex.step()
        steps += 1
    assert steps == 2
    closing_fills = [f.fill.qty for f in watcher.fills() if f.fill.side is Side.SELL]
    assert closing_fills == [1, 1, 1, 1]


def test_ids_are_unique_and_differ_between_runs(
    instruments: InstrumentBook,
    calendar: TradingCalendar,
    manual_clock: ManualClock,
    es: Contract,
) -> None:
    # Same clock, same start: a journal that outlived the first run must not see its ids again.
    a = SimExchange(instruments, calendar, manual_clock)
    b = SimExchange(instruments, calendar, manual_clock)
    ra, rb = a.open_account("X", D(1000)), b.open_account("X", D(1000))
    ids_a = {a.place(ra, buy(es)) for _ in range(50)}
    ids_b = {b.place(rb, buy(es)) for _ in range(50)}
    assert len(ids_a) == 50
    assert not ids_a & ids_b
    fill_ids = [f.fill.fill_id for f in a.snapshot([ra]).fills]
    assert len(set(fill_ids)) == 50
    assert not set(fill_ids) & ids_a


def test_quotes_go_out_only_while_open(
    manual_exchange: SimExchange, manual_clock: ManualClock, watcher: Watcher, es: Contract
) -> None:
    ex = manual_exchange
    ex.activate(es)
    for _ in range(40):
        ex.step()
    assert len(watcher.quotes) > 10
    assert all(q.mark.contract == es for q in watcher.quotes)
    assert all(q.mark.bid < q.mark.ask for q in watcher.quotes)  # type: ignore[operator]
    manual_clock.set(datetime(2025, 6, 14, 12, 0, tzinfo=CT))  # Saturday
    count = len(watcher.quotes)
    for _ in range(40):
        ex.step()
    assert len(watcher.quotes) == count
    assert ex.quote(es) is None


def test_a_restored_quote_is_where_the_market_starts_and_is_not_published(
    manual_exchange: SimExchange, watcher: Watcher, es: Contract
) -> None:
    ex = manual_exchange
    ex.restore_quote(es, D("6013.75"), D("6014.00"))
    assert watcher.quotes == [], "restoring is state, not a market event"
    quote = ex.quote(es)
    assert quote is not None
    assert (quote.mark.bid, quote.mark.ask) == (D("6013.75"), D("6014.00"))
    ex.step()
    assert watcher.quotes, "the opening quote goes out at the first step"
    assert abs(watcher.quotes[0].mark.bid - D("6013.75")) < 5  # type: ignore[operator]
