"""The console's event loop: qasync's, with callbacks and timers kept the way asyncio's own loop keeps them.

qasync turns every `call_soon` and every `call_later` into a Qt timer of its own (`startTimer`, a timer
event into Python, `killTimer`, with a type check and a debug-log call around each; a cancelled one
stays registered until it would have fired). Measured with bench/loop_overhead.py: a loop turn
8.6 µs against asyncio's 2.5, a due timer 10.5 µs against 2.7. A flatten of 20 accounts is ~170
callbacks and every broker request arms a timeout, so that overhead made the kill slower on the
console than headless (bench/kill_parity.py). This loop: 3.7 µs a turn (its socket poll
included), 2.3 µs a due timer.

Here, as in asyncio's `BaseEventLoop`:
- ready callbacks go to a deque, run batch by batch (those added while a batch runs wait for the
  next), and every timer that is due joins the ready callbacks after each batch;
- timers go to a heap; one precise QTimer is armed for the earliest; cancelled timers are dropped
  when they reach the top, and the heap is rebuilt when they are most of it;
- the callback checks run only in debug mode: these are the hottest calls of the loop.
Between batches asyncio polls its sockets without waiting (a few µs); a Qt turn there costs 40–100 µs
when it comes between the batches of a flatten. So batches run back to back, drained by one
zero-interval QTimer, until the queue is empty, a watched socket is ready (polled as asyncio does) or
`_BUDGET` is spent; then Qt has its turn (input, paints, socket notifiers). With a Qt turn between
every batch, the console's FLATTEN ALL was ~5% slower than headless at the median
(bench/kill_parity.py).
I/O readiness (qasync's socket notifiers) and `call_soon_threadsafe` are qasync's, unchanged.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import heapq
import math
import select
import time
from collections.abc import Callable
from typing import Any

import qasync
from PySide6.QtCore import Qt, QTimer

_RESOLUTION = time.get_clock_info("monotonic").resolution
# Continuous asyncio work runs batch after batch for up to this long before Qt's turn: longer than
# a 20-account flatten's own work on the simulator (~8 ms), shorter than a 60 Hz frame, so input
# never waits more than that behind it.
_BUDGET = 0.010
# As asyncio: rebuild the heap when cancelled timers are over half of it (and at least this many).
_MIN_CANCELLED_TO_COMPACT = 100


class ConsoleLoop(qasync.QEventLoop):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        # Armed ⇔ running. A repeating zero timer fires once per Qt loop turn, after Qt's pending
        # events: kept running while callbacks keep coming and stopped once the queue is empty, so
        # a busy stretch (a flatten) pays for one start and one stop, not a start per turn (~12 µs
        # each in the console, measured).
        self._drain_armed = False
        self._drain_timer = QTimer()
        self._drain_timer.setInterval(0)
        self._drain_timer.timeout.connect(self._drain)
        self._timers: list[asyncio.TimerHandle] = []
        self._cancelled_timers = 0
        self._wake_at: float | None = None  # the loop time the wake timer is armed for
        self._wake_timer = QTimer()
        self._wake_timer.setSingleShot(True)
        self._wake_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._wake_timer.timeout.connect(self._wake)

    # -- ready callbacks --------------------------------------------------------------------------
    def call_soon(
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        if self._debug:
            self._check(callback, "call_soon")
        handle = asyncio.Handle(callback, args, self, context=context)
        self._ready.append(handle)
        if not self._drain_armed:
            self._drain_armed = True
            self._drain_timer.start()
        return handle

    def _drain(self) -> None:
        ready = self._ready
        deadline = time.monotonic() + _BUDGET
        while True:
            # Only what was ready when this batch began: later ones run in the next batch.
            for _ in range(len(ready)):
                if not ready:  # a nested Qt loop (a modal dialog) drained it meanwhile
                    break
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
            timers = self._timers
            if timers and timers[0]._when <= self.time() + _RESOLUTION:
                self._collect_due()
            if not ready or time.monotonic() >= deadline or self._io_ready():
                break
        if ready:
            if not self._drain_armed:  # run from a wake-up, with nothing queued before
                self._drain_armed = True
                self._drain_timer.start()
        elif self._drain_armed:
            self._drain_armed = False
            self._drain_timer.stop()

    def _io_ready(self) -> bool:
        """True when a watched socket is ready: Qt's turn then runs its notifier.

        asyncio polls its sockets between batches; so does this loop, with no wait, so a broker's
        message (a breach, a fill) is read as soon as it would be headless, budget or not.
        """
        readers = [fd for fd, n in self._read_notifiers.items() if n.isEnabled()]
        writers = [fd for fd, n in self._write_notifiers.items() if n.isEnabled()]
        if not readers and not writers:
            return False
        try:
            readable, writable, _ = select.select(readers, writers, [], 0)
        except (OSError, ValueError):  # a descriptor closed under its notifier: Qt's turn sorts it
            return True
        return bool(readable or writable)

    # -- timers -----------------------------------------------------------------------------------
    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        if self._debug:
            self._check(callback, "call_at")
        timer = asyncio.TimerHandle(when, callback, args, self, context=context)
        heapq.heappush(self._timers, timer)
        timer._scheduled = True
        if self._wake_at is None or when < self._wake_at:
            self._arm_wake(when)
        return timer

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        if not handle._scheduled:
            return
        self._cancelled_timers += 1
        timers = self._timers
        if self._cancelled_timers > _MIN_CANCELLED_TO_COMPACT and 2 * self._cancelled_timers > len(
            timers
        ):
            kept = []
            for timer in timers:
                if timer._cancelled:
                    timer._scheduled = False
                else:
                    kept.append(timer)
            heapq.heapify(kept)
            self._timers = kept
            self._cancelled_timers = 0
            self._rearm()
        elif timers and timers[0] is handle:
            self._rearm()  # nothing sleeps until it any more: wake for the next one, or not at all

    def _wake(self) -> None:
        self._wake_at = None
        self._collect_due()
        self._drain()  # what was ready, then the timers that came due, as asyncio's turn runs them

    def _collect_due(self) -> None:
        """Move every timer that is due to the ready callbacks, and re-arm for the next one."""
        timers, ready = self._timers, self._ready
        due = self.time() + _RESOLUTION
        while timers and timers[0]._when <= due:
            timer = heapq.heappop(timers)
            timer._scheduled = False
            if timer._cancelled:
                self._cancelled_timers -= 1
            else:
                ready.append(timer)
        self._rearm()

    def _rearm(self) -> None:
        timers = self._timers
        while timers and timers[0]._cancelled:
            heapq.heappop(timers)._scheduled = False
            self._cancelled_timers -= 1
        if timers:
            self._arm_wake(timers[0]._when)
        else:
            self._wake_at = None
            self._wake_timer.stop()

    def _arm_wake(self, when: float) -> None:
        self._wake_at = when
        self._wake_timer.start(max(0, math.ceil((when - self.time()) * 1000)))

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        self._drain_timer.stop()
        self._wake_timer.stop()
        self._drain_armed = False
        self._wake_at = None
        self._ready.clear()
        for timer in self._timers:
            timer._scheduled = False
        self._timers.clear()
        super().close()

    @staticmethod
    def _check(callback: Callable[..., object], method: str) -> None:
        if asyncio.iscoroutinefunction(callback):
            raise TypeError(f"coroutines cannot be used with {method}")
        if not callable(callback):
            raise TypeError(f"callback must be callable: {type(callback).__name__}")
