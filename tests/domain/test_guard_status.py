"""GuardStatus.with_snapshot is dataclasses.replace(status, snapshot=…), written out for speed."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime
from decimal import Decimal as D

from propdesk.domain.risk_state import GuardState, GuardStatus, RiskSnapshot


def test_with_snapshot_keeps_every_other_field() -> None:
    at = datetime(2026, 12, 9, 19, 0, tzinfo=UTC)
    values = {
        "state": GuardState.LOCKED,
        "reason": "why",
        "rule": "news",
        "since": at,
        "lock_until": at,
        "snapshot": None,
        "stops_lifted": True,
        "scope": frozenset({"CL"}),
        "lock_equity": D("49000.50"),
        "reflattens": 3,
        "easing_since": at,
    }
    # Every field is set to a non-default value here: a field added later fails this line first.
    assert {f.name for f in fields(GuardStatus)} == set(values)
    status = GuardStatus(**values)
    snapshot = RiskSnapshot(D(1), D(1), None, None, D(0), frozenset())
    assert status.with_snapshot(snapshot) == replace(status, snapshot=snapshot)
