"""The console under a firehose: frame time, event-loop lag, and the kill with and without the window.

20 simulator accounts, each holding 3 positions and 10 working orders (bench/kill_latency.py's
`KillDesk`), quoted by a firehose of 10,000 marks per second spread over the contracts they hold. The
firehose puts `Quote`s into the runtime's inbox exactly as an adapter's pump does, paced by the
event loop's clock: every `--batch-ms` it puts however many marks are due since it started (50 a
batch at the defaults), never a sleep per mark. It runs on the loop's one thread, as a pump would.
The inbox coalesces quotes per contract, so the runtime applies the newest quote of each contract
once per drain; the bench prints how many marks were put, how many the inbox folded away, and checks
that every account's numbers are fresh.

Part 1, frames. The console's `MainWindow` at 1920×1080 on the offscreen platform, on the qasync
loop as `propdesk` runs it, every account's chart series pre-filled with `--history-hours` of
samples at one a second (the most the bridge keeps: a selected account late in the day draws 82,800
points). For `--seconds`, each frame of the 100 ms frame timer is measured:
- tick: `Bridge.tick` from start to return. It reads every account, samples its chart history,
  and emits `frame`, whose slot (`MainWindow._on_frame`, a direct connection) refreshes the header, every
  card, the chart (`setData` with clip-to-view and peak downsampling) and the banner. The class
  method is wrapped before the window is built, so the frame timer calls the wrapper.
- paint: the repaint the frame causes. Widgets only mark themselves dirty; Qt paints later, when
  the loop delivers the top-level window's `UpdateRequest` event: the backing store then paints
  every dirty widget (pyqtgraph's view included) into its raster image and flushes it. The bench's
  window subclass times `event()` for that event type and charges the time to the current frame.
  `--check-paints` proves the method on the spot: an application-wide event filter counts every
  `Paint` event and those delivered outside a measured repaint (expected: none; only the first
  show, before the measurement, paints synchronously). Offscreen has no compositor and no vsync:
  this is the CPU cost of painting, which is what a frame takes from the loop that also runs the
  kill switch.
- frame work = tick + paint, in wall time: the goal is p99 ≤ 33 ms (30 frames a second possible).
  The same in CPU time of the loop's thread is printed beside it: on a shared machine, wall time
  also holds the time the thread waited for a CPU (the load average is printed too).
- frame latency: from the tick's start to the end of its last paint, so it also holds whatever the
  loop ran in between (the drain, the firehose, the journal).
- timer lateness: the interval between two frame ticks minus 100 ms: how late the frame timer
  fires when the loop is busy (Qt's coarse timers may also fire up to 5 ms early).
`--full-repaint` adds `window.repaint()` after every tick, counted as paint (all 1920×1080 pixels
repainted at once, not just the dirty widgets): the upper bound of a frame's paint, e.g. when the
window is uncovered.

Part 2, the kill (the same FLATTEN ALL as bench/kill_latency.py, `--rounds` rounds each, a random
wait of up to one frame before each so kills land anywhere in the frame cycle):
- headless, asyncio's own loop, no firehose: bench/kill_latency.py's figure;
- headless, asyncio's loop, under the firehose: the baseline for the goal;
- qasync loop, no window, under the firehose: what the Qt event loop alone costs;
- the console: window drawing under the firehose, the kill started by clicking FLATTEN ALL (the
  button's slot creates the task on the loop, as a user's click does).
Figures are ms from the call to the last request sent (issued) and to the last account read back
flat (verified). With the default 30 rounds a p99 is close to the maximum of the rounds, and one desk
against one desk is within the noise between identical desks (±20% seen): bench/kill_parity.py makes
that comparison properly (alternated desks, pooled rounds, bootstrap intervals) and gives the kill
goal's verdict. Prints figures and whether the frame goal is met; asserts nothing.

    python bench/ui_firehose.py [--seconds S] [--rounds N] [--rate MARKS_PER_S] [--batch-ms MS]
                                [--history-hours H] [--latency-ms MS] [--emulated] [--full-repaint]
                                [--check-paints]
"""

from __future__ import annotations

import os

# Before anything imports Qt: the platform, and the binding qasync must pick.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
from kill_latency import ACCOUNTS, ORDERS, ROOTS, KillDesk, pct
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from propdesk.brokers.base import Quote
from propdesk.brokers.sim import SimExchange
from propdesk.domain.events import Mark
from propdesk.domain.instruments import Contract
from propdesk.runtime.engine import Runtime
from propdesk.runtime.killswitch import FlattenResult
from propdesk.ui.app import create_app
from propdesk.ui.bridge import FRAME_MS, Bridge, Frame
from propdesk.ui.loop import ConsoleLoop
from propdesk.ui.main_window import MainWindow

WIDTH, HEIGHT = 1920, 1080
GOAL_FRAME_MS = 33.0
WARM_UP = 2.0  # real seconds of frames not counted: first layouts, font caches, first chart fit
WALK_TICKS = 8  # the firehose's quotes wander this many ticks around the venue's bid
FRESH = 2.0  # clock seconds: an account whose last mark is older did not get the firehose


# -- the firehose ---------------------------------------------------------------------------------
class MarkFirehose:
    """Quotes into the runtime's inbox at `rate` a second of the loop's clock, one batch per wake-up."""

    def __init__(
        self,
        runtime: Runtime,
        exchange: SimExchange,
        contracts: Sequence[Contract],
        *,
        rate: float,
        batch_seconds: float,
        seed: int = 11,
    ) -> None:
        self._runtime = runtime
        self._exchange = exchange
        self._contracts = list(contracts)
        self.rate = rate
        self.batch_seconds = batch_seconds
        rng = random.Random(seed)
        # A fixed cycle of offsets (in ticks) around the venue's bid: prices move every mark, stay
        # on the tick grid, and never run off (the bench measures drawing, not breaches).
        self._walk = [rng.randint(-WALK_TICKS, WALK_TICKS) for _ in range(4096)]
        self.sent = 0
        self.batches = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mark firehose")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            await asyncio.sleep(self.batch_seconds)
            due = int((loop.time() - started) * self.rate)
            if due > self.sent:
                self._put(due - self.sent)

    def _put(self, n: int) -> None:
        now = self._runtime.clock.now()
        put = self._runtime.inbox.put
        broker = next(iter(self._runtime.brokers))
        contracts, walk = self._contracts, self._walk
        steps: list[tuple[Decimal, list[Decimal]]] = []
        for contract in contracts:
            tick = contract.instrument.tick_size
            quote = self._exchange.quote(contract)
            bid = quote.mark.bid if quote is not None else None
            assert bid is not None, f"{contract.key}: the venue has no quote (market closed?)"
            steps.append((tick, [bid + tick * k for k in range(-WALK_TICKS, WALK_TICKS + 1)]))
        first, count = self.sent, len(contracts)
        for k in range(first, first + n):
            c = k % count
            tick, prices = steps[c]
            bid = prices[walk[k % len(walk)] + WALK_TICKS]
            put(broker, Quote(Mark(now, contracts[c], bid, bid + tick)))
        self.sent += n
        self.batches += 1


@dataclass
class FeedCount:
    """What the firehose and the inbox did over one phase."""

    seconds: float
    sent: int
    received: int
    coalesced: int
    batches: int

    @property
    def applied(self) -> int:
        return self.received - self.coalesced


class FeedWatch:
    def __init__(self, firehose: MarkFirehose, runtime: Runtime) -> None:
        self._firehose, self._runtime = firehose, runtime
        self._at = (0.0, 0, 0, 0, 0)

    def mark(self) -> None:
        inbox = self._runtime.inbox
        f = self._firehose
        self._at = (time.perf_counter(), f.sent, inbox.received, inbox.coalesced, f.batches)

    def count(self) -> FeedCount:
        inbox = self._runtime.inbox
        f = self._firehose
        t, sent, received, coalesced, batches = self._at
        return FeedCount(
            time.perf_counter() - t,
            f.sent - sent,
            inbox.received - received,
            inbox.coalesced - coalesced,
            f.batches - batches,
        )


# -- measuring frames -----------------------------------------------------------------------------
@dataclass
class FrameTiming:
    started: float
    started_cpu: float
    tick: float = 0.0
    tick_cpu: float = 0.0
    paint: float = 0.0
    paint_cpu: float = 0.0
    paints: int = 0
    done: float = 0.0  # end of its tick, then of its last paint
    lateness: float | None = None


@dataclass
class FrameMeter:
    """Frame timings by phase: ticks come from the wrapped `Bridge.tick`, paints from the window."""

    phase: str | None = None
    frames: dict[str, list[FrameTiming]] = field(default_factory=dict)
    full_repaint: Callable[[], None] | None = None
    painting: bool = False  # inside a measured repaint
    _open: FrameTiming | None = None
    _last_start: float | None = None

    def tick_started(self) -> float:
        now = time.perf_counter()
        self._close()
        timing = FrameTiming(now, time.thread_time())
        if self._last_start is not None:
            timing.lateness = now - self._last_start - FRAME_MS / 1000
        self._last_start = now
        self._open = timing
        return now

    def tick_finished(self, started: float) -> None:
        timing = self._open
        if timing is not None:
            timing.done = time.perf_counter()
            timing.tick = timing.done - started
            timing.tick_cpu = time.thread_time() - timing.started_cpu
        if self.full_repaint is not None:
            self.measure_paint(self.full_repaint)

    def measure_paint(self, paint: Callable[[], object]) -> None:
        if self.painting:  # `repaint()` sends its UpdateRequest inside: counted once, outside
            paint()
            return
        started, cpu = time.perf_counter(), time.thread_time()
        self.painting = True
        try:
            paint()
        finally:
            self.painting = False
            self.painted(started, time.perf_counter(), time.thread_time() - cpu)

    def painted(self, started: float, finished: float, cpu: float) -> None:
        timing = self._open
        if timing is not None:
            timing.paint += finished - started
            timing.paint_cpu += cpu
            timing.paints += 1
            timing.done = finished

    def _close(self) -> None:
        timing, self._open = self._open, None
        if timing is not None and self.phase is not None:
            self.frames.setdefault(self.phase, []).append(timing)


METER = FrameMeter()


@contextlib.contextmanager
def measured_ticks() -> Iterator[None]:
    """Every `Bridge.tick` (the frame timer's slot) timed into METER while inside."""
    original = Bridge.tick

    def tick(self: Bridge) -> Frame:
        started = METER.tick_started()
        frame = original(self)
        METER.tick_finished(started)
        return frame

    Bridge.tick = tick  # type: ignore[method-assign]
    try:
        yield
    finally:
        Bridge.tick = original  # type: ignore[method-assign]


class MeasuredWindow(MainWindow):
    """The console's window; the time it spends painting (its `UpdateRequest`s) goes to METER."""

    def event(self, event: QEvent) -> bool:
        if event.type() != QEvent.Type.UpdateRequest:
            return super().event(event)
        handled = False

        def paint() -> None:
            nonlocal handled
            handled = super(MeasuredWindow, self).event(event)

        METER.measure_paint(paint)
        return handled


class PaintAudit(QObject):
    """Every `Paint` event in the application, and those outside a measured repaint."""

    def __init__(self) -> None:
        super().__init__()
        self.paints = 0
        self.unmeasured = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
            if not METER.painting:
                self.unmeasured += 1
        return False


def prefill_history(window: MainWindow, hours: float) -> int:
    """Every account's chart samples as late in a session: one a clock second for `hours`, up to now.

    Through the series' own `append`, with the columns `Bridge.tick` samples: equity first, then the
    day's P&L (when the bridge keeps it). A random walk that ends at the account's numbers now.
    """
    bridge = window.bridge
    now = bridge.runtime.clock.now().timestamp()
    count = int(hours * 3600)
    times = (now - count + np.arange(count, dtype=np.float64)).tolist()
    rng = np.random.default_rng(3)
    for key, account in bridge.runtime.accounts.items():
        view = account.risk.view()
        series = bridge.series(key)
        columns = getattr(series, "columns", 1)
        tips = [float(view.equity), float(view.day_pnl)] + [0.0] * max(0, columns - 2)
        walk = np.cumsum(rng.normal(0.0, 6.0, count))
        walk -= walk[-1]
        rows = np.column_stack([tip + walk for tip in tips[:columns]]).tolist()
        for t, row in zip(times, rows, strict=True):
            series.append(t, *row)
    return count


# -- figures --------------------------------------------------------------------------------------
def ms_row(label: str, seconds: Sequence[float]) -> str:
    if not seconds:
        return f"  {label:<46} {'-':>8} {'-':>8} {'-':>8}"
    ms = [1000 * s for s in seconds]
    return f"  {label:<46} {statistics.median(ms):>8.2f} {pct(ms, 0.99):>8.2f} {max(ms):>8.2f}"


def print_frames(title: str, frames: list[FrameTiming], busy: float, wall: float) -> float:
    """Prints one phase's frame figures; returns the frame-work p99 in ms (wall time)."""
    work = [f.tick + f.paint for f in frames]
    print(f"{title}: {len(frames)} frames in {wall:.1f} s  (ms)   p50      p99      max")
    print(ms_row("frame work = tick + paint (wall time)", work))
    print(ms_row("  tick: read, sample, refresh every widget", [f.tick for f in frames]))
    print(ms_row("  paint: the repaint it caused", [f.paint for f in frames]))
    print(
        ms_row(
            "frame work, CPU time of the loop's thread", [f.tick_cpu + f.paint_cpu for f in frames]
        )
    )
    print(
        ms_row("frame latency: tick start → last paint done", [f.done - f.started for f in frames])
    )
    print(ms_row("timer lateness: tick interval − 100 ms", [f.lateness or 0.0 for f in frames]))
    paints = sum(f.paints for f in frames)
    over = sum(1 for w in work if 1000 * w > GOAL_FRAME_MS)
    print(
        f"  frames over {GOAL_FRAME_MS:g} ms: {over} of {len(frames)}; "
        f"{paints / max(1, len(frames)):.1f} repaints a frame; the loop's thread was busy "
        f"{100 * busy / wall:.0f}% of the time (Qt, asyncio, runtime, journal and firehose share it); "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    return pct([1000 * w for w in work], 0.99) if work else float("nan")


def print_feed(count: FeedCount, rate: float, runtime: Runtime) -> None:
    now = runtime.clock.now()
    stale = [
        key
        for key, account in runtime.accounts.items()
        if (ts := account.risk.view().ts) is None or (now - ts).total_seconds() > FRESH
    ]
    share = 100 * count.coalesced / count.received if count.received else 0.0
    print(
        f"  firehose: {count.sent / count.seconds:,.0f} marks/s delivered of {rate:,.0f} asked "
        f"({count.sent:,} marks in {count.batches:,} batches over {count.seconds:.1f} s); "
        f"inbox received {count.received:,} events, coalesced {count.coalesced:,} ({share:.1f}%), "
        f"applied {count.applied:,} ({count.applied / count.seconds:,.0f}/s × {ACCOUNTS} accounts); "
        f"accounts with a mark older than {FRESH:g} s: {len(stale)}"
    )


@dataclass
class KillFigures:
    label: str
    issued: list[float]
    verified: list[float]

    def row(self) -> str:
        i = [1000 * x for x in self.issued]
        v = [1000 * x for x in self.verified]
        return (
            f"  {self.label:<44} {statistics.median(i):>10.2f} {pct(i, 0.99):>10.2f} "
            f"{statistics.median(v):>12.2f} {pct(v, 0.99):>12.2f}"
        )


KILL_HEADER = (
    f"  {'setup':<44} {'issued p50':>10} {'issued p99':>10} {'verified p50':>12} "
    f"{'verified p99':>12}"
)


# -- runs -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    seconds: float
    rounds: int
    rate: float
    batch_seconds: float
    history_hours: float
    latency_ms: float
    emulated: bool
    full_repaint: bool
    check_paints: bool
    folder: Path


async def kill_rounds(
    desk: KillDesk,
    rounds: int,
    call: Callable[[], Awaitable[list[FlattenResult]]] | None = None,
) -> tuple[list[float], list[float]]:
    rng = random.Random(17)
    issued, verified = [], []
    for _ in range(rounds):
        await desk.load()
        # Anywhere in the frame cycle, in every setup alike.
        await asyncio.sleep(rng.uniform(0.0, FRAME_MS / 1000))
        first, last = await desk.kill(call)
        issued.append(first)
        verified.append(last)
        desk.unlock_all()
    return issued, verified


async def headless_kills(settings: Settings, firehose: bool) -> KillFigures:
    name = "firehose" if firehose else "quiet"
    desk = KillDesk.build(
        settings.latency_ms, settings.emulated, settings.folder / f"headless-{name}.sqlite"
    )
    await desk.start()
    hose = MarkFirehose(
        desk.runtime,
        desk.exchange,
        desk.contracts,
        rate=settings.rate,
        batch_seconds=settings.batch_seconds,
    )
    try:
        if firehose:
            hose.start()
        issued, verified = await kill_rounds(desk, settings.rounds)
    finally:
        await hose.stop()
        await desk.stop()
    label = "headless, asyncio loop, " + ("firehose" if firehose else "no firehose")
    return KillFigures(label, issued, verified)


async def headless(settings: Settings) -> list[KillFigures]:
    return [await headless_kills(settings, firehose=False), await headless_kills(settings, True)]


async def qasync_without_window(settings: Settings) -> KillFigures:
    desk = KillDesk.build(
        settings.latency_ms, settings.emulated, settings.folder / "qasync-bare.sqlite"
    )
    await desk.start()
    hose = MarkFirehose(
        desk.runtime,
        desk.exchange,
        desk.contracts,
        rate=settings.rate,
        batch_seconds=settings.batch_seconds,
    )
    try:
        hose.start()
        issued, verified = await kill_rounds(desk, settings.rounds)
    finally:
        await hose.stop()
        await desk.stop()
    return KillFigures("qasync loop, no window, firehose", issued, verified)


async def console(settings: Settings) -> tuple[KillFigures, float]:
    """The window under the firehose: frames for `seconds`, then the kill rounds by the button."""
    desk = KillDesk.build(
        settings.latency_ms, settings.emulated, settings.folder / "console.sqlite"
    )
    await desk.start()
    runtime = desk.runtime
    window = MeasuredWindow(runtime, label="bench", confirm=lambda _title, _question: True)
    window.resize(WIDTH, HEIGHT)
    window.show()
    if settings.full_repaint:
        METER.full_repaint = window.repaint
    hose = MarkFirehose(
        runtime,
        desk.exchange,
        desk.contracts,
        rate=settings.rate,
        batch_seconds=settings.batch_seconds,
    )
    feed = FeedWatch(hose, runtime)

    async def click_flatten_all() -> list[FlattenResult]:
        before = set(window.kill_tasks)
        window.flatten_all_button.click()
        started = window.kill_tasks - before
        assert len(started) == 1, started
        return await started.pop()

    audit = PaintAudit()
    app = QApplication.instance()
    frame_p99 = float("nan")
    try:
        samples = prefill_history(window, settings.history_hours)
        await desk.load()
        window.start()
        hose.start()
        await asyncio.sleep(WARM_UP)
        if settings.check_paints and app is not None:
            app.installEventFilter(audit)
        chart = window.chart.plot.viewport().size()
        drawn = len(window.bridge.series(window.chart.key or next(iter(runtime.accounts))))
        print(
            f"console: window {window.width()}×{window.height()} ({QApplication.platformName()}), "
            f"chart {chart.width()}×{chart.height()} px drawing {drawn:,} samples "
            f"({samples:,} pre-filled = {settings.history_hours:g} h at 1/s)"
            + ("; every tick also repaints the whole window" if settings.full_repaint else "")
        )
        METER.phase = "steady"
        feed.mark()
        busy, wall = time.thread_time(), time.perf_counter()
        await asyncio.sleep(settings.seconds)
        busy, wall = time.thread_time() - busy, time.perf_counter() - wall
        METER.phase = None
        count = feed.count()
        frame_p99 = print_frames(
            "frames under the firehose", METER.frames.get("steady", []), busy, wall
        )
        print_feed(count, settings.rate, runtime)

        METER.phase = "kill"
        feed.mark()
        busy, wall = time.thread_time(), time.perf_counter()
        issued, verified = await kill_rounds(desk, settings.rounds, click_flatten_all)
        busy, wall = time.thread_time() - busy, time.perf_counter() - wall
        METER.phase = None
        count = feed.count()
        print_frames(
            f"frames during the {settings.rounds} kill rounds (load, FLATTEN ALL, unlock)",
            METER.frames.get("kill", []),
            busy,
            wall,
        )
        print_feed(count, settings.rate, runtime)
        if settings.check_paints:
            print(
                f"paint check: {audit.paints:,} paint events while measured, "
                f"{audit.unmeasured:,} of them outside a measured repaint"
            )
    finally:
        if app is not None:
            app.removeEventFilter(audit)
        await hose.stop()
        window.stop()
        await window.settle()
        await desk.stop()
        window.close_for_good()
        METER.full_repaint = None
    return KillFigures("console: window drawing, firehose, button", issued, verified), frame_p99


async def qt_runs(settings: Settings) -> tuple[KillFigures, KillFigures, float]:
    bare = await qasync_without_window(settings)
    with measured_ticks():
        drawn, frame_p99 = await console(settings)
    return bare, drawn, frame_p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="real seconds of frames")
    parser.add_argument("--rounds", type=int, default=30, help="kill rounds per setup")
    parser.add_argument("--rate", type=float, default=10_000.0, help="marks per second")
    parser.add_argument("--batch-ms", type=float, default=5.0, help="firehose batch interval")
    parser.add_argument("--history-hours", type=float, default=23.0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulated broker latency")
    parser.add_argument("--emulated", action="store_true", help="no native cancel-all/flatten")
    parser.add_argument("--full-repaint", action="store_true", help="repaint all on every tick")
    parser.add_argument("--check-paints", action="store_true", help="count unmeasured paints")
    args = parser.parse_args()
    print(
        f"ui firehose: {ACCOUNTS} accounts × {len(ROOTS)} positions × {ORDERS} working orders, "
        f"{args.rate:,.0f} marks/s over {', '.join(ROOTS)} in batches every {args.batch_ms:g} ms; "
        f"broker latency {args.latency_ms:g} ms, account-wide calls "
        f"{'emulated' if args.emulated else 'native'}"
    )
    with tempfile.TemporaryDirectory(prefix="propdesk-bench-") as folder:
        settings = Settings(
            seconds=args.seconds,
            rounds=args.rounds,
            rate=args.rate,
            batch_seconds=args.batch_ms / 1000,
            history_hours=args.history_hours,
            latency_ms=args.latency_ms,
            emulated=args.emulated,
            full_repaint=args.full_repaint,
            check_paints=args.check_paints,
            folder=Path(folder),
        )
        quiet, hosed = asyncio.run(headless(settings))
        app = create_app(["propdesk-bench"])
        bare, drawn, frame_p99 = asyncio.run(
            qt_runs(settings), loop_factory=lambda: ConsoleLoop(app)
        )
    print(
        f"kill latency, FLATTEN ALL, {args.rounds} rounds each (ms from the call; a random wait of "
        f"up to {FRAME_MS} ms before each); load average {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} CPUs"
    )
    print(KILL_HEADER)
    for figures in (quiet, hosed, bare, drawn):
        print(figures.row())

    def ratio(a: list[float], b: list[float], q: float | None) -> float:
        if q is None:
            return statistics.median(a) / statistics.median(b)
        return pct(a, q) / pct(b, q)

    print(
        "  console / headless under the same firehose: "
        f"issued p50 ×{ratio(drawn.issued, hosed.issued, None):.2f}, "
        f"p99 ×{ratio(drawn.issued, hosed.issued, 0.99):.2f}; "
        f"verified p50 ×{ratio(drawn.verified, hosed.verified, None):.2f}, "
        f"p99 ×{ratio(drawn.verified, hosed.verified, 0.99):.2f}"
    )
    frame_ok = frame_p99 <= GOAL_FRAME_MS
    print(
        f"goal, frame work p99 ≤ {GOAL_FRAME_MS:g} ms: {'met' if frame_ok else 'MISSED'} "
        f"({frame_p99:.2f} ms)"
    )
    print(
        "goal, kill no worse than headless: not judged here (one desk against one desk is within "
        "the noise between desks); run bench/kill_parity.py"
    )


if __name__ == "__main__":
    main()
