"""FLATTEN ALL works with any other window open: a question, a modal dialog, a message box.

The questions the console asks are non-modal, so the window's FLATTEN ALL button still takes a click;
F12 and Ctrl+Shift+F are caught on the application, so they work even inside a modal dialog that
blocks the main window (a dialog of Qt's own or a plugin's).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QDialog, QLineEdit, QMessageBox, QVBoxLayout
from ui_helpers import Console, open_console, until

from propdesk.domain.guard import GuardState

pytestmark = [
    pytest.mark.timeout(60),
    # The offscreen platform cannot pass a dialog's size hints to a window manager; it says so.
    pytest.mark.qt_log_ignore("does not support propagateSizeHints"),
]

KEYS = [
    ("F12", Qt.Key.Key_F12, Qt.KeyboardModifier.NoModifier),
    (
        "Ctrl+Shift+F",
        Qt.Key.Key_F,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    ),
]


def _all_locked(console: Console) -> bool:
    runtime = console.workspace.runtime
    return all(a.risk.status.state is GuardState.LOCKED for a in runtime.accounts.values())


async def test_the_button_takes_a_click_while_the_quit_question_is_open(tmp_path, qtbot) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        answers: list[bool] = []
        window.questions("Quit propdesk?", window.quit_question(), answers.append)
        box = window.questions.open["Quit propdesk?"]
        await until(box.isVisible, what="the quit question")
        assert not box.isModal()
        assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)

        qtbot.mouseClick(window.flatten_all_button, Qt.MouseButton.LeftButton)
        assert window.kill_tasks or window.last_kill is not None, "the click did not flatten"
        await until(lambda: _all_locked(console), what="every account LOCKED")
        assert answers == [], "the question is still open, unanswered"
        box.button(QMessageBox.StandardButton.No).click()
        assert answers == [False]
        assert "Quit propdesk?" not in window.questions.open


@pytest.mark.parametrize("keys", KEYS, ids=[k[0] for k in KEYS])
async def test_the_keys_flatten_from_inside_a_modal_dialog(tmp_path, qtbot, keys) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        dialog = QDialog(window)
        dialog.setModal(True)  # blocks the main window: its own shortcuts would stay silent
        field = QLineEdit(dialog)
        QVBoxLayout(dialog).addWidget(field)
        dialog.show()
        dialog.activateWindow()
        field.setFocus()
        await until(field.hasFocus, what="focus in the modal dialog")

        _name, key, modifiers = keys
        qtbot.keyClick(field, key, modifiers)
        assert window.kill_tasks or window.last_kill is not None, "the keys did not flatten"
        await until(lambda: _all_locked(console), what="every account LOCKED")
        assert field.text() == "", "the key went to FLATTEN ALL, not into the field"
        dialog.close()


async def test_one_key_press_is_one_flatten_and_a_held_key_adds_none(tmp_path, qtbot) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        flattens: list[bool] = []
        window.flatten_keys.pressed.connect(lambda: flattens.append(True))
        qtbot.keyClick(window, Qt.Key.Key_F12)
        assert flattens == [True]
        held = QKeyEvent(
            QEvent.Type.KeyPress, Qt.Key.Key_F12, Qt.KeyboardModifier.NoModifier, "", True
        )
        QApplication.sendEvent(window, held)
        assert flattens == [True]
        await until(lambda: _all_locked(console), what="every account LOCKED")


async def test_the_filter_goes_with_the_window(tmp_path, qtbot) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        window.stop()
        flattens: list[bool] = []
        window.flatten_keys.pressed.connect(lambda: flattens.append(True))
        other = QLineEdit()
        qtbot.addWidget(other)
        qtbot.keyClick(other, Qt.Key.Key_F12)
        assert flattens == [], "a stopped window's filter is off the application"
        window.start()
