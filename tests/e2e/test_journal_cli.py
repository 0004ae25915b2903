"""The journal as a second process and a damaged file see it: one writer, a clear exit 2, nothing lost.

Each case is the issue's own reproduction: two propdesk processes on one --journal with different
control sockets; a second default demo started beside a running one; a journal that is not a
database; a journal whose -wal was lost after a crash.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import (
    PYTHON,
    ROOT,
    START_PREFIX,
    Headless,
    isolated_env,
    max_seq,
    remove_tree,
    short_tmpdir,
    status,
    wait_until,
)


@pytest.fixture
def workdirs() -> Iterator[tuple[Path, Path]]:
    first, second = short_tmpdir("pj1"), short_tmpdir("pj2")
    yield first, second
    remove_tree(first)
    remove_tree(second)


def headless_once(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "propdesk", "--headless", "--demo", "--speed", "60", "--for", "3", *args],
        cwd=ROOT,
        env=env or isolated_env(workdir),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_a_second_process_on_the_same_journal_exits_2_and_names_the_first(
    workdirs: tuple[Path, Path],
) -> None:
    first, second = workdirs
    journal = first / "j.sqlite"
    running = Headless(first, journal, run_for=120, speed=60)
    try:
        running.wait_started(timeout=60)
        before = max_seq(journal)
        other = headless_once(second, "--journal", str(journal))  # another control socket
        assert other.returncode == 2, other.stderr
        assert f"journal {journal} is in use by propdesk pid {running.proc.pid}" in other.stderr
        assert START_PREFIX not in other.stdout, "it never started"
        assert "Traceback" not in other.stderr
        # The first goes on alone: its journal keeps growing and it still answers.
        wait_until(lambda: max_seq(journal) > before, timeout=30, what="the first's records")
        assert len(status(first)["accounts"]) == 3
        assert running.terminate(timeout=60) == 0
    finally:
        running.close()


def test_a_second_default_demo_leaves_the_running_ones_journal_alone(
    workdirs: tuple[Path, Path],
) -> None:
    first, _ = workdirs
    running = Headless(first, None, run_for=120, speed=60)
    try:
        started = running.wait_started(timeout=60)
        journal = Path(started.rsplit("journal ", 1)[1])
        assert journal.is_relative_to(first)
        inode = journal.stat().st_ino
        env = isolated_env(first)
        env["PROPDESK_CONTROL"] = str(first / "other.sock")
        other = headless_once(first, env=env)
        assert other.returncode == 2, other.stderr
        assert f"is in use by propdesk pid {running.proc.pid}" in other.stderr
        assert journal.stat().st_ino == inode, "not moved, not replaced"
        assert not list(journal.parent.glob("*.replaced-*")), "nothing moved aside"
        assert len(status(first)["accounts"]) == 3
        assert running.terminate(timeout=60) == 0
    finally:
        running.close()


def test_a_journal_that_is_not_a_database_stops_the_start_with_exit_2(
    workdirs: tuple[Path, Path],
) -> None:
    workdir, _ = workdirs
    journal = workdir / "j.sqlite"
    journal.write_text("not a journal\n")
    refused = headless_once(workdir, "--journal", str(journal))
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "Traceback" not in refused.stderr
    assert f"the journal {journal} cannot be used: it is not a SQLite database" in refused.stderr
    [moved] = workdir.glob("j.sqlite.damaged-*")
    assert moved.read_text() == "not a journal\n"
    assert "--new-journal" in refused.stderr
    started = headless_once(workdir, "--journal", str(journal), "--new-journal")
    assert started.returncode == 0, started.stderr
    assert START_PREFIX in started.stdout
    assert moved.read_text() == "not a journal\n", "still kept"


def test_a_lost_wal_after_a_crash_is_detected_not_started_over(
    workdirs: tuple[Path, Path],
) -> None:
    workdir, _ = workdirs
    journal = workdir / "j.sqlite"
    running = Headless(workdir, journal, run_for=120, speed=60)
    try:
        running.wait_started(timeout=60)
        wait_until(lambda: max_seq(journal) > 500, timeout=60, what="some records")
        assert running.kill() < 0
    finally:
        running.close()
    wal = Path(f"{journal}-wal")
    assert wal.stat().st_size > 0, "the crash left records in the -wal"
    os.remove(wal)  # a backup tool that copies only the .sqlite file, a careless clean-up
    refused = headless_once(workdir, "--journal", str(journal))
    assert refused.returncode == 2
    assert "records are lost" in refused.stderr
    assert "(its -wal file deleted or not copied?)" in refused.stderr
    moved = [
        p
        for p in workdir.glob("j.sqlite.damaged-*")
        if not p.name.endswith((".seq", "-wal", "-shm"))
    ]
    assert len(moved) == 1
