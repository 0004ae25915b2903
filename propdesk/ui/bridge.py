"""Runtime → Qt: notices become queued signals; the widgets redraw from one ~10 Hz frame timer.

The runtime calls `notice.emit` (vnpy style) and returns at once: the queued connection runs the Qt side
later, from the event loop, so the risk path never waits on anything drawn. Widgets never redraw per
event: each frame reads every account's state once (`views`), samples equity for the chart, and emits
`frame`; whatever changed between two frames is drawn once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from propdesk.domain.account import AccountView
from propdesk.runtime.engine import Runtime
from propdesk.runtime.notices import Alert, FlattenFinished, Notice
from propdesk.ui.series import RingSeries

FRAME_MS = 100  # ~10 Hz
HISTORY_CAPACITY = 1 << 17  # samples per account: at one a clock second, 36 h of history
SAMPLE_STEP = 1.0  # clock seconds between kept samples (the newest one moves with every frame)


@dataclass(frozen=True, slots=True)
class Frame:
    now: datetime
    views: dict[str, AccountView]


class Bridge(QObject):
    notice = Signal(object)  # every runtime notice, queued onto the GUI thread
    alert = Signal(object)  # Alert notices
    flatten_finished = Signal(object)  # FlattenFinished notices
    frame = Signal(object)  # Frame: read state now

    def __init__(self, runtime: Runtime, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.history: dict[str, RingSeries] = {}
        self.last_flatten: dict[str, FlattenFinished] = {}
        self.current: Frame | None = None
        self.notice.connect(self._on_notice, Qt.ConnectionType.QueuedConnection)
        self._emit = self.notice.emit  # one bound callable: the same one unregisters
        runtime.notices.register(self._emit)
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self.tick)
        self._attached = True

    def start(self) -> None:
        self.tick()
        self._timer.start()

    def stop(self) -> None:
        """Stop the frame timer and stop listening (the window is going away)."""
        self._timer.stop()
        if self._attached:
            self.runtime.notices.unregister(self._emit)
            self._attached = False

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def tick(self) -> Frame:
        """One frame: read every account once, sample equity, tell the widgets."""
        runtime = self.runtime
        now = runtime.clock.now()
        views = {key: account.risk.view() for key, account in runtime.accounts.items()}
        t = now.timestamp()
        for key, view in views.items():
            if view.ts is None:
                continue  # no event yet: nothing to plot
            self.series(key).add(t, float(view.equity), min_step=SAMPLE_STEP)
        self.current = Frame(now, views)
        self.frame.emit(self.current)
        return self.current

    def series(self, key: str) -> RingSeries:
        """The equity history of one account (created empty on first use)."""
        series = self.history.get(key)
        if series is None:
            series = self.history[key] = RingSeries(HISTORY_CAPACITY)
        return series

    def _on_notice(self, notice: Notice) -> None:
        if isinstance(notice, FlattenFinished):
            self.last_flatten[notice.account] = notice
            self.flatten_finished.emit(notice)
        elif isinstance(notice, Alert):
            self.alert.emit(notice)
