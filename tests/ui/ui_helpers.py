"""Helpers for the console tests (imported by name: tests/ui is on sys.path while they run)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from propdesk.app import DemoWorkspace, build_demo_workspace
from propdesk.ui.main_window import MainWindow

SPEED = 60.0  # demo clock: an hour a minute (the Topstep cutoff is ~55 real seconds away)


async def until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll `predicate` while the loop (and Qt with it) runs; fail after `timeout` real seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


@dataclass
class Asked:
    """A stand-in for the confirmation dialog: records each question, answers `answer`."""

    answer: bool = True
    questions: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, title: str, question: str, answered: Callable[[bool], None]) -> None:
        self.questions.append((title, question))
        answered(self.answer)


@dataclass
class Console:
    window: MainWindow
    workspace: DemoWorkspace
    asked: Asked


@contextlib.asynccontextmanager
async def open_console(tmp_path: Path, qtbot: Any) -> AsyncIterator[Console]:
    """The demo workspace running, its window shown at 1366×768; torn down as the console does."""
    workspace = build_demo_workspace(
        speed=SPEED, seed=7, journal=tmp_path / "journal.sqlite", control_path=None
    )
    await workspace.start()
    asked = Asked()
    window = MainWindow(workspace.runtime, label=workspace.label, confirm=asked)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    window.start()
    try:
        yield Console(window, workspace, asked)
    finally:
        window.stop()
        await window.settle()
        await workspace.stop()
        window.close_for_good()
        workspace.close()
