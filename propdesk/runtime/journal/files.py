"""The journal's files on disk: opening one safely, moving a damaged one aside, and what is left at exit.

Opening (`open_journal`) takes the one-writer lock first, then looks at the file before anything
reads it as the truth: a journal that cannot be read, or that ends before the sequence number the
previous run wrote beside it (a lost `-wal`), is moved aside unchanged and reported in one paragraph
(`JournalDamaged`, exit 2) instead of silently starting a fresh day with every lock gone. Nothing
here deletes or truncates a journal that has records: a fresh start moves the old one aside.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from platformdirs import user_state_dir

from propdesk.runtime.journal.codec import JournalError
from propdesk.runtime.journal.disk import (
    READABLE_SCHEMAS,
    SQLITE_HEADER,
    Row,
    fsync_dir,
    read_high_water,
    side_file,
    unwritten_to_jsonl,
    utc_stamp,
)
from propdesk.runtime.journal.lock import JournalLock
from propdesk.runtime.journal.store import Journal

log = logging.getLogger(__name__)

_COMPANIONS = ("-wal", "-shm")


class JournalDamaged(JournalError):
    """The journal cannot be trusted; it was moved aside and the message says what to do."""


def open_journal(path: Path, *, fresh: bool = False, private_dir: bool = False) -> Journal:
    """The journal at `path`, locked for this process, checked, ready to rebuild from.

    `fresh`: start a new journal; one that exists is moved aside with a timestamp (never deleted).
    `private_dir`: the directory is propdesk's own (the default data dir): made and kept 0700.
    Raises JournalInUse (another process holds it) and JournalDamaged (moved aside; the message
    says what happened, where it went and how to go on).
    """
    path = Path(os.path.abspath(path))
    _make_dir(path.parent, private=private_dir)
    lock = JournalLock.acquire(path)
    try:
        _finish_rotation(path)
        problem = diagnose(path)
        if problem is not None and not fresh:
            moved = move_aside(path, "damaged")
            raise JournalDamaged(_damaged_message(path, problem, moved))
        if fresh and (path.exists() or side_file(path, "seq").exists()):
            move_aside(path, "replaced")
        _tighten(path)
        return Journal(path, lock=lock)
    except BaseException:
        lock.release()
        raise


def diagnose(path: Path) -> str | None:
    """What is wrong with the journal at `path`, in a trader's words; None when it can be used."""
    high_water = read_high_water(path)
    if not path.exists():
        if high_water:
            return (
                f"the journal is missing, but the previous run wrote {high_water} records to it "
                "(deleted or moved by hand?)"
            )
        return None
    try:
        size = path.stat().st_size
        with open(path, "rb") as head:
            header = head.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"it cannot be read ({exc})"
    if size == 0:
        return "it is empty (0 bytes): propdesk never leaves a journal like that"
    if header != SQLITE_HEADER:
        return f"it is not a SQLite database (it starts with {_shown(header)})"
    try:
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return f"SQLite cannot open it ({exc})"
    try:
        return _check_contents(db, high_water)
    except sqlite3.DatabaseError as exc:
        return f"SQLite cannot read it ({exc})"
    finally:
        db.close()


def _shown(head: bytes) -> str:
    """The first bytes of a file, as a trader can read them: text in quotes, else hex."""
    text = head.decode("utf-8", "replace").strip()
    if text and text.isprintable() and "\ufffd" not in text:
        return f'"{text}"'
    return f"the bytes {head[:8].hex(' ')}"


def _check_contents(db: sqlite3.Connection, high_water: int | None) -> str | None:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = {"meta", "records"} - tables
    if missing:
        return f"it has no {' and no '.join(sorted(missing))} table (not a propdesk journal?)"
    version = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if version is None:
        return "it has no schema version (not a propdesk journal?)"
    if not str(version[0]).isdigit() or int(version[0]) not in READABLE_SCHEMAS:
        return (
            f"it is journal schema {version[0]}, which this propdesk cannot read (it reads "
            f"{', '.join(map(str, READABLE_SCHEMAS))}; a newer propdesk wrote it?)"
        )
    check = db.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        return f"SQLite reports damage: {check}"
    last = db.execute("SELECT MAX(seq) FROM records").fetchone()[0] or 0
    if high_water is not None and last < high_water:
        return (
            f"it ends at record {last}, but the previous run wrote up to record {high_water}: "
            f"{high_water - last} records are lost (its -wal file deleted or not copied?)"
        )
    return None


def _damaged_message(path: Path, problem: str, moved: Path | None) -> str:
    where = (
        f"It was moved aside, unchanged, to {moved} (with its -wal and -shm files, if any)."
        if moved is not None
        else "Nothing was moved."
    )
    return (
        f"propdesk: the journal {path} cannot be used: {problem}. {where} Without it propdesk "
        "does not know your accounts' locks, day baselines or high-water marks: check them at "
        "your broker and your firm's dashboard before trading. To start a new journal, run "
        "again with --new-journal (the new journal knows nothing of what came before); to look "
        "at the old one, open the moved file with sqlite3."
    )


def move_aside(path: Path, why: str) -> Path | None:
    """Rename the journal (and its -wal, -shm and sequence mark) to `<name>.<why>-<time>`."""
    stamp = utc_stamp()
    target = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
    moved = None
    if path.exists():
        os.rename(path, target)
        moved = target
    for suffix in _COMPANIONS:
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            os.rename(companion, Path(f"{target}{suffix}"))
    mark = side_file(path, "seq")
    if mark.exists():
        os.rename(mark, side_file(target, "seq"))
    fsync_dir(path.parent)
    return moved


def _finish_rotation(path: Path) -> None:
    """A crash between a rotation's two renames leaves the next day's file under `<name>.next`."""
    following = side_file(path, "next")
    if not following.exists():
        return
    if path.exists():
        move_aside(following, "unused")  # made, never switched to: the current file goes on
        return
    os.rename(following, path)
    fsync_dir(path.parent)


def _make_dir(directory: Path, *, private: bool) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if private:
        info = directory.stat()
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(directory, 0o700)


def _tighten(path: Path) -> None:
    """The journal and the files beside it are the user's alone (they hold account numbers)."""
    for file in (path, *(Path(f"{path}{s}") for s in _COMPANIONS), side_file(path, "seq")):
        with contextlib.suppress(OSError):
            if file.exists() and stat.S_IMODE(file.stat().st_mode) & 0o077:
                os.chmod(file, 0o600)


def restore_or_move_aside(runtime: _Restorable, journal: Journal) -> None:
    """Rebuild the runtime from the journal; a journal whose records cannot be replayed is damaged.

    Whatever the replay trips on (a record this version cannot decode, an event for an account never
    registered, a snapshot it cannot restore), the journal is not the truth any more: it is closed,
    moved aside and reported like one SQLite cannot read.
    """
    try:
        runtime.restore()
    except Exception as exc:
        log.exception("the journal %s could not be replayed", journal.path)
        journal.close()
        moved = move_aside(journal.path, "damaged")
        problem = f"its records cannot be replayed ({exc})"
        raise JournalDamaged(_damaged_message(journal.path, problem, moved)) from exc


class _Restorable(Protocol):
    def restore(self) -> None: ...


# -- at exit ----------------------------------------------------------------------------------------
def close_journal(journal: Journal) -> list[str]:
    """Close the journal; lines for the trader when records could not be written (else none).

    Records that never reached the file are not dropped: they go, as JSON lines, to the first of
    the journal's directory, propdesk's state directory and the temporary directory that takes them.
    """
    rows = journal.close()
    if not rows:
        return []
    # A file system that stalled the writer would stall a copy beside the journal too.
    where = save_unwritten(journal.path, rows, beside=not journal.stalled)
    if where is None:
        return [
            f"propdesk: {len(rows)} journal record(s) could not be written to {journal.path} "
            "nor saved anywhere else; they are lost."
        ]
    return [
        f"propdesk: {len(rows)} journal record(s) could not be written to {journal.path}; "
        f"they are saved in {where}."
    ]


def save_unwritten(journal: Path, rows: list[Row], *, beside: bool = True) -> Path | None:
    text = unwritten_to_jsonl(rows)
    name = f"{journal.name}.unwritten-{utc_stamp()}.jsonl"
    elsewhere = [Path(user_state_dir("propdesk")), Path(tempfile.gettempdir())]
    for directory in [journal.parent, *elsewhere] if beside else elsewhere:
        target = directory / name
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            continue
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
        except OSError:
            with contextlib.suppress(OSError):
                target.unlink()  # a partial copy of ours, written by us a moment ago
            continue
        return target
    return None
