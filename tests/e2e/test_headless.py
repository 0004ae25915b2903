"""`propdesk --headless --demo` end to end: a simulated hour that contains Topstep's flat-by cutoff.

The demo starts at 13:45 CT; Topstep's flat-by is 15:10 CT and the protocol flattens 30 minutes
before it, at 14:40 CT (55 simulated minutes in). At 300x that is 11 s of real time; the run lasts
15 s (75 simulated minutes), so the cutoff is well inside it.

The simulator is paced by the wall clock, so even a fixed seed does not fix the day's fills. With the
default seed (7) Topstep's account hit its 75% daily stop before 14:40 in about one run in five; it is
then already LOCKED until the 17:00 CT reopen, the cutoff changes nothing, and the reason stays the
daily stop. Seed 4 kept that account well inside its limits before the cutoff in every run tried; if
it still happens, the test accepts that earlier lock only when it came before 14:40 CT and lasts
through the session's reopening (the cutoff had nothing left to do).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from e2e_helpers import (
    DEMO_ACCOUNTS,
    Headless,
    integrity_check,
    remove_tree,
    replay,
    short_tmpdir,
    summary_of,
)

from propdesk.domain.money import cents

RUN_FOR = 15.0
SPEED = 300.0
SEED = 4
CT = ZoneInfo("America/Chicago")

TRANSITION = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) CT  (sim:\S+)\s+([A-Z_]+) → ([A-Z_]+): (.*)$"
)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = short_tmpdir("pdh")
    yield path
    remove_tree(path)


def test_headless_demo_runs_through_the_cutoff(workdir: Path) -> None:
    journal = workdir / "j.sqlite"
    proc = Headless(workdir, journal, run_for=RUN_FOR, speed=SPEED, seed=SEED)
    try:
        start = proc.wait_started(timeout=60)
        assert "3 accounts on the simulator" in start
        clock = re.search(r"clock (\d{4}-\d\d-\d\d) 13:45 CT at 300x", start)
        assert clock, start
        rc = proc.finish(timeout=RUN_FOR + 60)
    finally:
        proc.close()
    lines = proc.lines
    assert rc == 0, proc.stderr()
    assert "Traceback" not in proc.stderr(), proc.stderr()

    # State transitions, as the printer writes them: "<stamp>  <account>  OLD → NEW: reason".
    transitions = [m.groups() for line in lines if (m := TRANSITION.match(line))]
    assert transitions, lines[:20]
    ts_locks = [
        (datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CT), reason)
        for stamp, acc, _old, new, reason in transitions
        if acc == "sim:TS-50K" and new == "LOCKED"
    ]
    assert ts_locks, [t for t in transitions if t[1] == "sim:TS-50K"]
    assert any("flatten → FLAT (verified)" in line for line in lines)

    summary = summary_of(lines)
    accounts = {a["account"]: a for a in summary["accounts"]}
    assert sorted(accounts) == sorted(DEMO_ACCOUNTS)
    assert summary["flattens"] >= 1
    assert summary["locks"] >= 1
    assert summary["flattens"] == sum(a["flattens"] for a in accounts.values())
    assert summary["locks"] == sum(a["locks"] for a in accounts.values())
    assert summary["fills"] > 0
    ts = accounts["sim:TS-50K"]
    assert ts["state"] == "LOCKED", ts
    assert ts["flattens"] >= 1, ts
    assert ts["locks"] >= 1, ts
    assert summary["journal"] == str(journal)

    # The journal: intact, holding everything the summary counted, and replaying to the same state.
    assert integrity_check(journal) == "ok"
    db = sqlite3.connect(journal)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        last_seq = db.execute("SELECT MAX(seq) FROM records").fetchone()[0]
        fills = db.execute(
            "SELECT COUNT(*) FROM records WHERE kind='event' AND payload LIKE '{\"type\":\"fill\"%'"
        ).fetchone()[0]
        ts_locked = db.execute(
            "SELECT payload FROM records WHERE kind='action' AND account='sim:TS-50K' "
            'AND payload LIKE \'{"type":"lock"%\' ORDER BY seq'
        ).fetchall()
    finally:
        db.close()
    assert last_seq == summary["journal_seq"]
    replayed = replay(journal)
    assert replayed.last_seq == summary["journal_seq"]
    assert fills == summary["fills"]
    assert ts_locked, "no lock action journaled for sim:TS-50K"

    # Topstep's account is locked by the 14:40 CT cutoff until the next session opens at 17:00 CT.
    ts_risk = replayed.accounts["sim:TS-50K"]
    day = date.fromisoformat(clock.group(1))
    cutoff = datetime.combine(day, time(14, 40), CT)
    reopen = datetime.combine(day, time(17, 0), CT)
    if "cutoff" in ts["reason"]:
        assert f"flat-by cutoff {cutoff:%Y-%m-%d %H:%M} CT reached" in ts["reason"], ts
        assert any("cutoff" in row[0] for row in ts_locked)
        assert any(when >= cutoff for when, _ in ts_locks), ts_locks
    else:
        # Locked by another rule before the cutoff (see the module docstring).
        assert ts_locks[0][0] < cutoff, (ts, ts_locks)
    lock_until = ts_risk.status.lock_until
    assert lock_until is None or lock_until >= reopen, (lock_until, ts)

    # The live process's final numbers are exactly what a replay of its journal gives.
    for key, live in accounts.items():
        risk = replayed.accounts[key]
        view = risk.view()
        assert live["state"] == risk.status.state.name, key
        assert live["reason"] == risk.status.reason, key
        assert live["equity"] == cents(view.equity), key
        assert live["day_pnl"] == cents(view.day_pnl), key
