"""The terminal commands against a running headless demo: status, flatten --all, unlock, then SIGTERM.

Every command is a separate `python -m propdesk ...` process talking to the demo's control socket
(`PROPDESK_CONTROL` in a short private directory under /tmp).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from e2e_helpers import (
    DEMO_ACCOUNTS,
    Headless,
    ping,
    read_rows,
    remove_tree,
    run_cli,
    short_tmpdir,
    status,
    summary_of,
    wait_until,
)

from propdesk.domain.risk_state import GuardState

# Long enough that the run never ends on its own during the test; slow enough (60x: 13:45 → 14:40 CT
# cutoff takes 55 s) that the commands below happen well before Topstep's cutoff.
RUN_FOR = 120.0
SPEED = 60.0
APEX = "sim:APEX-50K"
TERMINAL_REASON = "flatten from the terminal: all accounts"
GUARD_STATES = {s.name for s in GuardState}


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = short_tmpdir("pdc")
    yield path
    remove_tree(path)


def status_rows(text: str) -> dict[str, tuple[str, str]]:
    """`propdesk status` table → {account: (state, reason)}."""
    rows: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        match = re.match(r"^(sim:\S+)\s+([A-Z_]+)\s", line)
        if match:
            rows[match.group(1)] = (match.group(2), line)
    return rows


def test_status_flatten_unlock_and_sigterm(workdir: Path) -> None:
    journal = workdir / "j.sqlite"
    proc = Headless(workdir, journal, run_for=RUN_FOR, speed=SPEED)
    try:
        proc.wait_started(timeout=60)
        wait_until(lambda: ping(workdir)["pong"], timeout=30, what="the control socket")

        # status: the three demo accounts, each with a state.
        result = run_cli(workdir, "status")
        assert result.returncode == 0, result.stderr
        rows = status_rows(result.stdout)
        assert sorted(rows) == sorted(DEMO_ACCOUNTS), result.stdout
        assert "brokers: sim connected" in result.stdout, result.stdout

        # status --json: one JSON document for scripts, money as exact decimal strings.
        result = run_cli(workdir, "status", "--json")
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert [a["account"] for a in document["accounts"]] == list(DEMO_ACCOUNTS)
        for account in document["accounts"]:
            assert account["state"] in GUARD_STATES, account
            for money in ("balance", "equity", "day_pnl"):
                assert isinstance(account[money], str), account
                assert Decimal(account[money]).is_finite(), account
        assert document["brokers"][0]["name"] == "sim", document

        # A typo in a scope names what exists, flattens nothing, and exits 1.
        known = ", ".join(DEMO_ACCOUNTS)
        for argv, message in (
            (("flatten", "--account", "sim:NOPE"), f"no account sim:NOPE (known: {known})"),
            (("flatten", "--cluster", "NOPE"), "no cluster NOPE (known: mean-revert, trend)"),
            (
                ("unlock", "sim:NOPE", "--confirm", "sim:NOPE"),
                f"no account sim:NOPE (known: {known})",
            ),
        ):
            result = run_cli(workdir, *argv)
            assert (result.returncode, result.stdout) == (1, ""), result.stdout + result.stderr
            assert result.stderr == f"propdesk: {message}\n", result.stderr
        reasons = [a["reason"] or "" for a in status(workdir)["accounts"]]
        assert not [r for r in reasons if r.startswith("flatten from the terminal")], reasons

        # Let the strategy open something first, so the flatten has a position to close.
        def exposed() -> list[str]:
            accounts = status(workdir)["accounts"]
            return [a["account"] for a in accounts if a["positions"] or a["orders"]]

        wait_until(exposed, timeout=45, what="the demo strategy to open a position")

        # flatten --all: every account verified flat (exit 0 only when all are).
        result = run_cli(workdir, "flatten", "--all", timeout=90)
        assert result.returncode == 0, result.stdout + result.stderr
        flat = {
            m.group(1)
            for line in result.stdout.splitlines()
            if (m := re.match(r"^(sim:\S+)\s+FLAT\s", line))
        }
        assert flat == set(DEMO_ACCOUNTS), result.stdout
        assert result.stdout.endswith("3 of 3 accounts flat\n"), result.stdout

        # status again: every account LOCKED, and by the manual kill (a lock with no expiry).
        result = run_cli(workdir, "status")
        assert result.returncode == 0, result.stderr
        rows = status_rows(result.stdout)
        assert {k: s for k, (s, _) in rows.items()} == dict.fromkeys(DEMO_ACCOUNTS, "LOCKED"), (
            result.stdout
        )
        live = {a["account"]: a for a in status(workdir)["accounts"]}
        for key in DEMO_ACCOUNTS:
            assert live[key]["state"] == "LOCKED", live[key]
            assert live[key]["lock_until"] is None, live[key]
            assert live[key]["reason"] == TERMINAL_REASON, live[key]

        # An unlock whose confirmation names another account is refused and changes nothing.
        result = run_cli(workdir, "unlock", APEX, "--confirm", "sim:TS-50K")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "unlock refused" in result.stderr, result.stderr
        assert {a["account"]: a for a in status(workdir)["accounts"]}[APEX]["state"] == "LOCKED"
        # Without --confirm and without a terminal, the CLI refuses before asking propdesk.
        result = run_cli(workdir, "unlock", APEX)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "--confirm" in result.stderr, result.stderr

        # A confirmed unlock lifts the manual lock. The guard judges the numbers again at once, so
        # the account only stays LOCKED if a rule (not the kill) locks it again.
        result = run_cli(workdir, "unlock", APEX, "--confirm", APEX)
        assert result.returncode == 0, result.stdout + result.stderr
        match = re.fullmatch(
            rf"{re.escape(APEX)}: ([A-Z_]+) — (unlocked by the trader.*)\n", result.stdout
        )
        assert match, result.stdout
        after_unlock = match.group(1)
        apex = {a["account"]: a for a in status(workdir)["accounts"]}[APEX]
        if after_unlock == "LOCKED":
            assert apex["state"] == "LOCKED", apex
            assert apex["reason"] != TERMINAL_REASON, f"the manual lock was not lifted: {apex}"
        else:
            assert after_unlock in ("ACTIVE", "WARNING", "REDUCE_ONLY", "FLATTENING"), after_unlock
        # The other accounts keep their locks.
        others = {a["account"]: a for a in status(workdir)["accounts"] if a["account"] != APEX}
        assert {k: a["state"] for k, a in others.items()} == {
            "sim:TS-50K": "LOCKED",
            "sim:TDY-50K": "LOCKED",
        }

        # SIGTERM: a clean stop with the summary as the last line.
        rc = proc.terminate(timeout=60)
    finally:
        proc.close()
    assert rc == 0, proc.stderr()
    assert "Traceback" not in proc.stderr(), proc.stderr()
    summary = summary_of(proc.lines)
    final = {a["account"]: a for a in summary["accounts"]}
    assert sorted(final) == sorted(DEMO_ACCOUNTS)
    assert final["sim:TS-50K"]["state"] == "LOCKED"
    assert final["sim:TDY-50K"]["state"] == "LOCKED"
    assert summary["locks"] >= 3
    assert all(a["flattens"] >= 1 for a in final.values()), final
    assert not (workdir / "c.sock").exists(), "the control socket outlived a clean stop"

    # The journal holds the kill for every account and the confirmed unlock for APEX.
    rows = read_rows(journal)
    assert rows[-1][0] == summary["journal_seq"]
    events = [
        (acc, json.loads(payload)) for _s, _t, kind, acc, _b, payload in rows if kind == "event"
    ]
    kills = {acc for acc, p in events if p["type"] == "kill"}
    assert kills == set(DEMO_ACCOUNTS)
    unlocks = [(acc, p) for acc, p in events if p["type"] == "unlock"]
    assert unlocks == [(APEX, {"type": "unlock", "confirmed": True, "scope": APEX})]
    unlock_actions = [
        json.loads(payload)
        for _s, _t, kind, acc, _b, payload in rows
        if kind == "action" and acc == APEX and json.loads(payload)["type"] == "unlock"
    ]
    assert any("unlocked by the trader" in a["reason"] for a in unlock_actions), unlock_actions
