"""What an account's contract months mean for its risk: expiry alerts, rolls, spreads.

- A fill in a month that has stopped trading (ESZ6 on 24 Dec 2026), or that CME does not list
  yet, cannot be a live trade; it is booked as reported and raised as an alert, and so is a
  position still held after its contract stopped trading.
- Short ESZ6 + long ESH7 is one exposure being moved from one month to the next (or a spread traded
  on purpose): the console shows both legs as a roll, and a firm may count it against its size cap
  leg by leg or netted (`SizeRule.spreads_count`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from propdesk.domain.events import Fill
from propdesk.domain.expiry import CHICAGO
from propdesk.domain.instruments import MONTH_CODES, Contract
from propdesk.domain.risk_state import Action, ActionType

__all__ = [
    "EXPIRY_RULE",
    "expired_position_alerts",
    "fill_alert",
    "net_size_in_full_contracts",
    "roll_partners",
]

EXPIRY_RULE = "expiry"
"""The rule name on the alerts raised here."""


def _ended(contract: Contract) -> str:
    ends = contract.trading_ends.astimezone(CHICAGO)
    return f"on its last trade date, {contract.last_trade:%a %d %b %Y} ({ends:%H:%M} CT)"


def fill_alert(fill: Fill) -> Action | None:
    """An alert when the fill's contract had stopped trading at the fill's time, or is a month
    CME does not list that far ahead; None for a fill in a live, listed month."""
    contract, ts = fill.contract, fill.ts
    what = (
        f"{fill.side.value} {fill.qty} {contract.key} @ {fill.price} "
        f"at {ts.astimezone(CHICAGO):%Y-%m-%d %H:%M} CT"
    )
    if contract.expired_at(ts):
        reason = (
            f"fill in an expired contract: {contract.key} stopped trading {_ended(contract)}, "
            f"but a {what} was reported. Check the contract month the strategy and the broker use."
        )
    elif not contract.listed_at(ts):
        reason = (
            f"fill in a month CME does not list: {contract.key} is more than "
            f"{contract.instrument.listed_months} months ahead, yet a {what} was reported. "
            "Check the symbol's year."
        )
    else:
        return None
    return Action(ActionType.ALERT, reason, EXPIRY_RULE)


def expired_position_alerts(
    positions: Iterable[tuple[Contract, int]], ts: datetime
) -> list[Action]:
    """An alert for each open position (contract, signed net) whose contract stopped trading."""
    return [
        Action(
            ActionType.ALERT,
            f"position in an expired contract: {net:+d} {contract.key} is still held, but it "
            f"stopped trading {_ended(contract)}. Check the position at the broker.",
            EXPIRY_RULE,
        )
        for contract, net in positions
        if net and contract.expired_at(ts)
    ]


def _month_number(contract: Contract) -> int:
    return contract.year * 12 + MONTH_CODES.index(contract.month_code)


def roll_partners(positions: Iterable[tuple[Contract, int]]) -> dict[str, str]:
    """For each open position (contract, signed net) that is a leg of a roll, the key of its
    other leg: the nearest month of the same root held the other way."""
    by_root: dict[str, list[tuple[Contract, int]]] = {}
    for contract, net in positions:
        if net:
            by_root.setdefault(contract.instrument.root, []).append((contract, net))
    partners: dict[str, str] = {}
    for legs in by_root.values():
        if len(legs) < 2:
            continue
        for contract, net in legs:
            opposite = [other for other, n in legs if (n > 0) != (net > 0)]
            if opposite:
                month = _month_number(contract)
                # Ties go to the earlier month: the leg being rolled out of.
                nearest = min(
                    opposite, key=lambda o: (abs(_month_number(o) - month), _month_number(o))
                )
                partners[contract.key] = nearest.key
    return partners


def net_size_in_full_contracts(
    positions: Iterable[tuple[Contract, int]], micros_per_contract: int
) -> Decimal:
    """Open size with each root's months netted, counted the firm's way otherwise: a micro counts
    1/micros_per_contract of a full-size contract, as in Ledger.size_in_full_contracts."""
    nets: dict[str, tuple[Contract, int]] = {}
    for contract, net in positions:
        root = contract.instrument.root
        _, total = nets.get(root, (contract, 0))
        nets[root] = (contract, total + net)
    size = Decimal(0)
    for contract, net in nets.values():
        if contract.instrument.full_size_root is not None and micros_per_contract > 1:
            size += Decimal(abs(net)) / micros_per_contract
        else:
            size += abs(net)
    return size
