"""The guard: graded risk states per account, as a pure step (state, event, now) → (state, actions).

ACTIVE → WARNING → REDUCE_ONLY → FLATTENING → LOCKED (DESIGN.md, "The guard"). Soft states (the first three)
follow the numbers with hysteresis; FLATTENING only moves on to LOCKED once the account is flat; LOCKED holds
until it expires or a confirmed unlock. Every transition and action carries a reason with its numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from propdesk.domain.events import (
    ConnectionRestored,
    Fill,
    FlatVerified,
    KillRequest,
    UnlockRequest,
    WorkingOrders,
)
from propdesk.domain.money import ZERO, cents
from propdesk.domain.news import NewsWindow, Restriction, roots_of
from propdesk.domain.protocol import Protocol
from propdesk.domain.risk_state import (
    Action,
    ActionType,
    GuardEvent,
    GuardLimits,
    GuardState,
    GuardStatus,
    Metrics,
    RiskSnapshot,
    Schedule,
)

__all__ = [
    "FLOOR_WHILE_LOCKED",
    "Action",
    "ActionType",
    "Guard",
    "GuardEvent",
    "GuardLimits",
    "GuardState",
    "GuardStatus",
    "Metrics",
    "RiskSnapshot",
    "Schedule",
    "lock_bleed",
]


@dataclass(frozen=True, slots=True)
class _Trigger:
    level: GuardState
    rule: str
    reason: str
    lock_until: datetime | None = None  # only for flatten triggers
    permanent: bool = False  # locked until a confirmed unlock
    roots: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class _Levels:
    """Equity levels precomputed from the floors, so a mark costs a few comparisons."""

    key: tuple[Decimal | None, Decimal | None]
    warn: Decimal | None
    reduce: Decimal | None
    stop_daily: Decimal | None
    stop_max: Decimal | None
    ease_warn: Decimal | None  # a state raised by a level holds while E ≤ its ease level
    ease_reduce: Decimal | None
    last_daily: Decimal | None = None  # the last lines, armed once the trader lifts their stop
    last_max: Decimal | None = None


FLOOR_WHILE_LOCKED = "floor_while_locked"
"""The rule of the alert raised when a locked account's equity falls through a firm floor."""


def lock_bleed(status: GuardStatus) -> str:
    """What a strategy that ignores its lock has cost: "2 re-flattens, −$749.50 since the lock"."""
    count = status.reflattens
    text = f"{count} re-flatten{'' if count == 1 else 's'}"
    since = status.since_lock
    if since is not None:
        sign = "−" if since < 0 else "+"
        text += f", {sign}${abs(since):,.2f} since the lock"
    return text


# Soft states raised by the account's numbers (not by the clock): they ease only after a hold.
_NUMBER_RULES = frozenset({"loss_warn", "loss_reduce", "size_cap"})

USER_STOPS = frozenset({"daily_stop", "max_loss_stop"})
"""Locks raised by the trader's own buffer, not by a firm rule: an unlock lifts them for the day."""


def _pct(used: Decimal) -> str:
    return f"{(used * 100).quantize(Decimal(1))}%"


_EXCHANGE_TIME = ZoneInfo("America/Chicago")


def _hhmm(ts: datetime) -> str:
    """Times in reasons are read by traders: exchange time, as CME and the firms state their rules."""
    return ts.astimezone(_EXCHANGE_TIME).strftime("%Y-%m-%d %H:%M CT")


def _scope_flat(
    scope: frozenset[str] | None, snapshot: RiskSnapshot, event: GuardEvent | None
) -> bool:
    """Is what a flatten covers flat: the whole account, or only the roots of its scope?

    A verified-flat read counts for the scope it covered; working orders whose roots are not known
    count as inside any scope, so only that read can end such a flatten.
    """
    verified = isinstance(event, FlatVerified)
    if scope is None:
        return snapshot.flat or (
            verified and event.roots is None and not snapshot.has_position  # type: ignore[union-attr]
        )
    if not scope.isdisjoint(snapshot.roots):
        return False
    if verified and (event.roots is None or scope <= event.roots):  # type: ignore[union-attr]
        return True
    return not _orders_in_scope(scope, snapshot)


def _orders_in_scope(scope: frozenset[str] | None, snapshot: RiskSnapshot) -> bool:
    if not snapshot.working_orders:
        return False
    if scope is None or not snapshot.order_roots:
        return True
    return not scope.isdisjoint(snapshot.order_roots)


class Guard:
    """Pure decisions for one account; all numbers and times come in, nothing is read from outside."""

    __slots__ = (
        "_levels",
        "_news_cursor",
        "_windows",
        "limits",
        "protocol",
        "schedule",
        "size_cap",
    )

    def __init__(
        self,
        limits: GuardLimits,
        protocol: Protocol,
        schedule: Schedule | None = None,
        news: tuple[NewsWindow, ...] = (),
    ) -> None:
        self.limits = limits
        self.protocol = protocol
        self.schedule = schedule
        self._windows = news
        self._news_cursor: tuple[datetime, int] | None = None  # (asked at, first window not over)
        self._levels: _Levels | None = None
        cap = protocol.size_cap
        if cap is None and limits.max_contracts is not None:
            cap = limits.max_contracts - protocol.size_cap_offset
        self.size_cap = cap

    # ------------------------------------------------------------------------------------------
    def step(
        self, status: GuardStatus, event: GuardEvent, now: datetime
    ) -> tuple[GuardStatus, list[Action]]:
        actions: list[Action] = []
        previous = status.snapshot
        if isinstance(event, Metrics):
            status = status.with_snapshot(event.snapshot)
        elif isinstance(event, WorkingOrders) and status.snapshot is not None:
            status = replace(
                status,
                snapshot=replace(
                    status.snapshot,
                    working_orders=event.count,
                    adding_orders=event.adding_exposure,
                    order_roots=event.roots,
                ),
            )
        snapshot = status.snapshot
        if isinstance(event, Metrics) and event.fill is not None:
            self._fill_violations(status.state, event, event.fill, now, actions)

        # A lock that has run its time ends first, so the same step can judge the account afresh.
        if (
            status.state is GuardState.LOCKED
            and status.lock_until is not None
            and now >= status.lock_until
        ):
            reason = f"lock ({status.rule}) expired at {_hhmm(status.lock_until)}"
            actions.append(Action(ActionType.UNLOCK, reason, status.rule))
            status = GuardStatus(
                GuardState.ACTIVE, reason, "", now, None, snapshot, status.stops_lifted
            )

        if isinstance(event, KillRequest):
            return self._flatten(
                status,
                _Trigger(GuardState.FLATTENING, "manual", event.reason, permanent=True),
                now,
                actions,
            )
        if isinstance(event, UnlockRequest):
            return self._unlock(status, event, now, actions)
        if isinstance(event, ConnectionRestored):
            limit = self.protocol.connection_down_limit
            if limit is not None and event.down_for > limit:
                reason = (
                    f"connection was down {event.down_for.total_seconds():.0f} s "
                    f"(allowed {limit.total_seconds():.0f} s): flatten on reconnect"
                )
                trigger = _Trigger(
                    GuardState.FLATTENING, "connection", reason, self._next_open(now, snapshot)
                )
                if status.state < GuardState.FLATTENING or status.scope is not None:
                    return self._flatten(status, trigger, now, actions)
                actions.append(Action(ActionType.FLATTEN, reason, "connection"))
                return status, actions

        if snapshot is None:
            if status.state is GuardState.FLATTENING and isinstance(event, FlatVerified):
                return self._lock(status, now, actions), actions
            return status, actions

        scope = status.scope
        if status.state >= GuardState.FLATTENING and scope is not None:
            # A scoped flatten or lock holds its roots only: the rest of the account trades on,
            # so whatever would flatten the whole account (or more roots) still does.
            hard = self._hard_trigger(snapshot, now, status.stops_lifted)
            if hard is not None and (hard.roots is None or not hard.roots <= scope):
                return self._flatten(status, hard, now, actions)

        if status.state is GuardState.FLATTENING:
            if _scope_flat(scope, snapshot, event):
                return self._lock(status, now, actions), actions
            if scope is not None:
                return status, actions
            return self._escalate_lock(status, snapshot, now), actions

        if status.state is GuardState.LOCKED:
            crossed = self._floor_crossed_while_locked(status, previous, snapshot)
            if crossed is not None:
                actions.append(Action(ActionType.ALERT, crossed, FLOOR_WHILE_LOCKED))
            # Whatever the strategy does while locked is undone at once.
            added = isinstance(event, Metrics) and event.added
            held = snapshot.roots if scope is None else snapshot.roots & scope
            before = (
                frozenset()
                if previous is None
                else (previous.roots if scope is None else previous.roots & scope)
            )
            if held and (added or not before):
                status = replace(status, reflattens=status.reflattens + 1)
                actions.append(
                    Action(
                        ActionType.FLATTEN,
                        f"locked ({status.rule}): a new position appeared; closing it "
                        f"({lock_bleed(status)})",
                        status.rule,
                        scope,
                    )
                )
            if _orders_in_scope(scope, snapshot) and (
                previous is None or snapshot.working_orders > previous.working_orders
            ):
                actions.append(
                    Action(
                        ActionType.CANCEL_ORDERS,
                        f"locked ({status.rule}): {snapshot.working_orders} working order(s); cancelling",
                        status.rule,
                        scope,
                    )
                )
            if scope is not None:
                return status, actions
            return self._escalate_lock(status, snapshot, now), actions

        hard = self._hard_trigger(snapshot, now, status.stops_lifted)
        if hard is not None:
            return self._flatten(status, hard, now, actions)

        soft = self._soft_trigger(status.state, snapshot, now)
        if soft.level < status.state or status.easing_since is not None:
            status, soft = self._hold_ease(status, soft, now)
        if soft.level != status.state:
            rising = soft.level > status.state
            status = GuardStatus(
                soft.level, soft.reason, soft.rule, now, None, snapshot, status.stops_lifted
            )
            if soft.level is GuardState.REDUCE_ONLY:
                actions.append(Action(ActionType.REDUCE_ONLY, soft.reason, soft.rule))
            else:
                prefix = "" if rising else "eased: "
                actions.append(Action(ActionType.ALERT, prefix + soft.reason, soft.rule))
        if (
            status.state is GuardState.REDUCE_ONLY
            and snapshot.adding_orders
            and (previous is None or snapshot.adding_orders > previous.adding_orders)
        ):
            actions.append(
                Action(
                    ActionType.CANCEL_ORDERS,
                    f"reduce-only: {snapshot.adding_orders} working order(s) would add exposure",
                    status.rule,
                )
            )
        return status, actions

    def _hold_ease(
        self, status: GuardStatus, soft: _Trigger, now: datetime
    ) -> tuple[GuardStatus, _Trigger]:
        """A state the numbers raised eases only once they have stayed on the easy side for
        `protocol.ease_after` (event time): noisy marks made WARNING <-> ACTIVE flap (issue 13).
        Rising is never held; a scheduled lead (cutoff, news) ends when its reason said."""
        if soft.level >= status.state:
            if status.easing_since is not None:
                status = replace(status, easing_since=None)
            return status, soft
        hold = self.protocol.ease_after
        if not hold or status.rule not in _NUMBER_RULES:
            return status, soft
        if status.easing_since is None:
            status = replace(status, easing_since=now)
        if now - status.easing_since < hold:  # type: ignore[operator]
            return status, _Trigger(status.state, status.rule, status.reason)
        return status, replace(soft, reason=f"{soft.reason} (for {hold.total_seconds():.0f} s)")

    # -- fills the firm forbids -----------------------------------------------------------------
    def _fill_violations(
        self,
        state: GuardState,
        event: Metrics,
        fill: Fill,
        now: datetime,
        actions: list[Action],
    ) -> None:
        """A fill inside a no-executions window, new exposure in a be-flat window or while
        reduce-only: each is said at once, with the rule, the window and the fill."""
        instrument = fill.contract.instrument
        roots = roots_of(instrument)
        what = (
            f"{fill.side.value.upper()} {fill.qty} {fill.contract.key} @ {fill.price} "
            f"at {fill.ts.astimezone(_EXCHANGE_TIME):%H:%M:%S} CT"
        )
        for window in self._live_windows(now):
            if now < window.start or not window.applies_to(roots):
                continue
            span = f"'{window.title}' ({window.scope_text()}, {_hhmm(window.start)}–{_hhmm(window.end)})"
            if window.restriction is Restriction.NO_EXECUTIONS:
                actions.append(
                    Action(
                        ActionType.ALERT,
                        f"fill inside the no-executions window {span}: {what} — no execution may "
                        "happen in it, stops and targets included",
                        "news_violation",
                    )
                )
            elif event.added:
                actions.append(
                    Action(
                        ActionType.ALERT,
                        f"new exposure inside the be-flat window {span}: {what}",
                        "news_violation",
                    )
                )
        if state is GuardState.REDUCE_ONLY and event.added:
            # Closed as a lock closes a new position; the account stays reduce-only, not locked.
            # The close covers the fill's root (a micro's fill: the micro only).
            scope = frozenset({instrument.root})
            actions.append(
                Action(
                    ActionType.ALERT,
                    f"reduce-only, yet new exposure filled: {what}; closing {instrument.root}",
                    "reduce_only_violation",
                )
            )
            actions.append(
                Action(
                    ActionType.FLATTEN,
                    f"reduce-only: closing the new exposure in {instrument.root} ({what})",
                    "reduce_only_violation",
                    scope,
                )
            )

    # -- transitions ----------------------------------------------------------------------------
    def _flatten(
        self, status: GuardStatus, trigger: _Trigger, now: datetime, actions: list[Action]
    ) -> tuple[GuardStatus, list[Action]]:
        lock_until = None if trigger.permanent else trigger.lock_until
        if status.state >= GuardState.FLATTENING and status.scope is not None:
            widened = None if trigger.roots is None else status.scope | trigger.roots
            if widened != status.scope:
                # More to flatten than the scoped lock holds: flatten that too, keep the longer lock.
                merged = self._merge_lock(status, trigger)
                status = replace(
                    merged,
                    state=GuardState.FLATTENING,
                    reason=trigger.reason,
                    rule=trigger.rule,
                    since=now,
                    scope=widened,
                )
                actions.append(
                    Action(ActionType.FLATTEN, trigger.reason, trigger.rule, trigger.roots)
                )
                snapshot = status.snapshot
                if snapshot is not None and _scope_flat(widened, snapshot, None):
                    status = self._lock(status, now, actions)
                return status, actions
        if status.state is GuardState.LOCKED:
            # Already locked: a kill keeps it locked and makes the lock permanent if asked to.
            if trigger.permanent and status.lock_until is not None:
                status = replace(status, lock_until=None, rule=trigger.rule, reason=trigger.reason)
            actions.append(Action(ActionType.FLATTEN, trigger.reason, trigger.rule, trigger.roots))
            return status, actions
        if status.state is GuardState.FLATTENING:
            status = self._merge_lock(status, trigger)
            actions.append(Action(ActionType.FLATTEN, trigger.reason, trigger.rule, trigger.roots))
            return status, actions
        status = GuardStatus(
            GuardState.FLATTENING,
            trigger.reason,
            trigger.rule,
            now,
            lock_until,
            status.snapshot,
            status.stops_lifted,
            trigger.roots,
        )
        actions.append(Action(ActionType.FLATTEN, trigger.reason, trigger.rule, trigger.roots))
        snapshot = status.snapshot
        if snapshot is not None and _scope_flat(trigger.roots, snapshot, None):
            status = self._lock(status, now, actions)
        return status, actions

    def _lock(self, status: GuardStatus, now: datetime, actions: list[Action]) -> GuardStatus:
        until = (
            "until a confirmed unlock"
            if status.lock_until is None
            else f"until {_hhmm(status.lock_until)}"
        )
        scope = status.scope
        if scope is None:
            reason = f"flat; locked {until} ({status.reason})"
        else:
            roots = ", ".join(sorted(scope))
            reason = (
                f"{roots} flat; {roots} locked {until}, other contracts keep trading "
                f"({status.reason})"
            )
        actions.append(Action(ActionType.LOCK, reason, status.rule, scope))
        snapshot = status.snapshot
        return replace(
            status,
            state=GuardState.LOCKED,
            since=now,
            lock_equity=None if snapshot is None else snapshot.equity,
            reflattens=0,
        )

    def _floor_crossed_while_locked(
        self, status: GuardStatus, previous: RiskSnapshot | None, snapshot: RiskSnapshot
    ) -> str | None:
        """A firm floor the equity fell through while the account was locked, said in words.

        Only a crossing counts (the step before was above the floor), so a lock that began below a
        floor, or equity that stays below it, says nothing more."""
        if previous is None:
            return None
        equity = snapshot.equity
        verdict = "the firm has probably failed the account"
        floor, what = snapshot.max_loss_floor, "max-loss floor"
        if floor is None or not (previous.equity > floor >= equity):
            floor, what = snapshot.daily_floor, "daily loss limit"
            if floor is None or not (previous.equity > floor >= equity):
                return None
            if not self.limits.daily_hard:
                verdict = "the firm has probably stopped the account for the day, or failed it"
        return (
            f"LOCKED, yet equity {cents(equity)} fell through the firm's {what} {cents(floor)}: "
            f"{verdict}. Its strategy is still trading the locked account ({lock_bleed(status)}). "
            "Stop the strategy and check the account with the firm."
        )

    def _merge_lock(self, status: GuardStatus, trigger: _Trigger) -> GuardStatus:
        """Two reasons to be locked: keep the longer lock."""
        if status.lock_until is None:
            return status
        if trigger.permanent or trigger.lock_until is None:
            return replace(status, lock_until=None, rule=trigger.rule, reason=trigger.reason)
        if trigger.lock_until > status.lock_until:
            return replace(status, lock_until=trigger.lock_until)
        return status

    def _escalate_lock(
        self, status: GuardStatus, snapshot: RiskSnapshot, now: datetime
    ) -> GuardStatus:
        """A firm floor breached while already locked makes the lock outlive its expiry."""
        if status.lock_until is None:
            return status
        floor = snapshot.max_loss_floor
        if floor is not None and snapshot.equity <= floor:
            reason = (
                f"max-loss floor breached: equity {cents(snapshot.equity)} ≤ floor {cents(floor)}"
            )
            return replace(status, lock_until=None, rule="max_loss", reason=reason)
        daily = snapshot.daily_floor
        if self.limits.daily_hard and daily is not None and snapshot.equity <= daily:
            reason = (
                f"hard daily loss limit breached: equity {cents(snapshot.equity)} ≤ day floor "
                f"{cents(daily)} — the firm ends the account on this breach"
            )
            return replace(status, lock_until=None, rule="daily_loss", reason=reason)
        return status

    def _unlock(
        self, status: GuardStatus, event: UnlockRequest, now: datetime, actions: list[Action]
    ) -> tuple[GuardStatus, list[Action]]:
        if status.state < GuardState.FLATTENING:
            return status, actions
        if not event.confirmed:
            actions.append(
                Action(
                    ActionType.ALERT,
                    f"unlock of {event.scope} needs confirmation; still {status.state.label}",
                    status.rule,
                )
            )
            return status, actions
        reason = (
            f"unlocked by the trader ({event.scope}); was {status.state.label}: {status.reason}"
        )
        lifted = status.stops_lifted or status.rule in USER_STOPS
        if lifted and not status.stops_lifted:
            reason += f"; {self.unlock_terms(status)}"
        actions.append(Action(ActionType.UNLOCK, reason, status.rule))
        status = GuardStatus(GuardState.ACTIVE, reason, "", now, None, status.snapshot, lifted)
        # The numbers are judged again at once: an unlock never hides a live breach.
        snapshot = status.snapshot
        if snapshot is not None:
            hard = self._hard_trigger(snapshot, now, lifted)
            if hard is not None:
                return self._flatten(status, hard, now, actions)
        return status, actions

    def thresholds(
        self, snapshot: RiskSnapshot, stops_lifted: bool = False
    ) -> tuple[Decimal | None, Decimal | None]:
        """(warn, stop) equity levels as the guard judges them; the stop is the higher of the daily
        and the max-loss stops, because falling equity meets that one first. With the trader's
        stops lifted, the stop is the last line."""
        levels = self._levels_for(snapshot)
        pair = (
            (levels.last_daily, levels.last_max)
            if stops_lifted
            else (levels.stop_daily, levels.stop_max)
        )
        stops = [s for s in pair if s is not None]
        return levels.warn, max(stops) if stops else None

    def unlock_terms(self, status: GuardStatus) -> str:
        """What a confirmed unlock of this lock does, in the words the dialog and the CLI show."""
        if status.state < GuardState.FLATTENING:
            return ""
        breached = self._firm_floor_breached(status.snapshot)
        if breached:
            return f"the {breached} is breached now: the account flattens and locks again at once"
        if status.rule not in USER_STOPS or status.stops_lifted:
            return "the firm's limits and your protocol apply again at once"
        fraction = self.protocol.last_line_fraction
        if fraction is None:
            return (
                "your stop is lifted for the rest of this trading day; only the firm's floors hold"
            )
        line = None
        if status.snapshot is not None:
            line = self.thresholds(status.snapshot, stops_lifted=True)[1]
        at = "" if line is None else f" at equity {cents(line)}"
        return (
            f"your stop is lifted for the rest of this trading day; a last line{at} "
            f"({_pct(fraction)} of the firm's limit) still flattens and locks"
        )

    @staticmethod
    def _firm_floor_breached(snapshot: RiskSnapshot | None) -> str:
        """Which firm floor the numbers are at or below ("" for none): no unlock lifts those."""
        if snapshot is None:
            return ""
        floor = snapshot.max_loss_floor
        if floor is not None and snapshot.equity <= floor:
            return f"max-loss floor ({cents(floor)})"
        daily = snapshot.daily_floor
        if daily is not None and snapshot.equity <= daily:
            return f"daily loss limit (day floor {cents(daily)})"
        return ""

    # -- triggers -------------------------------------------------------------------------------
    def _levels_for(self, snapshot: RiskSnapshot) -> _Levels:
        key = (snapshot.daily_floor, snapshot.max_loss_floor)
        levels = self._levels
        if levels is not None and levels.key == key:
            return levels
        p = self.protocol
        dll = self.limits.daily_loss
        d = self.limits.max_loss
        candidates: dict[str, list[Decimal]] = {
            "warn": [],
            "reduce": [],
            "ease_w": [],
            "ease_r": [],
        }
        stop_daily = stop_max = last_daily = last_max = None
        if snapshot.daily_floor is not None and dll:
            ref = snapshot.daily_floor + dll  # the day's reference: start balance or the day's high
            margin = p.hysteresis * dll
            if p.warn_fraction is not None:
                candidates["warn"].append(ref - p.warn_fraction * dll)
                candidates["ease_w"].append(ref - p.warn_fraction * dll + margin)
            if p.reduce_fraction is not None:
                candidates["reduce"].append(ref - p.reduce_fraction * dll)
                candidates["ease_r"].append(ref - p.reduce_fraction * dll + margin)
            if p.stop_fraction is not None:
                stop_daily = ref - p.stop_fraction * dll
            if p.last_line_fraction is not None:
                last_daily = ref - p.last_line_fraction * dll
        if snapshot.max_loss_floor is not None and d:
            floor = snapshot.max_loss_floor
            margin = p.hysteresis * d
            if p.warn_fraction is not None:
                candidates["warn"].append(floor + (1 - p.warn_fraction) * d)
                candidates["ease_w"].append(floor + (1 - p.warn_fraction) * d + margin)
            if p.reduce_fraction is not None:
                candidates["reduce"].append(floor + (1 - p.reduce_fraction) * d)
                candidates["ease_r"].append(floor + (1 - p.reduce_fraction) * d + margin)
            buffer = p.max_loss_buffer
            if buffer is None and p.stop_fraction is not None:
                buffer = (1 - p.stop_fraction) * d
            if buffer:
                stop_max = floor + buffer
            if p.last_line_fraction is not None:
                last_max = floor + (1 - p.last_line_fraction) * d

        def top(values: list[Decimal]) -> Decimal | None:
            return max(values) if values else None

        levels = _Levels(
            key,
            top(candidates["warn"]),
            top(candidates["reduce"]),
            stop_daily,
            stop_max,
            top(candidates["ease_w"]),
            top(candidates["ease_r"]),
            last_daily,
            last_max,
        )
        self._levels = levels
        return levels

    def _hard_trigger(
        self, snapshot: RiskSnapshot, now: datetime, stops_lifted: bool = False
    ) -> _Trigger | None:
        """Anything that means flatten-and-lock, strongest first."""
        equity = snapshot.equity
        max_floor = snapshot.max_loss_floor
        if max_floor is not None and equity <= max_floor:
            return _Trigger(
                GuardState.FLATTENING,
                "max_loss",
                f"max-loss floor breached: equity {cents(equity)} ≤ floor {cents(max_floor)}",
                permanent=True,
            )
        daily_floor = snapshot.daily_floor
        if daily_floor is not None and equity <= daily_floor:
            reason = (
                f"daily loss limit reached: equity {cents(equity)} ≤ day floor {cents(daily_floor)}"
            )
            if self.limits.daily_hard:
                # A hard limit is not a pause until tomorrow: the firm has failed the account.
                return _Trigger(
                    GuardState.FLATTENING,
                    "daily_loss",
                    f"{reason} — a hard limit: the firm ends the account on this breach",
                    permanent=True,
                )
            return _Trigger(
                GuardState.FLATTENING, "daily_loss", reason, self._next_open(now, snapshot)
            )
        levels = self._levels_for(snapshot)
        if stops_lifted:
            last = self._last_line(snapshot, levels, now)
            if last is not None:
                return last
        elif levels.stop_max is not None and equity <= levels.stop_max:
            cushion = equity - max_floor  # type: ignore[operator]
            return _Trigger(
                GuardState.FLATTENING,
                "max_loss_stop",
                f"your max-loss stop: equity {cents(equity)} is {cents(cushion)} above the floor "
                f"{cents(max_floor)} (stop at {cents(levels.stop_max)})",  # type: ignore[arg-type]
                permanent=True,
            )
        if not stops_lifted and levels.stop_daily is not None and equity <= levels.stop_daily:
            dll = self.limits.daily_loss
            loss = daily_floor + dll - equity  # type: ignore[operator]
            return _Trigger(
                GuardState.FLATTENING,
                "daily_stop",
                f"your daily stop: day loss {cents(loss)} is {_pct(loss / dll)} of the "  # type: ignore[operator]
                f"{cents(dll)} limit (stop at {_pct(self.protocol.stop_fraction)})",  # type: ignore[arg-type]
                self._next_open(now, snapshot),
            )
        cap = self.size_cap
        if cap is not None and snapshot.size > cap:
            return _Trigger(
                GuardState.FLATTENING,
                "size",
                f"position size {snapshot.size} is over the cap of {cap} contracts",
                permanent=True,
            )
        if self.schedule is not None:
            window = self.schedule.cutoff_window(now, snapshot.groups)
            if window is not None and window[0] <= now < window[1]:
                start, end, firm_time = window
                return _Trigger(
                    GuardState.FLATTENING,
                    "cutoff",
                    f"flat-by cutoff {_hhmm(start)} reached (firm's flat-by {_hhmm(firm_time)}); "
                    f"trading reopens {_hhmm(end)}",
                    end,
                )
        for window in self._live_windows(now):
            if window.restriction is Restriction.FLAT and (
                window.applies_to(snapshot.roots)
                or (window.roots is None and snapshot.working_orders)
                or (window.roots is not None and not window.roots.isdisjoint(snapshot.order_roots))
            ):
                return _Trigger(
                    GuardState.FLATTENING,
                    "news",
                    f"news window '{window.title}' ({window.scope_text()}) requires flat "
                    f"from {_hhmm(window.start)} to {_hhmm(window.end)}",
                    window.end,
                    roots=window.roots,
                )
        return None

    def _last_line(self, snapshot: RiskSnapshot, levels: _Levels, now: datetime) -> _Trigger | None:
        """The line that holds after the trader unlocked their own stop for the day."""
        equity = snapshot.equity
        fraction = _pct(self.protocol.last_line_fraction)  # type: ignore[arg-type]
        if levels.last_max is not None and equity <= levels.last_max:
            return _Trigger(
                GuardState.FLATTENING,
                "last_line",
                f"your last line after the unlock: equity {cents(equity)} ≤ {cents(levels.last_max)}"
                f" ({fraction} of the max-loss cushion used; floor {cents(snapshot.max_loss_floor)})",  # type: ignore[arg-type]
                permanent=True,
            )
        if levels.last_daily is not None and equity <= levels.last_daily:
            return _Trigger(
                GuardState.FLATTENING,
                "last_line",
                f"your last line after the unlock: equity {cents(equity)} ≤ "
                f"{cents(levels.last_daily)} ({fraction} of the daily limit used)",
                self._next_open(now, snapshot),
            )
        return None

    def _soft_trigger(self, current: GuardState, snapshot: RiskSnapshot, now: datetime) -> _Trigger:
        equity = snapshot.equity
        levels = self._levels_for(snapshot)
        held = current if current <= GuardState.REDUCE_ONLY else GuardState.ACTIVE
        # Reduce-only: the loss levels (with hysteresis), the size cap, the cutoff and news leads.
        if levels.reduce is not None and (
            equity <= levels.reduce
            or (
                held >= GuardState.REDUCE_ONLY
                and levels.ease_reduce is not None
                and equity <= levels.ease_reduce
            )
        ):
            return _Trigger(
                GuardState.REDUCE_ONLY, "loss_reduce", self._loss_reason(snapshot, "reduce-only")
            )
        p = self.protocol
        cap = self.size_cap
        if (
            p.reduce_fraction is not None
            and cap is not None
            and snapshot.size
            and snapshot.size >= cap
        ):
            return _Trigger(
                GuardState.REDUCE_ONLY,
                "size_cap",
                f"position size {snapshot.size} is at the cap of {cap} contracts",
            )
        lead = p.cutoff_reduce_lead
        if self.schedule is not None and lead:
            window = self.schedule.cutoff_window(now, snapshot.groups)
            if window is not None and window[0] - lead <= now < window[1]:
                return _Trigger(
                    GuardState.REDUCE_ONLY,
                    "cutoff_near",
                    f"flat-by cutoff at {_hhmm(window[0])}: no new exposure from "
                    f"{_hhmm(window[0] - lead)}",
                )
        news_lead = p.news_reduce_lead
        for window in self._live_windows(now, news_lead):
            if window.roots is not None and not window.applies_to(snapshot.roots):
                continue  # a scoped window (EIA for CL) does not restrict an account out of scope
            if now >= window.start:
                rule = (
                    "no executions"
                    if window.restriction is Restriction.NO_EXECUTIONS
                    else "be flat, no new exposure"
                )
                return _Trigger(
                    GuardState.REDUCE_ONLY,
                    "news",
                    f"news window '{window.title}' ({window.scope_text()}): {rule} until "
                    f"{_hhmm(window.end)}",
                )
            if news_lead and now < window.start:
                return _Trigger(
                    GuardState.REDUCE_ONLY,
                    "news_near",
                    f"news window '{window.title}' ({window.scope_text()}, "
                    f"{window.restriction.value}) opens {_hhmm(window.start)}",
                )
        if levels.warn is not None and (
            equity <= levels.warn
            or (
                held >= GuardState.WARNING
                and levels.ease_warn is not None
                and equity <= levels.ease_warn
            )
        ):
            return _Trigger(GuardState.WARNING, "loss_warn", self._loss_reason(snapshot, "warning"))
        return _Trigger(GuardState.ACTIVE, "", "back within all levels")

    def _loss_reason(self, snapshot: RiskSnapshot, what: str) -> str:
        parts = []
        dll = self.limits.daily_loss
        if snapshot.daily_floor is not None and dll:
            loss = snapshot.daily_floor + dll - snapshot.equity
            parts.append(
                f"day loss {cents(max(loss, ZERO))} = {_pct(max(loss, ZERO) / dll)} of the {cents(dll)} limit"
            )
        d = self.limits.max_loss
        if snapshot.max_loss_floor is not None and d:
            used = d - (snapshot.equity - snapshot.max_loss_floor)
            parts.append(
                f"{_pct(max(used, ZERO) / d)} of the {cents(d)} max-loss cushion used "
                f"(equity {cents(snapshot.equity)}, floor {cents(snapshot.max_loss_floor)})"
            )
        return f"{what}: " + "; ".join(parts)

    def _live_windows(self, now: datetime, lead: timedelta = timedelta(0)) -> Iterator[NewsWindow]:
        """Windows open at `now` or opening within `lead`, skipping the past ones in O(1) amortised.

        A year of news is hundreds of windows; a cursor past the finished ones keeps a mark's cost flat.
        """
        windows = self._windows
        cursor = self._news_cursor
        index = 0 if cursor is None or now < cursor[0] else cursor[1]
        while index < len(windows) and windows[index].end <= now:
            index += 1
        self._news_cursor = (now, index)
        for window in windows[index:]:
            if window.start - lead > now:
                break
            if now < window.end:
                yield window

    def _next_open(self, now: datetime, snapshot: RiskSnapshot | None) -> datetime | None:
        if self.schedule is None:
            return None
        return self.schedule.next_open(
            now, snapshot.groups if snapshot is not None else frozenset()
        )
