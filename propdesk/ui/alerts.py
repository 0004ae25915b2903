"""The console's alert fan-out: runtime notices → alert messages → banner, sound, desktop, phone.

The policy (propdesk.runtime.alerting) decides which notices are alerts; this object delivers them.
Notices arrive queued, after the runtime's call has returned: nothing here can slow the risk path.
The banner already shows the runtime's own Alert notices, so it gets only the messages that have no
Alert of their own (an automatic flatten starting). The phone's sender task lives from `start()` to
`stop()`, which the console calls with its workspace's lifetime.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from dataclasses import replace
from typing import Protocol

from PySide6.QtCore import QObject

from propdesk.runtime.alerting import (
    AlertChannels,
    AlertMessage,
    AlertPolicy,
    AlertSettingsLike,
    PhoneChannel,
    at_least,
)
from propdesk.runtime.notices import Level, Notice
from propdesk.ui.main_window import MainWindow
from propdesk.ui.sound import SoundPlayer
from propdesk.ui.tray import ConsoleTray

log = logging.getLogger(__name__)

SOUND_LEVEL = Level.WARNING  # information is read, not heard


def console_channels(settings: AlertSettingsLike | None, *, audible: bool) -> AlertChannels:
    """The channels the console runs with: the settings' (the defaults without settings), and no
    sound where nobody listens (`audible` False: offscreen, tests, the smoke run). A phone URL the
    settings cannot use turns the phone off, logged; it never stops the console."""
    channels = AlertChannels()
    if settings is not None:
        try:
            channels = AlertChannels.from_settings(settings)
        except ValueError as exc:
            log.warning("phone alerts off: %s", exc)
            channels = AlertChannels(desktop=bool(settings.desktop), sound=bool(settings.sound))
    return channels if audible else replace(channels, sound=False)


class Sound(Protocol):
    def play(self, level: Level) -> bool: ...

    def close(self) -> None: ...


class ConsoleAlerts(QObject):
    def __init__(
        self,
        window: MainWindow,
        channels: AlertChannels,
        *,
        tray: ConsoleTray | None = None,
        sound: Sound | None = None,
        phone: PhoneChannel | None = None,
        policy: AlertPolicy | None = None,
    ) -> None:
        super().__init__(window)
        runtime = window.runtime
        self.window = window
        self.channels = channels
        self.tray = tray
        self.policy = policy if policy is not None else AlertPolicy.for_runtime(runtime)
        if sound is None and channels.sound:
            sound = SoundPlayer()
        self.sound = sound
        if phone is None:
            # A failing phone says so once, through the runtime's notices: the banner shows it.
            phone = PhoneChannel.from_channels(
                channels, report=runtime.notices.emit, now=runtime.clock.now
            )
        self.phone = phone
        self.recent: deque[AlertMessage] = deque(maxlen=50)  # newest last
        self._listening = True
        # The bridge emits `notice` from its own queued batch, never inside the runtime's call.
        window.bridge.notice.connect(self._on_notice)

    async def start(self) -> None:
        if self.phone is not None:
            await self.phone.start()

    async def stop(self) -> None:
        """Stop listening, let the phone send what it holds (briefly), silence the sound."""
        if self._listening:
            self._listening = False
            with contextlib.suppress(RuntimeError, TypeError):
                self.window.bridge.notice.disconnect(self._on_notice)
        if self.phone is not None:
            await self.phone.stop()
        if self.sound is not None:
            self.sound.close()

    def deliver(self, message: AlertMessage) -> None:
        """Send one message to every channel that is on (each failure is its own)."""
        self.recent.append(message)
        if message.in_window:
            self.window.banner.show_alert(message.as_alert())
        if self.channels.sound and self.sound is not None and at_least(message.level, SOUND_LEVEL):
            try:
                self.sound.play(message.level)
            except Exception:
                log.exception("the alert sound failed")
        if self.channels.desktop and self.tray is not None:
            self.tray.notify(message)
        if self.phone is not None:
            self.phone.send(message)

    def _on_notice(self, notice: Notice) -> None:
        if not self._listening:
            return  # queued before stop()
        message = self.policy(notice)
        if message is not None:
            self.deliver(message)
