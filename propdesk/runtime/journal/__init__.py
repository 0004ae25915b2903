"""The journal: every event and every action, in SQLite, written before it is acted on.

State after a crash is rebuilt by replaying the journal through fresh account engines: the guard and
ledger are deterministic functions of their input events, so a replay reaches exactly the state the
crashed process had for every committed record (locks, day baselines, high-water marks, EOD floors).
"""

from propdesk.runtime.journal.codec import JournalError, decode_event, encode_event
from propdesk.runtime.journal.disk import SCHEMA_VERSION
from propdesk.runtime.journal.rebuild import AccountFactory, Rebuilt, rebuild
from propdesk.runtime.journal.store import Journal, JournalHealth, Record

__all__ = [
    "SCHEMA_VERSION",
    "AccountFactory",
    "Journal",
    "JournalError",
    "JournalHealth",
    "Rebuilt",
    "Record",
    "decode_event",
    "encode_event",
    "rebuild",
]
