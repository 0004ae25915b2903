"""Kill latency on the simulator: 20 accounts × 3 positions × 10 working orders, FLATTEN ALL.

Two figures per round, from the kill call (`Runtime.kill`, the path the button and the terminal use:
journal, guard, kill switch):
- issued:   until the last cancel/close request of the last account has been sent;
- verified: until the last account has been read back flat from the broker.
Runs with simulated broker latency 0 and 20 ms, with the simulator's native cancel-all/flatten and
with them emulated (one request per order and per contract, as on Tradovate or ProjectX).
Prints p50/p99; asserts nothing (timing is not a test).

    python bench/kill_latency.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from propdesk.brokers.base import (
    AccountRef,
    Broker,
    BrokerPosition,
    Capability,
    OrderRequest,
    OrderType,
    WorkingOrder,
)
from propdesk.brokers.sim import SimBroker, SimExchange, front_month
from propdesk.domain.account import calendar_for
from propdesk.domain.events import Side
from propdesk.domain.protocol import Protocol
from propdesk.resources import load_instruments, load_profiles
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=CT)
ACCOUNTS, ORDERS = 20, 10
ROOTS = ("ES", "NQ", "CL")


class EmulatedSimBroker(SimBroker):
    """The simulator without native account-wide calls: one request per order and per contract."""

    capabilities = frozenset({Capability.LIQUIDATE_CONTRACT, Capability.MARKET_DATA})

    async def cancel_all(self, account: AccountRef, orders: Iterable[WorkingOrder] = ()) -> None:
        await Broker.cancel_all(self, account, orders)

    async def flatten(self, account: AccountRef, positions: Iterable[BrokerPosition] = ()) -> None:
        await Broker.flatten(self, account, positions)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one_setup(
    latency_ms: float, emulated: bool, rounds: int, folder: Path
) -> tuple[list[float], list[float], int]:
    instruments, profiles = load_instruments(), load_profiles()
    clock = ScaledClock(OPEN, speed=1.0)
    profile = profiles.get("topstep-combine-150k")
    exchange = SimExchange(instruments, calendar_for(profile), clock, seed=5)
    refs = [exchange.open_account(f"K{i:02d}", Decimal(150_000)) for i in range(ACCOUNTS)]
    cls = EmulatedSimBroker if emulated else SimBroker
    broker = cls(exchange, latency_ms=latency_ms)
    strategy = SimBroker(exchange, name="strategy", accounts=refs)
    contracts = [front_month(instruments.instrument(r), OPEN) for r in ROOTS]
    # No user levels: the bench measures the kill, not the guard stopping the setup trades.
    setups = [AccountSetup(r, profile, Protocol.none()) for r in refs]
    journal = Journal(folder / f"kill-{latency_ms}-{emulated}.sqlite")
    runtime = Runtime([broker], setups, clock=clock, journal=journal, instruments=instruments)
    exchange.start()
    await strategy.connect()
    await runtime.start()
    issued, verified, requests = [], [], 0
    try:
        for _ in range(rounds):
            for ref in refs:
                for contract in contracts:
                    await strategy.place(ref, OrderRequest(contract, Side.BUY, 1))
                    bid = exchange.quote(contract).mark.bid  # type: ignore[union-attr]
                for n in range(ORDERS):
                    contract = contracts[n % len(contracts)]
                    bid = exchange.quote(contract).mark.bid  # type: ignore[union-attr]
                    far = bid - contract.instrument.tick_size * (200 + n)
                    await strategy.place(
                        ref, OrderRequest(contract, Side.BUY, 1, OrderType.LIMIT, limit_price=far)
                    )
            # Let the runtime see every fill and working order before the kill.
            while len(runtime.inbox) or any(
                len(a.orders) < ORDERS or len(a.risk.ledger.positions) < len(ROOTS)
                for a in runtime.accounts.values()
            ):
                await asyncio.sleep(0.001)
            started = time.perf_counter()
            results = await runtime.kill(FlattenScope(all=True), reason="bench")
            assert all(r.flat for r in results), [r.detail for r in results if not r.flat]
            issued.append(max(r.issued for r in results if r.issued) - started)  # type: ignore[operator]
            verified.append(max(r.verified for r in results if r.verified) - started)  # type: ignore[operator]
            requests = ACCOUNTS * (ORDERS + len(ROOTS)) if emulated else ACCOUNTS * 2
            for account in runtime.accounts.values():
                runtime.unlock(account.key, confirmed=True)
    finally:
        await runtime.stop()
        await strategy.close()
        await exchange.stop()
        journal.close()
    return issued, verified, requests


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(
        f"kill latency: {ACCOUNTS} accounts × {len(ROOTS)} positions × {ORDERS} working orders, "
        f"{args.rounds} rounds each (ms from the kill call)"
    )
    print(
        f"{'broker latency':>15} {'account-wide calls':>19} {'requests':>9} "
        f"{'issued p50':>11} {'issued p99':>11} {'verified p50':>13} {'verified p99':>13}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for latency in (0.0, 20.0):
            for emulated in (False, True):
                issued, verified, requests = await one_setup(
                    latency, emulated, args.rounds, Path(folder)
                )
                print(
                    f"{latency:>12.0f} ms {'emulated' if emulated else 'native':>19} {requests:>9} "
                    f"{1000 * statistics.median(issued):>11.2f} {1000 * pct(issued, 0.99):>11.2f} "
                    f"{1000 * statistics.median(verified):>13.2f} {1000 * pct(verified, 0.99):>13.2f}"
                )


if __name__ == "__main__":
    asyncio.run(main())
