"""`propdesk --headless`: the runtime without a window, printing what happens as it happens."""

from __future__ import annotations

import json
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from propdesk.runtime.engine import Runtime
from propdesk.runtime.notices import (
    ActionTaken,
    Alert,
    FillBooked,
    FlattenFinished,
    Level,
    LinkChanged,
    Notice,
    StateChanged,
    Topic,
)

_CT = ZoneInfo("America/Chicago")


class Printer:
    """One line per state transition, action, flatten result and link change."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, notice: Notice) -> None:
        stamp = notice.ts.astimezone(_CT).strftime("%Y-%m-%d %H:%M:%S CT")
        if isinstance(notice, StateChanged):
            line = f"{notice.account:16} {notice.old.name} → {notice.new.name}: {notice.reason}"
        elif isinstance(notice, ActionTaken):
            line = f"{notice.account:16} action {notice.action.type.value}: {notice.action.reason}"
        elif isinstance(notice, FlattenFinished):
            verdict = "FLAT (verified)" if notice.flat else "NOT FLAT"
            line = f"{notice.account:16} flatten → {verdict} after {notice.attempts} read(s): {notice.detail}"
        elif isinstance(notice, LinkChanged):
            line = f"{notice.broker:16} link {notice.state.value}: {notice.detail}"
        elif isinstance(notice, Alert):
            if notice.account is None:
                if notice.topic in (Topic.NONE, Topic.LINK):
                    return  # the link lines above say it already
                line = f"{'propdesk':16} ALERT: {notice.text}"
            elif notice.level is not Level.CRITICAL:
                return  # the others repeat the lines above; the console shows them as banners
            else:
                line = f"{notice.account:16} ALERT: {notice.text}"
        elif isinstance(notice, FillBooked):
            return  # fills are in the summary; a line each would drown the transitions
        else:  # pragma: no cover - every notice kind is handled above
            line = repr(notice)
        self._out.write(f"{stamp}  {line}\n")
        self._out.flush()


def summary(runtime: Runtime) -> dict[str, Any]:
    """The closing JSON line: each account's final state and what happened to it."""
    accounts = []
    for account in runtime.accounts.values():
        status = runtime.account_status(account)
        accounts.append(
            {
                "account": status["account"],
                "profile": status["profile"],
                "state": status["state"],
                "reason": status["reason"],
                "equity": status["equity"],
                "day_pnl": status["day_pnl"],
                "fills": account.fills,
                "flattens": account.flattens,
                "locks": account.locks,
            }
        )
    return {
        "summary": True,
        "time": runtime.clock.now().isoformat(),
        "accounts": accounts,
        "fills": sum(a["fills"] for a in accounts),
        "flattens": sum(a["flattens"] for a in accounts),
        "locks": sum(a["locks"] for a in accounts),
        "journal": str(runtime.journal.path),
        "journal_seq": runtime.journal.committed_seq,
    }


def print_summary(runtime: Runtime, out: TextIO) -> None:
    out.write(json.dumps(summary(runtime)) + "\n")
    out.flush()
