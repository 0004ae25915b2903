"""Events per second through ledger + floors + guard, beside the floor of only parsing the same events.

A realistic mix for one core: 20 accounts on four instruments (ES, NQ, CL, GC), quotes walking on the
tick grid, a fill every ~25 events, per-account streams interleaved the way a multi-account runtime sees
them. Prints figures; asserts nothing (timing is not a test).

    python bench/domain_throughput.py [--events N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from propdesk.domain.account import AccountRisk
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import Mark
from propdesk.replay import parse_line
from propdesk.resources import load_instruments, load_profiles

ACCOUNTS = 20
INSTRUMENTS = {
    "ESZ6": ("6000.00", "0.25"),
    "NQZ6": ("21000.00", "0.25"),
    "CLF7": ("70.00", "0.01"),
    "GCG7": ("2400.0", "0.1"),
}
PROFILES = ("topstep-combine-150k", "apex-eod-50k", "tradeify-growth-50k", "ftmo-2step-100k")


def make_lines(n: int, seed: int) -> list[tuple[int, str]]:
    """(account index, JSON line) pairs: the events as a broker feed or a replay file carries them."""
    rng = random.Random(seed)
    prices = {s: Decimal(p) for s, (p, _) in INSTRUMENTS.items()}
    ticks = {s: Decimal(t) for s, (_, t) in INSTRUMENTS.items()}
    positions = [dict.fromkeys(INSTRUMENTS, 0) for _ in range(ACCOUNTS)]
    ts = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)  # 08:30 CT, a normal Tuesday
    step = timedelta(microseconds=200)
    lines = []
    symbols = list(INSTRUMENTS)
    for i in range(n):
        ts += step
        account = rng.randrange(ACCOUNTS)
        symbol = rng.choice(symbols)
        if i % 25 == 0:
            pos = positions[account][symbol]
            # A strategy-like book: at most 2 contracts a side, so most accounts keep trading.
            if pos >= 2:
                side = "sell"
            elif pos <= -2:
                side = "buy"
            else:
                side = rng.choice(["buy", "sell"])
            positions[account][symbol] += 1 if side == "buy" else -1
            price = prices[symbol]
            event = {
                "ts": ts.isoformat(),
                "type": "fill",
                "symbol": symbol,
                "side": side,
                "qty": 1,
                "price": str(price),
                "fee": "1.40",
            }
        else:
            prices[symbol] += ticks[symbol] * rng.choice((-1, 0, 1))
            bid = prices[symbol]
            event = {
                "ts": ts.isoformat(),
                "type": "mark",
                "symbol": symbol,
                "bid": str(bid),
                "ask": str(bid + ticks[symbol]),
            }
        lines.append((account, json.dumps(event)))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    instruments = load_instruments()
    profiles = load_profiles()
    calendar = TradingCalendar()
    lines = make_lines(args.events, args.seed)

    def new_accounts() -> list[AccountRisk]:
        return [
            AccountRisk(profiles.get(PROFILES[i % len(PROFILES)]), calendar=calendar)
            for i in range(ACCOUNTS)
        ]

    # Warm the calendar and parse caches so the figures are the steady state, not start-up.
    warm = new_accounts()
    for account, text in lines[:2_000]:
        warm[account].process(parse_line(text, 0, instruments).event)

    started = time.perf_counter()
    parsed = [
        (account, parse_line(text, n, instruments).event) for n, (account, text) in enumerate(lines)
    ]
    parse_seconds = time.perf_counter() - started

    accounts = new_accounts()
    marks = sum(isinstance(event, Mark) for _, event in parsed)
    started = time.perf_counter()
    actions = 0
    for account, event in parsed:
        actions += len(accounts[account].process(event))
    engine_seconds = time.perf_counter() - started

    accounts = new_accounts()
    started = time.perf_counter()
    for n, (account, text) in enumerate(lines):
        accounts[account].process(parse_line(text, n, instruments).event)
    both_seconds = time.perf_counter() - started

    n = len(lines)
    states: dict[str, int] = {}
    for account in accounts:
        states[account.status.state.name] = states.get(account.status.state.name, 0) + 1
    print(
        f"events: {n:,} ({marks:,} marks, {n - marks:,} fills), {ACCOUNTS} accounts, {len(INSTRUMENTS)} instruments"
    )
    print(f"parse only (JSON line -> domain event):   {n / parse_seconds:12,.0f} events/s")
    print(
        f"ledger + floors + guard (parsed events):   {n / engine_seconds:12,.0f} events/s"
        f"   ({marks / engine_seconds:,.0f} marks/s; {1e6 * engine_seconds / n:.2f} µs/event)"
    )
    print(f"parse + ledger + floors + guard:           {n / both_seconds:12,.0f} events/s")
    print(f"ratio, engine time / parse time:           {engine_seconds / parse_seconds:12.2f}")
    print(f"guard actions emitted: {actions}; final states: {states}")


if __name__ == "__main__":
    main()
