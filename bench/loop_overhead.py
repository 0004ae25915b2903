"""What one loop turn and one timer cost on asyncio's loop, qasync's, and the console's `ConsoleLoop`.

- turn: `await asyncio.sleep(0)` in a loop: one callback, one loop turn (for qasync, one round
  trip through Qt's event dispatcher each; `ConsoleLoop` runs such batches back to back, polling its
  sockets between them, and gives Qt its turn when they are idle or every 10 ms);
- timer: `call_later` of a timer that is then cancelled (every broker request arms a timeout and
  cancels it), per timer;
- fire: timers that come due and run, per timer.
Mean µs over many repetitions, best of three runs (a collection landing in one run is not the loop's
cost). Prints figures; asserts nothing.

    python bench/loop_overhead.py
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import asyncio
import time
from collections.abc import Callable

import qasync

from propdesk.ui.app import create_app
from propdesk.ui.loop import ConsoleLoop

TURNS = 20_000
TIMERS = 5_000


async def fire_timers(loop: asyncio.AbstractEventLoop) -> float:
    done = asyncio.Event()
    left = [TIMERS]

    def fired() -> None:
        left[0] -= 1
        if not left[0]:
            done.set()

    due = loop.time() + 0.002
    started = time.perf_counter()
    for _ in range(TIMERS):
        loop.call_at(due, fired)
    await done.wait()
    return (time.perf_counter() - started) / TIMERS


async def figures() -> tuple[float, float, float]:
    loop = asyncio.get_running_loop()
    best = [float("inf")] * 3
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(TURNS):
            await asyncio.sleep(0)
        turn = (time.perf_counter() - started) / TURNS

        started = time.perf_counter()
        for n in range(TIMERS):
            loop.call_later(60 + n, int).cancel()
        timer = (time.perf_counter() - started) / TIMERS

        fire = await fire_timers(loop)
        best = [min(b, x) for b, x in zip(best, (turn, timer, fire), strict=True)]
    return best[0], best[1], best[2]


def main() -> None:
    app = create_app(["propdesk-bench"])
    loops: list[tuple[str, Callable[[], asyncio.AbstractEventLoop] | None]] = [
        ("asyncio", None),
        ("qasync", lambda: qasync.QEventLoop(app)),
        ("ConsoleLoop", lambda: ConsoleLoop(app)),
    ]
    print(f"{'loop':<12} {'turn µs':>9} {'timer µs':>9} {'fire µs':>9}")
    for name, factory in loops:
        turn, timer, fire = asyncio.run(figures(), loop_factory=factory)
        print(f"{name:<12} {1e6 * turn:>9.2f} {1e6 * timer:>9.2f} {1e6 * fire:>9.2f}")


if __name__ == "__main__":
    main()
