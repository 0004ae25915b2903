"""The guard's schedule over the real calendar: cutoff windows, countdowns, reopening."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from propdesk.domain.account import flat_by_rule
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.firms import ProfileSet
from propdesk.domain.schedule import CalendarSchedule

CT = ZoneInfo("America/Chicago")
ET = ZoneInfo("America/New_York")


def schedule(profiles: ProfileSet, calendar: TradingCalendar, profile_id: str) -> CalendarSchedule:
    return CalendarSchedule(calendar, flat_by_rule(profiles.get(profile_id)), timedelta(minutes=30))


def test_countdown_may_trade_and_reopen_on_thanksgiving(
    profiles: ProfileSet, calendar: TradingCalendar
) -> None:
    topstep = schedule(profiles, calendar, "topstep-combine-50k")
    morning = datetime(2026, 11, 26, 10, 0, tzinfo=CT)
    status = topstep.status(morning)
    assert status.may_trade
    assert status.next_cutoff == datetime(2026, 11, 26, 11, 30, tzinfo=CT)
    assert status.countdown == timedelta(minutes=90)
    assert status.reopens == morning
    after = topstep.status(datetime(2026, 11, 26, 11, 30, tzinfo=CT))
    assert not after.may_trade
    assert after.reopens == datetime(2026, 11, 26, 17, 0, tzinfo=CT)
    assert after.next_cutoff == datetime(2026, 11, 27, 11, 45, tzinfo=CT), (
        "Friday's 12:15 early close − 30 min"
    )


def test_weekend_window_runs_from_friday_cutoff_to_sunday_open(
    profiles: ProfileSet, calendar: TradingCalendar
) -> None:
    apex = schedule(profiles, calendar, "apex-eod-50k")
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=CT)
    start, end, firm = apex.cutoff_window(saturday)  # type: ignore[misc]
    assert start == datetime(2026, 11, 20, 16, 29, tzinfo=ET)
    assert firm == datetime(2026, 11, 20, 16, 59, tzinfo=ET)
    assert end == datetime(2026, 11, 22, 17, 0, tzinfo=CT)
    assert apex.cutoff_window(saturday) == (start, end, firm), "cached answer is the same"
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=CT)
    upcoming = apex.cutoff_window(monday)
    assert upcoming is not None
    assert upcoming[0] == datetime(2026, 11, 23, 16, 29, tzinfo=ET)


def test_no_flat_by_rule_means_no_window(profiles: ProfileSet, calendar: TradingCalendar) -> None:
    ftmo = schedule(profiles, calendar, "ftmo-2step-100k")
    now = datetime(2026, 11, 24, 10, 0, tzinfo=CT)
    assert ftmo.cutoff_window(now) is None
    status = ftmo.status(now)
    assert status.may_trade
    assert status.next_cutoff is None
    assert status.countdown is None
    assert ftmo.next_open(now) == datetime(2026, 11, 24, 17, 0, tzinfo=CT)
    assert ftmo.next_open(now + timedelta(hours=1)) == datetime(2026, 11, 24, 17, 0, tzinfo=CT)
