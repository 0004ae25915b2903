"""Exact money parsing and the news event list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from propdesk.domain.money import MoneyError, cents, to_decimal
from propdesk.domain.news import NewsEvent, NewsListError, Restriction, build_windows, parse_news


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6000.25", D("6000.25")),
        (" 12.5 ", D("12.5")),
        (7, D(7)),
        (5012.25, D("5012.25")),
        (0.1, D("0.1")),
        (D("1.10"), D("1.10")),
    ],
)
def test_to_decimal_is_exact(value: object, expected: D) -> None:
    result = to_decimal(value)
    assert result == expected
    assert str(result) == str(expected)


@pytest.mark.parametrize("value", ["abc", "", True, None, [1], "NaN", "Infinity", float("inf")])
def test_to_decimal_refuses_what_is_not_a_finite_number(value: object) -> None:
    with pytest.raises(MoneyError):
        to_decimal(value, what="price")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D(48500), "48500.00"),
        (D("15.625"), "15.63"),
        (D("-15.625"), "-15.63"),
        (D("0.004"), "0.00"),
        (D("-0.5"), "-0.50"),
    ],
)
def test_cents(value: D, text: str) -> None:
    assert cents(value) == text


NEWS = """
[[event]]
at = 2026-12-09T14:00:00-05:00
title = "FOMC statement"

[[event]]
at = 2026-12-02T10:30:00-05:00
title = "EIA crude inventories"
roots = ["cl", "MCL"]
pre_minutes = 5
post_minutes = 1
restriction = "no_executions"
"""


def test_parse_news_and_build_windows() -> None:
    events = parse_news(NEWS)
    assert [e.title for e in events] == ["FOMC statement", "EIA crude inventories"]
    assert events[0].roots is None
    assert events[1].roots == frozenset({"CL", "MCL"})
    windows = build_windows(
        events, restriction=Restriction.FLAT, pre=timedelta(minutes=2), post=timedelta(minutes=2)
    )
    eia, fomc = windows  # sorted by start
    assert eia.restriction is Restriction.NO_EXECUTIONS, "an event's own restriction wins"
    assert eia.start == datetime(2026, 12, 2, 15, 25, tzinfo=UTC)
    assert eia.end == datetime(2026, 12, 2, 15, 31, tzinfo=UTC)
    assert fomc.restriction is Restriction.FLAT
    assert fomc.end - fomc.start == timedelta(minutes=4)
    assert eia.applies_to({"CL"})
    assert not eia.applies_to({"ES"})
    assert fomc.applies_to({"ES"})
    assert fomc.scope_text() == "all instruments"
    assert eia.scope_text() == "CL, MCL"


def test_no_restriction_means_no_window() -> None:
    event = NewsEvent(datetime(2026, 12, 9, 19, tzinfo=UTC), "FOMC")
    assert build_windows([event], restriction=None, pre=timedelta(0), post=timedelta(0)) == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[event]]\nat = 2026-12-09T14:00:00\ntitle = 'x'",
            "event 1: 'at' must be a date-time with a UTC offset",
        ),
        ("[[event]]\nat = 2026-12-09T14:00:00Z\n", "event 1: 'title'"),
        ("[[event]]\nat = 2026-12-09T14:00:00Z\ntitle = 'x'\nroots = 'ES'", "event 1: 'roots'"),
        (
            "[[event]]\nat = 2026-12-09T14:00:00Z\ntitle = 'x'\nrestriction = 'maybe'",
            "event 1: 'restriction'",
        ),
        (
            "[[event]]\nat = 2026-12-09T14:00:00Z\ntitle = 'x'\npre_minutes = -1",
            "event 1: 'pre_minutes'",
        ),
        (
            "[[event]]\nat = 2026-12-09T14:00:00Z\ntitle = 'x'\npre_minute = 1",
            "event 1: unknown key(s) ['pre_minute']",
        ),
        ("[[events]]\nat = 2026-12-09T14:00:00Z", "unknown key(s) ['events']"),
        ("[[event]\n", "news.toml: "),
    ],
)
def test_bad_news_lists_name_the_event_and_field(text: str, message: str) -> None:
    with pytest.raises(NewsListError) as caught:
        parse_news(text)
    assert message in str(caught.value)
