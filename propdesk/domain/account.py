"""One account's risk engine: ledger → floors → guard, driven by time-stamped events.

This is what the runtime runs per account and what `propdesk replay` feeds from a file. It owns no clock:
every event carries its time, and the day roll, the end-of-day floor update and lock expiries happen when
an event's time passes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from propdesk.domain import account_state
from propdesk.domain.calendar import CME_DAY, Closure, DayBoundary, FlatByRule, TradingCalendar
from propdesk.domain.commissions import CommissionTable
from propdesk.domain.contract_months import (
    expired_position_alerts,
    fill_alert,
    net_size_in_full_contracts,
    roll_partners,
)
from propdesk.domain.events import (
    AccountEvent,
    ClockTick,
    ConnectionRestored,
    Fill,
    FlatVerified,
    KillRequest,
    Mark,
    UnlockRequest,
    WorkingOrders,
)
from propdesk.domain.firms import FirmProfile
from propdesk.domain.floors import FloorRules, Floors, ticks_to_floor
from propdesk.domain.guard import (
    Action,
    ActionType,
    Guard,
    GuardEvent,
    GuardLimits,
    GuardState,
    GuardStatus,
    Metrics,
    RiskSnapshot,
)
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.ledger import Ledger
from propdesk.domain.news import NewsEvent, Restriction, build_windows, roots_of
from propdesk.domain.protocol import Protocol
from propdesk.domain.rules import (
    HoldLimit,
    RuleWatch,
    ScalingPlan,
    ScalingTier,
    scaled_size_cap,
    scaling_reason,
)
from propdesk.domain.schedule import CalendarSchedule


def floor_rules(profile: FirmProfile) -> FloorRules:
    b0 = profile.start_balance
    ml = profile.max_loss
    dl = profile.daily_loss
    return FloorRules(
        start_balance=b0,
        max_loss_kind=ml.kind,
        max_loss=ml.amount.value if ml.amount is not None else None,
        lock_level=ml.lock_level(b0),
        daily_kind=dl.kind,
        daily_loss=dl.amount.value if dl.amount is not None else None,
    )


def flat_by_rule(profile: FirmProfile) -> FlatByRule | None:
    flat_by = profile.flat_by
    if flat_by is None:
        return None
    lead = flat_by.early_close_lead_minutes
    return FlatByRule(
        at=flat_by.at.value,
        tz=flat_by.tz,
        early_close_lead=None if lead is None else timedelta(minutes=lead),
    )


def scaling_plan(profile: FirmProfile) -> ScalingPlan | None:
    """The firm's scaling plan, if it has one."""
    rule = profile.scaling
    if rule is None:
        return None
    tiers = tuple(ScalingTier(t.above_profit, t.max_contracts) for t in rule.tiers)
    return ScalingPlan(rule.base_contracts, tiers)


def rule_watch(profile: FirmProfile) -> RuleWatch:
    """The live warnings the profile asks for: consistency (best day) and minimum hold."""
    consistency = profile.consistency
    hold = profile.hold_time
    return RuleWatch(
        consistency=None if consistency is None else consistency.value,
        hold=None
        if hold is None
        else HoldLimit(
            short=timedelta(seconds=hold.seconds.value),
            profit_share=hold.profit_share.value,
            trade_share=None if hold.trade_share is None else hold.trade_share.value,
        ),
    )


def day_boundary(profile: FirmProfile) -> DayBoundary:
    """The calendar's form of the firm's trading-day rollover."""
    return DayBoundary(profile.day_boundary.tz, profile.day_boundary.at)


def calendar_for(profile: FirmProfile, closures: Iterable[Closure] = ()) -> TradingCalendar:
    return TradingCalendar(closures, day_boundary=day_boundary(profile))


@dataclass(frozen=True, slots=True)
class PositionRisk:
    key: str
    net: int
    average_price: Decimal | None
    mark_price: Decimal | None
    open_pnl: Decimal
    ticks_to_floor: int | None  # whole ticks against this position alone before the effective floor
    ticks_to_daily: int | None
    ticks_to_max_loss: int | None
    roll_with: str | None = None  # the other leg's key when this position is one leg of a roll


@dataclass(frozen=True, slots=True)
class AccountView:
    """The numbers one account shows at one instant."""

    ts: datetime
    trading_day: date
    balance: Decimal
    open_pnl: Decimal
    equity: Decimal
    day_pnl: Decimal
    floor: Decimal | None
    max_loss_floor: Decimal | None
    daily_floor: Decimal | None
    state: GuardState
    reason: str
    lock_until: datetime | None
    positions: tuple[PositionRisk, ...]
    # The guard's own thresholds, as equity levels (None: the protocol or the firm has none).
    warn_level: Decimal | None = None  # WARNING at or below
    stop_level: Decimal | None = None  # the user's stop: flatten and lock at or below
    high_water: Decimal | None = None  # the high the max-loss floor trails; None if it never trails
    day_start_balance: Decimal | None = None  # day P&L is measured from it
    start_balance: Decimal | None = None  # the account's starting balance (the firm's)
    fees: Decimal = Decimal(0)  # every fee booked, reported or estimated
    estimated_fees: Decimal = Decimal(0)  # of which charged from the commission schedule
    # While LOCKED: positions the lock had to close again, and equity won or lost since the lock.
    reflattens: int = 0
    since_lock: Decimal | None = None

    @property
    def distance_to_floor(self) -> Decimal | None:
        return None if self.floor is None else self.equity - self.floor

    @property
    def distance_to_daily(self) -> Decimal | None:
        return None if self.daily_floor is None else self.equity - self.daily_floor

    @property
    def distance_to_max_loss(self) -> Decimal | None:
        return None if self.max_loss_floor is None else self.equity - self.max_loss_floor


class AccountRisk:
    """Ledger + floors + guard for one account."""

    def __init__(
        self,
        profile: FirmProfile,
        *,
        calendar: TradingCalendar,
        protocol: Protocol | None = None,
        news: Iterable[NewsEvent] = (),
        balance: Decimal | None = None,
        product_group: str = "equity",
        commissions: CommissionTable | None = None,
    ) -> None:
        protocol = protocol if protocol is not None else Protocol()
        self.profile = profile
        self.protocol = protocol
        self.calendar = calendar
        self._group = product_group
        rules = floor_rules(profile)
        self.ledger = Ledger(rules.start_balance)
        if balance is not None:
            # Realized history before the replay is folded into the balance it left.
            self.ledger.realized = balance - rules.start_balance
            self.ledger.day_start_balance = balance
        self.floors = Floors(rules, balance=balance)
        policy = profile.news
        restriction = None if policy.restriction == "none" else Restriction(policy.restriction)
        self.news_windows = build_windows(
            news,
            restriction=restriction,
            pre=timedelta(minutes=policy.pre_minutes),
            post=timedelta(minutes=policy.post_minutes),
        )
        size = profile.size
        self._micros = size.micros_per_contract.value
        self._nets_spreads = size.nets_spreads
        self.guard = Guard(
            GuardLimits(
                daily_loss=rules.daily_loss,
                max_loss=rules.max_loss,
                max_contracts=None
                if size.max_contracts is None
                else Decimal(size.max_contracts.value),
                daily_hard=not profile.daily_loss.soft,
            ),
            protocol,
            CalendarSchedule(
                calendar, flat_by_rule(profile), protocol.cutoff_buffer, product_group
            ),
            self.news_windows,
        )
        self.status = GuardStatus()
        # None: a fill without a fee books none (replay's default). A table: it is charged instead.
        self.commissions = commissions
        self._unpriced_roots: set[str] = set()  # roots already alerted for a missing commission
        self.watch = rule_watch(profile)  # consistency and hold-time warnings; per-day P&L
        self._scaling = scaling_plan(profile)
        self._scaled_contracts: int | None = None  # the plan's tier in force since the last day end
        self._working = (0, 0)
        self._order_roots: frozenset[str] = frozenset()
        self._order_groups: frozenset[str] = frozenset()
        # (size, roots, product groups) of what is open and working: only a fill, a change of
        # working orders (or a restore) changes them, so a mark reuses them, and the guard's
        # schedule sees one groups object while they stay the same.
        self._exposure: tuple[Decimal, frozenset[str], frozenset[str]] | None = None
        self._day: date | None = None
        self._day_end: datetime | None = None
        self._eod_at: datetime | None = None
        self._eod_done = False
        self._last_ts: datetime | None = None
        # On CME days the end-of-day step is at the session close; other firm days end at their boundary.
        self._cme_day = calendar.day_boundary == CME_DAY

    # ------------------------------------------------------------------------------------------
    @property
    def trading_day(self) -> date | None:
        return self._day

    @property
    def pnl_by_day(self) -> dict[date, Decimal]:
        """Net P&L per trading day seen, in order; the day in progress holds its P&L so far."""
        days = dict(sorted(self.watch.day_pnl.items()))
        if self._day is not None:
            days[self._day] = self.ledger.day_pnl
        return days

    @property
    def working_orders(self) -> tuple[int, int]:
        """(working orders, of which add exposure) as last reported."""
        return self._working

    @property
    def order_roots(self) -> frozenset[str]:
        """The roots of the working orders as last reported (empty: none, or not known)."""
        return self._order_roots

    @property
    def working_scope(self) -> tuple[frozenset[str], frozenset[str]]:
        """(roots, product groups) of the working orders as last reported."""
        return self._order_roots, self._order_groups

    @property
    def groups(self) -> frozenset[str]:
        """Product groups of the open positions and working orders: whose hours and cutoffs apply
        (none: the account's configured group does)."""
        return self.snapshot().groups

    def time_state(self) -> tuple[object, ...]:
        """What time alone can change: a clock tick that leaves this equal changed nothing."""
        return (self.status, self._day, self._eod_done, self.floors.state.max_loss_floor)

    def durable_state(self) -> dict[str, object]:
        """Everything a rebuild from the journal must reproduce exactly (locks, baselines, floors)."""
        ledger, floors, status = self.ledger, self.floors.state, self.status
        return {
            "state": status.state.name,
            "rule": status.rule,
            "reason": status.reason,
            "lock_until": status.lock_until,
            "trading_day": self._day,
            "balance": ledger.balance,
            "realized": ledger.realized,
            "fees": ledger.fees,
            "day_start_balance": ledger.day_start_balance,
            "open_pnl": ledger.open_pnl,
            "positions": {k: (p.net, p.cost) for k, p in sorted(ledger.positions.items())},
            "high_water": floors.high_water,
            "eod_high": floors.eod_high,
            "max_loss_floor": floors.max_loss_floor,
            "daily_floor": floors.daily_floor,
            "day_high": floors.day_high,
            "size_cap": self.guard.size_cap,
            "day_pnl": self.pnl_by_day,
            "hold_tally": astuple(self.watch.hold_tally),
        }

    def save_state(self) -> dict[str, Any]:
        """Everything the next event depends on, as plain data (a journal snapshot)."""
        return account_state.save_state(self)

    def restore_state(self, data: dict[str, Any], book: InstrumentBook) -> None:
        """Continue from a saved state; this engine must be built from the same setup."""
        account_state.restore_state(self, data, book)
        self._exposure = None

    def process(self, event: AccountEvent) -> list[Action]:
        """Apply one event; returns the actions the guard decided, in order."""
        ts = event.ts
        actions: list[Action] = []
        # An event a little late across a day boundary stays in the current day: days never go back.
        if self._day_end is None or ts >= self._day_end:
            self._enter_day(ts, actions)
        if not self._eod_done and ts >= self._eod_at:  # type: ignore[operator]
            self._end_of_day(ts, actions)
        self._last_ts = ts
        ledger = self.ledger
        if isinstance(event, Mark):
            if not ledger.apply_mark(event) and not actions:
                # Nothing moved: only time-driven rules can change anything.
                return self._step(ClockTick(ts), ts, actions)
            self.floors.on_value(ledger.equity, ledger.balance)
            self._step(Metrics(ts, self.snapshot()), ts, actions)
            return self._watch_day_pnl(actions)
        if isinstance(event, Fill):
            position = ledger.positions.get(event.contract.key)
            before = 0 if position is None else position.net
            event = self._with_fee(event, actions)
            ledger.apply_fill(event)
            self._exposure = None
            self._expiry_alert(event, actions)
            after = before + event.signed_qty
            # A fill adds exposure when it opens, grows or flips a position.
            added = after != 0 and (abs(after) > abs(before) or (after > 0) != (before > 0))
            self.floors.on_value(ledger.equity, ledger.balance)
            self._step(Metrics(ts, self.snapshot(), event, added), ts, actions)
            self._watch_closed_trades(actions)
            return self._watch_day_pnl(actions)
        if isinstance(event, WorkingOrders):
            self._working = (event.count, event.adding_exposure)
            self._order_roots = event.roots
            self._order_groups = event.groups
            self._exposure = None
            snapshot = self.status.snapshot
            if snapshot is not None:
                # The guard updates the counts itself; what the orders are in is only known here.
                self.status = self.status.with_snapshot(replace(snapshot, groups=self.groups))
            return self._step(event, ts, actions)
        if isinstance(
            event, ClockTick | KillRequest | UnlockRequest | ConnectionRestored | FlatVerified
        ):
            return self._step(event, ts, actions)
        raise TypeError(f"not an account event: {event!r}")

    def _with_fee(self, fill: Fill, actions: list[Action]) -> Fill:
        """The fill with the commission its broker left out, estimated from the schedule.

        A fee the broker reported (0 included) stands. A root the schedule has no amount for is
        alerted once, not charged 0 in silence.
        """
        table = self.commissions
        if fill.fee is not None or table is None:
            return fill
        root = fill.contract.instrument.root
        fee = table.fee(root, fill.qty)
        if fee is None:
            if root not in self._unpriced_roots:
                self._unpriced_roots.add(root)
                actions.append(Action(ActionType.ALERT, table.missing(root), "commission"))
            return fill
        self.ledger.estimated_fees += fee
        return replace(fill, fee=fee)

    def _step(self, event: GuardEvent, ts: datetime, actions: list[Action]) -> list[Action]:
        self.status, new = self.guard.step(self.status, event, ts)
        actions.extend(new)
        return actions

    def snapshot(self) -> RiskSnapshot:
        ledger = self.ledger
        exposure = self._exposure
        if exposure is None:
            exposure = self._exposure = (
                self._open_size(),
                self._held_roots(),
                self._held_groups(),
            )
        state = self.floors.state
        working = self._working
        return RiskSnapshot(
            ledger.equity,
            ledger.balance,
            state.max_loss_floor,
            state.daily_floor,
            exposure[0],
            exposure[1],
            working[0],
            working[1],
            self._order_roots,
            exposure[2],
        )

    def _held_groups(self) -> frozenset[str]:
        """Product groups of the open positions and working orders."""
        positions = self.ledger.positions.values()
        return frozenset([p.contract.instrument.product_group for p in positions]) | (
            self._order_groups
        )

    def _held_roots(self) -> frozenset[str]:
        """Roots with an open position, a micro under its full-size root too (news scopes)."""
        positions = self.ledger.positions
        if not positions:
            return frozenset()
        if len(positions) == 1:
            return roots_of(next(iter(positions.values())).contract.instrument)
        return frozenset().union(*(roots_of(p.contract.instrument) for p in positions.values()))

    def _open_size(self) -> Decimal:
        """Open size against the cap: both legs of a spread count unless the firm nets them."""
        if self._nets_spreads:
            positions = ((p.contract, p.net) for p in self.ledger.positions.values())
            return net_size_in_full_contracts(positions, self._micros)
        return self.ledger.size_in_full_contracts(self._micros)

    # -- contract months --------------------------------------------------------------------------
    def _expiry_alert(self, fill: Fill, actions: list[Action]) -> None:
        """A fill in an expired or unlisted month is booked as reported, and raised."""
        alert = fill_alert(fill)
        if alert is not None:
            actions.append(alert)

    def _expired_position_alerts(self, ts: datetime, actions: list[Action]) -> None:
        """Once a trading day: positions still held in contracts that have stopped trading."""
        held = ((p.contract, p.net) for p in self.ledger.positions.values())
        actions.extend(expired_position_alerts(held, ts))

    # -- time -----------------------------------------------------------------------------------
    def _enter_day(self, ts: datetime, actions: list[Action]) -> None:
        first = self._day is None
        if not first and not self._eod_done:
            self._end_of_day(ts, actions)
        _start, end = self.calendar.day_bounds(ts)
        day = self.calendar.trading_day(ts)
        if not first:
            self._close_day_pnl()
            self.ledger.roll_day()
            self.floors.on_new_day(self.ledger.balance)
            if self.status.stops_lifted:
                # An unlock of the trader's own stop lasts for the trading day it was given in.
                self.status = replace(self.status, stops_lifted=False)
        self._day, self._day_end = day, end
        close = end
        if self._cme_day:
            # CME days: the end-of-day floor step happens at the session close (16:00 CT, or the
            # early close), not at the 17:00 roll.
            session = self.calendar.session(self._group, day)
            if session is not None:
                close = min(session.close, end)
        self._eod_at = close
        self._eod_done = False
        # The guard judges the new day's numbers (and, on the first event, has numbers at all).
        self._step(Metrics(ts, self.snapshot()), ts, actions)
        self._expired_position_alerts(ts, actions)

    def _end_of_day(self, ts: datetime, actions: list[Action]) -> None:
        self._eod_done = True
        if self.floors.on_session_close(self.ledger.balance):
            self._step(Metrics(ts, self.snapshot()), ts, actions)
        self._apply_scaling_plan(actions)

    # -- rules that warn (and the scaling plan) -------------------------------------------------
    def _watch_day_pnl(self, actions: list[Action]) -> list[Action]:
        """Consistency: alert when today's P&L makes today a best day over the firm's limit."""
        if self.watch.consistency is None:
            return actions  # the mark path stays as cheap as it was
        ledger = self.ledger
        total_before = ledger.day_start_balance - ledger.start_balance
        reason = self.watch.day_moved(self._day, ledger.day_pnl, total_before)  # type: ignore[arg-type]
        if reason is not None:
            actions.append(Action(ActionType.ALERT, reason, "consistency"))
        return actions

    def _watch_closed_trades(self, actions: list[Action]) -> None:
        """Minimum hold: alert when short trades cross the firm's share of the profit or trades."""
        reason = self.watch.trades_closed(self.ledger.last_closed, self._day)  # type: ignore[arg-type]
        if reason is not None:
            actions.append(Action(ActionType.ALERT, reason, "hold_time"))

    def _close_day_pnl(self) -> None:
        """Before the day rolls: its final P&L is its realized change, so no open P&L counts twice."""
        ledger = self.ledger
        self.watch.close_day(self._day, ledger.balance - ledger.day_start_balance)  # type: ignore[arg-type]

    def _apply_scaling_plan(self, actions: list[Action]) -> None:
        """Scaling plan: the end-of-day profit sets the next session's size cap, up or down."""
        plan = self._scaling
        if plan is None:
            return
        profit = self.ledger.balance - self.ledger.start_balance
        contracts = plan.max_contracts(profit)
        previous = self.guard.size_cap
        cap = self._scale_to(contracts)
        if cap != previous:
            actions.append(
                Action(
                    ActionType.ALERT, scaling_reason(profit, contracts, cap, previous), "scaling"
                )
            )

    def _scale_to(self, contracts: int) -> Decimal:
        """Put a plan tier in force; the guard's cap follows it as the trader's protocol reads."""
        self._scaled_contracts = contracts
        protocol = self.protocol
        cap = scaled_size_cap(contracts, protocol.size_cap, protocol.size_cap_offset)
        self.guard.size_cap = cap
        return cap

    # -- the view -------------------------------------------------------------------------------
    def view(self) -> AccountView:
        ledger, floors = self.ledger, self.floors
        equity = ledger.equity
        effective = floors.effective
        daily, max_loss = floors.state.daily_floor, floors.state.max_loss_floor
        positions = []
        rolls = roll_partners((p.contract, p.net) for p in ledger.positions.values())
        for position in ledger.positions.values():
            tick_value = position.contract.instrument.tick_value

            def ticks(
                floor: Decimal | None, net: int = position.net, tv: Decimal = tick_value
            ) -> int | None:
                return None if floor is None else ticks_to_floor(equity - floor, net, tv)

            positions.append(
                PositionRisk(
                    key=position.contract.key,
                    net=position.net,
                    average_price=position.average_price,
                    mark_price=position.mark_price,
                    open_pnl=position.open_pnl,
                    ticks_to_floor=ticks(effective),
                    ticks_to_daily=ticks(daily),
                    ticks_to_max_loss=ticks(max_loss),
                    roll_with=rolls.get(position.contract.key),
                )
            )
        status = self.status
        warn, stop = self._levels(daily, max_loss)
        return AccountView(
            ts=self._last_ts,  # type: ignore[arg-type]
            trading_day=self._day,  # type: ignore[arg-type]
            balance=ledger.balance,
            open_pnl=ledger.open_pnl,
            equity=equity,
            day_pnl=ledger.day_pnl,
            floor=effective,
            max_loss_floor=max_loss,
            daily_floor=daily,
            state=status.state,
            reason=status.reason,
            lock_until=status.lock_until if status.state is GuardState.LOCKED else None,
            positions=tuple(positions),
            warn_level=warn,
            stop_level=stop,
            high_water=self._trailed_high(),
            day_start_balance=ledger.day_start_balance,
            start_balance=floors.rules.start_balance,
            fees=ledger.fees,
            estimated_fees=ledger.estimated_fees,
            reflattens=status.reflattens if status.state is GuardState.LOCKED else 0,
            since_lock=status.since_lock if status.state is GuardState.LOCKED else None,
        )

    def _levels(
        self, daily: Decimal | None, max_loss: Decimal | None
    ) -> tuple[Decimal | None, Decimal | None]:
        """(warn, stop) as the guard judges them: the same numbers, not a second formula."""
        snapshot = self.status.snapshot
        if snapshot is None or (snapshot.daily_floor, snapshot.max_loss_floor) != (daily, max_loss):
            snapshot = self.snapshot()
        # Cached by the floors: no work per frame.
        return self.guard.thresholds(snapshot, self.status.stops_lifted)

    def _trailed_high(self) -> Decimal | None:
        kind, state = self.floors.rules.max_loss_kind, self.floors.state
        if kind == "eod_trailing":
            return state.eod_high
        if kind in ("intraday_trailing", "intraday_trailing_realized"):
            return state.high_water
        return None
