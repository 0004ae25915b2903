"""The console on the demo: it builds, FLATTEN ALL flattens and locks every account, unlock asks."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit
from ui_helpers import Console, open_console, until

from propdesk.domain.guard import GuardState
from propdesk.runtime.engine import Runtime
from propdesk.runtime.notices import Alert, Level
from propdesk.ui.main_window import MainWindow

DEMO_ACCOUNTS = ("sim:TS-50K", "sim:APEX-50K", "sim:TDY-50K")

pytestmark = pytest.mark.timeout(60)


def _has_position(runtime: Runtime) -> bool:
    return any(p.net for a in runtime.accounts.values() for p in a.risk.ledger.positions.values())


def _all_locked(console: Console) -> bool:
    runtime = console.workspace.runtime
    return all(a.risk.status.state is GuardState.LOCKED for a in runtime.accounts.values())


async def _flat_at_broker(console: Console) -> None:
    """Fresh reads from the broker until no account holds a position or a working order.

    Polled, not read once: the demo strategy keeps trying to trade its locked accounts, and the lock
    closes what it opens; a read can land between the two.
    """
    workspace = console.workspace
    refs = [a.ref for a in workspace.runtime.accounts.values()]
    reads = []

    async def flat() -> bool:
        snapshot = await workspace.demo.broker.snapshot(refs)
        reads.append(snapshot)
        return all(snapshot.is_flat(ref) for ref in refs)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not await flat():
        assert loop.time() < deadline, f"not flat at the broker: {reads[-1]}"
        await asyncio.sleep(0.02)


def _points(window: MainWindow) -> int:
    x, _y = window.chart.curve.getData()
    return 0 if x is None else len(x)


async def test_window_builds_with_a_card_per_demo_account(tmp_path, qtbot) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        runtime = console.workspace.runtime
        assert set(window.cards) == set(runtime.accounts) == set(DEMO_ACCOUNTS)
        await until(lambda: window.bridge.current is not None, what="a first frame")
        await until(
            lambda: all(c.badge.text() for c in window.cards.values()), what="every state badge"
        )
        assert window.flatten_all_button.isVisible()
        assert window.header.exchange_clock.text().endswith(" CT")
        # The firm that prohibits bots is called out on its card, and only there.
        assert window.cards["sim:APEX-50K"].automation.isVisible()
        assert not window.cards["sim:TS-50K"].automation.isVisible()
        # The chart draws the selected account's equity against its floors.
        await until(lambda: _points(window) > 1, what="equity on the chart")
        assert window.chart.max_loss_line.isVisible()
        assert window.chart.daily_line.isVisible()


async def test_flatten_all_click_flattens_verifies_and_locks_every_account(tmp_path, qtbot) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window, runtime = console.window, console.workspace.runtime
        await until(lambda: _has_position(runtime), what="the demo strategy to open a position")

        qtbot.mouseClick(window.flatten_all_button, Qt.MouseButton.LeftButton)
        assert window.kill_tasks, "the click returns at once; the flatten runs as a task"
        assert window.painting_held, "no repaint lands between the requests and the verification"

        await until(lambda: window.last_kill is not None, what="the flatten to finish")
        assert not window.painting_held, "the window paints again once every account is verified"
        assert {r.account for r in window.last_kill} == set(runtime.accounts)
        assert all(r.flat for r in window.last_kill), window.last_kill
        await _flat_at_broker(console)
        await until(lambda: _all_locked(console), what="every account LOCKED")
        await until(
            lambda: all(c.badge.text() == "LOCKED" for c in window.cards.values()),
            what="LOCKED badges on the cards",
        )
        for card in window.cards.values():
            assert card.unlock_button.isVisible()
            assert "FLAT (verified)" in card.flatten_result.text()
        assert "verified flat" in window.banner.label.text()


async def test_unlock_asks_a_confirmation_that_states_its_scope(tmp_path, qtbot) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window, runtime = console.window, console.workspace.runtime
        qtbot.mouseClick(window.flatten_all_button, Qt.MouseButton.LeftButton)
        await until(lambda: _all_locked(console), what="every account LOCKED")
        await until(lambda: window.cards["sim:TDY-50K"].unlock_button.isVisible(), what="unlock")
        card = window.cards["sim:TDY-50K"]

        console.asked.answer = False
        qtbot.mouseClick(card.unlock_button, Qt.MouseButton.LeftButton)
        title, question = console.asked.questions[-1]
        assert "Tradeify 50K Growth" in title
        assert "sim:TDY-50K" in question
        assert "this one account only" in question
        assert "other 2 account(s) keep their state" in question
        assert "Unlocking: the firm's limits and your protocol apply again at once" in question
        assert runtime.accounts["sim:TDY-50K"].risk.status.state is GuardState.LOCKED

        console.asked.answer = True
        qtbot.mouseClick(card.unlock_button, Qt.MouseButton.LeftButton)
        assert runtime.accounts["sim:TDY-50K"].risk.status.state is not GuardState.LOCKED
        await until(lambda: card.badge.text() != "LOCKED", what="the badge to leave LOCKED")
        assert not card.unlock_button.isVisible()
        others = [k for k in runtime.accounts if k != "sim:TDY-50K"]
        assert all(runtime.accounts[k].risk.status.state is GuardState.LOCKED for k in others)


@pytest.mark.parametrize(
    "keys",
    [
        ("F12", Qt.Key.Key_F12, Qt.KeyboardModifier.NoModifier),
        (
            "Ctrl+Shift+F",
            Qt.Key.Key_F,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
        ),
    ],
)
async def test_the_shortcut_flattens_whatever_has_focus(tmp_path, qtbot, keys) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        elsewhere = QLineEdit()  # another top-level window holds the focus
        qtbot.addWidget(elsewhere)
        elsewhere.show()
        elsewhere.activateWindow()
        elsewhere.setFocus()
        await until(elsewhere.hasFocus, what="focus on the other window")

        _name, key, modifiers = keys
        qtbot.keyClick(elsewhere, key, modifiers)
        assert window.kill_tasks or window.last_kill is not None, "the shortcut did not fire"
        await until(lambda: _all_locked(console), what="every account LOCKED")
        await _flat_at_broker(console)
        assert elsewhere.text() == ""  # the key went to the shortcut, not into the field


async def test_closing_asks_first_when_accounts_are_unlocked(tmp_path, qtbot) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        quits: list[bool] = []
        window.quit_requested.connect(lambda: quits.append(True))

        console.asked.answer = False
        window.close()
        assert console.asked.questions, "closing with unlocked accounts must ask"
        assert "Not locked" in console.asked.questions[-1][1]
        assert window.isVisible()
        assert not quits

        console.asked.answer = True
        window.close()
        assert quits == [True]


async def test_closing_asks_even_when_everything_is_flat_and_locked(tmp_path, qtbot) -> None:
    """Locked is not watched: a strategy may trade on, and nothing would close what it opens."""
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        quits: list[bool] = []
        window.quit_requested.connect(lambda: quits.append(True))
        window.flatten_all()
        await until(lambda: window.last_kill is not None, what="the flatten to finish")
        await until(lambda: _all_locked(console), what="every account LOCKED")
        await console.workspace.demo.strategy.stop()  # nothing opens a position again
        await _flat_at_broker(console)

        console.asked.answer = False
        window.close()
        title, question = console.asked.questions[-1]
        assert title == "Quit propdesk?"
        assert "Nothing will watch these 3 accounts while propdesk is closed" in question
        assert "Every account is locked, but a strategy may still be trading them" in question
        assert "Not locked" not in question
        assert quits == []
        assert window.isVisible()

        console.asked.answer = True
        window.close()
        assert quits == [True]


async def test_notices_reach_the_window_queued_never_inside_the_runtimes_call(
    tmp_path, qtbot
) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window, runtime = console.window, console.workspace.runtime
        alert = Alert(runtime.clock.now(), Level.CRITICAL, "test: link lost", "sim:TS-50K")
        runtime.notices.emit(alert)
        # The runtime's emit returned without running any Qt code: nothing drawn yet.
        assert window.banner.shown is None or "link lost" not in window.banner.shown.text
        await until(
            lambda: window.banner.shown is not None and "link lost" in window.banner.shown.text,
            what="the banner",
        )
        assert window.banner.isVisible()
        assert window.banner.shown.level is Level.CRITICAL
        assert "Topstep 50K Combine" in window.banner.label.text()


async def test_a_locked_account_whose_strategy_trades_on_says_so_on_its_card(
    tmp_path, qtbot
) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window, runtime = console.window, console.workspace.runtime
        window.flatten_all()
        await until(lambda: _all_locked(console), what="every account LOCKED")
        # The demo strategy trades on into its lock until the first re-flatten stops it.
        await until(
            lambda: any(a.risk.status.reflattens for a in runtime.accounts.values()),
            timeout=30.0,
            what="a re-flatten",
        )
        key = next(k for k, a in runtime.accounts.items() if a.risk.status.reflattens)
        window.bridge.tick()
        lines = window.cards[key].lock.text().splitlines()
        assert lines[0] == "Locked until you unlock it"
        assert lines[1].startswith("Strategy still trading a locked account: 1 re-flatten, ")
        assert lines[1].endswith(" since the lock")
