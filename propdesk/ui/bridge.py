"""Runtime → Qt: notices become queued signals; the widgets redraw from one ~10 Hz frame timer.

The runtime calls the bridge's subscriber, which only emits queued signals (vnpy style) and returns at
once: the queued connections run the Qt side later, from the event loop, so the risk path never waits
on anything drawn. Widgets never redraw per
event: each frame reads every account's state once (`views`), samples each account's history for the
chart, and emits `frame`; whatever changed between two frames is drawn once.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from propdesk.domain.account import AccountView
from propdesk.domain.events import Side
from propdesk.runtime.engine import Runtime
from propdesk.runtime.notices import Alert, FillBooked, FlattenFinished, Notice, StateChanged
from propdesk.ui.series import RingSeries

FRAME_MS = 100  # ~10 Hz
# Real seconds a flatten just started keeps the loop to itself: frames wait that long at most.
FLATTEN_FIRST = 0.25
BATCH_RETRY_MS = 20  # how soon notices held back by a starting flatten are tried again
HISTORY_CAPACITY = 1 << 17  # samples per account: at one a clock second, 36 h of history
SAMPLE_STEP = 1.0  # clock seconds between kept samples (the newest one moves with every frame)
# Levels move rarely (a trailing floor at the session close, a day start at the roll); an intraday
# trailing high moves with new highs, folded to one change a SAMPLE_STEP: 8k changes is hours of that.
LEVEL_CAPACITY = 1 << 13
FILL_CAPACITY = 1 << 12  # the newest fills kept as markers (a busy day has thousands)
STATE_CAPACITY = 1 << 9  # the newest state changes kept as markers

# Columns of each history.
EQUITY, DAY_PNL = 0, 1  # samples and markers: equity, and day P&L at the same instant
MARK_KIND = 2  # markers: +1 buy / −1 sell, or the new GuardState's value
MAX_LOSS_FLOOR, HIGH_WATER, DAY_START = 0, 1, 2  # the levels' step history (NaN: none)

_NONE = float("nan")


def _level(value: Decimal | None) -> float:
    return _NONE if value is None else float(value)


@dataclass(slots=True)
class AccountHistory:
    """What the chart draws for one account, in bounded preallocated buffers."""

    # Equity and day P&L each frame, float32: both in the room one float64 column took. Steps of
    # 0.4 cent at $50K, 6 cents at $1M: finer than a pixel of any chart of such an account.
    samples: RingSeries = field(
        default_factory=lambda: RingSeries(HISTORY_CAPACITY, columns=2, dtype=np.float32)
    )
    # The max-loss floor, the high it trails and the day's start balance, stored when they change.
    levels: RingSeries = field(default_factory=lambda: RingSeries(LEVEL_CAPACITY, columns=3))
    fills: RingSeries = field(
        default_factory=lambda: RingSeries(FILL_CAPACITY, columns=3, dtype=np.float32)
    )
    states: RingSeries = field(
        default_factory=lambda: RingSeries(STATE_CAPACITY, columns=3, dtype=np.float32)
    )
    # Why each kept state change happened (for the marker's tooltip), aligned with `states`.
    state_reasons: deque[str] = field(default_factory=lambda: deque(maxlen=STATE_CAPACITY))

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in (self.samples, self.levels, self.fills, self.states))


@dataclass(frozen=True, slots=True)
class Frame:
    now: datetime
    views: dict[str, AccountView]


class Bridge(QObject):
    notice = Signal(object)  # every runtime notice, on the GUI thread, after the runtime's call
    _batch_ready = Signal()  # queued: the notices that arrived since the last batch wait
    alert = Signal(object)  # Alert notices
    flatten_finished = Signal(object)  # FlattenFinished notices
    frame = Signal(object)  # Frame: read state now

    def __init__(self, runtime: Runtime, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.history: dict[str, AccountHistory] = {}
        self.last_flatten: dict[str, FlattenFinished] = {}
        self.current: Frame | None = None
        # One queued event per burst of notices, not one per notice: a flatten of 20 accounts
        # brings ~90 notices, and as many Qt events queued ahead of the kill's next step delayed
        # it (bench/ui_firehose.py).
        self._pending: list[Notice] = []
        self._batch_ready.connect(self._on_batch, Qt.ConnectionType.QueuedConnection)
        # While a flatten starts, the batch waits too (as frames do), then is tried again.
        self._batch_retry = QTimer(self)
        self._batch_retry.setSingleShot(True)
        self._batch_retry.setInterval(BATCH_RETRY_MS)
        self._batch_retry.timeout.connect(self._on_batch)
        self.notice.connect(self._on_notice)
        self._emit = self._from_runtime  # one bound callable: the same one unregisters
        runtime.notices.register(self._emit)
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self.tick)
        self._attached = True
        self._flatten_seen: float | None = None  # monotonic: when a frame first met a flatten
        self._held = False  # the window holds notices and frames while its own flatten starts

    def start(self) -> None:
        self.tick()
        self._timer.start()

    def stop(self) -> None:
        """Stop the frame timer and stop listening (the window is going away)."""
        self._timer.stop()
        self._batch_retry.stop()
        if self._attached:
            self.runtime.notices.unregister(self._emit)
            self._attached = False

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def hold(self) -> None:
        """Queue notices without a word to Qt and skip frames, until `release`.

        For a flatten started from the window: set before its requests, so not even the one queued
        call per burst of notices reaches Qt's queue ahead of the verification (bench/kill_parity.py).
        """
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._pending:
            self._batch_ready.emit()

    def tick(self) -> Frame:
        """One frame: read every account once, sample its history, tell the widgets.

        Skipped (the last frame stands) while a flatten that just started runs: see `_yielding`.
        """
        if self.current is not None and (self._held or self._yielding()):
            return self.current
        runtime = self.runtime
        now = runtime.clock.now()
        views = {key: account.risk.view() for key, account in runtime.accounts.items()}
        t = now.timestamp()
        for key, view in views.items():
            if view.ts is None:
                continue  # no event yet: nothing to plot
            history = self.account(key)
            history.samples.add(t, float(view.equity), float(view.day_pnl), min_step=SAMPLE_STEP)
            history.levels.add_change(
                t,
                _level(view.max_loss_floor),
                _level(view.high_water),
                _level(view.day_start_balance),
                min_step=SAMPLE_STEP,
            )
        self.current = Frame(now, views)
        self.frame.emit(self.current)
        return self.current

    def _yielding(self) -> bool:
        """True while a flatten is in flight, for its first FLATTEN_FIRST seconds.

        The flatten and the frames share one thread: a frame is milliseconds of reading and
        drawing that would otherwise land between the flatten's requests and its verification
        (bench/ui_firehose.py measured kills delayed by whole frames). Bounded, so a flatten that
        retries for seconds (a broker down) never freezes the console.
        """
        killswitch = self.runtime.killswitch
        if not any(killswitch.in_progress(a.ref) for a in self.runtime.accounts.values()):
            self._flatten_seen = None
            return False
        now = time.monotonic()
        if self._flatten_seen is None:
            self._flatten_seen = now
        return now - self._flatten_seen < FLATTEN_FIRST

    def account(self, key: str) -> AccountHistory:
        """The chart history of one account (created empty on first use)."""
        history = self.history.get(key)
        if history is None:
            history = self.history[key] = AccountHistory()
        return history

    def series(self, key: str) -> RingSeries:
        """The equity samples of one account."""
        return self.account(key).samples

    def _from_runtime(self, notice: Notice) -> None:
        """The runtime's call: queue the notice and return.

        It runs inside the runtime's step, on the kill's path too: nothing here reads or converts
        anything (a marker's equity travels in its notice).
        """
        if not self._pending and not self._held:
            self._batch_ready.emit()
        self._pending.append(notice)

    def _on_batch(self) -> None:
        if self._pending and self._yielding():
            self._batch_retry.start()
            return
        self.flush()

    def flush(self) -> None:
        """Deliver the notices waiting now (a finished flatten shows its summary after them)."""
        self._batch_retry.stop()
        pending, self._pending = self._pending, []
        for notice in pending:
            if isinstance(notice, FillBooked | StateChanged):
                self._on_marked(notice)
            self.notice.emit(notice)

    def _on_marked(self, notice: FillBooked | StateChanged) -> None:
        history = self.account(notice.account)
        t = notice.ts.timestamp()
        equity, day_pnl = float(notice.equity), float(notice.day_pnl)
        if isinstance(notice, FillBooked):
            side = 1.0 if notice.fill.side is Side.BUY else -1.0
            history.fills.append(t, equity, day_pnl, side)
        else:
            history.states.append(t, equity, day_pnl, float(notice.new.value))
            history.state_reasons.append(f"{notice.old.name} → {notice.new.name}: {notice.reason}")

    def _on_notice(self, notice: Notice) -> None:
        if isinstance(notice, FlattenFinished):
            self.last_flatten[notice.account] = notice
            self.flatten_finished.emit(notice)
        elif isinstance(notice, Alert):
            self.alert.emit(notice)
