"""The journal's care while the runtime runs: snapshots, a file per trading day, checkpoints, and
the trader told when records cannot reach the file (or the clock is behind the journal at a start).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.clock import Clock
from propdesk.runtime.clock import span_text
from propdesk.runtime.journal import Journal, JournalHealth, Rebuilt
from propdesk.runtime.notices import Alert, Level, Notices, Topic

log = logging.getLogger(__name__)

# Snapshots: every so many records, and every so much clock time with records since; a restart
# replays what came after the last one.
SNAPSHOT_EVERY = 20_000
SNAPSHOT_EVERY_CLOCK = timedelta(minutes=10)
# A new day's file that could not be started is tried again this much later.
ROTATE_RETRY = timedelta(minutes=5)
# A system clock this far behind the journal's last record at a restart is an alarm.
CLOCK_BEHIND = timedelta(seconds=5)
_CT = ZoneInfo("America/Chicago")  # times in alerts: exchange time, as the firms state their rules

# (now, with the recent fill ids) -> every account's state: the runtime's own.
SnapshotPayload = Callable[[datetime, bool], dict[str, Any]]


class JournalUpkeep:
    def __init__(
        self, journal: Journal, notices: Notices, clock: Clock, payload: SnapshotPayload
    ) -> None:
        self._journal = journal
        self._notices = notices
        self._clock = clock
        self._payload = payload
        self._calendar = TradingCalendar()  # the CME day: one file per trading day
        self._rotate_after: datetime | None = None
        self._snapshot_at: datetime | None = None  # clock time of the journal's last snapshot

    def restored(self, rebuilt: Rebuilt, now: datetime) -> list[Alert]:
        """Go on from a rebuild; what the trader must hear of (said once subscribers listen)."""
        journal = self._journal
        # The cadence goes on across restarts: a crash loop must not grow the tail without end.
        journal.since_snapshot = rebuilt.last_seq - (rebuilt.snapshot_seq or 0)
        self._snapshot_at = rebuilt.snapshot_ts
        if journal.day is None:
            journal.set_day(self._calendar.trading_day(now))
        if rebuilt.last_ts is None or now >= rebuilt.last_ts - CLOCK_BEHIND:
            return []
        # Time going back would not unlock anything (days never go back, locks keep their end),
        # but cutoffs would come late: the trader must hear of it.
        text = (
            f"clock: the system clock ({now.astimezone(_CT):%Y-%m-%d %H:%M:%S} CT) is behind the "
            f"journal's last record ({rebuilt.last_ts.astimezone(_CT):%Y-%m-%d %H:%M:%S} CT) by "
            f"{span_text((rebuilt.last_ts - now).total_seconds())}. Locks and day baselines are kept; check the "
            "system clock (NTP) before trading."
        )
        return [Alert(now, Level.CRITICAL, text, topic=Topic.CLOCK)]

    def keep(self, now: datetime) -> None:
        """A snapshot every so many records; a new file when a new trading day starts."""
        journal = self._journal
        day = self._calendar.trading_day(now)
        if journal.switch_failed is not None:
            log.error("journal: no new file for %s yet: %s", day, journal.switch_failed)
            journal.switch_failed = None
            self._rotate_after = now + ROTATE_RETRY
        due = self._rotate_after is None or now >= self._rotate_after
        new_day = journal.day is not None and journal.day != day
        if (
            new_day
            and due
            and not journal.rotating
            and journal.rotate(day, now, self._payload(now, True))
        ):
            self._snapshot_at = now
            return
        if journal.since_snapshot >= SNAPSHOT_EVERY or (
            journal.since_snapshot
            and (self._snapshot_at is None or now - self._snapshot_at >= SNAPSHOT_EVERY_CLOCK)
        ):
            journal.record_snapshot(now, self._payload(now, False))
            self._snapshot_at = now

    def watch(self) -> None:
        """Hear the journal's health from here on (and now, if it is already not writable)."""
        self._journal.watch(self.on_health)
        if not self._journal.health.writable:
            self.on_health(self._journal.health)

    def on_health(self, health: JournalHealth) -> None:
        now = self._clock.now()
        path = self._journal.path
        if health.writable:
            text = (
                f"journal writable again: {health.written} record(s) kept in memory written to "
                f"{path}"
            )
            self._notices.emit(Alert(now, Level.INFO, text, topic=Topic.JOURNAL))
        else:
            text = (
                f"journal not writable: running without durability — {health.reason}. propdesk "
                f"keeps acting (flatten, cancel, lock); {health.pending} record(s) wait in memory "
                f"for {path}."
            )
            self._notices.emit(Alert(now, Level.CRITICAL, text, topic=Topic.JOURNAL))
        self._journal.record_notice(
            now, {"type": "journal", "writable": health.writable, "reason": health.reason}
        )
        self._journal.flush()

    async def checkpoints(self, every: float = 5.0) -> None:
        """Keep the WAL short, off the event loop's thread (real seconds, whatever the clock).

        A checkpoint that fails (a full disk) is logged once until one succeeds again: the
        journal's own health alert is what tells the trader.
        """
        failing = ""
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self._journal.checkpoint)
            except Exception as exc:
                if repr(exc) != failing:
                    log.warning("journal checkpoint failed: %r", exc)
                failing = repr(exc)
            else:
                failing = ""
