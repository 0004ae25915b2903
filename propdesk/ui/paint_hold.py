"""Hold a window's repaints back for a moment, then paint only what changed meanwhile.

Qt paints a window when its `UpdateRequest` event arrives: the repaint manager posts one after the
first `update()` of any of its widgets and then only gathers dirty regions until it is handled. While
held, that event is swallowed; on release one is posted again, and the next turn paints the gathered
regions, nothing more. `setUpdatesEnabled(False)` did the same job at a cost on both ends: ~0.1 ms to
flag 440 widgets inside the kill, then a repaint of the whole 1920×1080 window (~20 ms) after it
(bench/kill_parity.py).
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject
from PySide6.QtWidgets import QWidget


class PaintHold(QObject):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._held = False
        self._swallowed = False

    @property
    def held(self) -> bool:
        return self._held

    def hold(self) -> None:
        if not self._held:
            self._held = True
            self._window.installEventFilter(self)

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        self._window.removeEventFilter(self)
        if self._swallowed:
            self._swallowed = False
            QCoreApplication.postEvent(self._window, QEvent(QEvent.Type.UpdateRequest))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.UpdateRequest:
            self._swallowed = True
            return True
        return False
