"""The simulator's price model: on the grid, bid below ask, regimes, mean reversion, determinism."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propdesk.brokers.sim import START_PRICES, PriceModel, Regime, SimMarket
from propdesk.domain.instruments import Contract, InstrumentBook


def _model(tick: str, start: str, seed: int, vol: float = 0.012) -> PriceModel:
    return PriceModel(Decimal(tick), Decimal(start), daily_volatility=vol, rng=random.Random(seed))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    spec=st.sampled_from(
        [
            ("0.25", "6000"),
            ("1", "44000"),
            ("0.01", "70"),
            ("0.005", "30"),
            ("0.00005", "1.08"),
            ("0.0000005", "0.0067"),
            ("0.015625", "110"),
            ("0.0078125", "107"),
        ]
    ),
    dt=st.sampled_from([0.25, 1.0, 1.2, 60.0]),
    vol=st.sampled_from([0.005, 0.012, 0.2]),
)
def test_quotes_stay_on_the_tick_grid_with_bid_below_ask(
    seed: int, spec: tuple[str, str], dt: float, vol: float
) -> None:
    tick, start = spec
    model = _model(tick, start, seed, vol)
    step = Decimal(tick)
    for _ in range(1_500):
        model.step(dt)
        assert model.bid % step == 0
        assert model.ask % step == 0
        assert Decimal(0) < model.bid < model.ask
        assert (model.ask - model.bid) / step in (1, 2, 3)
        assert model.mid == model.bid


def test_every_shipped_instrument_starts_on_its_grid(instruments: InstrumentBook) -> None:
    market = SimMarket(seed=3)
    for inst in instruments:
        contract = Contract(inst, inst.months[-1], 2026)
        book = market.book(contract)
        assert book.bid == START_PRICES[inst.root], inst.root
        assert book.bid % inst.tick_size == 0
        assert book.ask == book.bid + inst.tick_size
    assert market.book(contract) is book  # made once


def test_same_seed_same_path_and_other_contracts_do_not_disturb_it(
    instruments: InstrumentBook,
) -> None:
    es = Contract(instruments.instrument("ES"), "U", 2025)
    cl = Contract(instruments.instrument("CL"), "U", 2025)

    def path(market: SimMarket, also: Contract | None) -> list[tuple[Decimal, Decimal]]:
        out = []
        for _ in range(2_000):
            market.book(es).step(0.25)
            if also is not None:
                market.book(also).step(0.25)
            out.append((market.book(es).bid, market.book(es).ask))
        return out

    first = path(SimMarket(seed=42), None)
    assert path(SimMarket(seed=42), cl) == first
    assert path(SimMarket(seed=43), None) != first
    assert len(set(first)) > 20  # it does move


def test_regimes_switch_and_volatile_books_widen() -> None:
    model = _model("0.25", "6000", seed=5)
    seen: set[Regime] = set()
    spreads: set[int] = set()
    for _ in range(3 * 86_400 // 5):  # three days in 5 s steps
        model.step(5.0)
        seen.add(model.regime)
        spreads.add(model.spread)
        if model.regime is not Regime.VOLATILE:
            assert model.spread == 1
    assert seen == set(Regime)
    assert {1, 2, 3} <= spreads


def test_mean_reversion_keeps_a_long_run_plausible() -> None:
    for seed in range(5):
        model = _model("0.25", "6000", seed)
        low = high = model.bid
        for _ in range(20 * 86_400 // 60):  # twenty days in one-minute steps
            model.step(60.0)
            low, high = min(low, model.bid), max(high, model.bid)
        assert Decimal(5000) < low, (seed, low)
        assert high < Decimal(7000), (seed, high)


def test_a_day_moves_like_a_day() -> None:
    """Normal-regime volatility of about 1.2% a day: ES should typically move tens of points."""
    moves = []
    for seed in range(20):
        model = _model("0.25", "6000", seed)
        for _ in range(86_400 // 4):
            model.step(4.0)
        moves.append(abs(model.bid - Decimal(6000)))
    typical = sorted(moves)[len(moves) // 2]
    assert Decimal(10) < typical < Decimal(300), moves


def test_jump_puts_the_book_where_asked() -> None:
    model = _model("0.25", "6000", seed=1)
    model.jump(23_000, spread=2)
    assert (model.bid, model.ask) == (Decimal("5750.00"), Decimal("5750.50"))
    model.step(0.25)
    assert abs(model.bid - Decimal(5750)) < 5  # it carries on from there


def test_a_resumed_market_starts_at_its_last_quote(instruments: InstrumentBook) -> None:
    es = Contract(instruments.instrument("ES"), "U", 2025)
    cl = Contract(instruments.instrument("CL"), "U", 2025)
    market = SimMarket(seed=7)
    market.resume(es, Decimal("6013.75"), Decimal("6014.25"))  # a two-tick book, as journaled
    cl_model = market.book(cl)  # already running: it moves there at once
    market.resume(cl, Decimal("71.37"), Decimal("71.38"))
    assert not market.has(es), "resuming a price makes no contract active"

    book = market.book(es)
    assert (book.bid, book.ask) == (Decimal("6013.75"), Decimal("6014.25"))
    assert (cl_model.bid, cl_model.ask) == (Decimal("71.37"), Decimal("71.38"))
    book.step(0.25)
    assert abs(book.bid - Decimal("6013.75")) < 5  # it carries on from there


def test_a_resumed_market_moves_as_the_uninterrupted_one_would(
    instruments: InstrumentBook,
) -> None:
    """Its mean reversion still pulls toward the start price, slowly: no snap back, no new anchor."""
    es = Contract(instruments.instrument("ES"), "U", 2025)
    resumed = SimMarket(seed=7, volatility_scale=0.0)  # no noise: only the pull is left
    resumed.resume(es, Decimal("6100"), Decimal("6100.25"))
    uninterrupted = SimMarket(seed=7, volatility_scale=0.0)
    for _ in range(1_000):
        uninterrupted.book(es).step(60.0)
    uninterrupted.book(es).jump(24_400)  # got to 6100 by itself
    mids: list[tuple[Decimal, Decimal]] = []
    for _ in range(24 * 60):  # a day in one-minute steps
        resumed.book(es).step(60.0)
        uninterrupted.book(es).step(60.0)
        mids.append((resumed.book(es).mid, uninterrupted.book(es).mid))
    assert all(ours == theirs for ours, theirs in mids), "the resumed market drifts alike"
    assert mids[59][0] > Decimal("6097"), "an hour on it is still near where it resumed"
    assert Decimal(6000) < mids[-1][0] < Decimal(6070), "a day on it is on its way back to 6000"


def test_a_resumed_market_is_as_deterministic_as_a_fresh_one(instruments: InstrumentBook) -> None:
    es = Contract(instruments.instrument("ES"), "U", 2025)

    def path(seed: int) -> list[tuple[Decimal, Decimal]]:
        market = SimMarket(seed=seed)
        market.resume(es, Decimal("6013.75"), Decimal("6014"))
        out = []
        for _ in range(2_000):
            market.book(es).step(0.25)
            out.append((market.book(es).bid, market.book(es).ask))
        return out

    assert path(42) == path(42)
    assert path(42) != path(43)


@pytest.mark.parametrize(
    ("bid", "ask", "says"),
    [
        ("6013.80", "6014.00", "tick grid"),
        ("6014.00", "6014.00", "below the ask"),
        ("6014.25", "6014.00", "below the ask"),
        ("0", "0.25", "above 0"),
    ],
)
def test_a_resumed_quote_must_be_a_quote_the_market_could_show(
    instruments: InstrumentBook, bid: str, ask: str, says: str
) -> None:
    es = Contract(instruments.instrument("ES"), "U", 2025)
    market = SimMarket()
    with pytest.raises(ValueError, match=says):
        market.resume(es, Decimal(bid), Decimal(ask))
    assert market.book(es).bid == START_PRICES["ES"]
