"""The supported-firms table (README, `propdesk profiles --markdown`), rendered from the profiles."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from propdesk.domain.firms import FirmProfile

_MAX_LOSS = {
    "static": "static",
    "intraday_trailing": "intraday trailing",
    "intraday_trailing_realized": "intraday trailing (realized)",
    "eod_trailing": "EOD trailing",
}
_DAILY = {"fixed": "fixed", "trailing": "trailing", "previous_close": "from previous close"}
_ZONES = {"America/Chicago": "CT", "America/New_York": "ET", "Europe/Prague": "Prague"}


def _money(value: Decimal) -> str:
    return f"${value:,.0f}" if value == value.to_integral_value() else f"${value:,.2f}"


def _max_loss(profile: FirmProfile) -> str:
    rule = profile.max_loss
    if rule.kind == "none" or rule.amount is None:
        return "—"
    text = f"{_money(rule.amount.value)} {_MAX_LOSS[rule.kind]}"
    lock = rule.lock_level(profile.start_balance)
    if lock is not None and rule.kind != "static":
        offset = lock - profile.start_balance
        text += ", locks at start" + (f" + {_money(offset)}" if offset else "")
    return text


def _daily(profile: FirmProfile) -> str:
    rule = profile.daily_loss
    if rule.kind == "none" or rule.amount is None:
        return "—"
    return f"{_money(rule.amount.value)} {_DAILY[rule.kind]}"


def _flat_by(profile: FirmProfile) -> str:
    flat_by = profile.flat_by
    if flat_by is None:
        return "—"
    return f"{flat_by.at.value:%H:%M} {_ZONES.get(flat_by.tz, flat_by.tz)}"


def _contracts(profile: FirmProfile) -> str:
    limit = profile.size.max_contracts
    if limit is None:
        return "—"
    if profile.scaling is None:
        return str(limit.value)
    return f"{limit.value} → {profile.scaling.tiers[-1].max_contracts} (scaling plan)"


def markdown_table(profiles: Iterable[FirmProfile]) -> str:
    rows = [
        "| profile id | firm — program | max loss | daily loss | flat by | max contracts | automation |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in sorted(profiles, key=lambda p: p.id):
        automation = p.automation.status
        if automation == "prohibited":
            automation = "**prohibited**"
        rows.append(
            f"| `{p.id}` | {p.firm} — {p.program} | {_max_loss(p)} | {_daily(p)} | {_flat_by(p)} "
            f"| {_contracts(p)} | {automation} |"
        )
    return "\n".join(rows) + "\n"
