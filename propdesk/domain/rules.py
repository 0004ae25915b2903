"""Firm rules beyond the floors: consistency, scaling plans, minimum hold (prop-firm-rules.md §2 E–F).

Pure arithmetic; AccountRisk feeds it the numbers and turns what it says into alerts and size caps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from propdesk.domain.ledger import ClosedTrade
from propdesk.domain.money import ZERO, cents


@dataclass(frozen=True, slots=True)
class Consistency:
    best_day: Decimal
    total_profit: Decimal
    ratio: Decimal | None  # best day ÷ total profit; None while there is no profit
    passes: bool
    total_needed: Decimal  # the total profit at which today's best day stops failing the rule


def consistency(day_pnl: Mapping[date, Decimal], limit: Decimal) -> Consistency:
    """Pass when best_day ÷ total_profit < limit; days are the firm's trading days."""
    if not 0 < limit <= 1:
        raise ValueError("the consistency limit is a fraction in (0, 1]")
    total = sum(day_pnl.values(), ZERO)
    best = max(day_pnl.values(), default=ZERO)
    needed = best / limit if best > 0 else ZERO
    if total <= 0:
        return Consistency(best, total, None, False, needed)
    ratio = best / total
    return Consistency(best, total, ratio, ratio < limit, needed)


@dataclass(frozen=True, slots=True)
class ScalingTier:
    above_profit: Decimal  # strictly above this end-of-day profit
    max_contracts: int


@dataclass(frozen=True, slots=True)
class ScalingPlan:
    """max_contracts for the next session from the end-of-day profit; never raised intraday."""

    base_contracts: int
    tiers: Sequence[ScalingTier]

    def max_contracts(self, eod_profit: Decimal) -> int:
        allowed = self.base_contracts
        for tier in sorted(self.tiers, key=lambda t: t.above_profit):
            if eod_profit > tier.above_profit:
                allowed = tier.max_contracts
        return allowed


# --- live warnings ------------------------------------------------------------------------------
# The rules below do not end an account; they cost a payout or an evaluation pass. propdesk warns
# when the trading crosses them and never flattens for them.


def _pct(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal(1))}%"


@dataclass(frozen=True, slots=True)
class BestDayLine:
    """Where today's P&L makes today a best day that breaks the consistency rule.

    Today breaks it when today is profitable, at least as good as every earlier day, and
    today ÷ (total_before + today) ≥ limit, i.e. today × (1 − limit) ≥ limit × total_before:
    no division, so the line is exact, and one multiplication per mark.
    """

    day: date
    limit: Decimal
    best_before: Decimal  # the best earlier day; ZERO when there is none
    total_before: Decimal  # total profit when today started
    keep: Decimal  # 1 − limit
    floor: Decimal  # limit × total_before

    def breaks(self, today: Decimal) -> bool:
        return today > 0 and today >= self.best_before and today * self.keep >= self.floor

    def reason(self, today: Decimal) -> str:
        total = self.total_before + today
        needed = cents(today / self.limit)
        if total > 0:
            share = f"is {_pct(today / total)} of the total profit {cents(total)}"
        else:
            share = f"is the best day while the total profit is {cents(total)}"
        return (
            f"consistency: today's profit {cents(today)} {share}; the firm's limit is "
            f"{_pct(self.limit)}: the total must exceed {needed} before a payout or a pass"
        )


def best_day_line(
    day: date, earlier_days: Mapping[date, Decimal], total_before: Decimal, limit: Decimal
) -> BestDayLine:
    """The line for `day`, from the P&L of the days before it and the profit when it started."""
    if not 0 < limit <= 1:
        raise ValueError("the consistency limit is a fraction in (0, 1]")
    best = max((pnl for d, pnl in earlier_days.items() if d != day), default=ZERO)
    return BestDayLine(day, limit, best, total_before, 1 - limit, limit * total_before)


@dataclass(frozen=True, slots=True)
class HoldLimit:
    """A firm's minimum-hold rule: trades held `short` or less may earn at most a share of profit.

    The share is judged at or above the limit (the stricter reading where a firm says "more than").
    """

    short: timedelta  # a closed trade held this long or less is short
    profit_share: Decimal  # short trades' realized profit ÷ all realized profit
    # short trades ÷ all closed trades, where the firm counts trades too
    trade_share: Decimal | None = None


@dataclass(slots=True)
class HoldTally:
    """Closed trades split by hold time, as the firms count them: one trade per lot closed."""

    trades: int = 0
    short_trades: int = 0
    profit: Decimal = ZERO  # realized, before fees, of every closed trade
    short_profit: Decimal = ZERO  # of the short ones

    def add(self, held: timedelta, realized: Decimal, short: timedelta) -> None:
        self.trades += 1
        self.profit += realized
        if held <= short:
            self.short_trades += 1
            self.short_profit += realized

    def breach(self, limit: HoldLimit) -> str | None:
        """Why the short trades are over the firm's share, or None while they are not."""
        seconds = f"{limit.short.total_seconds():g} s"
        if self.profit > 0 and self.short_profit >= limit.profit_share * self.profit:
            return (
                f"hold time: {_pct(self.short_profit / self.profit)} of the realized profit "
                f"({cents(self.short_profit)} of {cents(self.profit)}) comes from trades held "
                f"{seconds} or less; the firm's limit is {_pct(limit.profit_share)}"
            )
        share = limit.trade_share
        if share is not None and self.trades and self.short_trades >= share * self.trades:
            return (
                f"hold time: {self.short_trades} of {self.trades} closed trades "
                f"({_pct(Decimal(self.short_trades) / self.trades)}) were held {seconds} or less; "
                f"the firm's limit is {_pct(share)}"
            )
        return None


@dataclass(slots=True)
class WarningLatch:
    """Raise a warning when its condition becomes true, at most once per trading day.

    A condition that stays true raises nothing more. One that clears and comes back is a new
    crossing; if the warning was already raised that day, it is raised on the next day it holds.
    """

    over: bool = False  # true while a raised warning still holds
    raised_on: date | None = None

    def crossed(self, over: bool, day: date) -> bool:
        if not over:
            self.over = False
            return False
        if self.over or self.raised_on == day:
            return False
        self.over = True
        self.raised_on = day
        return True


def scaled_size_cap(firm_max: int, own_cap: Decimal | None, offset: int) -> Decimal:
    """The guard's size cap for a session whose firm limit a scaling plan set to `firm_max`.

    As the guard reads the protocol: the trader's own cap if set, else the firm's limit less the
    offset; under a plan the trader's cap can only lower the firm's tier, never raise it.
    """
    tier = Decimal(firm_max)
    if own_cap is not None:
        return min(own_cap, tier)
    return tier - offset


def scaling_reason(profit: Decimal, contracts: int, cap: Decimal, previous: Decimal | None) -> str:
    was = "none" if previous is None else str(previous)
    return (
        f"scaling plan: end-of-day profit {cents(profit)} allows {contracts} contracts next "
        f"session; size cap {was} → {cap}"
    )


class RuleWatch:
    """One account's live warnings for the rules that cost a payout or a pass, not the account.

    Keeps each finished trading day's net P&L, the closed trades split by hold time, and a latch
    per warning, so each is raised once per crossing, at most once a day.
    """

    __slots__ = (
        "_line",
        "consistency",
        "consistency_latch",
        "day_pnl",
        "hold",
        "hold_latch",
        "hold_tally",
    )

    def __init__(self, consistency: Decimal | None = None, hold: HoldLimit | None = None) -> None:
        self.consistency = consistency
        self.hold = hold
        self.day_pnl: dict[date, Decimal] = {}
        self.consistency_latch = WarningLatch()
        self.hold_tally = HoldTally()
        self.hold_latch = WarningLatch()
        self._line: BestDayLine | None = None  # today's, rebuilt from day_pnl when the day changes

    def close_day(self, day: date, pnl: Decimal) -> None:
        """A finished day's P&L: its realized change (what was still open belongs to the next day)."""
        self.day_pnl[day] = pnl

    def day_moved(self, day: date, today: Decimal, total_before: Decimal) -> str | None:
        """Today's net P&L is now `today`: the consistency warning if today just became a best
        day over the firm's limit; `total_before` is the total profit when today started.

        Called on every mark that moves the P&L, so the usual path is a few comparisons.
        """
        limit = self.consistency
        if limit is None:
            return None
        latch = self.consistency_latch
        line = self._line
        if line is None or line.day != day:
            line = self._line = best_day_line(day, self.day_pnl, total_before, limit)
            latch.over = False  # each day is judged afresh
        if latch.raised_on == day:
            return None  # raised today already: nothing more until the next day
        if latch.crossed(line.breaks(today), day):
            return line.reason(today)
        return None

    def trades_closed(self, trades: Sequence[ClosedTrade], day: date) -> str | None:
        """Count closed trades by hold time: the warning if the short ones just crossed the share."""
        hold = self.hold
        if hold is None or not trades:
            return None
        tally = self.hold_tally
        for trade in trades:
            tally.add(trade.held, trade.realized, hold.short)
        reason = tally.breach(hold)
        if self.hold_latch.crossed(reason is not None, day):
            return reason
        return None
