"""The loop-stall watchdog: says when the event loop stops turning.

Marks, flattens, the control socket and (in the console) the window all run on one asyncio loop.
While something holds that loop (a long repaint, a slow call, a bug), nothing is judged and no
flatten leaves. The watchdog has two halves:

- a beat on the loop that measures how late it woke up. A beat later than the limit is a stall;
  once the loop turns again it becomes an alert on every channel, with how long it lasted and
  where the loop was held.
- a thread that looks at the beat from outside. While the loop is held it cannot report anything,
  so the thread writes to the log at once, with the held thread's stack: a stall that never ends
  (a hang) is still on record, and the record says where it hangs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

STALL_LIMIT = 1.0  # seconds the loop may be held before it is a stall
BEAT = 0.25  # seconds between beats; a stall is seen within this much of the limit
LONG_STALL = 5.0  # seconds: a stall this long is critical rather than a warning


@dataclass(frozen=True, slots=True)
class Stall:
    seconds: float  # how long the loop was held (beyond the beat's own wait)
    where: str  # the innermost frame of the held thread, as the watcher thread saw it; "" if unseen


class LoopWatchdog:
    def __init__(
        self,
        on_stall: Callable[[Stall], None],
        *,
        limit: float = STALL_LIMIT,
        beat: float = BEAT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit <= 0 or beat <= 0 or beat >= limit:
            raise ValueError(f"need 0 < beat < limit, got beat={beat}, limit={limit}")
        self._on_stall = on_stall
        self._limit = limit
        self._beat = beat
        self._monotonic = monotonic
        self._last_beat = monotonic()
        self._loop_thread: int | None = None
        self._where = ""  # what the watcher saw the held thread doing during the current stall
        self._stopped = threading.Event()
        self._watcher: threading.Thread | None = None
        self.stalls: list[Stall] = []

    async def run(self) -> None:
        """The beat; runs on the loop until cancelled. Starts the watcher thread with it."""
        self._loop_thread = threading.get_ident()
        self._last_beat = self._monotonic()
        self._start_watcher()
        try:
            while True:
                before = self._monotonic()
                await asyncio.sleep(self._beat)
                now = self._monotonic()
                self._last_beat = now
                held = now - before - self._beat
                if held > self._limit:
                    stall = Stall(held, self._where)
                    self._where = ""
                    self.stalls.append(stall)
                    self._on_stall(stall)
        finally:
            self.stop_watcher()

    def stop_watcher(self) -> None:
        self._stopped.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=2 * self._beat + 1.0)

    def _start_watcher(self) -> None:
        if self._watcher is not None:
            return
        self._stopped.clear()
        self._watcher = threading.Thread(target=self._watch, name="loop watchdog", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        logged = False  # one log line per stall, not one per look
        while not self._stopped.wait(self._beat):
            held = self._monotonic() - self._last_beat - self._beat
            if held <= self._limit:
                logged = False
                continue
            if logged:
                continue
            logged = True
            stack = self._stack()
            self._where = stack[-1].strip().splitlines()[0] if stack else ""
            log.error(
                "the event loop has been held for %.1f s: nothing is judged or flattened "
                "until it turns again. Where it is held:\n%s",
                held,
                "".join(stack) or "(its stack could not be read)",
            )

    def _stack(self) -> list[str]:
        if self._loop_thread is None:
            return []
        frame = sys._current_frames().get(self._loop_thread)
        return [] if frame is None else traceback.format_stack(frame)


def stall_text(stall: Stall) -> str:
    where = f" It was held in {stall.where}." if stall.where else ""
    return (
        f"propdesk's event loop stalled for {stall.seconds:.1f} s (limit {STALL_LIMIT:.0f} s): "
        "in that time no mark was judged, no flatten was sent, and `propdesk flatten` waited."
        f"{where} The log has the details."
    )
