"""Breach latency: from the quote that crosses a floor to the flatten requests being sent.

20 accounts each hold 1 ES on the simulator; a quote that takes one account through its daily floor is
put into the runtime's inbox (as an adapter's pump does) while the other accounts' quotes keep
arriving. The clock starts at the put and stops when the kill switch has sent that account's cancel
and close requests: the inbox wake-up, the journal write and commit, the ledger, the floors, the
guard and the kill switch's dispatch. Prints p50/p99 over many breaches; asserts nothing.

    python bench/breach_latency.py [--breaches N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from propdesk.brokers.base import OrderRequest, Quote
from propdesk.brokers.sim import SimBroker, SimExchange, front_month
from propdesk.domain.account import calendar_for
from propdesk.domain.events import Mark, Side
from propdesk.domain.guard import GuardState
from propdesk.domain.protocol import Protocol
from propdesk.resources import load_instruments, load_profiles
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import FlattenFinished, Notice

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=CT)
ACCOUNTS = 20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--breaches", type=int, default=200)
    args = parser.parse_args()
    instruments, profiles = load_instruments(), load_profiles()
    clock = ScaledClock(OPEN, speed=1.0)
    profile = profiles.get("topstep-combine-50k")
    exchange = SimExchange(instruments, calendar_for(profile), clock, seed=9)
    refs = [exchange.open_account(f"B{i:02d}", Decimal(50_000)) for i in range(ACCOUNTS)]
    broker = SimBroker(exchange)
    strategy = SimBroker(exchange, name="strategy", accounts=refs)
    es = front_month(instruments.instrument("ES"), OPEN)
    # Firm numbers only, so the breach is the firm's daily floor and nothing trips earlier.
    setups = [AccountSetup(r, profile, Protocol.none()) for r in refs]
    latencies: list[float] = []
    folded = 0
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(Path(folder) / "breach.sqlite")
        runtime = Runtime([broker], setups, clock=clock, journal=journal, instruments=instruments)
        done: asyncio.Queue[FlattenFinished] = asyncio.Queue()

        def on_notice(notice: Notice) -> None:
            if isinstance(notice, FlattenFinished):
                done.put_nowait(notice)

        runtime.notices.register(on_notice)
        exchange.start()
        await strategy.connect()
        await runtime.start()
        try:
            for n in range(args.breaches):
                ref = refs[n % ACCOUNTS]
                account = runtime.accounts[str(ref)]
                if account.risk.status.state is not GuardState.ACTIVE:
                    runtime.unlock(account.key, confirmed=True)
                await strategy.place(ref, OrderRequest(es, Side.BUY, 1))
                while not account.risk.ledger.positions:
                    await asyncio.sleep(0.001)
                bid = exchange.quote(es).mark.bid  # type: ignore[union-attr]
                crash = bid - 30  # −30 points × $50 = −1,500: through the $1,000 daily floor
                mark = Mark(clock.now(), es, crash, crash + Decimal("0.25"))
                # The venue keeps quoting ES: a real quote arriving before the drain folds the
                # crash quote away (newest wins, as it should). Such rounds are put again.
                for _ in range(20):
                    started = time.perf_counter()
                    runtime.inbox.put("sim", Quote(mark))
                    try:
                        finished = await asyncio.wait_for(done.get(), 1.0)
                        break
                    except TimeoutError:
                        folded += 1
                else:
                    raise RuntimeError("the crash quote never reached the guard")
                # The crash quote was the whole market's: put the venue's real quote back before
                # the next account buys, or it would be marked through its floor on arrival.
                runtime.inbox.put("sim", exchange.quote(es))  # type: ignore[arg-type]
                result = runtime.killswitch._running[ref].result()
                assert finished.account == str(ref)
                assert finished.flat
                assert result.issued is not None
                latencies.append(result.issued - started)
                # The close filled at the venue's real price, not the injected one: after a confirmed
                # unlock (next round) the account is back above its floor.
        finally:
            await runtime.stop()
            await strategy.close()
            await exchange.stop()
            journal.close()
    ms = [1000 * x for x in latencies]
    print(
        f"breach latency, quote crossing the floor → flatten requests sent ({len(ms)} breaches, "
        f"{ACCOUNTS} accounts): p50 {statistics.median(ms):.3f} ms, p99 {pct(ms, 0.99):.3f} ms, "
        f"max {max(ms):.3f} ms; crash quotes folded into a newer venue quote and put again: "
        f"{folded}"
    )


if __name__ == "__main__":
    asyncio.run(main())
