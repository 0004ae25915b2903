"""Shared by the broker kill benches (kill_latency_<broker>.py): the simulated morning, the contracts
each account holds, and the report of propdesk beside the bare client. Not a bench itself: `./dev
bench` skips files starting with an underscore."""

from __future__ import annotations

import statistics
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

CT = ZoneInfo("America/Chicago")
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=CT)  # a Tuesday morning, market open
ROOTS = {"ES": Decimal(6000), "NQ": Decimal(21000), "CL": Decimal(70)}  # root → starting price


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(ours: list[float], floor: list[float]) -> None:
    """p50/p99 of both, in ms, and their ratio against the goal (≤ 2× the bare client)."""
    for label, values in (("propdesk", ours), ("bare client", floor)):
        print(
            f"{label:>12}: p50 {1000 * statistics.median(values):8.2f} ms   "
            f"p99 {1000 * pct(values, 0.99):8.2f} ms"
        )
    print(
        f"{'ratio':>12}: p50 {statistics.median(ours) / statistics.median(floor):8.2f} ×   "
        f"p99 {pct(ours, 0.99) / pct(floor, 0.99):8.2f} ×   (goal ≤ 2×)"
    )
