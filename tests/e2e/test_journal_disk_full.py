"""The issue's reproduction, end to end: the headless demo's journal becomes unwritable while it runs.

Three ways a journal stops taking writes, each on a real file system: a 1.2 MB tmpfs that fills up,
an immutable journal and -wal (`chattr +i`), and a file system that stalls (`fsfreeze`, as a network mount that
stops answering). In each, `propdesk flatten --all` must answer rc 0 with every account verified
flat, the run must say that the journal is not writable, and once the fault is lifted the records
kept in memory must reach the file and the run must say so; the exit must be clean.

Mounting and freezing need root; where the machine does not allow them the case is skipped, and
tests/runtime/test_journal_faults.py (SQLite's own SQLITE_FULL, injected I/O errors and a held
write, on every machine) stands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_helpers import (
    Headless,
    max_seq,
    remove_tree,
    run_cli,
    short_tmpdir,
    socket_path,
    summary_of,
    wait_until,
)

NOT_WRITABLE = "ALERT: journal not writable: running without durability — "
WRITABLE_AGAIN = "ALERT: journal writable again: "


def sh(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@dataclass
class Fault:
    """How one case makes the journal's directory, breaks it, and mends it."""

    directory: Path
    says: str  # what the alert says about the cause
    trigger: Callable[[Path], None]
    lift: Callable[[Path], None]
    cleanup: Callable[[], None]
    # A full disk comes and goes by itself: SQLite reuses the -wal's space after each checkpoint,
    # so writes succeed again between growths. The others stay broken until lifted.
    steady: bool = True


def _full_tmpfs(workdir: Path) -> Fault:
    disk = workdir / "disk"
    disk.mkdir()
    made = sh("mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(disk))
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    return Fault(
        disk,
        "the disk is full",
        lambda _journal: None,  # the demo fills it by itself
        lambda _journal: _check(sh("mount", "-o", "remount,size=512m", str(disk))),
        lambda: sh("umount", "-l", str(disk)) and None,
        steady=False,
    )


def _immutable(workdir: Path) -> Fault:
    disk = workdir / "disk"
    disk.mkdir()
    probe = disk / "probe"
    probe.touch()
    if sh("chattr", "+i", str(probe)).returncode != 0:
        pytest.skip("chattr +i does not work on this file system")
    _check(sh("chattr", "-i", str(probe)))
    probe.unlink()

    def files(journal: Path) -> list[str]:
        # The journal and its -wal, where the records go. Not the -shm: SQLite maps it into
        # memory, and a write to a mapping of a file made immutable is SIGBUS on ext4 for any
        # program using SQLite's WAL (the kernel refuses the page, no error to handle).
        return [str(p) for p in (journal, Path(f"{journal}-wal")) if p.exists()]

    return Fault(
        disk,
        "the file cannot be written",
        lambda journal: _check(sh("chattr", "+i", *files(journal))),
        lambda journal: _check(sh("chattr", "-i", *files(journal))),
        lambda: None,
    )


def _frozen(workdir: Path) -> Fault:
    if shutil.which("losetup") is None or shutil.which("fsfreeze") is None:
        pytest.skip("losetup or fsfreeze is missing")
    image, disk = workdir / "disk.img", workdir / "disk"
    disk.mkdir()
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    _check(sh("mkfs.ext4", "-q", str(image)))
    mounted = sh("mount", "-o", "loop", str(image), str(disk))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a loop device here: {mounted.stderr.strip()}")

    def cleanup() -> None:
        sh("fsfreeze", "-u", str(disk))
        sh("umount", "-l", str(disk))

    return Fault(
        disk,
        "has not finished after 250 ms",
        lambda _journal: _check(sh("fsfreeze", "-f", str(disk))),
        lambda _journal: _check(sh("fsfreeze", "-u", str(disk))),
        cleanup,
    )


def journal_health(workdir: Path) -> dict[str, object]:
    answer = run_cli(workdir, "status", "--json")
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)["journal"]


def _check(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr


FAULTS = {"disk-full": _full_tmpfs, "immutable": _immutable, "stalled": _frozen}


@pytest.fixture(params=sorted(FAULTS))
def fault(request: pytest.FixtureRequest) -> Iterator[tuple[Path, Fault]]:
    if os.geteuid() != 0:
        pytest.skip("mounting, chattr and fsfreeze need root")
    workdir = short_tmpdir("pdf")
    made: Fault | None = None
    try:
        made = FAULTS[request.param](workdir)
        yield workdir, made
    finally:
        if made is not None:
            made.cleanup()
        remove_tree(workdir)


@pytest.mark.timeout(240)
def test_flatten_all_on_an_unwritable_journal_answers_rc_0_all_verified_flat(
    fault: tuple[Path, Fault],
) -> None:
    workdir, case = fault
    journal = case.directory / "j.sqlite"
    proc = Headless(workdir, journal, run_for=180, speed=100)
    lifted = False
    try:
        proc.wait_started(timeout=60)
        if case.steady:
            # Records reach the file before the fault (the fault is what stops them). A full
            # disk needs no wait: the demo fills it within its first second.
            proc.wait_for(lambda line: "action" in line or "→" in line, timeout=60)
        case.trigger(journal)
        alarm = proc.wait_for(lambda line: NOT_WRITABLE in line, timeout=90)
        assert case.says in alarm, alarm
        if case.steady:
            assert journal_health(workdir)["writable"] is False
        flatten = run_cli(workdir, "flatten", "--all", timeout=60)
        assert flatten.returncode == 0, flatten.stderr
        assert flatten.stdout.count("verified flat") == 3, flatten.stdout
        assert "3 of 3 accounts flat" in flatten.stdout
        after = run_cli(workdir, "status")
        assert after.returncode == 0, after.stderr
        assert after.stdout.count("LOCKED") == 3, after.stdout
        if case.steady:
            assert "journal: NOT WRITABLE — " in after.stdout
        case.lift(journal)
        lifted = True
        if case.steady:
            back = proc.wait_for(lambda line: WRITABLE_AGAIN in line, timeout=60)
            assert "record(s) kept in memory written to" in back
        wait_until(
            lambda: journal_health(workdir)["writable"], timeout=60, what="the journal writable"
        )
        rc = proc.terminate(timeout=60)
    finally:
        if not lifted:
            case.lift(journal)
        proc.close()
    assert rc == 0
    stderr = proc.stderr()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert not socket_path(workdir).exists(), "the control socket is removed at exit"
    summary = summary_of(proc.lines)
    assert {a["state"] for a in summary["accounts"]} == {"LOCKED"}
    assert max_seq(journal) == summary["journal_seq"], "every record reached the file in the end"
