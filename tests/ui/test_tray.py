"""The tray icon: coloured by the worst account state, a tooltip per account, Show / Flatten all / Quit.

Offscreen there is no tray host (isSystemTrayAvailable() is False) but the icon object, its menu and
its drawing work all the same: that is what is tested here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QSystemTrayIcon
from ui_helpers import Console, open_console, until

from propdesk.app import build_demo_workspace
from propdesk.domain.guard import GuardState
from propdesk.runtime.alerting import AlertMessage
from propdesk.runtime.notices import Level
from propdesk.ui import main_window, theme
from propdesk.ui.app import Options, run
from propdesk.ui.tray import ICON_SIZE, ConsoleTray, state_icon, worst_state

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
NAMES = {"sim:A": "Alpha 50K", "sim:B": "Bravo 50K", "sim:C": "Charlie 50K"}


def _colour_of(tray: ConsoleTray) -> str:
    """The colour of the icon's disc (left of its letter, inside the circle)."""
    image = tray.icon().pixmap(ICON_SIZE, ICON_SIZE).toImage()
    return QColor(image.pixel(ICON_SIZE // 6, ICON_SIZE // 2)).name()


@pytest.fixture
def tray(qapp) -> Any:
    icon = ConsoleTray(NAMES)
    yield icon
    icon.close()


def test_the_worst_state_wins() -> None:
    assert worst_state({}) is GuardState.ACTIVE
    assert worst_state({"a": GuardState.ACTIVE, "b": GuardState.WARNING}) is GuardState.WARNING
    assert (
        worst_state({"a": GuardState.LOCKED, "b": GuardState.REDUCE_ONLY, "c": GuardState.ACTIVE})
        is GuardState.LOCKED
    )


@pytest.mark.parametrize("state", list(GuardState))
def test_each_state_has_an_icon_in_its_colour(qapp, state) -> None:
    image = state_icon(state).pixmap(ICON_SIZE, ICON_SIZE).toImage()
    assert (
        QColor(image.pixel(ICON_SIZE // 6, ICON_SIZE // 2)).name() == theme.STATE_COLOURS[state][0]
    )
    assert image.pixelColor(0, 0).alpha() == 0, "outside the disc is transparent"


def test_the_icon_takes_the_colour_of_the_worst_state(tray) -> None:
    tray.show_states({"sim:A": GuardState.ACTIVE, "sim:B": GuardState.ACTIVE})
    assert tray.state is GuardState.ACTIVE
    assert _colour_of(tray) == theme.STATE_COLOURS[GuardState.ACTIVE][0]

    tray.show_states({"sim:A": GuardState.ACTIVE, "sim:B": GuardState.WARNING})
    assert tray.state is GuardState.WARNING
    assert _colour_of(tray) == theme.STATE_COLOURS[GuardState.WARNING][0]

    tray.show_states(
        {"sim:A": GuardState.REDUCE_ONLY, "sim:B": GuardState.WARNING, "sim:C": GuardState.LOCKED}
    )
    assert tray.state is GuardState.LOCKED
    assert _colour_of(tray) == theme.STATE_COLOURS[GuardState.LOCKED][0]

    tray.show_states({"sim:A": GuardState.ACTIVE, "sim:B": GuardState.WARNING})
    assert _colour_of(tray) == theme.STATE_COLOURS[GuardState.WARNING][0], "and back down"


def test_the_tooltip_lists_every_accounts_state(tray) -> None:
    tray.show_states(
        {"sim:A": GuardState.ACTIVE, "sim:B": GuardState.REDUCE_ONLY, "sim:C": GuardState.LOCKED}
    )
    lines = tray.toolTip().splitlines()
    assert lines == [
        "propdesk — LOCKED",
        "Alpha 50K: ACTIVE",
        "Bravo 50K: REDUCE ONLY",
        "Charlie 50K: LOCKED",
    ]


def test_the_menu_is_show_flatten_all_quit(tray) -> None:
    texts = [a.text() for a in tray.contextMenu().actions() if not a.isSeparator()]
    assert texts == ["Show propdesk", "FLATTEN ALL accounts", "Quit propdesk…"]


@pytest.mark.parametrize(
    ("level", "icon"),
    [
        (Level.WARNING, QSystemTrayIcon.MessageIcon.Warning),
        (Level.CRITICAL, QSystemTrayIcon.MessageIcon.Critical),
    ],
)
def test_a_notification_carries_title_body_and_level(tray, monkeypatch, level, icon) -> None:
    shown: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tray, "showMessage", lambda *args: shown.append(args))
    message = AlertMessage(NOW, level, "Alpha 50K: NOT FLAT", "still 1 position(s)", "sim:A", "k")
    tray.notify(message)
    ((title, body, kind, _ms),) = shown
    assert (title, body, kind) == ("Alpha 50K: NOT FLAT", "still 1 position(s)", icon)


def test_information_gets_no_balloon(tray, monkeypatch) -> None:
    # An "eased" balloon covered the tray menu's FLATTEN ALL (issue 13): information is in the
    # window's banner and history, never over the tray.
    shown: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tray, "showMessage", lambda *args: shown.append(args))
    eased = AlertMessage(NOW, Level.INFO, "Alpha 50K: eased to ACTIVE", "back", "sim:A", "k")
    assert tray.notify(eased) is False
    assert shown == []
    warning = AlertMessage(NOW, Level.WARNING, "Alpha 50K: WARNING", "50% used", "sim:A", "w")
    assert tray.notify(warning) is True
    assert len(shown) == 1


# -- on the running console ---------------------------------------------------------------------
def _all_locked(console: Console) -> bool:
    runtime = console.workspace.runtime
    return all(a.risk.status.state is GuardState.LOCKED for a in runtime.accounts.values())


async def test_the_tray_follows_the_console_and_flatten_all_locks_every_account(
    tmp_path, qtbot
) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window, runtime = console.window, console.workspace.runtime
        tray = ConsoleTray.for_window(window)
        try:
            names = [a.setup.name for a in runtime.accounts.values()]
            await until(
                lambda: all(name in tray.toolTip() for name in names),
                what="every account in the tooltip",
            )
            assert tray.state is not None

            tray.flatten_action.trigger()
            assert window.kill_tasks, "the menu returns at once; the flatten runs as a task"
            await until(lambda: window.last_kill is not None, what="the flatten to finish")
            assert {r.account for r in window.last_kill} == set(runtime.accounts)
            assert all(r.flat for r in window.last_kill), window.last_kill
            await until(lambda: _all_locked(console), what="every account LOCKED")
            await until(lambda: tray.state is GuardState.LOCKED, what="a LOCKED tray icon")
            assert _colour_of(tray) == theme.STATE_COLOURS[GuardState.LOCKED][0]
            assert tray.toolTip().count(": LOCKED") == len(runtime.accounts)
        finally:
            tray.close()


async def test_the_trays_quit_asks_with_open_risk_and_a_no_keeps_running(tmp_path, qtbot) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        tray = ConsoleTray.for_window(window)
        quits: list[bool] = []
        window.quit_requested.connect(lambda: quits.append(True))
        try:
            console.asked.answer = False
            tray.quit_action.trigger()
            assert console.asked.questions, "quitting with unlocked accounts must ask"
            title, question = console.asked.questions[-1]
            assert title == "Quit propdesk?"
            assert "Not locked" in question
            assert not quits
            assert console.workspace.runtime.started, "refused: the console keeps running"
            assert window.bridge.running

            console.asked.answer = True
            tray.quit_action.trigger()
            assert quits == [True]
        finally:
            tray.close()


# Offscreen windows cannot be raised; Qt says so (a real desktop raises it).
@pytest.mark.qt_log_ignore("This plugin does not support raise")
async def test_with_a_tray_closing_hides_and_show_brings_the_window_back(tmp_path, qtbot) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        window.has_tray = True  # as the console sets it where a tray exists
        tray = ConsoleTray.for_window(window)
        quits: list[bool] = []
        window.quit_requested.connect(lambda: quits.append(True))
        try:
            window.close()
            assert not window.isVisible(), "the console lives on in the tray"
            assert console.asked.questions == [], "hiding asks nothing"
            assert not quits
            assert console.workspace.runtime.started

            tray.show_action.trigger()
            assert window.isVisible()
            window.close()
            tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
            assert window.isVisible(), "a click on the icon shows the window too"
        finally:
            window.has_tray = False
            tray.close()


# -- in the console's process -------------------------------------------------------------------
def test_where_a_tray_exists_the_console_hides_on_close_and_quits_from_the_tray_after_asking(
    qapp, tmp_path, monkeypatch
) -> None:
    """`run()` as a user starts it, with a tray host (faked: offscreen has none)."""
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    trays: list[ConsoleTray] = []
    for_window = ConsoleTray.for_window.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        ConsoleTray,
        "for_window",
        classmethod(lambda cls, window: trays.append(for_window(cls, window)) or trays[-1]),
    )
    asked: list[str] = []

    class Questions:
        def __init__(self, _parent: object) -> None:
            pass

        def __call__(self, title: str, question: str, answered: Callable[[bool], None]) -> None:
            asked.append(question)
            answered(True)

        def close_all(self) -> None:
            pass

    monkeypatch.setattr(main_window, "Questions", Questions)
    demo = build_demo_workspace(
        speed=60.0, seed=7, journal=tmp_path / "journal.sqlite", control_path=None
    )
    seen: dict[str, bool] = {}

    async def use_the_tray() -> None:
        await until(lambda: bool(trays) and trays[0].state is not None, what="the tray")
        tray = trays[0]
        window = tray.parent()
        assert isinstance(window, main_window.MainWindow)
        assert window.has_tray
        seen["tray visible"] = tray.isVisible()
        window.close()
        seen["hidden, not quit"] = not window.isVisible() and not asked
        tray.quit_action.trigger()

    class Workspace:
        def __getattr__(self, name: str) -> Any:
            return getattr(demo, name)

        async def start(self) -> None:
            await demo.start()
            self.task = asyncio.get_running_loop().create_task(use_the_tray())

        async def stop(self) -> None:
            await self.task
            await demo.stop()

    assert run(Workspace(), Options(run_for=20.0)) == 0
    assert seen == {"tray visible": True, "hidden, not quit": True}
    assert len(asked) == 1, "the tray's Quit asked, as closing does without a tray"
    assert "Not locked" in asked[0]
    assert not trays[0].isVisible(), "the tray icon is gone with the console"
