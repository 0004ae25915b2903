"""Preallocated ring buffers of time-stamped samples for the chart: no allocation per sample or frame.

Each sample is written twice, at `i` and `i + capacity`, so the newest `capacity` samples are always one
contiguous slice in time order: drawing them needs no copy and no concatenation.

A sample is a time and one or more values (columns). Times are float64 epoch seconds; the values may be
float32 where the chart needs no more (equity in steps of 0.4 cent at $50K), which halves a long
history.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def _same(a: float, b: float) -> bool:
    """Equal, NaN included (NaN is how a missing level is stored)."""
    return a == b or (math.isnan(a) and math.isnan(b))


class RingSeries:
    __slots__ = ("_anchor", "_cap", "_head", "_n", "_t", "_v", "version")

    def __init__(self, capacity: int, columns: int = 1, dtype: npt.DTypeLike = np.float64) -> None:
        if capacity < 2:
            raise ValueError("capacity must be >= 2")
        if columns < 1:
            raise ValueError("columns must be >= 1")
        self._cap = capacity
        self._t = np.zeros(2 * capacity, dtype=np.float64)
        self._v = np.zeros((columns, 2 * capacity), dtype=dtype)
        self._head = 0  # the next write index, in [0, capacity)
        self._n = 0
        self.version = 0  # bumped on every change: the chart redraws only when it moved
        self._anchor = float("-inf")  # time of the newest sample added by `add` as a new point

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        return self._cap

    @property
    def columns(self) -> int:
        return int(self._v.shape[0])

    @property
    def nbytes(self) -> int:
        """What the buffers reserve (pages are only touched as samples arrive)."""
        return int(self._t.nbytes + self._v.nbytes)

    def append(self, t: float, *values: float) -> None:
        i = self._head
        j = i + self._cap
        self._t[i] = self._t[j] = t
        v = self._v
        for column, value in enumerate(values):
            v[column, i] = v[column, j] = value
        self._head = (i + 1) % self._cap
        self._n = min(self._n + 1, self._cap)
        self.version += 1

    def replace_last(self, t: float, *values: float) -> None:
        """Move the newest sample (the line's live tip) instead of adding one."""
        if not self._n:
            self.append(t, *values)
            return
        i = (self._head - 1) % self._cap
        j = i + self._cap
        self._t[i] = self._t[j] = t
        v = self._v
        for column, value in enumerate(values):
            v[column, i] = v[column, j] = value
        self.version += 1

    def last(self) -> tuple[float, float] | None:
        """(time, first column) of the newest sample."""
        if not self._n:
            return None
        i = (self._head - 1) % self._cap
        return float(self._t[i]), float(self._v[0, i])

    def last_values(self) -> tuple[float, ...] | None:
        """Every column of the newest sample, as stored."""
        if not self._n:
            return None
        i = (self._head - 1) % self._cap
        return tuple(float(x) for x in self._v[:, i])

    def arrays(self, column: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Views (not copies) of the times and one column, oldest first."""
        t, v = self.all_arrays()
        return t, v[column]

    def all_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Views of the times and of every column (shape columns × n), oldest first."""
        if self._n < self._cap:
            return self._t[: self._n], self._v[:, : self._n]
        start = self._head
        return self._t[start : start + self._cap], self._v[:, start : start + self._cap]

    def add(self, t: float, *values: float, min_step: float) -> None:
        """Append when at least `min_step` passed since the previous sample; else move the tip."""
        if not self._n or t - self._anchor >= min_step:
            self.append(t, *values)
            self._anchor = t
            return
        i = (self._head - 1) % self._cap
        last_t = float(self._t[i])
        if t >= last_t and (t != last_t or not self._holds(i, values)):
            self.replace_last(t, *values)

    def add_change(self, t: float, *values: float, min_step: float) -> bool:
        """Keep a step history: store only values that differ from the newest sample.

        Changes closer than `min_step` to the previous one fold into it (the step shows where the
        values settled), so a level that moves on every tick costs one sample per `min_step`.
        Returns True when something was stored.
        """
        if not self._n:
            self.append(t, *values)
            self._anchor = t
            return True
        i = (self._head - 1) % self._cap
        if self._holds(i, values):
            return False
        if t - self._anchor >= min_step:
            self.append(t, *values)
            self._anchor = t
        else:
            # Folded into the previous change: it keeps its time, takes the newer values.
            self.replace_last(float(self._t[i]), *values)
        return True

    def _holds(self, i: int, values: tuple[float, ...]) -> bool:
        """Does sample `i` already hold `values` (as stored, in the buffer's own precision)?"""
        stored = self._v[:, i]
        wanted = np.asarray(values, dtype=self._v.dtype)
        return all(_same(float(a), float(b)) for a, b in zip(stored, wanted, strict=True))
