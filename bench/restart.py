"""Restart time after a long day: a 23-hour CME day at 20 accounts, rebuilt from its journal.

The journal is written the way the runtime writes it (marks per broker, fills and every guard
action per account, a tick when time changes something, snapshots on the runtime's own cadence),
from a seeded synthetic feed: `--marks` quotes a second across ES, NQ, CL and GC for 23 hours, and
about `--fills` fills per account. The day ends just before the next snapshot would be taken, the
worst case for a restart. Then it times, each `--repeat` times on the closed file:

- opening: the one-writer lock and the damage checks (header, tables, SQLite's quick_check, the
  sequence mark), as every start does;
- the restart's rebuild: the last snapshot and the records after it (`Runtime.restore`);
- for comparison (once), a replay of every record, as every restart did before snapshots.

Prints figures; asserts nothing.

    python bench/restart.py [--marks 8] [--fills 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from propdesk.brokers.base import AccountRef
from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.guard import ActionType
from propdesk.domain.protocol import Protocol
from propdesk.resources import load_instruments, load_profiles
from propdesk.runtime.accounts import AccountSetup, LiveAccount, risk_for, setup_from_json
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal, rebuild
from propdesk.runtime.journal.files import close_journal, open_journal
from propdesk.runtime.journal.rebuild import Counters, snapshot_payload
from propdesk.runtime.journal_upkeep import SNAPSHOT_EVERY, SNAPSHOT_EVERY_CLOCK

CT = ZoneInfo("America/Chicago")
DAY_START = datetime(2026, 11, 22, 17, 0, tzinfo=CT)  # Sunday 17:00 CT: Monday's trading day
DAY = timedelta(hours=23)
ACCOUNTS = 20
PROFILES = ("topstep-combine-50k", "apex-eod-50k", "tradeify-growth-50k", "lucid-flex-50k")
CONTRACTS = {"ESZ26": "6000", "NQZ26": "21000", "CLF27": "70", "GCG27": "2400"}


class FixedClock:
    speed = 1.0

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - never awaited here
        raise RuntimeError("the bench clock does not sleep")


def write_day(path: Path, marks_per_second: int, fills_per_account: int) -> dict[str, int]:
    """The day's journal, as the runtime would have written it; returns counts (and timings)."""
    instruments, profiles = load_instruments(), load_profiles()
    rng = random.Random(2026)
    setups = [
        AccountSetup(
            AccountRef("sim", f"D{i:02d}"), profiles.get(PROFILES[i % len(PROFILES)]), Protocol()
        )
        for i in range(ACCOUNTS)
    ]
    accounts = {str(s.ref): LiveAccount(s, risk_for(s)) for s in setups}
    journal = Journal(path)
    for key, account in accounts.items():
        journal.register_account(DAY_START, key, account.config)  # type: ignore[arg-type]
    contracts = {key: instruments.parse(key) for key in CONTRACTS}
    mids = {key: Decimal(price) for key, price in CONTRACTS.items()}
    fill_chance = fills_per_account / DAY.total_seconds()
    counts = {"marks": 0, "fills": 0, "actions": 0, "snapshots": 0}

    def apply(key: str, event: Fill | Mark, now: datetime) -> None:
        """The guard's actions journaled; a flatten closes every position (the kill switch)."""
        risk = accounts[key].risk
        for action in risk.process(event):
            journal.record_action(now, key, action, risk.status.state.name)
            counts["actions"] += 1
            if action.type is not ActionType.FLATTEN:
                continue
            for position in list(risk.ledger.positions.values()):
                side = Side.SELL if position.net > 0 else Side.BUY
                price = mids[position.contract.key]
                close = Fill(now, position.contract, side, abs(position.net), price)
                journal.record_event(key, close)
                counts["fills"] += 1
                risk.process(close)

    snapshot_at, second = DAY_START, 0
    snapshot_times: list[float] = []
    while True:
        now = DAY_START + timedelta(seconds=second)
        if journal.since_snapshot >= SNAPSHOT_EVERY or now - snapshot_at >= SNAPSHOT_EVERY_CLOCK:
            if now >= DAY_START + DAY - SNAPSHOT_EVERY_CLOCK:
                break  # the day ends just before this snapshot: the longest tail a restart meets
            made = time.perf_counter()
            payload = snapshot_payload(
                {k: (a.config, a.risk) for k, a in accounts.items()},  # type: ignore[misc]
                None,
                set(),
                {k: Counters(a.fills, a.flattens, a.locks) for k, a in accounts.items()},
            )
            journal.record_snapshot(now, payload)
            snapshot_times.append(time.perf_counter() - made)
            snapshot_at = now
            counts["snapshots"] += 1
        for n in range(marks_per_second):
            key = rng.choice(list(contracts))
            tick = contracts[key].instrument.tick_size
            mids[key] += tick * rng.randint(-2, 2)
            mark = Mark(
                now + timedelta(microseconds=n), contracts[key], mids[key], mids[key] + tick
            )
            journal.record_mark("sim", mark)
            counts["marks"] += 1
            for account_key in accounts:
                apply(account_key, mark, now)
        for account_key, account in accounts.items():
            if rng.random() >= fill_chance:
                continue
            key = rng.choice(list(contracts))
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            fill_id = f"f{second}-{account_key}"
            fill = Fill(now, contracts[key], side, 1, mids[key], Decimal("1.24"), fill_id)
            journal.record_event(account_key, fill)
            account.fill_ids[fill_id] = now
            counts["fills"] += 1
            apply(account_key, fill, now)
        if second % 60 == 0:
            journal.flush()
        second += 1
    journal.commit(timeout=60)
    counts["records"] = journal.last_seq()
    counts["tail"] = journal.since_snapshot
    counts["snapshot_us_median"] = round(statistics.median(snapshot_times) * 1e6)
    counts["snapshot_us_max"] = round(max(snapshot_times) * 1e6)
    close_journal(journal)
    return counts


def time_restart(path: Path) -> tuple[float, float, int]:
    """(open + damage checks, the restart's rebuild) in seconds, and the accounts rebuilt."""
    profiles = load_profiles()
    began = time.perf_counter()
    journal = open_journal(path)
    opened = time.perf_counter()
    setups = [
        AccountSetup(
            AccountRef("sim", f"D{i:02d}"), profiles.get(PROFILES[i % len(PROFILES)]), Protocol()
        )
        for i in range(ACCOUNTS)
    ]
    runtime = Runtime(
        [],
        setups,
        clock=FixedClock(DAY_START + DAY),
        journal=journal,
        instruments=load_instruments(),
    )
    runtime.restore()
    rebuilt = time.perf_counter()
    count = len(runtime.accounts)
    close_journal(journal)
    return opened - began, rebuilt - opened, count


def time_full_replay(path: Path) -> float:
    journal = Journal(path)
    instruments = load_instruments()
    began = time.perf_counter()
    rebuild(
        journal.records(),
        lambda _ref, config: risk_for(setup_from_json(config)),
        instruments,
        use_snapshots=False,
    )
    took = time.perf_counter() - began
    close_journal(journal)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marks", type=int, default=8, help="marks a second (after coalescing)")
    parser.add_argument("--fills", type=int, default=300, help="fills per account in the day")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="propdesk-restart-") as tmp:
        path = Path(tmp) / "journal.sqlite"
        began = time.perf_counter()
        counts = write_day(path, args.marks, args.fills)
        print(
            f"day written in {time.perf_counter() - began:.0f} s: {counts['records']:,} records "
            f"({counts['marks']:,} marks, {counts['fills']:,} fills, {counts['actions']:,} "
            f"actions, {counts['snapshots']} snapshots), {path.stat().st_size / 1e6:.0f} MB; "
            f"{counts['tail']:,} records after the last snapshot"
        )
        print(
            f"taking a snapshot on the event loop (state of {ACCOUNTS} accounts, JSON): median "
            f"{counts['snapshot_us_median'] / 1000:.1f} ms, max {counts['snapshot_us_max'] / 1000:.1f} ms"
        )
        opens, rebuilds = [], []
        for _ in range(args.repeat):
            opened, rebuilt, accounts = time_restart(path)
            opens.append(opened)
            rebuilds.append(rebuilt)
        full = time_full_replay(path)  # once: it is the slow comparison
        total = [o + r for o, r in zip(opens, rebuilds, strict=True)]
        print(f"restart of {accounts} accounts, median of {args.repeat}:")
        print(f"  open + damage checks:            {statistics.median(opens):6.2f} s")
        print(f"  rebuild from the last snapshot:  {statistics.median(rebuilds):6.2f} s")
        print(f"  restart total:                   {statistics.median(total):6.2f} s")
        print(f"  (replay of every record, before: {full:6.2f} s, once)")


if __name__ == "__main__":
    main()
