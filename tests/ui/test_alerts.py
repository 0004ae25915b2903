"""Alerts on the running console: a real WARNING and a real automatic flatten reach every channel.

The banner, the sound (a fake player records what it was asked to play), the desktop notification (a
spy on the tray's showMessage: offscreen has no tray host) and the phone (a loopback HTTP server in
ntfy's place, on the console's own qasync loop).
"""

from __future__ import annotations

import array
import contextlib
import os
import shutil
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from fakes.http_recorder import HttpRecorder
from ui_helpers import Console, open_console, until

from propdesk.brokers.base import OrderRequest
from propdesk.brokers.sim import front_month
from propdesk.config.model import AlertSettings
from propdesk.domain.events import Side
from propdesk.domain.guard import GuardState
from propdesk.runtime.alerting import AlertChannels
from propdesk.runtime.engine import Runtime
from propdesk.runtime.notices import Alert, Level, StateChanged
from propdesk.ui.alerts import ConsoleAlerts, console_channels
from propdesk.ui.sound import SoundPlayer, player_command, sound_file
from propdesk.ui.tray import ConsoleTray

pytestmark = pytest.mark.timeout(60)
# Equity and day P&L at a notice: the alerts do not read them, the chart marker does.
AT = (Decimal(50_000), Decimal(0))


@dataclass
class FakeSound:
    played: list[Level] = field(default_factory=list)
    closed: bool = False

    def play(self, level: Level) -> bool:
        self.played.append(level)
        return True

    def close(self) -> None:
        self.closed = True


@dataclass
class Wired:
    alerts: ConsoleAlerts
    tray: ConsoleTray
    sound: FakeSound
    desktop: list[tuple[str, str]]  # (title, body) of each notification the tray was asked for


@contextlib.asynccontextmanager
async def wired(
    console: Console, channels: AlertChannels, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Wired]:
    """The alert channels on the console, as the console wires them, with fakes at the edges."""
    window = console.window
    tray = ConsoleTray.for_window(window)
    desktop: list[tuple[str, str]] = []
    monkeypatch.setattr(tray, "showMessage", lambda title, body, *_: desktop.append((title, body)))
    sound = FakeSound()
    alerts = ConsoleAlerts(window, channels, tray=tray, sound=sound)
    await alerts.start()
    try:
        yield Wired(alerts, tray, sound, desktop)
    finally:
        await alerts.stop()
        tray.close()
    assert alerts.phone is None or not alerts.phone.running, "no sender task left running"
    assert sound.closed


async def _one_lot_long(console: Console) -> tuple[str, Any]:
    """Stop the demo strategy; buy one MES in an ACTIVE, flat account; its key and contract."""
    workspace = console.workspace
    runtime = workspace.runtime
    await workspace.demo.strategy.stop()
    key = next(
        k
        for k, a in runtime.accounts.items()
        if a.risk.status.state is GuardState.ACTIVE
        and not any(p.net for p in a.risk.ledger.positions.values())
        and not a.orders
    )
    account = runtime.accounts[key]
    mes = front_month(runtime.instruments.instrument("MES"), runtime.clock.now())
    workspace.demo.exchange.place(account.ref, OrderRequest(mes, Side.BUY, 1))
    await until(
        lambda: any(p.net == 1 for p in account.risk.ledger.positions.values()),
        what="the MES fill in the ledger",
    )
    return key, mes


def _warning_bid(runtime: Runtime, key: str, contract: Any) -> Decimal:
    """The bid that puts the account's equity halfway between its warn and reduce levels."""
    risk = runtime.accounts[key].risk
    levels = risk.guard._levels_for(risk.snapshot())  # the guard's own thresholds
    assert levels.warn is not None
    assert levels.reduce is not None
    target = (levels.warn + levels.reduce) / 2
    ledger = risk.ledger
    (position,) = [p for p in ledger.positions.values() if p.net]
    inst = contract.instrument
    # equity = balance + (bid · net − cost) · point value, with net = 1
    bid = (target - ledger.balance) / inst.point_value + position.cost
    return (bid / inst.tick_size).quantize(Decimal(1), ROUND_HALF_EVEN) * inst.tick_size


async def test_a_warning_reaches_the_banner_the_sound_the_desktop_and_the_phone(
    tmp_path, qtbot, monkeypatch
) -> None:
    async with HttpRecorder() as phone, open_console(tmp_path, qtbot) as console:
        channels = AlertChannels(phone_url=phone.url)
        async with wired(console, channels, monkeypatch) as w:
            window, runtime = console.window, console.workspace.runtime
            key, mes = await _one_lot_long(console)
            name = runtime.accounts[key].setup.name
            console.workspace.demo.exchange.move_price(mes, _warning_bid(runtime, key, mes))

            title = f"{name}: WARNING"
            await until(lambda: any(t == title for t, _ in w.desktop), what="the notification")
            body = next(b for t, b in w.desktop if t == title)
            assert "warning" in body.lower()
            assert Level.WARNING in w.sound.played
            await until(lambda: any(p.headers["title"] == title for p in phone.requests), 5.0)
            post = next(p for p in phone.requests if p.headers["title"] == title)
            assert post.headers["priority"] == "high"
            assert post.body.decode() == body
            # The banner carries the guard's own alert for it (no second copy from the channels).
            await until(
                lambda: window.banner.shown is not None and body in window.banner.label.text(),
                what="the banner",
            )
            assert name in window.banner.label.text()
            assert sum(body in m for m in window.banner.recent) == 1


async def test_an_automatic_flatten_is_critical_on_every_channel_and_shown_in_the_window(
    tmp_path, qtbot, monkeypatch
) -> None:
    async with HttpRecorder() as phone, open_console(tmp_path, qtbot) as console:
        channels = AlertChannels(phone_url=phone.url)
        async with wired(console, channels, monkeypatch) as w:
            window, runtime = console.window, console.workspace.runtime
            key, mes = await _one_lot_long(console)
            name = runtime.accounts[key].setup.name
            bid = console.workspace.demo.exchange.quote(mes).mark.bid
            console.workspace.demo.exchange.move_price(mes, bid - 2000 * mes.instrument.tick_size)

            title = f"{name}: automatic flatten"
            await until(lambda: (title, _body(w, title)) in w.desktop, what="the notification")
            assert Level.CRITICAL in w.sound.played
            await until(
                lambda: any(m.title == title and m.in_window for m in w.alerts.recent),
                what="the flatten alert",
            )
            assert any(title in text for text in window.banner.recent), "shown in the window"
            await until(lambda: any(p.headers["title"] == title for p in phone.requests), 5.0)
            post = next(p for p in phone.requests if p.headers["title"] == title)
            assert post.headers["priority"] == "urgent"
            # Then the all-clear: verified flat and locked, to the phone too.
            done = f"{name}: flat (verified)"
            await until(lambda: any(p.headers["title"] == done for p in phone.requests), 10.0)
            assert runtime.accounts[key].risk.status.state is GuardState.LOCKED


def _body(w: Wired, title: str) -> str:
    return next((b for t, b in w.desktop if t == title), "")


async def test_notices_reach_the_channels_queued_never_inside_the_runtimes_call(
    tmp_path, qtbot, monkeypatch
) -> None:
    async with (
        open_console(tmp_path, qtbot) as console,
        wired(console, AlertChannels(), monkeypatch) as w,
    ):
        runtime = console.workspace.runtime
        key = next(iter(runtime.accounts))
        notice = StateChanged(
            runtime.clock.now(), key, GuardState.ACTIVE, GuardState.REDUCE_ONLY, "test: 66%", *AT
        )
        sounds = len(w.sound.played)
        runtime.notices.emit(notice)
        assert _bodies(w, "test: 66%") == [], "the runtime's emit returned before any channel ran"
        assert len(w.sound.played) == sounds
        await until(lambda: _bodies(w, "test: 66%") == ["test: 66%"], what="the notification")
        assert w.sound.played[sounds:] == [Level.WARNING]


async def test_channels_switched_off_stay_silent(tmp_path, qtbot, monkeypatch) -> None:
    channels = AlertChannels(desktop=False, sound=False)
    async with (
        open_console(tmp_path, qtbot) as console,
        wired(console, channels, monkeypatch) as w,
    ):
        runtime = console.workspace.runtime
        key = next(iter(runtime.accounts))
        now = runtime.clock.now()
        runtime.notices.emit(
            StateChanged(now, key, GuardState.ACTIVE, GuardState.WARNING, "test: 51%", *AT)
        )
        runtime.notices.emit(Alert(now, Level.WARNING, "test: marker", key))
        await until(lambda: any(m.body == "test: 51%" for m in w.alerts.recent), what="the message")
        await until(
            lambda: any("test: marker" in m for m in console.window.banner.recent),
            what="a later notice on the banner",
        )
        assert w.sound.played == []
        assert w.desktop == []
        assert w.alerts.phone is None


def _bodies(w: Wired, body: str) -> list[str]:
    return [b for _, b in w.desktop if b == body]


async def test_a_failing_phone_says_so_once_on_the_banner(tmp_path, qtbot, monkeypatch) -> None:
    async with (
        HttpRecorder(status=500) as phone,
        open_console(tmp_path, qtbot) as console,
        wired(console, AlertChannels(phone_url=phone.url), monkeypatch) as w,
    ):
        runtime = console.window.runtime
        keys = list(runtime.accounts)
        now = runtime.clock.now()
        for key in keys:
            runtime.notices.emit(
                StateChanged(now, key, GuardState.ACTIVE, GuardState.WARNING, "test: 50%", *AT)
            )
        sender = w.alerts.phone
        assert sender is not None
        await until(lambda: sender.failed >= len(keys), what="every post to fail")
        assert len(phone.requests) >= len(keys), "the posts did reach the server"
        await until(
            lambda: any("Phone alerts are failing" in m for m in console.window.banner.recent),
            what="the banner",
        )
        failing = [m for m in console.window.banner.recent if "Phone alerts are failing" in m]
        assert len(failing) == 1, "said once, not once per message"
        assert "HTTP 500" in failing[0]
        assert len(_bodies(w, "test: 50%")) == len(keys), "the other channels still work"


# -- the sound player ---------------------------------------------------------------------------
def _path_with(monkeypatch: pytest.MonkeyPatch, *found: str) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}" if name in found else None)


@pytest.mark.parametrize(
    ("platform", "found", "command"),
    [
        ("linux", ("paplay", "pw-play", "aplay"), ["/usr/bin/paplay"]),
        ("linux", ("pw-play", "aplay"), ["/usr/bin/pw-play"]),
        ("linux", ("aplay",), ["/usr/bin/aplay", "-q"]),
        ("linux", (), None),
        ("darwin", ("afplay", "paplay"), ["/usr/bin/afplay"]),
        ("darwin", ("paplay",), None),
        ("win32", ("paplay",), None),  # winsound, no command
    ],
)
def test_the_player_is_the_first_one_on_the_path(monkeypatch, platform, found, command) -> None:
    _path_with(monkeypatch, *found)
    assert player_command(platform) == command


@dataclass
class FakeChild:
    argv: list[str]
    running: bool = True
    terminated: bool = False

    def poll(self) -> int | None:
        return None if self.running else 0

    def terminate(self) -> None:
        self.terminated = True
        self.running = False

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def kill(self) -> None:
        self.running = False


@dataclass
class Spawner:
    children: list[FakeChild] = field(default_factory=list)
    fail: bool = False

    def __call__(self, argv: list[str], **kwargs: Any) -> FakeChild:
        if self.fail:
            raise FileNotFoundError(argv[0])
        assert kwargs["stdout"] == subprocess.DEVNULL, "the player never writes into our output"
        child = FakeChild(argv)
        self.children.append(child)
        return child


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_player_plays_the_sound_for_the_level_without_waiting(monkeypatch) -> None:
    _path_with(monkeypatch, "pw-play")
    spawn, clock, beeps = Spawner(), Clock(), []
    player = SoundPlayer(
        platform="linux", popen=spawn, beep=lambda: beeps.append(1), monotonic=clock
    )
    assert player.play(Level.WARNING)
    assert spawn.children[0].argv == ["/usr/bin/pw-play", str(sound_file(Level.WARNING))]
    assert sound_file(Level.WARNING).name == "alert.wav"
    # A burst makes one sound, unless something worse comes.
    clock.now += 0.5
    assert not player.play(Level.WARNING)
    assert player.play(Level.CRITICAL)
    assert spawn.children[1].argv[-1].endswith("critical.wav")
    clock.now += 0.5
    assert not player.play(Level.CRITICAL)
    clock.now += 5
    assert player.play(Level.WARNING)
    assert len(spawn.children) == 3
    assert beeps == []
    # Finished players are collected; close() stops what still plays.
    spawn.children[0].running = False
    player.reap()
    assert player.children == spawn.children[1:]
    player.close()
    assert player.children == []
    assert all(c.terminated for c in spawn.children[1:])


@pytest.mark.parametrize(
    ("platform", "found", "fail"),
    [("linux", (), False), ("linux", ("paplay",), True), ("win32", (), False)],
)
def test_without_a_working_player_it_beeps(monkeypatch, platform, found, fail) -> None:
    _path_with(monkeypatch, *found)
    monkeypatch.setitem(sys.modules, "winsound", None)  # no winsound here: ImportError
    beeps: list[int] = []
    player = SoundPlayer(platform=platform, popen=Spawner(fail=fail), beep=lambda: beeps.append(1))
    assert player.play(Level.CRITICAL)
    assert beeps == [1]
    assert player.children == []


async def test_a_real_player_process_is_reaped(qapp) -> None:
    player = SoundPlayer(platform="linux", command=[sys.executable, "-c", "pass"])
    try:
        assert player.play(Level.WARNING)
        (child,) = player.children
        await until(lambda: child.poll() is not None, what="the player to finish")
        player.reap()
        assert player.children == []
        with pytest.raises(ChildProcessError):
            os.waitpid(child.pid, os.WNOHANG)  # already collected: no zombie left
    finally:
        player.close()


@pytest.mark.parametrize(
    ("level", "shortest", "longest"), [(Level.WARNING, 0.2, 0.6), (Level.CRITICAL, 0.6, 1.5)]
)
def test_the_sound_files_are_valid_wav(level, shortest, longest) -> None:
    with wave.open(str(sound_file(level)), "rb") as wav:
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        assert wav.getframerate() == 22_050
        seconds = wav.getnframes() / wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    assert shortest <= seconds <= longest
    samples = array.array("h", frames)
    assert max(abs(s) for s in samples) > 8000, "audible"
    assert abs(samples[0]) < 500, "faded in: no click"
    assert abs(samples[-1]) < 500, "faded out: no click"


# -- the channels the console runs with ---------------------------------------------------------
def test_the_console_takes_its_channels_from_the_settings(caplog) -> None:
    assert console_channels(None, audible=True) == AlertChannels()
    assert console_channels(None, audible=False) == AlertChannels(sound=False)
    settings = AlertSettings(
        desktop=False, phone_url="https://ntfy.sh/desk", phone_min_level="info"
    )
    assert console_channels(settings, audible=True) == AlertChannels(
        desktop=False, sound=True, phone_url="https://ntfy.sh/desk", phone_min_level=Level.INFO
    )
    # A URL the settings let through but no phone can use: the console runs, without a phone.
    unusable = console_channels(AlertSettings(phone_url="https:///desk"), audible=True)
    assert unusable == AlertChannels()
    assert "phone alerts off" in caplog.text


async def test_a_flapping_warning_fires_the_channels_once_and_shows_once_with_a_count(
    tmp_path, qtbot, monkeypatch
) -> None:
    # Issue 13: WARNING <-> ACTIVE flapped dozens of times. Within the quiet time a repeat is one
    # banner line with a count, one sound, one balloon, one phone message; the "eased" notes get
    # no balloon (information never covers the tray menu).
    async with (
        HttpRecorder() as phone,
        open_console(tmp_path, qtbot) as console,
        wired(console, AlertChannels(phone_url=phone.url), monkeypatch) as w,
    ):
        runtime, banner = console.workspace.runtime, console.window.banner
        key = next(iter(runtime.accounts))
        now = runtime.clock.now()
        sounds = len(w.sound.played)
        for i in range(3):
            at = now + timedelta(seconds=10 * i)
            up = (GuardState.ACTIVE, GuardState.WARNING)
            down = (GuardState.WARNING, GuardState.ACTIVE)
            runtime.notices.emit(StateChanged(at, key, *up, f"test: flap {50 + i}%", *AT))
            runtime.notices.emit(Alert(at, Level.WARNING, f"test: flap {50 + i}%", key))
            later = at + timedelta(seconds=5)
            runtime.notices.emit(StateChanged(later, key, *down, "test: flap eased", *AT))
            runtime.notices.emit(Alert(later, Level.WARNING, "eased: test: flap eased", key))
        await until(
            lambda: sum(m.body == "test: flap eased" for m in w.alerts.recent) == 1,
            what="the channels' messages",
        )
        flaps = [e for e in banner.log.entries if "test: flap" in e.text]
        assert sorted(e.count for e in flaps) == [3, 3], "two lines, three times each"
        assert [b for _, b in w.desktop if "test: flap" in b] == ["test: flap 50%"]
        assert w.sound.played[sounds:].count(Level.WARNING) == 1

        # The phone: the first warning and its all-clear, then nothing more queued.
        def posts() -> list[str]:
            return [p.body.decode() for p in phone.requests if "flap" in p.body.decode()]

        await until(lambda: len(posts()) >= 2, 5.0, what="the phone")
        assert posts() == ["test: flap 50%", "test: flap eased"]
        assert w.alerts.phone is not None
        assert w.alerts.phone.pending == 0
