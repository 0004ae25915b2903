"""The kill switch: flatten an account and prove it.

Flatten = cancel every working order, close every position, then re-read the broker until a fresh read
shows no position and no working order; retry what remains with bounded backoff; report per account.
It never waits on a UI and never asks the strategy: it talks to the broker directly, and pressing it
twice joins the flatten already running (idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from propdesk.brokers.base import (
    AccountRef,
    Broker,
    BrokerError,
    BrokerPosition,
    SessionLost,
    WorkingOrder,
)
from propdesk.domain.clock import Clock
from propdesk.domain.news import in_scope
from propdesk.runtime.collector import COLLECTOR

log = logging.getLogger(__name__)

BrokerView = Callable[[AccountRef], tuple[list[BrokerPosition], list[WorkingOrder]]]

# Clock seconds between verification reads: the first read right after the requests are answered.
DEFAULT_BACKOFF = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0)


@dataclass(frozen=True, slots=True)
class FlattenResult:
    account: str
    flat: bool
    detail: str
    attempts: int
    # perf_counter() instants: the kill call, the last request issued, and the verified-flat read.
    started: float
    issued: float | None = None
    verified: float | None = None
    roots: frozenset[str] | None = None  # what the flatten covered; None: the whole account


class KillSwitch:
    def __init__(
        self,
        brokers: Mapping[str, Broker],
        clock: Clock,
        view: BrokerView,
        *,
        backoff: Iterable[float] = DEFAULT_BACKOFF,
    ) -> None:
        self._brokers = brokers
        self._clock = clock
        self._view = view
        self._backoff = tuple(backoff)
        # The running flatten of each account, and the roots it covers (None: all of them).
        self._running: dict[
            AccountRef, tuple[frozenset[str] | None, asyncio.Task[FlattenResult]]
        ] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def in_progress(self, account: AccountRef) -> bool:
        running = self._running.get(account)
        return running is not None and not running[1].done()

    def flatten(
        self, account: AccountRef, roots: frozenset[str] | None = None
    ) -> asyncio.Task[FlattenResult]:
        """Start (or join) the flatten of one account, or of its `roots` only (a news window).

        A flatten already running joins when it covers as much: a whole-account one covers any
        scope; a scoped one covers only its own roots, so a wider request starts its own.
        """
        running = self._running.get(account)
        if running is not None and not running[1].done():
            covered, task = running
            if covered is None or (roots is not None and roots <= covered):
                return task
        task = _eager(self._flatten(account, roots), f"flatten {account}")
        self._running[account] = (roots, task)
        return task

    async def flatten_many(self, accounts: Iterable[AccountRef]) -> list[FlattenResult]:
        tasks = [self.flatten(account) for account in accounts]
        return list(await asyncio.gather(*tasks))

    def cancel_orders(self, account: AccountRef, orders: Iterable[WorkingOrder]) -> None:
        """Fire-and-forget cancels (lock enforcement, reduce-only); failures are logged."""
        orders = list(orders)
        if not orders:
            return
        task = asyncio.get_running_loop().create_task(self._cancel(account, orders))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Wait for running flattens (they protect money) and drop fire-and-forget work."""
        running = [t for _, t in self._running.values() if not t.done()]
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------------------------------
    async def _cancel(self, account: AccountRef, orders: list[WorkingOrder]) -> None:
        broker = self._brokers[account.broker]
        results = await asyncio.gather(
            *(broker.cancel(account, o.order_id) for o in orders), return_exceptions=True
        )
        for order, result in zip(orders, results, strict=True):
            if isinstance(result, BrokerError) and not result.retryable:
                # Usually "already filled": the order is gone either way, and a filled one shows
                # up as a position that the lock closes next.
                log.info("cancel of %s on %s: %s", order.order_id, account, result)
            elif isinstance(result, BaseException):
                log.warning("cancel of %s on %s failed: %s", order.order_id, account, result)

    async def _issue(
        self,
        broker: Broker,
        account: AccountRef,
        positions: list[BrokerPosition],
        orders: list[WorkingOrder],
        roots: frozenset[str] | None,
    ) -> tuple[float, list[BaseException]]:
        """Send the cancels, then the closes, without waiting between them; returns when answered."""
        if roots is not None:
            return await self._issue_scoped(broker, account, positions, orders)
        # Eager: each request runs up to its first wait (the request sent) right here.
        requests = [_eager(broker.cancel_all(account, orders), f"cancel all {account}")]
        if positions:
            requests.append(_eager(broker.flatten(account, positions), f"close all {account}"))
        issued = time.perf_counter()
        results = await asyncio.gather(*requests, return_exceptions=True)
        return issued, [r for r in results if isinstance(r, BaseException)]

    @staticmethod
    async def _issue_scoped(
        broker: Broker,
        account: AccountRef,
        positions: list[BrokerPosition],
        orders: list[WorkingOrder],
    ) -> tuple[float, list[BaseException]]:
        """A scoped flatten cannot use the broker's account-wide calls (they would close what the
        scope leaves trading): one cancel per order in scope, then one close per contract."""
        issued = time.perf_counter()
        cancels = await asyncio.gather(
            *(broker.cancel(account, o.order_id) for o in orders), return_exceptions=True
        )
        # Cancels first: a close racing a bracket's cancel could leave its other leg working.
        closes = await asyncio.gather(
            *(broker.close_position(account, p.contract) for p in positions if p.net),
            return_exceptions=True,
        )
        errors = [r for r in (*cancels, *closes) if isinstance(r, BaseException)]
        return issued, errors

    async def _flatten(self, account: AccountRef, roots: frozenset[str] | None) -> FlattenResult:
        # Released by the coroutine itself, not a done-callback: a flatten that ends inside its
        # eager start must not leave the collector off until the loop's next turn.
        with COLLECTOR.held():
            return await self._flatten_held(account, roots)

    def _scoped_view(
        self, account: AccountRef, roots: frozenset[str] | None
    ) -> tuple[list[BrokerPosition], list[WorkingOrder]]:
        positions, orders = self._view(account)
        return _within(positions, roots), _within(orders, roots)

    async def _flatten_held(
        self, account: AccountRef, roots: frozenset[str] | None
    ) -> FlattenResult:
        started = time.perf_counter()
        # Started eagerly, this runs before `flatten` stores the task: store it first, so a second
        # FLATTEN during the requests below joins this one instead of starting another.
        current = asyncio.current_task()
        if current is not None:
            self._running[account] = (roots, current)  # type: ignore[assignment]
        name = str(account)
        broker = self._brokers.get(account.broker)
        if broker is None:
            return FlattenResult(
                name, False, f"no connection named {account.broker!r}", 0, started, roots=roots
            )
        positions, orders = self._scoped_view(account, roots)
        issued: float | None = None
        errors: list[BaseException] = []
        detail = ""
        for attempt, pause in enumerate(self._backoff, start=1):
            try:
                first, errors = await self._issue(broker, account, positions, orders, roots)
                issued = issued or first
                if any(isinstance(e, SessionLost) for e in errors):
                    raise next(e for e in errors if isinstance(e, SessionLost))
                if pause:
                    await self._clock.sleep(pause)
                snapshot = await broker.exposure(account)
            except SessionLost as exc:
                return FlattenResult(
                    name, False, f"session lost: {exc}", attempt, started, issued, roots=roots
                )
            except (BrokerError, OSError, TimeoutError) as exc:
                detail = f"broker error: {exc}"
                log.warning("flatten %s attempt %d: %s", name, attempt, exc)
                positions, orders = self._scoped_view(account, roots)
                continue
            positions = _within(snapshot.positions_of(account), roots)
            orders = _within(snapshot.orders_of(account), roots)
            if not positions and not orders:
                done = "verified flat" if roots is None else f"verified flat in {_text(roots)}"
                return FlattenResult(
                    name, True, done, attempt, started, issued, time.perf_counter(), roots
                )
            detail = f"still {len(positions)} position(s) and {len(orders)} working order(s)" + (
                f"; last error: {errors[0]}" if errors else ""
            )
        return FlattenResult(
            name,
            False,
            f"not flat after {len(self._backoff)} attempts: {detail}",
            len(self._backoff),
            started,
            issued,
            roots=roots,
        )


def _within[T: (BrokerPosition, WorkingOrder)](
    items: list[T], roots: frozenset[str] | None
) -> list[T]:
    """The positions or orders a flatten scoped to `roots` covers (all of them for None)."""
    if roots is None:
        return [i for i in items if not isinstance(i, BrokerPosition) or i.net]
    return [
        i
        for i in items
        if in_scope(i.contract.instrument, roots) and (not isinstance(i, BrokerPosition) or i.net)
    ]


def _text(roots: frozenset[str]) -> str:
    return ", ".join(sorted(roots))


def _eager[T](coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
    """A task that runs at once, up to its first wait, instead of at the loop's next turn.

    The kill path must not queue behind whatever else the loop holds (under the console: Qt's
    repaints and notices): the cancel and close requests leave inside the call that asked for them.
    """
    return asyncio.Task(coro, loop=asyncio.get_running_loop(), name=name, eager_start=True)
