"""The journal's files on disk: where records that never reached it are kept at exit."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from platformdirs import user_state_dir

from propdesk.runtime.journal.store import Journal, Row, unwritten_to_jsonl


def close_journal(journal: Journal) -> list[str]:
    """Close the journal; lines for the trader when records could not be written (else none).

    Records that never reached the file are not dropped: they go, as JSON lines, to the first of
    the journal's directory, propdesk's state directory and the temporary directory that takes them.
    """
    rows = journal.close()
    if not rows:
        return []
    where = save_unwritten(journal.path, rows)
    if where is None:
        return [
            f"propdesk: {len(rows)} journal record(s) could not be written to {journal.path} "
            "nor saved anywhere else; they are lost."
        ]
    return [
        f"propdesk: {len(rows)} journal record(s) could not be written to {journal.path}; "
        f"they are saved in {where}."
    ]


def save_unwritten(journal: Path, rows: list[Row]) -> Path | None:
    text = unwritten_to_jsonl(rows)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{journal.name}.unwritten-{stamp}.jsonl"
    for directory in (
        journal.parent,
        Path(user_state_dir("propdesk")),
        Path(tempfile.gettempdir()),
    ):
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
