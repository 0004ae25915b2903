"""Alert sounds, played without blocking: the OS's own player, or Qt's beep when there is none.

QtMultimedia is not part of PySide6-Essentials, so the sound is handed to the platform: winsound
(asynchronous) on Windows, `afplay` on macOS, the first of `paplay`, `pw-play`, `aplay` on Linux. The
player runs as a child process that is never waited on while it plays; it is reaped a little later
(and at close), so no zombie is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import QApplication

from propdesk.resources import resource_path
from propdesk.runtime.alerting import LEVEL_RANK
from propdesk.runtime.notices import Level

log = logging.getLogger(__name__)

SOUND_FILES = {Level.INFO: "alert.wav", Level.WARNING: "alert.wav", Level.CRITICAL: "critical.wav"}
LINUX_PLAYERS: tuple[tuple[str, ...], ...] = (("paplay",), ("pw-play",), ("aplay", "-q"))
MIN_GAP = 1.5  # seconds: a burst of alerts makes one sound, unless a worse one comes
REAP_AFTER = 4.0  # seconds: longer than the longest sound


def sound_file(level: Level) -> Path:
    return resource_path("sounds", SOUND_FILES[level])


def player_command(platform: str = sys.platform) -> list[str] | None:
    """The command that plays a WAV file here (the file goes last), or None (winsound or a beep)."""
    if platform.startswith("win"):
        return None
    candidates = (("afplay",),) if platform == "darwin" else LINUX_PLAYERS
    for name, *args in candidates:
        path = shutil.which(name)
        if path:
            return [path, *args]
    return None


Popen = Callable[..., subprocess.Popen[bytes]]


class SoundPlayer:
    """Plays the alert or the critical sound; `play` returns at once."""

    def __init__(
        self,
        *,
        platform: str = sys.platform,
        command: Sequence[str] | None = None,
        popen: Popen = subprocess.Popen,
        beep: Callable[[], None] = QApplication.beep,
        min_gap: float = MIN_GAP,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.platform = platform
        self.command = list(command) if command is not None else player_command(platform)
        self._popen = popen
        self._beep = beep
        self._min_gap = min_gap
        self._monotonic = monotonic
        self._last: tuple[float, Level] | None = None
        self.children: list[subprocess.Popen[bytes]] = []
        self._reaps: list[asyncio.TimerHandle] = []

    def play(self, level: Level) -> bool:
        """Start the sound for `level`; False when a burst already sounded (or nothing could play)."""
        now = self._monotonic()
        if self._last is not None:
            at, previous = self._last
            if now - at < self._min_gap and LEVEL_RANK[level] <= LEVEL_RANK[previous]:
                return False
        self._last = (now, level)
        self.reap()
        path = sound_file(level)
        if self.platform.startswith("win") and self._play_windows(path):
            return True
        if self.command is not None and self._spawn([*self.command, str(path)]):
            return True
        self._beep()
        return True

    def reap(self) -> None:
        """Collect players that have finished (no zombies)."""
        self.children = [child for child in self.children if child.poll() is None]

    def close(self) -> None:
        """Stop what still plays and collect every player."""
        for handle in self._reaps:
            handle.cancel()
        self._reaps.clear()
        for child in self.children:
            if child.poll() is None:
                child.terminate()
            try:
                child.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()

    # ------------------------------------------------------------------------------------------
    def _spawn(self, argv: list[str]) -> bool:
        try:
            child = self._popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            log.warning("alert sound: %s failed (%s); beeping instead", argv[0], exc)
            return False
        self.children.append(child)
        with contextlib.suppress(RuntimeError):  # no running loop: reaped at the next play
            handle = asyncio.get_running_loop().call_later(REAP_AFTER, self._reap_later)
            self._reaps.append(handle)
        return True

    def _reap_later(self) -> None:
        loop = asyncio.get_running_loop()
        self._reaps = [h for h in self._reaps if h.when() > loop.time()]
        self.reap()

    def _play_windows(self, path: Path) -> bool:
        try:
            import winsound  # only on Windows

            flags = winsound.SND_FILENAME | winsound.SND_ASYNC | winsound.SND_NODEFAULT
            winsound.PlaySound(str(path), flags)
        except (ImportError, RuntimeError) as exc:
            log.warning("alert sound: winsound failed (%s); beeping instead", exc)
            return False
        return True
