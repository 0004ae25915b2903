"""Memory of a simulated 23-hour session: 20 accounts trading, the console's window, the journal on disk.

The session runs on a stepped clock: simulated time moves one second at a time, as fast as the
machine goes, and every task that waits on the clock (the venue's steps, the runtime's time ticks,
the link watchdogs, the strategy's looks, the kill switch's backoff) wakes when its time comes. After
each simulated second the loop turns a few times (venue step → session → inbox → drain), then:
- the bridge samples every account (`Bridge.tick`, the frame timer's own slot) with the bridge's
  signals blocked, so the histories get one sample per clock second, the most the bridge keeps
  (82,800 per account over 23 h), while the widgets are not redrawn;
- every `--frame-every` simulated seconds the tick is a whole frame: the header, the 20 cards, the
  chart of the selected account (the selection moves to the next account every simulated hour, so
  each chart draws a long history) and the banner refresh, and Qt paints the 1920×1080 window.
The venue moves prices every `--step-seconds` (ES, NQ, MES and CL, the demo's markets), the runtime
applies and journals every quote to all 20 accounts, and the demo's strategy trades every account
through its own session (entries, exits, stubborn losers that run into the floors: fills, locks,
flattens and state changes). The journal is a real SQLite file in a temporary folder.

What is not simulated, said plainly: a real day has ~828,000 frames (10 a second); this run draws one
frame per `--frame-every` simulated seconds. Quotes come at the venue's step rate, not at a busy
feed's thousands a second: the inbox coalesces quotes per contract and nothing is kept per quote (the
journal is on disk), so memory does not grow with the quote rate; bench/ui_firehose.py covers that
rate. The runtime folds the journal's WAL into the database every 5 real seconds; at a few hundred
times real time the WAL file runs far ahead of that (the `WAL MiB` column: disk, not memory). The
figures printed say what was done.

RSS is VmRSS (resident now) and VmHWM (the peak) from /proc/self/status, in MiB, at the start, every
simulated hour and at the end; the goal is ≤ 400 MB. `--tracemalloc` adds Python's own allocation
count and the top allocation sites at the end (slower).

    python bench/ui_memory.py [--hours H] [--step-seconds S] [--frame-every S] [--interval S]
                              [--aggression A] [--seed N] [--tracemalloc]
"""

from __future__ import annotations

import os

# Before anything imports Qt: the platform, and the binding qasync must pick.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import argparse
import asyncio
import heapq
import itertools
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PySide6.QtWidgets import QApplication

from propdesk.brokers.sim import DEMO_ROOTS, SimBroker, SimExchange, front_months
from propdesk.brokers.sim.strategy import DemoStrategy
from propdesk.domain.account import calendar_for
from propdesk.domain.protocol import Protocol
from propdesk.resources import load_instruments, load_profiles
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import FillBooked, FlattenFinished, Notice, StateChanged
from propdesk.ui.app import create_app
from propdesk.ui.loop import ConsoleLoop
from propdesk.ui.main_window import MainWindow

CT = ZoneInfo("America/Chicago")
# A Monday 09:00 CT: the day session, the flat-by cutoffs, the 16:00 close, the halt, the 17:00
# reopen (a new trading day: end-of-day floors move), the night session, up to 08:00 Tuesday.
START = datetime(2026, 11, 23, 9, 0, tzinfo=CT)
ACCOUNTS = 20
PROFILES = ("topstep-combine-50k", "apex-eod-50k", "tradeify-growth-50k", "ftmo-2step-100k")
WIDTH, HEIGHT = 1920, 1080
GOAL_MB = 400.0
SETTLE_ROUNDS = 8  # loop turns after each simulated second: venue step → pump → inbox → drain
MIB = 1 << 20


class SteppedClock:
    """Simulated time that moves only on `advance`; each sleeper wakes when its time is reached."""

    speed = 1.0

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        due = self._now + timedelta(seconds=seconds)
        heapq.heappush(self._sleepers, (due, next(self._order), future))
        await future

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        sleepers = self._sleepers
        while sleepers and sleepers[0][0] <= self._now:
            _due, _n, future = heapq.heappop(sleepers)
            if not future.done():  # a cancelled sleeper (a task stopped) is just dropped
                future.set_result(None)


_PEAK = [0.0]


def memory() -> tuple[float, float]:
    """(VmRSS, peak) of this process in MiB: the peak is the highest VmHWM or VmRSS read so far
    (the kernel syncs these counters lazily, so one read can come out a little under the last)."""
    values: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024 / MIB  # kB
    _PEAK[0] = max(_PEAK[0], values["VmHWM"], values["VmRSS"])
    return values["VmRSS"], _PEAK[0]


@dataclass
class Tally:
    """What the runtime told its subscribers during the session."""

    fills: int = 0
    state_changes: int = 0
    flattens: int = 0
    by_state: dict[str, int] = field(default_factory=dict)

    def __call__(self, notice: Notice) -> None:
        if isinstance(notice, FillBooked):
            self.fills += 1
        elif isinstance(notice, StateChanged):
            self.state_changes += 1
            self.by_state[notice.new.name] = self.by_state.get(notice.new.name, 0) + 1
        elif isinstance(notice, FlattenFinished):
            self.flattens += 1


@dataclass(frozen=True)
class Settings:
    hours: float
    step_seconds: float
    frame_every: int
    interval: float
    aggression: float
    seed: int
    trace: bool
    folder: Path


def file_mib(path: Path) -> float:
    return path.stat().st_size / MIB if path.exists() else 0.0


async def settle() -> None:
    for _ in range(SETTLE_ROUNDS):
        await asyncio.sleep(0)


async def session(settings: Settings) -> None:
    instruments, profiles = load_instruments(), load_profiles()
    clock = SteppedClock(START)
    chosen = [profiles.get(PROFILES[i % len(PROFILES)]) for i in range(ACCOUNTS)]
    calendar = calendar_for(chosen[0])
    exchange = SimExchange(
        instruments, calendar, clock, seed=settings.seed, step_seconds=settings.step_seconds
    )
    refs = [
        exchange.open_account(f"M{i:02d}", profile.start_balance)
        for i, profile in enumerate(chosen)
    ]
    broker = SimBroker(exchange)
    strategy = DemoStrategy(
        SimBroker(exchange, name="strategy", accounts=refs, seed=settings.seed + 1),
        refs,
        front_months(instruments, DEMO_ROOTS, START),
        clock,
        seed=settings.seed,
        aggression=settings.aggression,
        interval=settings.interval,
    )
    setups = [
        AccountSetup(ref, profile, Protocol(), name=f"{profile.firm} {ref.account_id}")
        for ref, profile in zip(refs, chosen, strict=True)
    ]
    path = settings.folder / "journal.sqlite"
    journal = Journal(path)
    runtime = Runtime([broker], setups, clock=clock, journal=journal, instruments=instruments)
    tally = Tally()
    runtime.notices.register(tally)
    exchange.start()
    await runtime.start()
    strategy.start()
    window = MainWindow(runtime, label="bench", confirm=lambda _title, _question: True)
    window.resize(WIDTH, HEIGHT)
    window.show()
    # No window.start(): the 100 ms real-time frame timer would sample once per ~50 simulated
    # seconds here. Frames are driven by the simulated clock below instead.
    bridge = window.bridge
    keys = list(runtime.accounts)
    await settle()
    rss, hwm = memory()
    print(
        f"start: RSS {rss:7.1f} MiB, peak {hwm:7.1f} MiB (Qt, pyqtgraph, the runtime, the simulator "
        f"and the window built and shown; no history yet)",
        flush=True,
    )
    print(
        f"{'sim hour':>8} {'clock (CT)':>16} {'RSS MiB':>8} {'peak MiB':>9} {'samples/acct':>13} "
        f"{'frames':>7} {'fills':>7} {'states':>7} {'flattens':>8} {'db MiB':>7} {'WAL MiB':>8} "
        f"{'real s':>7}"
    )
    total = int(settings.hours * 3600)
    frames = 0
    baseline: tracemalloc.Snapshot | None = None
    began = time.perf_counter()
    try:
        for second in range(1, total + 1):
            clock.advance(1.0)
            await settle()
            if second % settings.frame_every == 0:
                bridge.tick()  # a whole frame: every widget refreshes, Qt paints on the next turn
                frames += 1
            else:
                blocked = bridge.blockSignals(True)
                try:
                    bridge.tick()  # the histories' sample only: nobody redraws
                finally:
                    bridge.blockSignals(blocked)
            if second % 3600 == 0:
                hour = second // 3600
                window.select_account(keys[hour % len(keys)])
                if settings.trace and hour == 1:
                    baseline = tracemalloc.take_snapshot()  # growth is measured from here
                samples = [len(bridge.series(k)) for k in keys]
                rss, hwm = memory()
                print(
                    f"{hour:>8} {clock.now().astimezone(CT):%a %H:%M:%S}".rjust(25)
                    + f" {rss:8.1f} {hwm:9.1f} {min(samples):>6,}–{max(samples):<6,} "
                    f"{frames:>7,} {tally.fills:>7,} {tally.state_changes:>7,} "
                    f"{tally.flattens:>8,} {file_mib(path):>7.1f} "
                    f"{file_mib(Path(f'{path}-wal')):>8.1f} "
                    f"{time.perf_counter() - began:>7.1f}",
                    flush=True,
                )
        await settle()
    finally:
        window.stop()
        await window.settle()
        await strategy.stop()
        await runtime.stop()
        await exchange.stop()
        window.close_for_good()
        records = journal.last_seq()
        journal.close()
    real = time.perf_counter() - began
    rss, hwm = memory()
    samples = [len(bridge.series(k)) for k in keys]
    stats = strategy.stats
    print(
        f"end: RSS {rss:.1f} MiB, peak {hwm:.1f} MiB after {settings.hours:g} simulated hours in "
        f"{real:.0f} real s ({settings.hours * 3600 / real:,.0f}× real time)"
    )
    print(
        f"  simulated: {ACCOUNTS} accounts ({', '.join(PROFILES)}), {len(DEMO_ROOTS)} markets "
        f"stepped every {settings.step_seconds:g} clock s; chart samples per account "
        f"{min(samples):,}–{max(samples):,}; {frames:,} whole frames drawn (one per "
        f"{settings.frame_every} clock s); inbox {runtime.inbox.received:,} events "
        f"({runtime.inbox.coalesced:,} quotes coalesced); strategy: {stats.entries:,} entries, "
        f"{stats.exits:,} exits, {stats.rejected:,} rejected; runtime: {tally.fills:,} fills, "
        f"{tally.state_changes:,} state changes {tally.by_state}, {tally.flattens:,} flattens"
    )
    print(f"  journal: {records:,} records, {file_mib(path):.1f} MiB once closed (WAL folded in)")
    if settings.trace:
        current, peak = tracemalloc.get_traced_memory()
        print(f"  tracemalloc: Python heap now {current / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB")
        snapshot = tracemalloc.take_snapshot()
        print("  largest allocation sites now (numpy buffers count in full, touched or not):")
        for stat in snapshot.statistics("lineno")[:10]:
            print(f"    {stat.size / MIB:8.2f} MiB {stat.count:>9,} blocks  {stat.traceback}")
        if baseline is not None:
            print("  growth since the end of the first simulated hour:")
            for diff in snapshot.compare_to(baseline, "lineno")[:12]:
                print(
                    f"    {diff.size_diff / MIB:+8.2f} MiB {diff.count_diff:>+9,} blocks  "
                    f"{diff.traceback}"
                )
    if settings.trace:
        print("goal: not judged with --tracemalloc (its own bookkeeping is in the RSS)")
        return
    print(
        f"goal, RSS ≤ {GOAL_MB:g} MB after the session: {'met' if hwm <= GOAL_MB else 'MISSED'} "
        f"(peak {hwm:.1f} MiB, now {rss:.1f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=23.0, help="simulated hours")
    parser.add_argument("--step-seconds", type=float, default=1.0, help="venue step, clock s")
    parser.add_argument(
        "--frame-every", type=int, default=120, help="a whole frame every N clock seconds"
    )
    parser.add_argument("--interval", type=float, default=20.0, help="strategy's look interval")
    parser.add_argument("--aggression", type=float, default=0.6, help="strategy's stubbornness")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python allocations")
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()
    print(
        f"ui memory: a {args.hours:g}-hour session from {START:%a %Y-%m-%d %H:%M} CT, "
        f"{ACCOUNTS} accounts, window {WIDTH}×{HEIGHT} ({os.environ['QT_QPA_PLATFORM']})"
    )
    app: QApplication = create_app(["propdesk-bench"])
    with tempfile.TemporaryDirectory(prefix="propdesk-bench-") as folder:
        settings = Settings(
            hours=args.hours,
            step_seconds=args.step_seconds,
            frame_every=args.frame_every,
            interval=args.interval,
            aggression=args.aggression,
            seed=args.seed,
            trace=args.tracemalloc,
            folder=Path(folder),
        )
        asyncio.run(session(settings), loop_factory=lambda: ConsoleLoop(app))


if __name__ == "__main__":
    main()
