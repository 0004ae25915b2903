"""The journal's files as files: the schema, the names beside a journal, making a new one safely,
and the storage's errors in a trader's words. No records are read or written here."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

# Version 2 files may start with a snapshot instead of the account registrations (one file per
# trading day); version 1 files hold every record since the first and are still read.
SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,       -- account | event | mark | tick | action | notice | snapshot
    account TEXT,             -- "broker:account-id" for per-account records
    broker TEXT,              -- for marks: applied to every account of that broker
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots ON records(seq) WHERE kind = 'snapshot';
CREATE INDEX IF NOT EXISTS fills ON records(account, json_extract(payload, '$.fill_id'))
    WHERE kind = 'event' AND json_extract(payload, '$.type') = 'fill';
"""
INSERT = "INSERT INTO records (seq, ts, kind, account, broker, payload) VALUES (?, ?, ?, ?, ?, ?)"
SQLITE_HEADER = b"SQLite format 3\x00"

Row = tuple[int, str, str, str | None, str | None, str]


def side_file(path: Path, suffix: str) -> Path:
    """A file that belongs to the journal at `path`: `<name>.lock`, `<name>.seq`, `<name>.next`."""
    return path.with_name(f"{path.name}.{suffix}")


def archive_path(path: Path, day: date) -> Path:
    """Where a finished day's file goes: `journal.2026-12-03.sqlite` beside `journal.sqlite`."""
    base = path.with_name(f"{path.stem}.{day.isoformat()}{path.suffix}")
    candidate, n = base, 1
    while candidate.exists():  # never over an older archive (a day rotated twice)
        n += 1
        candidate = base.with_name(f"{path.stem}.{day.isoformat()}-{n}{path.suffix}")
    return candidate


def connect_existing(path: Path) -> sqlite3.Connection:
    """Read-write, never creating: a journal that went missing is an error, never a new file.

    isolation_level=None: transactions are opened and committed explicitly, in batches.
    """
    uri = f"file:{quote(str(path))}?mode=rw"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in `directory` durable (where the OS allows opening one)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def create_journal_file(path: Path, *, day: date | None = None, first: Row | None = None) -> None:
    """A new journal at `path`, user-only (0600), made at a temporary name and renamed into place.

    Nobody ever sees a half-made journal: a 0-byte or schema-less file at `path` is never one of
    ours. Refuses to replace a file that exists.
    """
    if path.exists():
        raise FileExistsError(f"{path} exists; a journal is never replaced")
    temp = path.with_name(f"{path.name}.new-{os.getpid()}")
    fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    db = sqlite3.connect(temp, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        db.execute("BEGIN")
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        if day is not None:
            db.execute("INSERT INTO meta VALUES ('day', ?)", (day.isoformat(),))
        if first is not None:
            db.execute(INSERT, first)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    with open(temp, "rb") as done:
        os.fsync(done.fileno())
    if path.exists():
        raise FileExistsError(f"{path} appeared while a new journal was made; it is left alone")
    os.rename(temp, path)
    fsync_dir(path.parent)


def describe_error(exc: BaseException) -> str:
    """The storage error in a trader's words, with SQLite's or the OS's own text after it."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "full" in lowered:
        return f"the disk is full ({text})"
    if "readonly" in lowered or "read-only" in lowered or "permission" in lowered:
        return f"the file cannot be written ({text})"
    if "i/o" in lowered or "disk" in lowered:
        return f"the disk does not answer ({text})"
    return text


def refuses_writes(path: Path) -> str | None:
    """Why the journal's files cannot be opened for writing, if they cannot (None: they can)."""
    for file in (Path(f"{path}-wal"), path):
        if not file.exists():
            continue
        try:
            fd = os.open(file, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            return f"{file.name}: {exc.strerror or exc}"
        os.close(fd)
    return None


def read_high_water(path: Path) -> int | None:
    """The last sequence number a previous run wrote to the journal at `path` (None: unknown)."""
    try:
        text = side_file(path, "seq").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def unwritten_to_jsonl(rows: list[Row]) -> str:
    """Records that never reached the file, one JSON object a line, for the trader to keep."""
    keys = ("seq", "ts", "kind", "account", "broker", "payload")
    lines = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        item["payload"] = json.loads(row[5])
        lines.append(json.dumps(item, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def utc_stamp() -> str:
    """A file-name-safe UTC time: 20261204T170000Z."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
