"""How the console starts: plain `propdesk` opens the window on the demo; `--smoke` renders one frame."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from propdesk import cli

ROOT = Path(__file__).resolve().parents[2]


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[name] = str(tmp_path / name.lower())
    env.update(
        HOME=str(tmp_path / "home"),
        QT_QPA_PLATFORM="offscreen",
        PROPDESK_CONTROL=str(tmp_path / "control.sock"),
        PYTHONPATH=str(ROOT),
    )
    return env


def test_plain_propdesk_opens_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr("propdesk.app.run_console", lambda args, out, err: seen.append(args) or 0)
    assert cli.main([]) == 0
    (args,) = seen
    assert not args.demo  # the settings decide; with none, the demo (test_workspace_choice)
    assert not args.headless
    assert not args.smoke
    assert args.speed == 60.0  # an hour of market a minute


def test_headless_still_runs_without_a_window(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr("propdesk.app.run_console", lambda *a: ran.append("console") or 0)
    monkeypatch.setattr("propdesk.app.run_headless", lambda *a: ran.append("headless") or 0)
    assert cli.main(["--headless", "--demo", "--for", "1"]) == 0
    assert ran == ["headless"]


def test_smoke_builds_the_window_offscreen_renders_a_frame_and_exits_0(tmp_path: Path) -> None:
    shot = tmp_path / "frame.png"
    done = subprocess.run(
        [sys.executable, "-m", "propdesk", "--smoke", "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_isolated_env(tmp_path),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "propdesk --smoke: rendered 1366x768 (offscreen), 3 accounts" in done.stdout
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert "Traceback" not in done.stderr


def test_a_bad_size_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--smoke", "--size", "big"]) == 2
    assert "expected WIDTHxHEIGHT" in capsys.readouterr().err


def test_an_unknown_until_state_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--smoke", "--until", "LOCKED,SLEEPY"]) == 2
    assert "unknown state SLEEPY" in capsys.readouterr().err


def test_smoke_until_renders_the_frame_that_shows_the_states(tmp_path: Path) -> None:
    # ACTIVE holds from the first quote: the frame is drawn at once and must show it.
    done = subprocess.run(
        [sys.executable, "-m", "propdesk", "--smoke", "--until", "active", "--for", "30"],
        capture_output=True,
        text=True,
        timeout=90,
        env=_isolated_env(tmp_path),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert " ACTIVE" in done.stdout
