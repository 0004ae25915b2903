"""The real console on a real X server: a mouse click on FLATTEN ALL flattens and locks every account.

`python -m propdesk` (no command: the console on the demo) runs on its own Xvfb display with Qt's
xcb platform, its own HOME and XDG dirs, and its control socket in a short private dir. The test
drives it only from outside, as a trader and a terminal would: the X server's pixels and pointer
(xdotool) and `propdesk status` over the control socket. Afterwards the journal is read read-only.

How the button is found: by its colour, in the pixels the X server shows. The window's pixels are
grabbed (a separate Qt client on the same display; the test process creates no QGuiApplication) and
split into 4-connected patches of theme.DANGER. FLATTEN ALL is the one *filled* patch of button size
in the top-right of the window. The other DANGER areas do not look like that: the per-account
FLATTEN buttons only have a 1-px DANGER outline (low fill), a red link pill is small and on the
left, a critical banner spans the window's width. This survives changes of margins, sizes, fonts and
DPI, and it only succeeds once the window is really painted, so the grab is simply repeated until
it does. Computing the position from the window geometry and the layout's
margins would break with any change of margins, fonts or header content. The click goes to the
window under the pointer, so it needs no focus; a keyboard shortcut (F12) would first need
`xdotool windowfocus`, since with no window manager nothing gives the window focus.

Before the grab the pointer is parked outside the window, so the button is not in its hover colour.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    DEMO_ACCOUNTS,
    ColourBlock,
    Console,
    Xvfb,
    colour_blocks,
    has_record,
    isolated_env,
    missing_x_tools,
    read_rows,
    remove_tree,
    run_cli,
    short_tmpdir,
    status,
    window_geometry,
    xdotool,
)

pytestmark = [
    pytest.mark.skipif(
        bool(missing_x_tools()),
        reason=f"needs {' and '.join(missing_x_tools())} on PATH (./dev installs them)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("PySide6") is None,
        reason="needs the gui extra (PySide6) to run the console",
    ),
    pytest.mark.timeout(150),  # the sum of the waits below, were each to run out
]

SIZE = (1366, 768)  # the smaller of the screens the console must fit
# 20x: the demo day starts at 13:45 CT, and the first rule that acts on its own (Topstep's
# reduce-only 10 minutes before the 14:40 CT cutoff) is 45 simulated minutes away = 135 s here.
SPEED = 20.0
SEED = 7
CONSOLE_REASON = "FLATTEN ALL from the console"


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = short_tmpdir("pdxv")
    yield path
    remove_tree(path)


@pytest.fixture
def display(workdir: Path) -> Iterator[Xvfb]:
    server = Xvfb(workdir / "xvfb.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def console(workdir: Path, display: Xvfb) -> Iterator[Console]:
    # Torn down before the display (fixtures end in reverse order), killed if still running.
    proc = Console(
        workdir,
        display.env(isolated_env(workdir)),
        workdir / "j.sqlite",
        args=("--size", f"{SIZE[0]}x{SIZE[1]}", "--seed", str(SEED), "--speed", str(SPEED)),
    )
    try:
        yield proc
    finally:
        proc.close()


def trading(workdir: Path) -> dict[str, Any] | None:
    """The status once the demo trades: link up, every account valued, quotes journaled, a position."""
    answer = status(workdir, timeout=2.0)
    accounts = {a["account"]: a for a in answer["accounts"]}
    links = {b["name"]: b["link"] for b in answer["brokers"]}
    if sorted(accounts) != sorted(DEMO_ACCOUNTS) or links.get("sim") != "connected":
        return None
    if any(a["equity"] is None or a["floor"] is None for a in accounts.values()):
        return None
    if not has_record(workdir / "j.sqlite", "mark"):
        return None
    # A position open somewhere, so the flatten has something to close.
    return answer if any(a["positions"] for a in accounts.values()) else None


def flatten_all_button(blocks: list[ColourBlock], width: int, height: int) -> ColourBlock | None:
    """The one filled, button-sized DANGER patch in the window's top-right quarter (None: not yet)."""
    found = [
        b
        for b in blocks
        if 40 <= b.width <= width // 3
        and 30 <= b.height <= 150
        and b.fill >= 0.6
        and b.centre[0] >= width // 2
        and b.centre[1] <= height // 4
    ]
    return found[0] if len(found) == 1 else None


def settled(workdir: Path) -> dict[str, dict[str, Any]] | None:
    """Every account flat (no position, no working order) and LOCKED; None until then."""
    accounts = {a["account"]: a for a in status(workdir, timeout=2.0)["accounts"]}
    done = sorted(accounts) == sorted(DEMO_ACCOUNTS) and all(
        a["positions"] == 0 and a["orders"] == 0 and a["state"] == "LOCKED"
        for a in accounts.values()
    )
    return accounts if done else None


def status_rows(text: str) -> dict[str, str]:
    """`propdesk status` table → {account: state}."""
    return {
        m.group(1): m.group(2)
        for line in text.splitlines()
        if (m := re.match(r"^(sim:\S+)\s+([A-Z_]+)\s", line))
    }


def test_clicking_flatten_all_flattens_and_locks_every_account(
    workdir: Path, display: Xvfb, console: Console
) -> None:
    started = time.monotonic()
    x_env = display.env(isolated_env(workdir))
    journal = workdir / "j.sqlite"

    # Imported here, not at the top: without PySide6 the module must still load to be skipped.
    from propdesk.ui.theme import DANGER  # FLATTEN ALL's colour

    console.wait_until(lambda: trading(workdir), timeout=30, what="the demo to trade")

    out = xdotool(x_env, "search", "--sync", "--onlyvisible", "--name", "^propdesk", timeout=20)
    windows = [int(w) for w in out.split()]
    assert len(windows) == 1, f"expected one propdesk window, found {windows}"
    window = windows[0]
    geometry = window_geometry(x_env, window)
    width, height = geometry["WIDTH"], geometry["HEIGHT"]
    assert (width, height) == SIZE, geometry

    # Park the pointer off the window: a hovered button is drawn in another red.
    xdotool(x_env, "mousemove", str(SIZE[0] + 100), str(SIZE[1] + 100))
    seen: list[list[ColourBlock]] = []

    def button() -> ColourBlock | None:
        seen.append(colour_blocks(x_env, window, DANGER))
        return flatten_all_button(seen[-1], width, height)

    try:
        target = console.wait_until(button, timeout=20, what=f"FLATTEN ALL ({DANGER}) on screen")
    except AssertionError as exc:
        last = seen[-1][:8] if seen else "no grab"
        raise AssertionError(f"{exc}\nlargest {DANGER} patches of the last grab: {last}") from None
    x, y = target.centre
    xdotool(x_env, "mousemove", "--window", str(window), str(x), str(y), "click", "1")

    accounts = console.wait_until(
        lambda: settled(workdir), timeout=30, what="every account flat and LOCKED"
    )
    for key, account in accounts.items():
        assert account["reason"] == CONSOLE_REASON, (key, account)
        assert account["lock_until"] is None, (key, account)  # a kill's lock waits for an unlock

    # The terminal's view agrees.
    result = run_cli(workdir, "status")
    assert result.returncode == 0, result.stderr
    assert status_rows(result.stdout) == dict.fromkeys(DEMO_ACCOUNTS, "LOCKED"), result.stdout
    assert CONSOLE_REASON in result.stdout, result.stdout

    rc, took = console.terminate(timeout=15)
    stderr = console.stderr()
    assert rc == 0, stderr
    assert took < 10, f"SIGTERM took {took:.1f} s"
    assert "Traceback" not in stderr, stderr
    assert "unexpected error" not in stderr, stderr

    # One click, one kill per account, journaled with the console's reason.
    kills = [
        (key, json.loads(payload))
        for _seq, _ts, kind, key, _broker, payload in read_rows(journal)
        if kind == "event" and json.loads(payload)["type"] == "kill"
    ]
    assert sorted(kills, key=lambda k: str(k[0])) == [
        (key, {"type": "kill", "reason": CONSOLE_REASON}) for key in sorted(DEMO_ACCOUNTS)
    ], kills
    print(f"console xvfb test: {time.monotonic() - started:.1f} s, SIGTERM exit in {took:.2f} s")
