"""The runtime's service tasks, kept running: a task that crashes is an alarm and starts again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from propdesk.domain.clock import Clock
from propdesk.runtime.notices import Alert, Level, Notices, Topic

log = logging.getLogger(__name__)

# Seconds before a crashed service task starts again, by how many times it has crashed.
RESTART_BACKOFF = (0.0, 0.1, 1.0, 5.0)

Body = Callable[[], Awaitable[None]]


class ServiceKeeper:
    def __init__(self, clock: Clock, notices: Notices) -> None:
        self._clock = clock
        self._notices = notices
        self.restarts: dict[str, int] = {}  # service task name -> crashes so far

    def start(
        self, name: str, body: Body, before_restart: Body | None = None
    ) -> asyncio.Task[None]:
        """Run `body` as a task for the runtime's life; `before_restart` runs before each restart."""
        task = self._keep_running(name, body, before_restart)
        return asyncio.get_running_loop().create_task(task, name=name)

    async def _keep_running(self, name: str, body: Body, before_restart: Body | None) -> None:
        crashes = 0
        while True:
            try:
                if crashes and before_restart is not None:
                    await before_restart()
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                crashes += 1
                log.exception("runtime task %r crashed (%d)", name, crashes)
                self.restarts[name] = crashes
                self._notices.emit(
                    Alert(
                        self._clock.now(),
                        Level.CRITICAL,
                        f"internal error: the {name} task crashed ({exc!r}); restarted "
                        f"(crash {crashes}). Check that the accounts are watched.",
                        topic=Topic.TASK,
                    )
                )
                # Straight back for a one-off; a task that keeps crashing backs off a little.
                await asyncio.sleep(RESTART_BACKOFF[min(crashes, len(RESTART_BACKOFF)) - 1])
