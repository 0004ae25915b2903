"""The connection supervisor: one per broker link.

It pumps the adapter's events into the hub's inbox, watches liveness (silence longer than the broker's
heartbeat allowance is a dead link, whatever the socket says), and reconnects with backoff and jitter on
the same session. After a reconnect it re-reads the snapshot and hands it, with how long the link was
down, to the runtime, which reconciles and applies the disconnect policy. A forced logout or a revoked
token is terminal: it raises the alarm and stops, so propdesk never fights the strategy for a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from propdesk.brokers.base import (
    Broker,
    BrokerError,
    LinkEvent,
    LinkState,
    SessionLost,
    Snapshot,
)
from propdesk.domain.clock import Clock
from propdesk.runtime.inbox import Inbox

log = logging.getLogger(__name__)

TERMINAL = frozenset({LinkState.FORCED_LOGOUT, LinkState.TOKEN_REVOKED})
DEFAULT_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds of clock time, the last one repeats

LinkCallback = Callable[[LinkEvent], None]
# (snapshot, how long the link was down); None: the first connection, made after start-up failed.
RestoredCallback = Callable[[Snapshot, timedelta | None], Awaitable[None]]


class Supervisor:
    def __init__(
        self,
        broker: Broker,
        clock: Clock,
        inbox: Inbox,
        on_link: LinkCallback,
        on_restored: RestoredCallback,
        *,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        jitter: float = 0.2,
        seed: int | None = None,
        unconnected: str | None = None,
    ) -> None:
        """`unconnected`: why the start-up connection failed; the supervisor keeps logging in."""
        self.broker = broker
        self._clock = clock
        self._inbox = inbox
        self._on_link = on_link
        self._on_restored = on_restored
        self._backoff = tuple(backoff)
        self._jitter = jitter
        self._rng = random.Random(seed)
        self.state = LinkState.CONNECTED if unconnected is None else LinkState.DISCONNECTED
        self.detail = "" if unconnected is None else unconnected
        self._connected = unconnected is None
        self.down_since: datetime | None = None
        self.reconnects = 0
        self._stopping = False

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        """Supervise until stopped or the session is lost for good."""
        broker = self.broker
        if not self._connected and not await self._first_connect():
            return
        while not self._stopping:
            pump = asyncio.create_task(self._pump(), name=f"pump {broker.name}")
            watchdog = asyncio.create_task(self._watchdog(), name=f"watchdog {broker.name}")
            try:
                await asyncio.wait({pump, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (pump, watchdog):
                    task.cancel()
                await asyncio.gather(pump, watchdog, return_exceptions=True)
            if self._stopping or self.terminal:
                return
            if self.state is LinkState.CONNECTED:
                # The stream ended without saying why: a dropped transport.
                self._link(LinkState.DISCONNECTED, "the event stream ended")
            # Closing a dead transport may itself fail; that must not stop the reconnect.
            with contextlib.suppress(Exception):
                await broker.close()
            if not await self._reconnect():
                return

    # ------------------------------------------------------------------------------------------
    def _link(self, state: LinkState, detail: str) -> None:
        if state is not LinkState.CONNECTED and self.down_since is None:
            # Down since the last frame we had, not since we noticed: a silent link was dead
            # for the whole allowance before the watchdog could say so.
            self.down_since = self.broker.last_frame_at or self._clock.now()
        self.state = state
        self.detail = detail
        self._on_link(LinkEvent(self._clock.now(), self.broker.name, state, detail))

    async def _pump(self) -> None:
        inbox, name = self._inbox, self.broker.name
        async for event in self.broker.events():
            if isinstance(event, LinkEvent):
                if event.state is not LinkState.CONNECTED:
                    self._link(event.state, event.detail)
                    return
                continue
            inbox.put(name, event)

    async def _watchdog(self) -> None:
        broker, clock = self.broker, self._clock
        allowance = broker.heartbeat_allowance.total_seconds()
        while True:
            await clock.sleep(allowance / 4)
            last = broker.last_frame_at
            if last is None:
                continue
            silent = (clock.now() - last).total_seconds()
            if silent > allowance:
                self._link(
                    LinkState.SILENT,
                    f"no frame for {silent:.1f} s (allowed {allowance:.1f} s): the link is dead",
                )
                return

    async def _first_connect(self) -> bool:
        """Log in, with backoff, after the start-up connection failed (the network was down, the
        broker in maintenance). A refused login (bad credentials, no permission) is not retried:
        repeating it can lock the user out, so the alarm stays up until the settings change."""
        attempts = await self._with_backoff(self.broker.connect, "login", retry_refusals=False)
        if attempts is None:
            return False
        snapshot, attempt = attempts
        self._connected = True
        self._link(LinkState.CONNECTED, f"connected after {attempt} attempt(s)")
        await self._on_restored(snapshot, None)
        return True

    async def _reconnect(self) -> bool:
        attempts = await self._with_backoff(self.broker.reconnect, "reconnect", retry_refusals=True)
        if attempts is None:
            return False
        snapshot, _ = attempts
        down_since = self.down_since or self._clock.now()
        down_for = self._clock.now() - down_since
        self.down_since = None
        self.reconnects += 1
        self._link(LinkState.CONNECTED, f"reconnected after {down_for.total_seconds():.1f} s")
        await self._on_restored(snapshot, down_for)
        return True

    async def _with_backoff(
        self, step: Callable[[], Awaitable[None]], what: str, *, retry_refusals: bool
    ) -> tuple[Snapshot, int] | None:
        """`step` then a fresh snapshot, retried with backoff and jitter; None: stopped or refused."""
        broker = self.broker
        attempt = 0
        while not self._stopping:
            base = self._backoff[min(attempt, len(self._backoff) - 1)]
            await self._clock.sleep(base * (1 + self._rng.uniform(-self._jitter, self._jitter)))
            attempt += 1
            try:
                await step()
                snapshot = await broker.snapshot()
            except SessionLost as exc:
                self._link(LinkState.FORCED_LOGOUT, f"{what} refused: {exc}")
                return None
            except BrokerError as exc:
                if not (exc.retryable or retry_refusals):
                    self._link(LinkState.DISCONNECTED, f"{what} refused, not retried: {exc}")
                    return None
                log.info("%s %s attempt %d failed: %s", what, broker.name, attempt, exc)
                continue
            except Exception as exc:  # the network: retried with backoff
                log.info("%s %s attempt %d failed: %s", what, broker.name, attempt, exc)
                continue
            return snapshot, attempt
        return None
