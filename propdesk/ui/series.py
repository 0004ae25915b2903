"""A preallocated ring buffer of (time, value) samples for the chart: no allocation per sample or frame.

Each sample is written twice, at `i` and `i + capacity`, so the newest `capacity` samples are always one
contiguous slice in time order: drawing them needs no copy and no concatenation.
"""

from __future__ import annotations

import numpy as np


class RingSeries:
    __slots__ = ("_anchor", "_cap", "_head", "_n", "_t", "_y", "version")

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("capacity must be >= 2")
        self._cap = capacity
        self._t = np.zeros(2 * capacity, dtype=np.float64)
        self._y = np.zeros(2 * capacity, dtype=np.float64)
        self._head = 0  # the next write index, in [0, capacity)
        self._n = 0
        self.version = 0  # bumped on every change: the chart redraws only when it moved
        self._anchor = float("-inf")  # time of the newest sample added by `add` as a new point

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        return self._cap

    def append(self, t: float, y: float) -> None:
        i = self._head
        self._t[i] = self._t[i + self._cap] = t
        self._y[i] = self._y[i + self._cap] = y
        self._head = (i + 1) % self._cap
        self._n = min(self._n + 1, self._cap)
        self.version += 1

    def replace_last(self, t: float, y: float) -> None:
        """Move the newest sample (the line's live tip) instead of adding one."""
        if not self._n:
            self.append(t, y)
            return
        i = (self._head - 1) % self._cap
        self._t[i] = self._t[i + self._cap] = t
        self._y[i] = self._y[i + self._cap] = y
        self.version += 1

    def last(self) -> tuple[float, float] | None:
        if not self._n:
            return None
        i = (self._head - 1) % self._cap
        return float(self._t[i]), float(self._y[i])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Views (not copies) of the samples, oldest first."""
        if self._n < self._cap:
            return self._t[: self._n], self._y[: self._n]
        start = self._head
        return self._t[start : start + self._cap], self._y[start : start + self._cap]

    def add(self, t: float, y: float, *, min_step: float) -> None:
        """Append when at least `min_step` passed since the previous sample; else move the tip."""
        last = self.last()
        if last is None or t - self._anchor >= min_step:
            self.append(t, y)
            self._anchor = t
        elif t >= last[0] and (t, y) != last:
            self.replace_last(t, y)
