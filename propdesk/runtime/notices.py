"""What the runtime tells its subscribers (the console, the headless printer, alert channels).

Subscribers register plain callables, the way vnpy's widgets do: the Qt console passes `signal.emit`
so the call is queued onto the GUI thread. A subscriber that raises is logged and never stops the
runtime: the risk path does not depend on anyone drawing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from propdesk.brokers.base import LinkState
from propdesk.domain.events import Fill
from propdesk.domain.guard import Action, GuardState

log = logging.getLogger(__name__)


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class StateChanged:
    ts: datetime
    account: str
    old: GuardState
    new: GuardState
    reason: str
    # The account's equity and day P&L at the change: the chart's marker goes there, and a
    # subscriber never has to read the runtime's accounts from inside the runtime's call.
    equity: Decimal
    day_pnl: Decimal


@dataclass(frozen=True, slots=True)
class ActionTaken:
    ts: datetime
    account: str
    action: Action


@dataclass(frozen=True, slots=True)
class FillBooked:
    """A fill reached the ledger (the console marks it on the P&L chart)."""

    ts: datetime
    account: str
    fill: Fill
    equity: Decimal  # after the fill: where the chart's marker goes
    day_pnl: Decimal


@dataclass(frozen=True, slots=True)
class FlattenFinished:
    ts: datetime
    account: str
    flat: bool
    detail: str
    attempts: int


@dataclass(frozen=True, slots=True)
class LinkChanged:
    ts: datetime
    broker: str
    state: LinkState
    detail: str


class Topic(StrEnum):
    """What an alert is about: mostly propdesk itself rather than one account."""

    NONE = ""
    LINK = "link"  # the runtime's echo of a LinkChanged (the alert policy works from that one)
    JOURNAL = "journal"  # the journal cannot be written, or can again
    TASK = "task"  # a runtime task crashed and was restarted; an event could not be applied
    CLOCK = "clock"  # the wall clock jumped, or agrees with the monotonic clock again
    RESTORE = "restore"  # a flatten interrupted by a restart was re-issued
    LOOP = "loop"  # the event loop stalled: nothing was watched or flattened meanwhile
    # An account's own: a firm floor crossed while it was locked (its strategy kept trading it).
    FIRM_FLOOR = "firm_floor"


@dataclass(frozen=True, slots=True)
class Alert:
    ts: datetime
    level: Level
    text: str
    account: str | None = None
    topic: Topic = Topic.NONE


Notice = StateChanged | ActionTaken | FillBooked | FlattenFinished | LinkChanged | Alert
Subscriber = Callable[[Notice], None]


class Notices:
    """Fan-out of notices to subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def register(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unregister(self, subscriber: Subscriber) -> None:
        self._subscribers.remove(subscriber)

    def emit(self, notice: Notice) -> None:
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(notice)
            except Exception:
                log.exception("notice subscriber %r failed on %r", subscriber, notice)
