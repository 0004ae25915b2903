"""One writer per journal: an exclusive OS lock held for the life of the process.

The lock is taken on `<journal>.lock` (flock on POSIX, a byte-range lock on Windows) before the
journal is read, moved or written, and released by the OS when the process ends however it ends, so
a crash never leaves it held. The holder writes its pid into the file for the next one to name.

Hand-written rather than taken from a file-lock library on purpose: those open their lock file with
O_TRUNC (which would empty a journal if it ever had to lock the journal itself) and cannot say who
holds the lock. Where the lock file cannot be made (a read-only directory), the journal file itself
is locked the same way; nothing else could write there either.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from propdesk.runtime.journal.codec import JournalError

# Windows locks a byte range; past any pid the file will ever hold, so readers can still read it.
_WINDOWS_LOCK_OFFSET = 1 << 20


class JournalInUse(JournalError):
    """Another process holds the journal."""

    def __init__(self, journal: Path, pid: int | None) -> None:
        self.journal, self.pid = journal, pid
        holder = f"propdesk pid {pid}" if pid is not None else "another propdesk"
        super().__init__(
            f"journal {journal} is in use by {holder}. One journal has one writer: stop that "
            "propdesk first, or give this one another journal (--journal FILE)."
        )


class JournalLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, journal: Path) -> JournalLock:
        """Lock `journal` for this process; raises JournalInUse when another one holds it."""
        path = journal.with_name(f"{journal.name}.lock")
        try:
            # No O_TRUNC: the holder's pid must stay readable to whoever finds the lock taken.
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            if not journal.exists():
                raise
            path, fd = journal, os.open(journal, os.O_RDONLY)
        if not _try_lock(fd):
            pid = _read_pid(fd) if path != journal else None
            os.close(fd)
            raise JournalInUse(journal, pid)
        if path != journal:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        return cls(path, fd)

    def release(self) -> None:
        """Let go (closing the descriptor releases the lock); the file stays, empty of meaning."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
