"""The console's process in-process: the smoke path, a timed run with the control socket, the error hook."""

from __future__ import annotations

import asyncio
import io
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import QSize

from propdesk.app import build_demo_workspace
from propdesk.runtime import control_client
from propdesk.ui.app import ErrorHook, Options, run


def test_smoke_run_renders_one_frame_and_returns_0(qapp, tmp_path: Path) -> None:
    workspace = build_demo_workspace(
        speed=60.0, seed=7, journal=tmp_path / "journal.sqlite", control_path=None
    )
    out, err = io.StringIO(), io.StringIO()
    shot = tmp_path / "frame.png"
    options = Options(smoke=True, size=QSize(1920, 1080), screenshot=shot)
    assert run(workspace, options, out=out, err=err) == 0, err.getvalue()
    assert "rendered 1920x1080" in out.getvalue()
    assert shot.stat().st_size > 10_000


def test_a_timed_run_serves_the_control_socket_and_stops_cleanly(qapp, tmp_path: Path) -> None:
    short = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))  # AF_UNIX paths are short
    try:
        socket = short / "control.sock"
        workspace = build_demo_workspace(
            speed=60.0, seed=7, journal=tmp_path / "journal.sqlite", control_path=socket
        )
        replies: list[dict] = []

        async def ask_status() -> None:
            # A client on the side, as `propdesk status` would be; the socket listens once
            # start() has returned, so no wait is needed.
            replies.append(
                await control_client.request({"cmd": "status"}, path=socket, timeout=10.0)
            )

        options = Options(run_for=2.5)

        class Workspace:
            runtime = workspace.runtime
            label = workspace.label
            is_demo = True
            alert_settings = None

            def alerts_at_open(self) -> list[str]:
                return []

            async def start(self) -> None:
                await workspace.start()
                self.task = asyncio.get_running_loop().create_task(ask_status())

            async def stop(self) -> None:
                await self.task
                await workspace.stop()

            def close(self) -> list[str]:
                return workspace.close()

        assert run(Workspace(), options) == 0
        (status,) = replies
        assert {a["account"] for a in status["accounts"]} == {
            "sim:TS-50K",
            "sim:APEX-50K",
            "sim:TDY-50K",
        }
        assert not socket.exists()
    finally:
        shutil.rmtree(short, ignore_errors=True)


def test_the_error_hook_logs_counts_and_never_swallows(caplog: pytest.LogCaptureFixture) -> None:
    err = io.StringIO()
    hook = ErrorHook(show=False, err=err)
    hook.install()
    try:
        assert sys.excepthook == hook.excepthook
        try:
            raise ValueError("boom in a slot")
        except ValueError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        loop = asyncio.new_event_loop()
        hook.loop_handler(loop, {"message": "Task exception", "exception": KeyError("k")})
        loop.close()
    finally:
        hook.uninstall()
    assert sys.excepthook is not hook.excepthook
    assert hook.errors == ["ValueError: boom in a slot", "Task exception: KeyError: 'k'"]
    assert "boom in a slot" in err.getvalue()
    assert "unexpected error" in caplog.text
