"""The ledger: FIFO realized P&L, open P&L at the liquidation side, fees, day roll — and its invariants."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.ledger import Ledger

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def fill(
    book: InstrumentBook, symbol: str, side: str, qty: int, price: str, fee: str = "0"
) -> Fill:
    return Fill(T0, book.parse(symbol), Side(side), qty, D(price), D(fee))


def mark(
    book: InstrumentBook,
    symbol: str,
    bid: str | None = None,
    ask: str | None = None,
    last: str | None = None,
) -> Mark:
    return Mark(
        T0,
        book.parse(symbol),
        None if bid is None else D(bid),
        None if ask is None else D(ask),
        None if last is None else D(last),
    )


def test_round_trip_realizes_points_times_point_value(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    ledger.apply_fill(fill(instruments, "ESZ6", "buy", 2, "6000.00", "2.80"))
    realized = ledger.apply_fill(fill(instruments, "ESZ6", "sell", 2, "6004.25", "2.80"))
    assert realized == D("425.00")  # 4.25 points × 2 × $50
    assert ledger.balance == D("50419.40")
    assert ledger.flat
    assert ledger.open_pnl == 0


def test_fifo_order_of_lots(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    ledger.apply_fill(fill(instruments, "NQZ6", "buy", 1, "21000"))
    ledger.apply_fill(fill(instruments, "NQZ6", "buy", 1, "21010"))
    realized = ledger.apply_fill(fill(instruments, "NQZ6", "sell", 1, "21005"))
    assert realized == D(100), "the oldest lot (21000) closes first: +5 points × $20"
    position = ledger.positions["NQZ26"]
    assert position.net == 1
    assert position.average_price == D(21010)


def test_open_pnl_marks_longs_at_bid_and_shorts_at_ask(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    ledger.apply_fill(fill(instruments, "ESZ6", "buy", 1, "6000.00"))
    ledger.apply_fill(fill(instruments, "CLF7", "sell", 2, "70.00"))
    ledger.apply_mark(mark(instruments, "ESZ6", bid="6001.00", ask="6001.25"))
    ledger.apply_mark(mark(instruments, "CLF7", bid="69.90", ask="69.95"))
    assert ledger.positions["ESZ26"].open_pnl == D(50)  # bid 6001.00
    assert ledger.positions["CLF27"].open_pnl == D(100)  # ask 69.95: 0.05 × 2 × $1000
    assert ledger.open_pnl == D(150)
    assert ledger.equity == D(50_150)


def test_last_is_the_fallback_mark(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    ledger.apply_fill(fill(instruments, "MESZ6", "buy", 3, "6000.00"))
    ledger.apply_mark(mark(instruments, "MESZ6", last="5998.00"))
    assert ledger.open_pnl == D(-30)  # −2 points × 3 × $5
    ledger.apply_mark(mark(instruments, "MESZ6", bid="5997.75", ask="5998.00"))
    assert ledger.open_pnl == D("-33.75")


def test_a_fill_is_the_mark_until_a_quote_arrives(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    ledger.apply_fill(fill(instruments, "GCG7", "buy", 1, "2400.0"))
    assert ledger.open_pnl == 0
    ledger.apply_fill(fill(instruments, "GCG7", "buy", 1, "2401.0"))
    assert ledger.open_pnl == D(100), "the first lot is marked at the last fill: 1 point × $100"


def test_partial_fills_accumulate_into_one_position(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    for _ in range(3):
        ledger.apply_fill(fill(instruments, "ESZ6", "buy", 1, "6000.00", "1.40"))
    ledger.apply_fill(fill(instruments, "ESZ6", "sell", 2, "6002.00", "2.80"))
    assert ledger.positions["ESZ26"].net == 1
    assert ledger.realized == D(200)
    assert ledger.fees == D("7.00")


def test_one_fill_flips_long_to_short(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    ledger.apply_fill(fill(instruments, "ESZ6", "buy", 2, "6000.00"))
    realized = ledger.apply_fill(fill(instruments, "ESZ6", "sell", 5, "6001.00"))
    assert realized == D(100)
    position = ledger.positions["ESZ26"]
    assert position.net == -3
    assert position.average_price == D("6001.00")
    ledger.apply_mark(mark(instruments, "ESZ6", bid="6000.00", ask="6000.25"))
    assert ledger.open_pnl == D("112.50")  # short 3 from 6001.00 marked at the ask 6000.25


def test_micros_and_minis_together_and_size_counting(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    ledger.apply_fill(fill(instruments, "ESZ6", "buy", 1, "6000.00"))
    ledger.apply_fill(fill(instruments, "MESZ6", "sell", 5, "6000.00"))
    ledger.apply_mark(mark(instruments, "ESZ6", bid="5990.00", ask="5990.25"))
    ledger.apply_mark(mark(instruments, "MESZ6", bid="5989.75", ask="5990.00"))
    assert ledger.open_pnl == D(-500) + D(250)
    assert ledger.size_in_full_contracts(10) == D("1.5")
    assert ledger.size_in_full_contracts(1) == D(6)


def test_rates_ticks_are_exact(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    ledger.apply_fill(fill(instruments, "ZNH7", "buy", 1, "110.015625"))
    realized = ledger.apply_fill(fill(instruments, "ZNH7", "sell", 1, "110.03125"))
    assert realized == D("15.625")


def test_day_roll_keeps_balance_and_resets_day_figures(instruments: InstrumentBook) -> None:
    ledger = Ledger(D(50_000))
    ledger.apply_fill(fill(instruments, "ESZ6", "buy", 1, "6000.00", "1.00"))
    ledger.apply_fill(fill(instruments, "ESZ6", "sell", 1, "6010.00", "1.00"))
    assert ledger.day_pnl == D(498)
    ledger.roll_day()
    assert ledger.day_start_balance == D(50_498)
    assert ledger.day_pnl == 0
    assert ledger.day_realized == 0
    assert ledger.day_fees == 0
    assert ledger.balance == D(50_498)


# -- properties ---------------------------------------------------------------------------------------
SYMBOLS = ("ESZ6", "MESZ6", "NQZ6", "CLF7", "ZNH7")
TICKS = {
    "ESZ6": D("0.25"),
    "MESZ6": D("0.25"),
    "NQZ6": D("0.25"),
    "CLF7": D("0.01"),
    "ZNH7": D("0.015625"),
}
BASES = {"ESZ6": D(6000), "MESZ6": D(6000), "NQZ6": D(21000), "CLF7": D(70), "ZNH7": D(110)}

trade = st.tuples(
    st.sampled_from(SYMBOLS),
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 5),
    st.integers(-40, 40),
    st.integers(0, 300),
)


def _fills(book: InstrumentBook, trades: list[tuple[str, str, int, int, int]]) -> list[Fill]:
    return [
        Fill(T0, book.parse(s), Side(side), q, BASES[s] + TICKS[s] * t, D(fee) / 100)
        for s, side, q, t, fee in trades
    ]


def _split(fills: list[Fill], rng: random.Random) -> list[Fill]:
    """The same fills, each broken into random partial fills with the fee shared out exactly."""
    out = []
    for f in fills:
        remaining, fee_left = f.qty, f.fee
        while remaining:
            part = rng.randint(1, remaining)
            fee = fee_left if part == remaining else (f.fee * part / f.qty).quantize(D("0.01"))
            out.append(Fill(f.ts, f.contract, f.side, part, f.price, fee))
            remaining -= part
            fee_left -= fee
    return out


@settings(max_examples=200, deadline=None)
@given(
    trades=st.lists(trade, min_size=1, max_size=25),
    seed=st.integers(0, 2**32),
    marks=st.lists(st.integers(-60, 60), min_size=5, max_size=5),
)
def test_equity_identity_for_any_split(
    instruments: InstrumentBook, trades: list, seed: int, marks: list[int]
) -> None:
    fills = _fills(instruments, trades)
    whole, split = Ledger(D(50_000)), Ledger(D(50_000))
    for f in fills:
        whole.apply_fill(f)
    for f in _split(fills, random.Random(seed)):
        split.apply_fill(f)
    for ledger in (whole, split):
        for symbol, offset in zip(SYMBOLS, marks, strict=True):
            price = BASES[symbol] + TICKS[symbol] * offset
            ledger.apply_mark(Mark(T0, instruments.parse(symbol), price, price + TICKS[symbol]))
        assert (
            ledger.equity == ledger.start_balance + ledger.realized + ledger.open_pnl - ledger.fees
        )
    assert split.equity == whole.equity
    assert split.realized == whole.realized
    assert split.fees == whole.fees
    assert {k: p.net for k, p in split.positions.items()} == {
        k: p.net for k, p in whole.positions.items()
    }


@settings(max_examples=200, deadline=None)
@given(
    trades=st.lists(trade, min_size=1, max_size=25),
    offsets=st.lists(st.integers(-60, 60), min_size=5, max_size=5),
)
def test_closing_at_the_mark_realizes_exactly_the_open_pnl(
    instruments: InstrumentBook, trades: list, offsets: list[int]
) -> None:
    ledger = Ledger(D(50_000))
    for f in _fills(instruments, trades):
        ledger.apply_fill(f)
    quotes = {}
    for symbol, offset in zip(SYMBOLS, offsets, strict=True):
        bid = BASES[symbol] + TICKS[symbol] * offset
        quotes[symbol] = (bid, bid + TICKS[symbol])
        ledger.apply_mark(Mark(T0, instruments.parse(symbol), *quotes[symbol]))
    equity, open_pnl, realized = ledger.equity, ledger.open_pnl, ledger.realized
    for symbol in SYMBOLS:
        position = ledger.positions.get(instruments.parse(symbol).key)
        if position is None:
            continue
        bid, ask = quotes[symbol]
        side, price = ("sell", bid) if position.net > 0 else ("buy", ask)
        ledger.apply_fill(Fill(T0, position.contract, Side(side), abs(position.net), price))
    assert ledger.flat
    assert ledger.open_pnl == 0
    assert ledger.realized - realized == open_pnl
    assert ledger.equity == equity


@settings(max_examples=200, deadline=None)
@given(trades=st.lists(trade, min_size=1, max_size=20), seed=st.integers(0, 2**32))
def test_same_timestamp_order_does_not_change_totals(
    instruments: InstrumentBook, trades: list, seed: int
) -> None:
    fills = _fills(instruments, trades)
    shuffled = fills[:]
    random.Random(seed).shuffle(shuffled)
    a, b = Ledger(D(50_000)), Ledger(D(50_000))
    for f in fills:
        a.apply_fill(f)
    for f in shuffled:
        b.apply_fill(f)
    for ledger in (a, b):
        for symbol in SYMBOLS:
            ledger.apply_mark(
                Mark(T0, instruments.parse(symbol), BASES[symbol], BASES[symbol] + TICKS[symbol])
            )
    assert a.equity == b.equity
    assert a.fees == b.fees
    assert a.balance + a.open_pnl == b.balance + b.open_pnl
    assert {k: p.net for k, p in a.positions.items()} == {k: p.net for k, p in b.positions.items()}
    if a.flat:
        assert a.realized == b.realized, "once flat, realized P&L is order-free too"
