"""Is FLATTEN ALL on the console as fast as headless? Alternated desks, pooled rounds, a bootstrap CI.

The same kill as bench/kill_latency.py (20 simulator accounts × 3 positions × 10 working orders, the
runtime's own session) under the same 10,000 marks/s firehose as bench/ui_firehose.py, in two setups:
- headless: asyncio's own loop, no Qt; the kill is `Runtime.kill`, as `propdesk flatten` calls it;
- console: the qasync loop (`ConsoleLoop`) with the 1920×1080 window drawing 23 h of chart history
  every 100 ms; the kill is a click on FLATTEN ALL, made from Qt's loop as a trader's click arrives
  (not from inside an asyncio callback, where the click's own batch would count against the loop's
  budget for running batches back to back).

Two identical headless desks built one after the other differ at p50 by 5–10% on a quiet machine
and by up to ±20% when the machine is busy (the bench prints each desk's p50), as much as the
difference this bench looks for. So it never compares one desk with one desk: it builds `--pairs`
pairs of desks, alternating which setup goes first, after one warm-up pair that is not counted, and
pools each setup's rounds. The console/headless ratio of each percentile comes with a 95% interval
from a bootstrap that resamples whole desks (the unit that varies), then rounds.

Each round also prints where its time went:
- dispatch: from the call to `Runtime.kill` entered (the console's click, its signal and slot);
- issue: from there to the last cancel/close request sent, for every account;
- verify: from there to the last account read back flat;
- collections: garbage collections that ran inside the kill (the kill switch pauses the automatic
  collector while a flatten is in flight, so this should be 0).

Prints figures and the verdict: "no slower" when every interval reaches down to 1.0 or below, i.e.
this bench cannot tell the console from headless; asserts nothing. The verdict is on the times from
the call, the click included; the same ratios from `Runtime.kill` entered follow, for the kill alone.

    python bench/kill_parity.py [--pairs N] [--rounds R] [--history-hours H] [--seed S]
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import argparse
import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kill_latency import KillDesk, pct
from PySide6.QtCore import QTimer
from ui_firehose import MarkFirehose, prefill_history

from propdesk.runtime.control_server import ControlServer
from propdesk.runtime.engine import Runtime, RuntimeControl
from propdesk.runtime.killswitch import FlattenResult
from propdesk.ui.app import create_app
from propdesk.ui.bridge import FRAME_MS
from propdesk.ui.loop import ConsoleLoop
from propdesk.ui.main_window import MainWindow

RATE, BATCH = 10_000.0, 0.005  # the firehose of bench/ui_firehose.py
WARM_UP = 2.0  # real seconds of frames before a console desk's first round
BOOTSTRAP = 2000
STEPS = ("dispatch", "issue", "verify")


@dataclass
class Round:
    issued: float  # seconds from the call
    verified: float
    dispatch: float
    collections: int
    collected: float  # seconds spent collecting inside the kill

    @property
    def issued_in_kill(self) -> float:
        """From `Runtime.kill` entered: the kill itself, without the click's dispatch."""
        return self.issued - self.dispatch

    @property
    def verified_in_kill(self) -> float:
        return self.verified - self.dispatch


@dataclass
class Setup:
    label: str
    desks: list[list[Round]] = field(default_factory=list)

    def pooled(self, name: str) -> list[float]:
        return [getattr(r, name) for desk in self.desks for r in desk]


class KillTrace:
    """When `Runtime.kill` was entered, and the collections that ran, during a traced kill."""

    def __init__(self) -> None:
        self.active = False
        self.entered = 0.0
        self.collections: list[tuple[float, float]] = []  # (started, seconds)
        self._gc_started = 0.0

    def on_gc(self, phase: str, _info: dict[str, Any]) -> None:
        if not self.active:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.collections.append((self._gc_started, time.perf_counter() - self._gc_started))

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = Runtime.kill
        trace = self

        async def kill(self: Runtime, *args: Any, **kwargs: Any) -> list[FlattenResult]:
            trace.entered = time.perf_counter()
            return await original(self, *args, **kwargs)

        Runtime.kill = kill  # type: ignore[method-assign]
        gc.callbacks.append(self.on_gc)
        try:
            yield
        finally:
            gc.callbacks.remove(self.on_gc)
            Runtime.kill = original  # type: ignore[method-assign]


TRACE = KillTrace()
KillCall = Callable[[], Awaitable[tuple[float, list[FlattenResult]]]]
"""Starts FLATTEN ALL; returns when it was asked for (perf_counter) and every account's result."""


async def rounds(desk: KillDesk, count: int, call: KillCall, rng: random.Random) -> list[Round]:
    out = []
    for _ in range(count):
        await desk.load()
        await asyncio.sleep(rng.uniform(0.0, FRAME_MS / 1000))  # anywhere in the frame cycle
        TRACE.collections = []
        TRACE.active = True
        started, results = await call()
        TRACE.active = False
        if not all(r.flat for r in results):
            raise RuntimeError(f"not flat: {[r.detail for r in results if not r.flat]}")
        issued = max(r.issued for r in results if r.issued) - started
        verified = max(r.verified for r in results if r.verified) - started
        # Only those before the verification: the collector paused for the kill runs once after.
        inside = [seconds for at, seconds in TRACE.collections if at < started + verified]
        out.append(Round(issued, verified, TRACE.entered - started, len(inside), sum(inside)))
        desk.unlock_all()
    return out


def firehose(desk: KillDesk) -> MarkFirehose:
    return MarkFirehose(desk.runtime, desk.exchange, desk.contracts, rate=RATE, batch_seconds=BATCH)


async def headless_desk(path: Path, count: int, rng: random.Random) -> list[Round]:
    desk = KillDesk.build(0.0, False, path)
    await desk.start()
    hose = firehose(desk)

    async def call() -> tuple[float, list[FlattenResult]]:
        started = time.perf_counter()
        return started, await desk.kill_call()

    try:
        hose.start()
        return await rounds(desk, count, call, rng)
    finally:
        await hose.stop()
        await desk.stop()


async def console_desk(
    path: Path, count: int, rng: random.Random, history_hours: float
) -> list[Round]:
    desk = KillDesk.build(0.0, False, path)
    await desk.start()
    window = MainWindow(desk.runtime, label="bench", confirm=lambda _title, _question: True)
    window.resize(1920, 1080)
    window.show()
    hose = firehose(desk)

    async def click() -> tuple[float, list[FlattenResult]]:
        clicked: asyncio.Future[tuple[float, asyncio.Task[list[FlattenResult]]]]
        clicked = asyncio.get_running_loop().create_future()

        def press() -> None:
            # From Qt's loop, outside any asyncio callback: where a trader's click arrives.
            before = set(window.kill_tasks)
            started = time.perf_counter()
            window.flatten_all_button.click()
            (task,) = window.kill_tasks - before
            clicked.set_result((started, task))

        QTimer.singleShot(0, press)
        started, task = await clicked
        return started, await task

    try:
        prefill_history(window, history_hours)
        await desk.load()
        window.start()
        hose.start()
        await asyncio.sleep(WARM_UP)
        return await rounds(desk, count, click, rng)
    finally:
        await hose.stop()
        window.stop()
        await window.settle()
        await desk.stop()
        window.close_for_good()


# A client in its own process, as `propdesk flatten` is: one flatten request per line on stdin, and
# for each the perf_counter (CLOCK_MONOTONIC, the same clock in every process) when it was sent.
CONTROL_CLIENT = """
import socket, sys, time
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
replies = sock.makefile("rb")
for _ in sys.stdin:
    sent = time.perf_counter()
    sock.sendall(b'{"id": 1, "cmd": "flatten", "scope": "all"}\\n')
    replies.readline()
    print(repr(sent), flush=True)
"""


async def control_socket_dispatch(folder: Path, count: int, rng: random.Random) -> list[float]:
    """Headless's own manual trigger: from a flatten request sent over the control socket by
    another process to `Runtime.kill` entered (the click's counterpart in the console)."""
    desk = KillDesk.build(0.0, False, folder / "control.sqlite")
    await desk.start()
    server = ControlServer(RuntimeControl(desk.runtime), folder / "control.sock")
    await server.start()
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CONTROL_CLIENT,
        str(server.path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert client.stdin is not None
    assert client.stdout is not None
    out = []
    try:
        for _ in range(count):
            await desk.load()
            await asyncio.sleep(rng.uniform(0.0, FRAME_MS / 1000))
            client.stdin.write(b"flatten\n")
            await client.stdin.drain()
            sent = float(await asyncio.wait_for(client.stdout.readline(), 10.0))
            out.append(TRACE.entered - sent)
            desk.unlock_all()
    finally:
        client.stdin.close()
        await client.wait()
        await server.close()
        await desk.stop()
    return out


def bootstrap_ratio(
    a: Setup, b: Setup, name: str, q: float, rng: random.Random
) -> tuple[float, float, float]:
    """a/b of the q-quantile of `name`, and its 95% interval (desks, then rounds, resampled)."""

    def resample(setup: Setup) -> list[float]:
        desks = [rng.choice(setup.desks) for _ in setup.desks]
        return [getattr(rng.choice(d), name) for d in desks for _ in d]

    ratios = sorted(pct(resample(a), q) / pct(resample(b), q) for _ in range(BOOTSTRAP))
    point = pct(a.pooled(name), q) / pct(b.pooled(name), q)
    return point, pct(ratios, 0.025), pct(ratios, 0.975)


def ms(values: list[float], q: float) -> str:
    return f"{1000 * (statistics.median(values) if q == 0.5 else pct(values, q)):8.3f}"


def report(headless: Setup, console: Setup, control: list[float], seed: int) -> None:
    rounds_each = len(headless.pooled("issued"))
    print(
        f"pooled: {len(headless.desks)} desks a setup, {rounds_each} rounds; ms from the call "
        f"(p50 / p90 / p99); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"  {'':<40} {'issued':>26} {'verified':>26}")
    for setup in (headless, console):
        cells = "   ".join(
            " ".join(ms(setup.pooled(n), q) for q in (0.5, 0.9, 0.99))
            for n in ("issued", "verified")
        )
        print(f"  {setup.label:<40} {cells}")
    print("  desk p50s (the noise between identical desks):")
    for setup in (headless, console):
        each = [statistics.median(r.verified for r in d) * 1000 for d in setup.desks]
        print(
            f"    {setup.label:<38} verified "
            + ", ".join(f"{v:.2f}" for v in each)
            + f"  (spread {min(each):.2f}–{max(each):.2f})"
        )
    print("  where a kill's time goes, p50 ms (mean):")
    for setup in (headless, console):
        dispatch = setup.pooled("dispatch")
        issue = [r.issued - r.dispatch for d in setup.desks for r in d]
        verify = [r.verified - r.issued for d in setup.desks for r in d]
        cells = "  ".join(
            f"{name} {1000 * statistics.median(v):.3f} ({1000 * statistics.mean(v):.3f})"
            for name, v in zip(STEPS, (dispatch, issue, verify), strict=True)
        )
        collections = sum(setup.pooled("collections"))
        collected = 1000 * sum(setup.pooled("collected"))
        print(
            f"    {setup.label:<38} {cells}; collections inside kills: {collections} "
            f"({collected:.1f} ms)"
        )
    print(
        "  headless's own manual trigger, a flatten over the control socket from another process "
        "(`propdesk flatten`): request sent → `Runtime.kill` entered p50 "
        f"{1000 * statistics.median(control):.3f} ms, p90 {1000 * pct(control, 0.9):.3f} ms "
        f"({len(control)} kills); the console's click → entered p50 "
        f"{1000 * statistics.median(console.pooled('dispatch')):.3f} ms"
    )
    rng = random.Random(seed)
    print("  console / headless, with a 95% interval (desks and rounds resampled):")
    no_slower = True
    for name in ("issued", "verified"):
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            point, low, high = bootstrap_ratio(console, headless, name, q, rng)
            no_slower &= low <= 1.0
            print(f"    {name:<9} {label}  ×{point:.3f}  [{low:.3f} – {high:.3f}]")
    print("  the same from `Runtime.kill` entered (the click's own dispatch through Qt left out):")
    for name in ("issued_in_kill", "verified_in_kill"):
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            point, low, high = bootstrap_ratio(console, headless, name, q, rng)
            print(f"    {name:<16} {label}  ×{point:.3f}  [{low:.3f} – {high:.3f}]")
    verdict = "no slower (every interval reaches 1.0)" if no_slower else "SLOWER"
    print(f"goal, the console's kill no worse than headless: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6, help="desk pairs counted")
    parser.add_argument("--rounds", type=int, default=20, help="kills per desk")
    parser.add_argument("--history-hours", type=float, default=23.0)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    print(
        f"kill parity: {args.pairs} pairs of desks (+1 warm-up pair) × {args.rounds} FLATTEN ALL "
        f"each, under a {RATE:,.0f} marks/s firehose; the console draws 1920×1080 with "
        f"{args.history_hours:g} h of history"
    )
    headless, console = Setup("headless (asyncio, Runtime.kill)"), Setup("console (qasync, click)")
    rng = random.Random(args.seed)
    app = create_app(["propdesk-bench"])
    with tempfile.TemporaryDirectory(prefix="propdesk-bench-") as folder, TRACE.installed():
        for pair in range(args.pairs + 1):
            order = (headless, console) if pair % 2 == 0 else (console, headless)
            for setup in order:
                path = Path(folder) / f"{pair}-{setup is console}.sqlite"
                if setup is headless:
                    desk = asyncio.run(headless_desk(path, args.rounds, rng))
                else:
                    desk = asyncio.run(
                        console_desk(path, args.rounds, rng, args.history_hours),
                        loop_factory=lambda: ConsoleLoop(app),
                    )
                if pair > 0:  # the first pair warms the interpreter, caches and allocator up
                    setup.desks.append(desk)
            print(f"  pair {pair}{' (warm-up)' if pair == 0 else ''} done", flush=True)
        control = asyncio.run(control_socket_dispatch(Path(folder), args.rounds * 2, rng))
    report(headless, console, control, args.seed)


if __name__ == "__main__":
    main()
