"""The console's event loop: qasync's, with `call_soon` batched the way asyncio's own loop does it.

qasync turns every `call_soon` into a Qt timer of its own (`startTimer(0)`, a timer event, then
`killTimer`): each step of each task costs a round trip through Qt's timer machinery. A flatten of 20
accounts is hundreds of task steps, and that overhead made the kill measurably slower on the console
than headless (bench/ui_firehose.py). Here ready callbacks go to a queue drained by ONE zero timer per
loop turn, as asyncio's `_ready` deque is; callbacks added while the queue drains run at the next turn,
so Qt's own events (input, paints) still get their turn in between.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import Callable
from typing import Any

import qasync


class ConsoleLoop(qasync.QEventLoop):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._drain_armed = False

    def call_soon(
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        if asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with call_soon")
        if not callable(callback):
            raise TypeError(f"callback must be callable: {type(callback).__name__}")
        handle = asyncio.Handle(callback, args, self, context=context)
        self._ready.append(handle)
        if not self._drain_armed:
            self._drain_armed = True
            super().call_soon(self._drain)
        return handle

    def _drain(self) -> None:
        self._drain_armed = False
        ready = self._ready
        # Only what was ready when this turn began: later ones re-arm the timer for the next turn.
        for _ in range(len(ready)):
            if not ready:  # a nested Qt loop (a modal dialog) drained it meanwhile
                break
            handle = ready.popleft()
            if not handle.cancelled():
                handle._run()
