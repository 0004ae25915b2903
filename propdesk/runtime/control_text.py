"""The control replies as a terminal shows them: `propdesk status` and `propdesk flatten` tables."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def _decimal(text: Any) -> Decimal | None:
    if text is None or isinstance(text, bool):
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _money(text: Any, *, signed: bool = False) -> str:
    value = _decimal(text)
    if value is None:
        return "-" if text in (None, "") else str(text)
    return format(value, "+," if signed else ",")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_status(result: dict[str, Any]) -> str:
    """A terminal table of a status result: one row per account, then the broker links."""
    accounts = result.get("accounts") or []
    lines: list[str] = []
    if accounts:
        header = (
            "ACCOUNT",
            "STATE",
            "EQUITY",
            "DAY P&L",
            "FLOOR",
            "DISTANCE",
            "POS",
            "ORD",
            "REASON",
        )
        rows = []
        for acc in accounts:
            equity, floor = _decimal(acc.get("equity")), _decimal(acc.get("floor"))
            distance = "-"
            if equity is not None and floor is not None:
                distance = format(equity - floor, ",")
            rows.append(
                (
                    str(acc.get("account", "?")),
                    str(acc.get("state", "?")),
                    _money(acc.get("equity")),
                    _money(acc.get("day_pnl"), signed=True),
                    _money(acc.get("floor")),
                    distance,
                    str(acc.get("positions", "-")),
                    str(acc.get("orders", "-")),
                    str(acc.get("reason") or ""),
                )
            )
        lines += _table(header, rows, right={2, 3, 4, 5, 6, 7})
    else:
        lines.append("no accounts")
    for acc in accounts:
        count = acc.get("reflattens") or 0
        if count:
            since = acc.get("since_lock")
            cost = "" if since is None else f", {_money(since, signed=True)} since the lock"
            lines.append(
                f"{acc.get('account', '?')}: strategy still trading a locked account: "
                f"{count} re-flatten{'' if count == 1 else 's'}{cost}"
            )
    brokers = result.get("brokers") or []
    if brokers:
        links = ", ".join(f"{b.get('name', '?')} {b.get('link', '?')}" for b in brokers)
        lines += ["", f"brokers: {links}"]
    journal = result.get("journal")
    if isinstance(journal, dict) and journal.get("writable") is False:
        lines.append(
            f"journal: NOT WRITABLE — {journal.get('reason') or 'unknown reason'}; "
            f"{journal.get('pending', '?')} record(s) wait in memory for {journal.get('path', '?')}"
        )
    return "\n".join(lines)


def format_flatten(result: dict[str, Any]) -> str:
    """One line per account (FLAT / NOT FLAT and the kill switch's detail), then a count."""
    results = result.get("results") or []
    if not results:
        return "no accounts matched"
    rows = [
        (
            str(r.get("account", "?")),
            "FLAT" if r.get("flat") is True else "NOT FLAT",
            str(r.get("detail") or ""),
        )
        for r in results
    ]
    flat = sum(1 for r in results if r.get("flat") is True)
    lines = _table(("ACCOUNT", "RESULT", "DETAIL"), rows, right=set())
    lines += ["", f"{flat} of {len(results)} accounts flat"]
    return "\n".join(lines)
