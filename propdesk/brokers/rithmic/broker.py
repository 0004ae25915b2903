"""`RithmicBroker`: one Rithmic login (ORDER and PNL plants) speaking propdesk's broker protocol.

Session rules (research/broker-apis.md §0, §3):
- A Rithmic session lives on its sockets: `reconnect()` opens fresh sockets and logs in again,
  which replaces only propdesk's own dead session; it is refused (`SessionLost`) after a
  ForcedLogout, which means another login took the user's sessions: propdesk raises the alarm
  and never logs in again by itself (a new `connect()` is the trader's explicit sign-in).
- Liveness is judged here, not by the library: a heartbeat goes out on both plants every
  `heartbeat_seconds` (clock time) and its reply is a frame; `last_frame_at` feeds the
  supervisor's watchdog, which declares the link dead after `heartbeat_allowance` of silence.
- P&L: template 451 gives the account's balance, 450 each position and, through its open P&L,
  the mark (mapping.py; passed on only when it moves); 352 gives fills and order states.
- Flatten is native: cancel-all (346) and exit-position (3504, every symbol), per account.
- Secrets: the wire's `Redactor` hides the password in whatever Rithmic or the library says before
  it enters an error, a link event or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from propdesk.brokers.base import (
    END_OF_STREAM,
    AccountFill,
    AccountRef,
    Broker,
    BrokerAccount,
    BrokerError,
    BrokerEvent,
    BrokerPosition,
    Capability,
    LinkEvent,
    LinkState,
    OrderRequest,
    OrderType,
    Quote,
    SessionLost,
    Snapshot,
    WorkingOrder,
    drain,
)
from propdesk.brokers.rithmic.mapping import Mapper, PayloadError, rithmic_symbol
from propdesk.brokers.rithmic.wire import ORDER_TYPES, PUSHES, Login, RithmicWire
from propdesk.domain.clock import Clock
from propdesk.domain.events import Side
from propdesk.domain.instruments import Contract, InstrumentBook

log = logging.getLogger(__name__)

CHICAGO = ZoneInfo("America/Chicago")
SESSION_START = time(17, 0)  # CME Globex: a trading day begins at 5 PM Chicago time
FORCED_DETAIL = (
    "Rithmic sent a ForcedLogout: another login (the strategy, R|Trader or a second propdesk) "
    "took this user's sessions. propdesk will not log in again by itself; sign in again once "
    "the other session is settled."
)


def trading_day_start(now: datetime) -> datetime:
    local = now.astimezone(CHICAGO)
    start = datetime.combine(local.date(), SESSION_START, CHICAGO)
    return start if local >= start else start - timedelta(days=1)


class RithmicBroker(Broker):
    capabilities = frozenset(
        {Capability.CANCEL_ALL, Capability.FLATTEN_ACCOUNT, Capability.LIQUIDATE_CONTRACT}
    )

    def __init__(
        self,
        *,
        name: str,
        login: Login,
        accounts: Sequence[str],
        instruments: InstrumentBook,
        clock: Clock,
        heartbeat_seconds: float = 5.0,
        request_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._clock = clock
        self._watched = frozenset(accounts)
        self._mapper = Mapper(name, instruments)
        self._wire = RithmicWire(login, self, request_timeout=request_timeout)
        self._heartbeat = heartbeat_seconds
        self.heartbeat_allowance = timedelta(seconds=3 * heartbeat_seconds)
        self._queue: asyncio.Queue[object] | None = None
        self._open = False  # the current transport still streams
        self._last_frame: datetime | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._release: asyncio.Task[None] | None = None
        self._tags = itertools.count(1)
        self._names: dict[str, str] = {}
        self._marks: dict[str, Decimal | None] = {}  # the last mark sent per contract
        self._history: dict[str, AccountFill] = {}  # fills already read, by id: they never change
        self.payload_errors = 0

    # -- link ----------------------------------------------------------------------------------
    @property
    def last_frame_at(self) -> datetime | None:
        return self._last_frame

    @property
    def wire(self) -> RithmicWire:
        return self._wire

    async def connect(self) -> None:
        """Sign in (the trader's explicit action: it also clears a past ForcedLogout)."""
        await self._open_transport()

    async def reconnect(self) -> None:
        if self._wire.forced_out:
            raise SessionLost(FORCED_DETAIL)
        await self._open_transport()

    async def _open_transport(self) -> None:
        await self._end_transport()
        self._queue = asyncio.Queue()
        self._marks.clear()  # a new stream starts with every mark it hears
        self._open = True
        try:
            await self._wire.open()
        except BaseException:
            self._open = False
            raise
        self._last_frame = self._clock.now()
        names = dict(self._wire.account_ids())
        unknown = self._watched - names.keys()
        if unknown:
            log.warning(
                "%s: Rithmic does not list account(s) %s for this user",
                self.name,
                ", ".join(sorted(unknown)),
            )
        self._names = names
        self._pinger = asyncio.get_running_loop().create_task(
            self._ping(), name=f"rithmic heartbeat {self.name}"
        )

    async def close(self) -> None:
        release = self._release
        if release is not None:
            await asyncio.gather(release, return_exceptions=True)
        await self._end_transport()

    async def _end_transport(self) -> None:
        self._end_stream(None)
        pinger, self._pinger = self._pinger, None
        if pinger is not None:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
        await self._wire.close()

    def _end_stream(self, event: LinkEvent | None) -> None:
        if not self._open:
            return
        self._open = False
        if self._queue is not None:
            if event is not None:
                self._queue.put_nowait(event)
            self._queue.put_nowait(END_OF_STREAM)

    async def _ping(self) -> None:
        while True:
            await self._clock.sleep(self._heartbeat)
            await self._wire.heartbeat()

    async def events(self) -> AsyncIterator[BrokerEvent]:
        queue = self._queue
        if queue is None:
            return
        async for event in drain(queue):
            yield event

    # -- the wire's callbacks (run inside the library's receive loop: never raise) ----------------
    def on_frame(self) -> None:
        self._last_frame = self._clock.now()

    def on_forced_logout(self) -> None:
        log.error("%s: %s", self.name, FORCED_DETAIL)
        now = self._clock.now()
        self._end_stream(LinkEvent(now, self.name, LinkState.FORCED_LOGOUT, FORCED_DETAIL))
        # Let go of the sockets and the heartbeat at once: nothing may talk for this session now.
        # A task of its own, because this runs inside the library's loop that the release stops.
        if self._release is None or self._release.done():
            self._release = asyncio.get_running_loop().create_task(
                self._end_transport(), name=f"rithmic release {self.name}"
            )

    def on_broken(self, detail: str) -> None:
        if self._wire.forced_out:
            return
        detail = self._wire.redact(detail)
        self._end_stream(LinkEvent(self._clock.now(), self.name, LinkState.DISCONNECTED, detail))

    def on_push(self, message: Any) -> None:
        if not self._open or self._queue is None:
            return
        template_id = message.template_id
        if template_id not in PUSHES or message.account_id not in self._watched:
            return
        now = self._clock.now()
        try:
            events: Sequence[BrokerEvent]
            if template_id == 352:
                events = self._mapper.exchange_notification(message, now)
            elif template_id == 450:
                events = self._mapper.instrument_pnl(message, now)
            elif template_id == 451:
                events = [self._mapper.account_pnl(message, now)]
            else:
                # 351 repeats what the 352s say (states, fills) from Rithmic's side: not needed.
                return
        except (PayloadError, ArithmeticError, ValueError) as exc:
            self.payload_errors += 1
            said = self._wire.redact(exc)
            log.warning("%s: skipped template %d: %s", self.name, template_id, said)
            return
        for event in events:
            if isinstance(event, Quote):
                # Every fill re-sends each position's P&L at an unchanged price: pass on news only.
                key = event.mark.contract.key
                if self._marks.get(key) == event.mark.last:
                    continue
                self._marks[key] = event.mark.last
            self._queue.put_nowait(event)

    # -- reads -----------------------------------------------------------------------------------
    async def snapshot(self, accounts: Iterable[AccountRef] | None = None) -> Snapshot:
        wanted = (
            sorted(self._watched)
            if accounts is None
            else [a.account_id for a in accounts if a.broker == self.name]
        )
        parts = await asyncio.gather(*(self._read(account) for account in wanted))
        return Snapshot(
            taken_at=self._clock.now(),
            accounts=tuple(p[0] for p in parts),
            positions=tuple(pos for p in parts for pos in p[1]),
            orders=tuple(order for p in parts for order in p[2]),
            fills=tuple(fill for p in parts for fill in p[3]),
        )

    async def _read(
        self, account: str
    ) -> tuple[BrokerAccount, list[BrokerPosition], list[WorkingOrder], list[AccountFill]]:
        if self._names and account not in self._names:
            # Never a silent empty read: the kill switch would take it for "flat".
            raise BrokerError(
                f"Rithmic does not list account {account} for this user "
                f"(it lists {', '.join(sorted(self._names))})",
                retryable=False,
            )
        now = self._clock.now()
        wire = self._wire
        summary, positions, orders, fills = await asyncio.gather(
            wire.account_pnl(account),
            wire.positions(account),
            wire.orders(account),
            wire.fills(account, trading_day_start(now), now + timedelta(minutes=1)),
        )
        if not summary:
            raise BrokerError(f"Rithmic sent no P&L for account {account}")
        ref = self._mapper.ref(account)
        mapper = self._mapper
        # Both P&L reads are template 402 and each answer carries 450s and a 451, so one read
        # may collect the other's rows too: keep one row per contract, order and fill.
        held = {p.contract.key: p for p in self._each(positions, lambda m: mapper.position(m, now))}
        working = {
            o.order_id: o for o in self._each(orders, lambda m: mapper.working_order(m, now))
        }
        booked = {
            f.fill.fill_id: f for f in self._each(fills, lambda m: self._history_fill(m, now))
        }
        return (
            BrokerAccount(ref, self._names.get(account, account), self._balance(summary[-1])),
            list(held.values()),
            [o for o in working.values() if o.remaining],
            list(booked.values()),
        )

    def _history_fill(self, row: Any, now: datetime) -> AccountFill:
        known = self._history.get(row.fill_id)
        if known is None or known.account.account_id != row.account_id:
            known = self._mapper.history_fill(row, now)
            self._history[row.fill_id] = known
        return known

    def _balance(self, summary: Any) -> Any:
        try:
            return self._mapper.account_pnl(summary, self._clock.now()).balance
        except PayloadError as exc:
            said = self._wire.redact(exc)
            raise BrokerError(
                f"Rithmic sent an unreadable balance: {said}"
            ) from self._wire.redact.cause(exc)

    def _each[T](self, messages: Iterable[Any], convert: Callable[[Any], T]) -> list[T]:
        out: list[T] = []
        for message in messages:
            try:
                out.append(convert(message))
            except (PayloadError, ArithmeticError, ValueError) as exc:
                self.payload_errors += 1
                log.warning("%s: skipped a snapshot row: %s", self.name, self._wire.redact(exc))
        return out

    # -- orders ----------------------------------------------------------------------------------
    async def place(self, account: AccountRef, order: OrderRequest) -> str:
        symbol, exchange = rithmic_symbol(order.contract)
        prices: dict[str, float] = {}
        if order.type is OrderType.LIMIT:
            if order.limit_price is None:
                raise BrokerError("a limit order needs a limit price", retryable=False)
            prices["price"] = float(order.limit_price)
        elif order.type is OrderType.STOP:
            if order.stop_price is None:
                raise BrokerError("a stop order needs a stop price", retryable=False)
            prices["trigger_price"] = float(order.stop_price)
        # user_tag is the order's name at Rithmic: unique, so a refusal finds its request.
        tag = f"{order.tag or 'propdesk'}-{next(self._tags)}"
        return await self._wire.place(
            account.account_id,
            tag,
            symbol,
            exchange,
            order.qty,
            buy=order.side is Side.BUY,
            order_type=ORDER_TYPES[order.type.value],
            prices=prices,
        )

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        await self._wire.cancel(account.account_id, order_id)

    async def close_position(self, account: AccountRef, contract: Contract) -> None:
        symbol, exchange = rithmic_symbol(contract)
        await self._wire.exit_position(account.account_id, symbol, exchange)

    async def cancel_all(self, account: AccountRef, orders: Iterable[WorkingOrder]) -> None:
        """Native (346): also cancels orders propdesk has not heard of yet."""
        await self._wire.cancel_all(account.account_id)

    async def flatten(self, account: AccountRef, positions: Iterable[BrokerPosition]) -> None:
        """Native (3504 with no symbol): exits every position of the account in one request."""
        await self._wire.exit_position(account.account_id)
