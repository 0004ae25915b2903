"""Hold the console's repaints and relayouts back for a moment, then do only what was asked meanwhile.

Qt paints a window when its `UpdateRequest` event arrives: the repaint manager posts one after the
first `update()` of any of its widgets and then only gathers dirty regions until it is handled.
Layouts work the same way with `LayoutRequest`. While held, both events are swallowed (an event
filter on the application: the requests go to whichever widget owns the layout); on release each is
posted again to the object it was meant for, and the next turn lays out and paints what was gathered,
nothing more. A frame drawn just before a click leaves exactly such requests queued; held, they no
longer run between the flatten's requests and its verification (bench/kill_parity.py).
`setUpdatesEnabled(False)` did part of the job at a cost on both ends: ~0.1 ms to flag 440 widgets
inside the kill, then a repaint of the whole 1920×1080 window (~20 ms) after it.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject

_HELD = frozenset({QEvent.Type.UpdateRequest, QEvent.Type.LayoutRequest})


class PaintHold(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._held = False
        self._swallowed: dict[tuple[int, QEvent.Type], QObject] = {}

    @property
    def held(self) -> bool:
        return self._held

    def hold(self) -> None:
        app = QCoreApplication.instance()
        if not self._held and app is not None:
            self._held = True
            app.installEventFilter(self)

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        app = QCoreApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        swallowed, self._swallowed = self._swallowed, {}
        for (_, kind), receiver in swallowed.items():
            if shiboken6.isValid(receiver):  # a widget deleted meanwhile has nothing to draw
                QCoreApplication.postEvent(receiver, QEvent(kind))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in _HELD:
            self._swallowed[(id(watched), kind)] = watched
            return True
        return False
