"""`propdesk status|flatten|unlock` against a control server in this process: the output contract
(whole lines, `--json`) and the exit codes (0 done, 1 not running / refused / not flat, 2 bad usage).

The command runs in a worker thread (it runs its own event loop) while the test's loop serves it."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from propdesk.cli import main
from propdesk.runtime.control import FlattenScope, UnknownScope
from propdesk.runtime.control_server import ControlServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix socket transport")

WAIT = 10.0
KNOWN = ("sim:TS-50K", "sim:APEX-50K")
STATUS = {
    "time": "2026-11-24T14:00:00-06:00",
    "accounts": [
        {
            "account": "sim:TS-50K",
            "state": "LOCKED",
            "reason": "daily stop",
            "unlock_terms": "your stop is lifted for the rest of this trading day",
            "equity": "49850.10",
            "day_pnl": "-150.00",
            "floor": "48000.00",
            "positions": 0,
            "orders": 0,
        }
    ],
    "brokers": [{"name": "sim", "link": "connected", "detail": ""}],
}


class Handler:
    def __init__(self) -> None:
        self.flat = True

    async def status(self) -> dict[str, Any]:
        return STATUS

    async def flatten(self, scope: FlattenScope) -> dict[str, Any]:
        unknown = [a for a in scope.accounts if a not in KNOWN]
        if unknown:
            raise UnknownScope.accounts(unknown, KNOWN)
        detail = "verified flat" if self.flat else "position 1 MNQ after 10 reads"
        return {"results": [{"account": "sim:TS-50K", "flat": self.flat, "detail": detail}]}

    async def unlock(self, account: str) -> dict[str, Any]:
        return {"account": account, "state": "ACTIVE"}


@pytest.fixture
def sock_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Not tmp_path: pytest's long per-test paths can pass the ~107-byte AF_UNIX limit.
    directory = Path(tempfile.mkdtemp(prefix="pdcli-"))
    path = directory / "run" / "control.sock"
    monkeypatch.setenv("PROPDESK_CONTROL", str(path))
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def server(handler: Handler, sock_path: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(handler, sock_path)
    await asyncio.wait_for(srv.start(), WAIT)
    yield srv
    await asyncio.wait_for(srv.close(), WAIT)


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`propdesk ARGV` in a worker thread: (exit code, stdout, stderr)."""

    def cli() -> int:
        try:
            return main([*argv, "--timeout", "5"])
        except SystemExit as exc:  # argparse's usage errors
            return int(exc.code or 0)

    code = await asyncio.wait_for(asyncio.to_thread(cli), WAIT)
    out, err = capsys.readouterr()
    return code, out, err


async def test_status_json_is_one_document_with_the_exact_numbers(
    server: ControlServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run(capsys, "status", "--json")
    assert (code, err) == (0, "")
    assert out.endswith("}\n")
    document = json.loads(out)
    assert document == STATUS  # money as the server's decimal strings, e.g. "49850.10"
    assert document["accounts"][0]["equity"] == "49850.10"


async def test_status_table_ends_with_a_newline(
    server: ControlServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await run(capsys, "status")
    assert code == 0
    assert out.endswith("brokers: sim connected\n")


async def test_flatten_output_ends_with_a_newline(
    server: ControlServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run(capsys, "flatten", "--all")
    assert (code, err) == (0, "")
    assert out.endswith("1 of 1 accounts flat\n")


async def test_flatten_json_and_an_account_not_flat_exits_1(
    server: ControlServer, handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    handler.flat = False
    code, out, _ = await run(capsys, "flatten", "--account", "sim:TS-50K", "--json")
    assert code == 1
    assert out.endswith("\n")
    assert json.loads(out)["results"] == [
        {"account": "sim:TS-50K", "flat": False, "detail": "position 1 MNQ after 10 reads"}
    ]
    code, out, _ = await run(capsys, "flatten", "--all")
    assert code == 1
    assert out.endswith("0 of 1 accounts flat\n")


async def test_unlock_output_and_json(
    server: ControlServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await run(capsys, "unlock", "sim:TS-50K", "--confirm", "sim:TS-50K")
    assert (code, out) == (0, "sim:TS-50K: ACTIVE\n")
    code, out, _ = await run(capsys, "unlock", "sim:TS-50K", "--confirm", "sim:TS-50K", "--json")
    assert code == 0
    assert json.loads(out) == {"account": "sim:TS-50K", "state": "ACTIVE"}


async def test_the_unlock_prompt_states_what_unlocking_does(
    server: ControlServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    monkeypatch.setattr("builtins.input", lambda text: prompts.append(text) or "sim:TS-50K")
    code, out, _ = await run(capsys, "unlock", "sim:TS-50K")
    assert code == 0
    assert out == "sim:TS-50K: ACTIVE\n"
    assert len(prompts) == 1
    assert "your stop is lifted for the rest of this trading day" in prompts[0]


async def test_an_unknown_account_is_refused_with_the_known_ones(
    server: ControlServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run(capsys, "flatten", "--account", "sim:NOPE")
    assert (code, out) == (1, "")
    assert err == "propdesk: no account sim:NOPE (known: sim:TS-50K, sim:APEX-50K)\n"


async def test_not_running_exits_1(sock_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (("status", "--json"), ("flatten", "--all")):
        code, out, err = await run(capsys, *argv)
        assert (code, out) == (1, "")
        assert err == f"propdesk: propdesk is not running (no control socket at {sock_path})\n"


async def test_bad_usage_exits_2(
    server: ControlServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = await run(capsys, "flatten")
    assert code == 2
    assert "one of the arguments --all --account --cluster is required" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: no prompt possible
    code, _, err = await run(capsys, "unlock", "sim:TS-50K")
    assert code == 2
    assert "--confirm" in err


def test_help_states_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("status", "flatten", "unlock"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())  # unwrapped, whatever the terminal width
        assert "exit status: 0 done; 1 propdesk is not running" in text
