"""Alerts that reach the trader away from the window: which notices deserve one, and the phone push.

The policy turns the runtime's notices into a few alert messages a trader acts on: a link lost, back or
refused (forced logout, revoked token), an account rising to WARNING or worse, every automatic flatten
and how it ended. It stays quiet about the trader's own commands (a FLATTEN pressed is not news to the
one who pressed it) and rate-limits repeats of the same alert, except the ones that must never be
missed: automatic flattens, forced logouts, revoked tokens, a flatten not verified flat. A lock closing
what a strategy opened is said once per quiet time: a bot that ignores its lock does it every second.

The phone channel posts messages in ntfy's format (body text; Title, Priority, Tags headers) from one
sender task behind a bounded queue: `send` returns at once, whatever the network does, so nothing on
the risk path ever waits on a phone. Failures are logged and reported once as an in-window alert.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from propdesk.brokers.base import LinkState
from propdesk.domain.guard import ActionType, GuardState
from propdesk.runtime.engine import Runtime
from propdesk.runtime.notices import (
    ActionTaken,
    Alert,
    FlattenFinished,
    Level,
    LinkChanged,
    Notice,
    StateChanged,
    Topic,
)

log = logging.getLogger(__name__)

LEVEL_RANK = {Level.INFO: 0, Level.WARNING: 1, Level.CRITICAL: 2}
QUIET_SECONDS = 60.0  # an identical alert within this many real seconds is not repeated
MANUAL_RULE = "manual"  # the guard's rule for a flatten the trader asked for (KillRequest)
# How the guard's reason starts when a locked account's strategy opened a position and the lock
# closes it (propdesk.domain.guard, the LOCKED branch). A bot that ignores the lock does that every
# few seconds: one alert per quiet time says so, not one per close.
LOCK_ENFORCEMENT_PREFIX = "locked ("


class Origin(IntEnum):
    """Who started a flatten; when flattens join, the highest counts."""

    TRADER = 0
    LOCK = 1  # the lock closing what a strategy opened
    GUARD = 2  # an automatic flatten: a floor, a cutoff, a news window, a long disconnect


_DOWN = frozenset({LinkState.DISCONNECTED, LinkState.SILENT})
_REFUSED = frozenset({LinkState.FORCED_LOGOUT, LinkState.TOKEN_REVOKED})


def at_least(level: Level, minimum: Level) -> bool:
    return LEVEL_RANK[level] >= LEVEL_RANK[minimum]


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert for the channels (desktop notification, sound, phone; the banner when `in_window`)."""

    ts: datetime
    level: Level
    title: str  # short: who and what ("Topstep 50K: automatic flatten")
    body: str  # why, with the numbers
    account: str | None  # the account key, None for a connection
    key: str  # identical alerts share a key (rate limit; an all-clear names the key it clears)
    urgent: bool = False  # never rate-limited
    in_window: bool = False  # the runtime raised no Alert of its own for it: the banner needs it
    resolves: tuple[str, ...] = ()  # keys of the alerts this one clears (link back, state eased)

    def as_alert(self) -> Alert:
        """The banner's form (the title already names the account; the account is kept for the
        alert history's filter)."""
        return Alert(self.ts, self.level, f"{self.title} — {self.body}", self.account)


class AlertSettingsLike(Protocol):
    """The settings' alert section, as saved (an empty URL: no phone)."""

    @property
    def desktop(self) -> bool: ...
    @property
    def sound(self) -> bool: ...
    @property
    def phone_url(self) -> str | None: ...
    @property
    def phone_min_level(self) -> str: ...


@dataclass(frozen=True, slots=True)
class AlertChannels:
    """Which channels carry alerts; the in-window banner always does."""

    desktop: bool = True  # notifications from the tray icon (where the desktop has a tray)
    sound: bool = True
    phone_url: str | None = None  # an ntfy-style topic URL; None: no phone alerts
    phone_min_level: Level = Level.WARNING

    def __post_init__(self) -> None:
        if self.phone_url is not None:
            parts = urlsplit(self.phone_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"the phone alert URL must be http(s)://host/topic, not {self.phone_url!r}"
                )

    @classmethod
    def from_settings(cls, settings: AlertSettingsLike) -> AlertChannels:
        """From the settings' plain values (raises ValueError on a bad URL or level)."""
        url = (settings.phone_url or "").strip() or None
        return cls(
            desktop=bool(settings.desktop),
            sound=bool(settings.sound),
            phone_url=url,
            phone_min_level=Level(settings.phone_min_level.strip().lower()),
        )

    @property
    def phone(self) -> bool:
        return self.phone_url is not None


def _state_word(state: GuardState) -> str:
    return state.name.replace("_", " ")


class AlertPolicy:
    """Notices in, alert messages out (or None). Call it with every notice, in order."""

    def __init__(
        self,
        names: Mapping[str, str],
        *,
        brokers: Mapping[str, Sequence[str]] | None = None,
        quiet_seconds: float = QUIET_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._names = dict(names)
        self._brokers = {b: tuple(keys) for b, keys in (brokers or {}).items()}
        self._quiet = quiet_seconds
        self._monotonic = monotonic
        self._last: dict[str, float] = {}  # key → when it last went out
        self._flattens: dict[str, Origin] = {}  # account → who started the flatten under way
        self._not_flat: dict[str, str] = {}  # account → the detail of its last NOT FLAT finish

    @classmethod
    def for_runtime(
        cls,
        runtime: Runtime,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> AlertPolicy:
        names = {key: a.setup.name or key for key, a in runtime.accounts.items()}
        brokers: dict[str, list[str]] = {}
        for key, account in runtime.accounts.items():
            brokers.setdefault(account.ref.broker, []).append(key)
        return cls(names, brokers=brokers, quiet_seconds=quiet_seconds, monotonic=monotonic)

    def __call__(self, notice: Notice) -> AlertMessage | None:
        message = self._message(notice)
        if message is None or message.urgent:
            return message
        now = self._monotonic()
        last = self._last.get(message.key)
        if last is not None and now - last < self._quiet:
            log.debug("alert %s repeated within %.0f s: not sent again", message.key, self._quiet)
            return None
        self._last[message.key] = now
        return message

    # ------------------------------------------------------------------------------------------
    def _message(self, notice: Notice) -> AlertMessage | None:
        if isinstance(notice, LinkChanged):
            return self._link(notice)
        if isinstance(notice, StateChanged):
            return self._state(notice)
        if isinstance(notice, ActionTaken):
            return self._action(notice)
        if isinstance(notice, FlattenFinished):
            return self._flatten_finished(notice)
        if isinstance(notice, Alert):
            return self._alert(notice)
        return None  # fills: the chart shows them

    def _name(self, account: str) -> str:
        return self._names.get(account, account)

    def _link(self, notice: LinkChanged) -> AlertMessage | None:
        broker = notice.broker
        accounts = ", ".join(self._name(k) for k in self._brokers.get(broker, ())) or broker
        down_key = f"link:{broker}:down"
        if notice.state in _DOWN:
            return AlertMessage(
                notice.ts,
                Level.CRITICAL,
                f"{broker}: connection lost",
                f"{notice.detail or notice.state.value}. propdesk is reconnecting; until then it "
                f"cannot watch or flatten {accounts}.",
                None,
                down_key,
            )
        if notice.state in _REFUSED:
            what = "forced logout" if notice.state is LinkState.FORCED_LOGOUT else "token revoked"
            return AlertMessage(
                notice.ts,
                Level.CRITICAL,
                f"{broker}: {what}",
                f"{notice.detail or what}. propdesk will not log in again by itself; sign in "
                f"again when you are ready. Unwatched until then: {accounts}.",
                None,
                f"link:{broker}:{notice.state.value}",
                urgent=True,
            )
        if notice.state is LinkState.CONNECTED:
            return AlertMessage(
                notice.ts,
                Level.INFO,
                f"{broker}: connection restored",
                notice.detail or "connected",
                None,
                f"link:{broker}:up",
                resolves=(down_key,),
            )
        return None

    def _state(self, notice: StateChanged) -> AlertMessage | None:
        old, new, name = notice.old, notice.new, self._name(notice.account)
        if new > old and new in (GuardState.WARNING, GuardState.REDUCE_ONLY):
            return AlertMessage(
                notice.ts,
                Level.WARNING,
                f"{name}: {_state_word(new)}",
                notice.reason,
                notice.account,
                f"state:{notice.account}:{new.name}",
            )
        if new > old:
            # FLATTENING and LOCKED come with a FLATTEN action: announced there, automatic or not.
            return None
        # Falling: an all-clear, quiet (INFO), that follows its alarm wherever the alarm went.
        cleared = tuple(
            f"state:{notice.account}:{s.name}"
            for s in (GuardState.WARNING, GuardState.REDUCE_ONLY)
            if new < s <= old
        )
        if old >= GuardState.FLATTENING:
            # Unlocked (by the trader or a lock that expired): the strategy may trade again.
            return AlertMessage(
                notice.ts,
                Level.INFO,
                f"{name}: unlocked, now {_state_word(new)}",
                notice.reason,
                notice.account,
                f"unlock:{notice.account}",
                resolves=(f"flatten:{notice.account}",),
            )
        return AlertMessage(
            notice.ts,
            Level.INFO,
            f"{name}: eased to {_state_word(new)}",
            notice.reason,
            notice.account,
            f"state:{notice.account}:{new.name}",
            resolves=cleared,
        )

    def _action(self, notice: ActionTaken) -> AlertMessage | None:
        action = notice.action
        if action.type is not ActionType.FLATTEN:
            return None
        name = self._name(notice.account)
        if action.reason.startswith(LOCK_ENFORCEMENT_PREFIX):
            origin = Origin.LOCK
        elif action.rule == MANUAL_RULE:
            origin = Origin.TRADER
        else:
            origin = Origin.GUARD
        # Flattens that join (the trader's on top of the guard's) count as the higher origin.
        self._flattens[notice.account] = max(origin, self._flattens.get(notice.account, origin))
        if origin is Origin.TRADER:
            return None
        if origin is Origin.LOCK:
            return AlertMessage(
                notice.ts,
                Level.WARNING,
                f"{name}: strategy still trading a locked account",
                f"{action.reason}. The lock closed the position; each close costs the spread.",
                notice.account,
                f"lock-enforced:{notice.account}",
                in_window=True,  # the runtime raises no Alert when a flatten starts
            )
        scope = f" ({', '.join(sorted(action.roots))} only)" if action.roots else ""
        return AlertMessage(
            notice.ts,
            Level.CRITICAL,
            f"{name}: automatic flatten{scope}",
            f"{action.reason}. Cancelling every order, closing every position, verifying flat.",
            notice.account,
            f"flatten:{notice.account}",
            urgent=True,
            in_window=True,  # the runtime raises no Alert when a flatten starts
        )

    def _flatten_finished(self, notice: FlattenFinished) -> AlertMessage | None:
        # None: a second notice for a flatten already reported (two actions joined one flatten).
        origin = self._flattens.pop(notice.account, None)
        name = self._name(notice.account)
        if not notice.flat:
            self._not_flat[notice.account] = notice.detail
            return AlertMessage(
                notice.ts,
                Level.CRITICAL,
                f"{name}: NOT FLAT",
                f"{notice.detail}. Check the broker now.",
                notice.account,
                f"not-flat:{notice.account}",
                urgent=True,
            )
        if origin is not Origin.GUARD:
            return None  # the trader's own flatten or a lock's: the window shows its result
        return AlertMessage(
            notice.ts,
            Level.INFO,
            f"{name}: flat (verified)",
            f"The automatic flatten is done: {notice.detail} after {notice.attempts} "
            "read(s); the account is locked.",
            notice.account,
            f"flatten-done:{notice.account}",
            urgent=True,
            resolves=(f"flatten:{notice.account}",),
        )

    def _alert(self, notice: Alert) -> AlertMessage | None:
        # Link alerts come as LinkChanged and the guard's warnings as state changes: what remains
        # is propdesk's own trouble (the journal, a crashed task, the clock) and an account's
        # critical alerts (a flatten that crashed, positions that disagree).
        if notice.account is None:
            return self._system(notice)
        if notice.topic is Topic.FIRM_FLOOR:
            return AlertMessage(
                notice.ts,
                Level.CRITICAL,
                f"{self._name(notice.account)}: firm floor crossed while LOCKED",
                notice.text,
                notice.account,
                f"firm-floor:{notice.account}:{notice.text}",
                urgent=True,  # the account is probably lost: never held back by a rate limit
            )
        if notice.level is not Level.CRITICAL:
            return None
        not_flat = self._not_flat.get(notice.account)
        if not_flat is not None and notice.text.endswith(not_flat):
            return None  # the runtime's echo of the NOT FLAT already announced
        return AlertMessage(
            notice.ts,
            Level.CRITICAL,
            f"{self._name(notice.account)}: alert",
            notice.text,
            notice.account,
            f"alert:{notice.account}:{notice.text}",
        )

    def _system(self, notice: Alert) -> AlertMessage | None:
        if notice.topic not in _SYSTEM_TOPICS:
            return None
        title = f"propdesk: {_SYSTEM_TOPICS[notice.topic]}"
        down = f"{notice.topic.value}:down"
        if notice.level is Level.INFO:
            return AlertMessage(
                notice.ts,
                Level.INFO,
                title,
                notice.text,
                None,
                f"{notice.topic.value}:up",
                resolves=(down,),
            )
        # Every one goes out: a second fault of the journal or a second crash is news too.
        return AlertMessage(notice.ts, notice.level, title, notice.text, None, down, urgent=True)


# What propdesk's own alerts are about, as the title says it.
_SYSTEM_TOPICS = {
    Topic.JOURNAL: "journal",
    Topic.TASK: "internal error",
    Topic.CLOCK: "clock",
    Topic.RESTORE: "restart",
    Topic.LOOP: "event loop stalled",
}


# -- the phone ----------------------------------------------------------------------------------
PRIORITY = {Level.INFO: "default", Level.WARNING: "high", Level.CRITICAL: "urgent"}
TAGS = {
    Level.INFO: "information_source",
    Level.WARNING: "warning",
    Level.CRITICAL: "rotating_light",
}
PHONE_TIMEOUT = 10.0  # seconds for one post
PHONE_CAPACITY = 64  # messages waiting; beyond it the oldest routine one is dropped
PHONE_GRACE = 2.0  # seconds stop() waits for the queue to empty


def _header_text(text: str) -> str:
    """HTTP headers carry ASCII: anything else goes as RFC 2047, which ntfy decodes."""
    text = " ".join(text.split())
    if text.isascii():
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode("ascii") + "?="


def ntfy_request(message: AlertMessage) -> tuple[bytes, dict[str, str]]:
    """The body and headers ntfy takes (https://docs.ntfy.sh/publish/)."""
    headers = {
        "Title": _header_text(message.title),
        "Priority": PRIORITY[message.level],
        "Tags": f"{TAGS[message.level]},propdesk",
        "Content-Type": "text/plain; charset=utf-8",
    }
    return message.body.encode("utf-8"), headers


class PhoneChannel:
    """Posts alert messages to an ntfy-style URL from one sender task; never blocks, never raises."""

    def __init__(
        self,
        url: str,
        *,
        min_level: Level = Level.WARNING,
        report: Callable[[Alert], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        token: str | None = None,
        timeout: float = PHONE_TIMEOUT,
        capacity: int = PHONE_CAPACITY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.min_level = min_level
        self._report = report
        self._now = now
        self._token = token
        self._timeout = timeout
        self._capacity = capacity
        self._transport = transport
        self._queue: deque[AlertMessage] = deque()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._carried: set[str] = set()  # keys of alarms the phone got: their all-clears follow
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    @classmethod
    def from_channels(
        cls,
        channels: AlertChannels,
        *,
        report: Callable[[Alert], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> PhoneChannel | None:
        """The phone channel the settings ask for, or None when phone alerts are off."""
        if channels.phone_url is None:
            return None
        return cls(channels.phone_url, min_level=channels.phone_min_level, report=report, now=now)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def wants(self, message: AlertMessage) -> bool:
        return at_least(message.level, self.min_level) or any(
            key in self._carried for key in message.resolves
        )

    def send(self, message: AlertMessage) -> bool:
        """Queue `message` if the phone wants it; returns at once (True: queued)."""
        if not self.wants(message):
            return False
        if not self.running:
            log.warning("phone alerts are stopped; not sent: %s", message.title)
            return False
        self._carried.add(message.key)
        self._carried.difference_update(message.resolves)
        if len(self._queue) >= self._capacity:
            self._drop_one()
        self._queue.append(message)
        self._idle.clear()
        self._ready.set()
        return True

    async def start(self) -> None:
        if self.running:
            return
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        self._client = httpx.AsyncClient(
            timeout=self._timeout, transport=self._transport, headers=headers
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="phone alerts")

    async def stop(self, grace: float = PHONE_GRACE) -> None:
        """Give what is queued `grace` seconds to go out, then stop the sender and close."""
        task, client = self._task, self._client
        if task is not None:
            if not task.done() and grace > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), grace)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._task = self._client = None
        if self._queue:
            log.warning("phone alerts: %d message(s) not sent at shutdown", len(self._queue))
            self._queue.clear()
        self._idle.set()
        if client is not None:
            await client.aclose()

    # ------------------------------------------------------------------------------------------
    def _drop_one(self) -> None:
        """Make room: the oldest routine message goes first, an urgent one only if all are."""
        victim = next((m for m in self._queue if not m.urgent), self._queue[0])
        self._queue.remove(victim)
        self.dropped += 1
        log.warning("phone alert queue full: dropped %s", victim.title)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
                continue
            message = self._queue[0]
            await self._post(message)
            # The queue may have dropped it while the post ran.
            if self._queue and self._queue[0] is message:
                self._queue.popleft()

    async def _post(self, message: AlertMessage) -> None:
        assert self._client is not None
        body, headers = ntfy_request(message)
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
            response.raise_for_status()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the network's troubles never reach the risk path
            self.failed += 1
            self._failed(message, exc)
            return
        self.sent += 1
        if self._failing:
            log.info("phone alerts work again")
        self._failing = False

    def _failed(self, message: AlertMessage, error: Exception) -> None:
        reason = _describe(error)
        log.warning("phone alert %r not delivered: %s", message.title, reason)
        if self._failing:
            return  # reported once until a post succeeds again
        self._failing = True
        if self._report is None:
            return
        try:
            self._report(
                Alert(
                    self._now(),
                    Level.WARNING,
                    f"Phone alerts are failing ({reason}); the desktop, sound and this banner "
                    "still work.",
                )
            )
        except Exception:
            log.exception("reporting the phone failure failed")


def _describe(error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code} from {error.request.url.host}"
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
