"""No automatic garbage collection while a flatten is in flight.

A full collection scans every tracked object: 10–20 ms with the console's widgets in the heap, landing
at random between a flatten's requests and its verification (bench/kill_timeline.py counted one in
about 30 kills, and it set the kill's p99). Reference counting still frees almost everything while
the collector is off; only reference cycles wait, and a flatten ends within its bounded backoff. The
collector is process-wide, so the pause is too: one count of holders, and the collector is turned back
on only if this pause turned it off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class CollectorPause:
    def __init__(self) -> None:
        self._holders = 0
        self._turned_off = False

    @property
    def holders(self) -> int:
        return self._holders

    def hold(self) -> None:
        if self._holders == 0 and gc.isenabled():
            gc.disable()
            self._turned_off = True
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
