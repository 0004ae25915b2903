"""The loop-stall watchdog: a held event loop is logged while it lasts and alerted once it ends.

Holding the loop with a blocking `time.sleep` is the behaviour under test here (a slow repaint or a
blocking call does the same), not a wait for an event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from notice_wait import notice_matching

from propdesk.app import build_demo_workspace
from propdesk.runtime.loop_watchdog import LoopWatchdog, Stall
from propdesk.runtime.notices import Alert, Level, Topic


def hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)


async def test_a_held_loop_is_logged_with_where_it_is_held_and_reported_when_it_turns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stalls: list[Stall] = []
    reported = asyncio.Event()

    def on_stall(stall: Stall) -> None:
        stalls.append(stall)
        reported.set()

    watchdog = LoopWatchdog(on_stall, limit=0.3, beat=0.05)
    task = asyncio.create_task(watchdog.run())
    try:
        await asyncio.sleep(0)  # the beat starts (and with it the watcher thread)
        with caplog.at_level(logging.ERROR, logger="propdesk.runtime.loop_watchdog"):
            asyncio.get_running_loop().call_soon(hold_the_loop, 0.8)
            await asyncio.wait_for(reported.wait(), timeout=10.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    (stall,) = stalls
    assert stall.seconds >= 0.3
    assert "in hold_the_loop" in stall.where
    logged = [r for r in caplog.records if "event loop has been held" in r.getMessage()]
    assert len(logged) == 1, "one log line per stall, written while the loop was still held"
    assert "hold_the_loop" in logged[0].getMessage()
    assert logged[0].threadName == "loop watchdog"
    assert watchdog._watcher is None, "the watcher thread ends with the beat"


def test_the_beat_must_be_shorter_than_the_limit() -> None:
    with pytest.raises(ValueError, match="beat < limit"):
        LoopWatchdog(lambda _stall: None, limit=0.5, beat=0.5)


async def test_the_runtime_alerts_a_stall_on_every_channel(tmp_path: Path) -> None:
    workspace = build_demo_workspace(
        speed=10.0, seed=7, journal=tmp_path / "journal.sqlite", control_path=None
    )
    runtime = workspace.runtime
    await workspace.start()
    try:
        asyncio.get_running_loop().call_soon(hold_the_loop, 1.4)
        alert = await notice_matching(
            runtime, [], lambda n: isinstance(n, Alert) and n.topic is Topic.LOOP
        )
    finally:
        await workspace.stop()
        workspace.close()
    assert isinstance(alert, Alert)
    assert alert.level is Level.WARNING
    assert alert.account is None
    assert "event loop stalled for 1." in alert.text
    assert "`propdesk flatten` waited" in alert.text
    assert "in hold_the_loop" in alert.text
