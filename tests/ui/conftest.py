"""Console tests: offscreen Qt, one QApplication for the session, a qasync loop per test.

The platform and the binding are chosen here, before anything imports Qt's GUI side. Async tests run
on a qasync loop through pytest-asyncio's `pytest_asyncio_loop_factories` hook (this directory only),
so Qt timers fire while the scenario awaits. Inside a coroutine, wait with `until()` (it polls while the
loop runs), never `qtbot.waitSignal` (research/qt-stack.md: it times out and hangs the teardown).

The console (runtime, simulator, window) lives and dies INSIDE the test coroutine (`open_console`), not
in an async fixture: pytest-qt processes Qt events between a test's phases, while no loop runs, and a
qasync timer firing then resumes the simulator's tasks outside a running loop ("no running event
loop"). Measured: the same tests with an async fixture errored at teardown.

Every test must leave no QTimer running, no thread alive (napari's guard) and no error in the loop's
exception handler (qasync's own test model); any Qt warning fails it (`qt_log_level_fail` in
pyproject.toml).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_API"] = "pyside6"

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from propdesk.ui.app import create_app
from propdesk.ui.loop import ConsoleLoop


def _app() -> QApplication:
    return create_app(["propdesk-tests"])


# What the loop's exception handler saw during the current test (a task that died unawaited).
LOOP_ERRORS: list[str] = []


def _qasync_loop() -> qasync.QEventLoop:
    loop = ConsoleLoop(_app())  # the console's own loop (qasync, callbacks batched)

    def handler(_loop: object, context: dict[str, Any]) -> None:
        error = context.get("exception")
        LOOP_ERRORS.append(f"{context.get('message')}: {error!r}")

    loop.set_exception_handler(handler)
    return loop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    return {"qasync": _qasync_loop}


@pytest.fixture(scope="session")
def qapp() -> QApplication:
    """The session's one QApplication, themed, as the console makes it."""
    return _app()


@pytest.fixture(autouse=True)
def no_leftover_timers_threads_or_loop_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    started: dict[int, QTimer] = {}  # by identity: the loop's drain timer starts every turn
    original = QTimer.start

    def start(self: QTimer, *args: Any) -> None:
        started[id(self)] = self
        original(self, *args)

    monkeypatch.setattr(QTimer, "start", start)
    threads = set(threading.enumerate())
    LOOP_ERRORS.clear()
    yield
    running = []
    for timer in started.values():
        try:
            if timer.isActive():
                running.append(f"{timer!r} interval {timer.interval()} ms")
        except RuntimeError:
            continue  # its C++ object is gone: it cannot fire
    alive = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    for timer in started.values():
        with contextlib.suppress(RuntimeError):
            timer.stop()
    problems = [f"QTimer still running: {r}" for r in running]
    problems += [f"thread still alive: {t.name}" for t in alive]
    problems += [f"asyncio loop error: {e}" for e in LOOP_ERRORS]
    if problems:
        pytest.fail("the test left work behind:\n  " + "\n  ".join(problems))
