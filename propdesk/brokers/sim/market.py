"""The simulator's price model: one mean-reverting, regime-switching mid per contract, on the tick grid.

Prices live as integer tick counts while the model runs, so a step is a handful of float operations and
one Gaussian draw; Decimals are made only when the quote actually changes. Each contract draws from its
own `random.Random` seeded from (seed, contract key), so a contract's path does not depend on which
other contracts happen to be active, and the same seed replays the same path step for step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from propdesk.domain.instruments import Contract

__all__ = ["DAILY_VOLATILITY", "START_PRICES", "PriceModel", "Regime", "SimMarket"]

START_PRICES: Mapping[str, Decimal] = {
    root: Decimal(price)
    for root, price in {
        "ES": "6000",
        "MES": "6000",
        "NQ": "21000",
        "MNQ": "21000",
        "RTY": "2300",
        "M2K": "2300",
        "YM": "44000",
        "MYM": "44000",
        "CL": "70",
        "MCL": "70",
        "GC": "2400",
        "MGC": "2400",
        "SI": "30",
        "6E": "1.08",
        "6J": "0.0067",
        "ZN": "110",
        "ZB": "115",
        "ZF": "107",
        "NG": "3.5",
        "RB": "2.1",
        "HO": "2.4",
        "SIL": "30",
        "HG": "4.5",
        "MHG": "4.5",
        "M6E": "1.08",
        "6B": "1.27",
        "6A": "0.66",
        "6C": "0.73",
        "UB": "120",
        "ZT": "103",
        "ZC": "450",
        "ZS": "1050",
        "ZW": "550",
        "LE": "190",
        "HE": "90",
        "GF": "260",
        "BTC": "90000",
        "MBT": "90000",
    }.items()
}

# One standard deviation of a day's move, as a fraction of the price, in the normal regime. Rough
# figures of the right size: enough movement that a held loser can reach a firm's floor in an hour
# or two, not so much that a day looks absurd.
DAILY_VOLATILITY: Mapping[str, float] = {
    "equity": 0.012,
    "energy": 0.025,
    "metals": 0.012,
    "fx": 0.005,
    "rates": 0.005,
}

_DAY_SECONDS = 86_400.0


class Regime(StrEnum):
    CALM = "calm"
    NORMAL = "normal"
    VOLATILE = "volatile"


# (volatility multiplier, mean duration in clock seconds, next regimes to pick from)
_REGIMES: Mapping[Regime, tuple[float, float, tuple[Regime, ...]]] = {
    Regime.CALM: (0.5, 1_800.0, (Regime.NORMAL, Regime.NORMAL, Regime.VOLATILE)),
    Regime.NORMAL: (1.0, 2_400.0, (Regime.CALM, Regime.VOLATILE)),
    Regime.VOLATILE: (2.5, 420.0, (Regime.NORMAL, Regime.NORMAL, Regime.CALM)),
}
# A volatile book widens: 1, 2 or 3 ticks with these weights.
_VOLATILE_SPREADS = (1, 1, 1, 2, 2, 3)


class PriceModel:
    """One contract's book top. `bid`/`ask` are Decimals on the tick grid with bid < ask.

    The mid follows an Ornstein–Uhlenbeck process in tick units around the start price: the pull back
    (half-life about a day and a half) keeps a long run near its start while leaving intraday moves
    free. `mid_ticks` is the bid's tick count; the ask sits `spread` ticks above it. `jump` moves
    the book and leaves the start price as the anchor, so the process goes on as if it had got
    there by itself.
    """

    __slots__ = (
        "_anchor",
        "_ask",
        "_bid",
        "_regime_left",
        "_rng",
        "_sigma",
        "_theta",
        "_x",
        "mid_ticks",
        "regime",
        "spread",
        "tick_size",
    )

    def __init__(
        self,
        tick_size: Decimal,
        start: Decimal,
        *,
        daily_volatility: float,
        rng: random.Random,
    ) -> None:
        if tick_size <= 0:
            raise ValueError(f"tick size must be > 0, got {tick_size}")
        if start <= 0:
            raise ValueError(f"start price must be > 0, got {start}")
        anchor = int((start / tick_size).to_integral_value(ROUND_HALF_EVEN))
        if anchor < 10:
            raise ValueError(f"start price {start} is under ten ticks of {tick_size}")
        self.tick_size = tick_size
        self._rng = rng
        self._anchor = anchor
        self._x = float(anchor)
        # Ticks per sqrt(clock second), so a step of any length has the right variance.
        self._sigma = anchor * daily_volatility / math.sqrt(_DAY_SECONDS)
        # Stationary deviation = one day's volatility: sigma^2 / (2 theta) = sigma^2 * day.
        self._theta = 1.0 / (2.0 * _DAY_SECONDS)
        self.regime = Regime.NORMAL
        self._regime_left = rng.expovariate(1.0 / _REGIMES[Regime.NORMAL][1])
        self.mid_ticks = anchor
        self.spread = 1
        self._bid = tick_size * anchor
        self._ask = tick_size * (anchor + 1)

    @property
    def bid(self) -> Decimal:
        return self._bid

    @property
    def ask(self) -> Decimal:
        return self._ask

    @property
    def mid(self) -> Decimal:
        """The mid on the grid: the bid's price (the ask is `spread` ticks above it)."""
        return self._bid

    def jump(self, bid_ticks: int, spread: int = 1) -> None:
        """Put the bid at `bid_ticks` at once (a scenario's sudden move, or where a resumed market
        left off); the model goes on from there, still reverting to its start price."""
        if bid_ticks < 1 or spread < 1:
            raise ValueError(
                f"bid must be at least one tick and spread >= 1, got {bid_ticks}/{spread}"
            )
        self._x = float(bid_ticks)
        self.mid_ticks = bid_ticks
        self.spread = spread
        self._bid = self.tick_size * bid_ticks
        self._ask = self.tick_size * (bid_ticks + spread)

    def step(self, dt: float) -> bool:
        """Advance `dt` clock seconds; True when the bid or the ask moved."""
        rng = self._rng
        self._regime_left -= dt
        if self._regime_left <= 0:
            self.regime = rng.choice(_REGIMES[self.regime][2])
            self._regime_left = rng.expovariate(1.0 / _REGIMES[self.regime][1])
        scale = _REGIMES[self.regime][0]
        x = self._x
        x += (
            self._theta * dt * (self._anchor - x)
            + scale * self._sigma * math.sqrt(dt) * rng.gauss()
        )
        # A floor far below any plausible path; it only guards the grid (prices stay positive).
        floor = self._anchor * 0.2
        if x < floor:
            x = floor
        self._x = x
        spread = rng.choice(_VOLATILE_SPREADS) if self.regime is Regime.VOLATILE else 1
        mid = round(x)
        if mid == self.mid_ticks and spread == self.spread:
            return False
        self.mid_ticks = mid
        self.spread = spread
        self._bid = self.tick_size * mid
        self._ask = self.tick_size * (mid + spread)
        return True


class SimMarket:
    """Price models per contract, made on first use; deterministic given `seed`."""

    def __init__(
        self,
        *,
        seed: int = 0,
        start_prices: Mapping[str, Decimal] | None = None,
        volatility_scale: float = 1.0,
    ) -> None:
        if volatility_scale < 0:
            raise ValueError(f"volatility_scale must be >= 0, got {volatility_scale}")
        self.seed = seed
        self._starts = dict(START_PRICES)
        if start_prices:
            self._starts.update({root: Decimal(price) for root, price in start_prices.items()})
        self._scale = volatility_scale
        self._books: dict[str, tuple[Contract, PriceModel]] = {}
        self._resumed: dict[str, tuple[int, int]] = {}  # contract key -> (bid ticks, spread)

    def start_price(self, contract: Contract) -> Decimal:
        inst = contract.instrument
        start = self._starts.get(inst.root)
        if start is None and inst.full_size_root is not None:
            start = self._starts.get(inst.full_size_root)
        if start is None:
            raise KeyError(f"no start price for {inst.root}; pass one in start_prices")
        return start

    def resume(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        """Go on from a quote the contract had before a restart, instead of its start price.

        The book is put at this bid and ask when it is first asked for (at once if it already
        runs), so resuming makes no contract active that was not. The anchor of the mean reversion
        stays the start price: an uninterrupted run would still revert there, and a new anchor at
        each restart would let a demo resumed day after day wander off without bound. With a
        half-life of about a day and a half the pull is slow (about 2% of the distance an hour),
        so the resumed market continues, it does not snap back.
        """
        tick = contract.instrument.tick_size
        bid_ticks, bid_rest = divmod(Decimal(bid), tick)
        ask_ticks, ask_rest = divmod(Decimal(ask), tick)
        if bid_rest or ask_rest:
            raise ValueError(
                f"{contract.key} {bid}/{ask} is not on {contract.instrument.root}'s tick grid "
                f"({tick})"
            )
        if not 0 < bid_ticks < ask_ticks:
            raise ValueError(
                f"{contract.key} {bid}/{ask}: the bid must be above 0 and below the ask"
            )
        at = (int(bid_ticks), int(ask_ticks - bid_ticks))
        found = self._books.get(contract.key)
        if found is not None:
            found[1].jump(*at)
        else:
            self._resumed[contract.key] = at

    def book(self, contract: Contract) -> PriceModel:
        """The contract's price model, created the first time it is asked for: at its start price,
        or where `resume` said the contract left off."""
        found = self._books.get(contract.key)
        if found is not None:
            return found[1]
        inst = contract.instrument
        model = PriceModel(
            inst.tick_size,
            self.start_price(contract),
            daily_volatility=DAILY_VOLATILITY.get(inst.product_group, 0.01) * self._scale,
            # A string seed is hashed the same way in every process (unlike hash()).
            rng=random.Random(f"{self.seed}/{contract.key}"),
        )
        resumed = self._resumed.pop(contract.key, None)
        if resumed is not None:
            model.jump(*resumed)
        self._books[contract.key] = (contract, model)
        return model

    def has(self, contract: Contract) -> bool:
        return contract.key in self._books

    def books(self) -> list[tuple[Contract, PriceModel]]:
        """Every active contract with its model, in the order they were first used."""
        return list(self._books.values())
