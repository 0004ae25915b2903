"""Firm rules beyond the floors: the consistency rule and scaling plans (prop-firm-rules.md §2 E–F)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from propdesk.domain.money import ZERO


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
