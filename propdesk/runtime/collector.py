"""No automatic garbage collection while a flatten is in flight.

A full collection scans every tracked object: 19–22 ms measured inside a kill, landing at random
between a flatten's requests and its verification (about one kill in 30 under the firehose of
bench/ui_firehose.py), and it set the kill's p99. Reference counting still frees almost everything
while the collector is off; only reference cycles wait, and a flatten ends within its bounded
backoff. bench/kill_parity.py counts the collections inside kills: none since this pause. The
collector is process-wide, so the pause is too: one count of holders, and the collector is turned
back on only if this pause turned it off.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Flattens that keep overlapping (a strategy fighting its lock on 20 accounts) would keep the
# collector off for good: a new flatten after this long without a collection runs a young one first.
MAX_PAUSE = 10.0  # seconds


class CollectorPause:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._holders = 0
        self._turned_off = False
        self._since = 0.0  # when the collector last ran or the pause began

    @property
    def holders(self) -> int:
        return self._holders

    def hold(self) -> None:
        if self._holders == 0:
            self._since = self._clock()
            if gc.isenabled():
                gc.disable()
                self._turned_off = True
        elif self._turned_off and self._clock() - self._since > MAX_PAUSE:
            gc.collect(1)  # the young generations: what came since the last collection
            self._since = self._clock()
        self._holders += 1

    def release(self) -> None:
        if self._holders == 0:
            raise RuntimeError("collector pause released more often than held")
        self._holders -= 1
        if self._holders == 0 and self._turned_off:
            self._turned_off = False
            gc.enable()

    @contextmanager
    def held(self) -> Iterator[None]:
        self.hold()
        try:
            yield
        finally:
            self.release()


COLLECTOR = CollectorPause()
