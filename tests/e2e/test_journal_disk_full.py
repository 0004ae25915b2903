"""The reproduction of the issue, end to end: the headless demo's journal on a 1.2 MB tmpfs that fills up.

`propdesk flatten --all` must answer rc 0 with every account verified flat, the run must say that
the journal is not writable, the status must keep moving, and the exit must be clean (no traceback,
the control socket removed, the records that never reached the disk saved elsewhere).

Mounting a tmpfs needs root (or CAP_SYS_ADMIN); where the machine does not allow it the test is
skipped and tests/runtime/test_journal_faults.py (SQLite's own SQLITE_FULL, on every machine) stands.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import Headless, remove_tree, run_cli, short_tmpdir, socket_path, summary_of

NOT_WRITABLE = "ALERT: journal not writable: running without durability — the disk is full"


@pytest.fixture
def full_disk() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    workdir = short_tmpdir("pdf")
    mount = workdir / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        remove_tree(workdir)
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield workdir
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        remove_tree(workdir)


@pytest.mark.timeout(180)
def test_flatten_all_on_a_full_disk_answers_rc_0_all_verified_flat(full_disk: Path) -> None:
    workdir = full_disk
    journal = workdir / "disk" / "j.sqlite"
    proc = Headless(workdir, journal, run_for=120, speed=100)
    try:
        proc.wait_started(timeout=60)
        proc.wait_for(lambda line: NOT_WRITABLE in line, timeout=90)
        first = run_cli(workdir, "status", "--json")
        flatten = run_cli(workdir, "flatten", "--all", timeout=60)
        assert flatten.returncode == 0, flatten.stderr
        assert flatten.stdout.count("verified flat") == 3, flatten.stdout
        assert "3 of 3 accounts flat" in flatten.stdout
        after = run_cli(workdir, "status")
        assert after.returncode == 0, after.stderr
        assert after.stdout.count("LOCKED") == 3, after.stdout
        assert first.returncode == 0, first.stderr
        journal_health = json.loads(first.stdout)["journal"]
        assert journal_health["writable"] is False
        assert "disk is full" in journal_health["reason"]
        assert "journal: NOT WRITABLE — the disk is full" in after.stdout
        rc = proc.terminate(timeout=60)
    finally:
        proc.close()
    assert rc == 0
    stderr = proc.stderr()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "could not be written to" in stderr
    assert "they are saved in" in stderr
    assert not socket_path(workdir).exists(), "the control socket is removed at exit"
    summary = summary_of(proc.lines)
    assert {a["state"] for a in summary["accounts"]} == {"LOCKED"}
