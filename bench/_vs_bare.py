"""Shared by the broker kill benches (kill_latency_<broker>.py): the simulated morning, the contracts
each account holds, the runtime watching them and one kill round, and the report of propdesk beside
the bare client. Not a bench itself: `./dev bench` skips files starting with an underscore."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from propdesk.brokers.base import AccountRef, Broker
from propdesk.domain.clock import Clock
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.resources import load_profiles
from propdesk.runtime.accounts import AccountSetup, LiveAccount
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=CT)  # a Tuesday morning, market open
ROOTS = {"ES": Decimal(6000), "NQ": Decimal(21000), "CL": Decimal(70)}  # root → starting price


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(ours: list[float], floor: list[float]) -> None:
    """p50/p99 of both, in ms, and their ratio against the goal (≤ 2× the bare client)."""
    for label, values in (("propdesk", ours), ("bare client", floor)):
        print(
            f"{label:>12}: p50 {1000 * statistics.median(values):8.2f} ms   "
            f"p99 {1000 * pct(values, 0.99):8.2f} ms"
        )
    print(
        f"{'ratio':>12}: p50 {statistics.median(ours) / statistics.median(floor):8.2f} ×   "
        f"p99 {pct(ours, 0.99) / pct(floor, 0.99):8.2f} ×   (goal ≤ 2×)"
    )


def watched(
    broker: Broker,
    names: Sequence[str],
    *,
    clock: Clock,
    instruments: InstrumentBook,
    journal_path: Path,
) -> tuple[Runtime, Journal]:
    """The runtime over `broker`'s accounts, with no user levels: the bench measures the kill."""
    profile = load_profiles().get("topstep-combine-150k")
    setups = [AccountSetup(AccountRef(broker.name, n), profile, Protocol.none()) for n in names]
    journal = Journal(journal_path)
    runtime = Runtime([broker], setups, clock=clock, journal=journal, instruments=instruments)
    return runtime, journal


async def kill_round(runtime: Runtime, loaded: Callable[[LiveAccount], bool]) -> float:
    """Once the runtime sees every account `loaded`: FLATTEN ALL, every account verified flat, then
    unlocked for the next round. Returns seconds from the call to the last account verified."""
    while len(runtime.inbox) or not all(loaded(a) for a in runtime.accounts.values()):
        await asyncio.sleep(0.001)
    started = time.perf_counter()
    results = await runtime.kill(FlattenScope(all=True), reason="bench")
    assert all(r.flat for r in results), [r.detail for r in results if not r.flat]
    verified = max(r.verified for r in results if r.verified) - started  # type: ignore[operator]
    for account in runtime.accounts.values():
        runtime.unlock(account.key, confirmed=True)
    return verified
