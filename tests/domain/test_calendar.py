"""Trading calendar: rollover, DST, holidays, overrides, cutoffs and the FTMO day."""

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propdesk.domain.calendar import (
    CHICAGO,
    CME_DAY,
    PRODUCT_GROUPS,
    Closure,
    Cutoff,
    DayBoundary,
    FlatByRule,
    TradingCalendar,
    parse_closures,
)

NEW_YORK = ZoneInfo("America/New_York")
PRAGUE = ZoneInfo("Europe/Prague")
FTMO_DAY = DayBoundary("Europe/Prague", time(0, 0))

TOPSTEP = FlatByRule(time(15, 10), "America/Chicago")
TRADEIFY = FlatByRule(time(16, 59), "America/New_York", early_close_lead=timedelta(minutes=1))
BUFFER = timedelta(minutes=30)

MOURNING_2025 = """
[[closure]]
day = 2025-01-09
close = "08:30"
groups = ["equity"]
note = "national day of mourning"

[[closure]]
day = 2025-01-09
close = "12:15"
groups = ["rates"]
"""


def ct(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


def et(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def cal() -> TradingCalendar:
    return TradingCalendar()


@pytest.fixture(scope="module")
def ftmo() -> TradingCalendar:
    return TradingCalendar(day_boundary=FTMO_DAY)


# ---- trading day mapping ---------------------------------------------------------------------


def test_rollover_at_five_pm_central(cal: TradingCalendar) -> None:
    assert cal.trading_day(ct(2026, 6, 10, 16, 59, 59)) == date(2026, 6, 10)
    assert cal.trading_day(ct(2026, 6, 10, 17, 0)) == date(2026, 6, 11)
    # The same instant spelled in New York ("6 PM ET") and in UTC.
    assert cal.trading_day(et(2026, 6, 10, 18, 0)) == date(2026, 6, 11)
    assert cal.trading_day(utc(2026, 6, 10, 21, 59)) == date(2026, 6, 10)
    assert cal.trading_day(utc(2026, 6, 10, 22, 0)) == date(2026, 6, 11)


@pytest.mark.parametrize(
    "local",
    [
        ct(2026, 6, 12, 17, 0),  # Friday 5 PM
        ct(2026, 6, 12, 23, 0),
        ct(2026, 6, 13, 12, 0),  # Saturday
        ct(2026, 6, 14, 16, 59),  # Sunday before the open
        ct(2026, 6, 14, 17, 0),  # Sunday open
        ct(2026, 6, 15, 9, 30),
    ],
)
def test_weekend_belongs_to_monday(cal: TradingCalendar, local: datetime) -> None:
    assert cal.trading_day(local) == date(2026, 6, 15)


def test_friday_before_rollover_is_friday(cal: TradingCalendar) -> None:
    assert cal.trading_day(ct(2026, 6, 12, 16, 59)) == date(2026, 6, 12)


def test_day_bounds_normal_day_and_weekend(cal: TradingCalendar) -> None:
    start, end = cal.day_bounds(ct(2026, 6, 10, 9, 0))
    assert (start, end) == (ct(2026, 6, 9, 17, 0), ct(2026, 6, 10, 17, 0))
    assert start.tzinfo is UTC
    assert end.tzinfo is UTC
    assert cal.day_bounds(ct(2026, 6, 13, 12, 0)) == (
        ct(2026, 6, 12, 17, 0),
        ct(2026, 6, 15, 17, 0),
    )


def test_naive_datetime_rejected(cal: TradingCalendar) -> None:
    naive = datetime(2026, 6, 10, 9, 0)
    with pytest.raises(ValueError, match="naive"):
        cal.trading_day(naive)
    with pytest.raises(ValueError, match="naive"):
        cal.day_bounds(naive)
    with pytest.raises(ValueError, match="naive"):
        cal.is_open("equity", naive)
    with pytest.raises(ValueError, match="naive"):
        cal.may_trade(TOPSTEP, naive, BUFFER)


def test_unknown_product_group_rejected(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="'crypto'"):
        cal.session("crypto", date(2026, 6, 10))
    with pytest.raises(ValueError, match="'softs'"):
        cal.is_open("softs", ct(2026, 6, 10, 9, 0))
    with pytest.raises(ValueError, match="'ags'"):
        cal.cutoff(TOPSTEP, date(2026, 6, 10), BUFFER, "ags")


def test_negative_buffer_rejected(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="buffer"):
        cal.cutoff(TOPSTEP, date(2026, 6, 10), timedelta(minutes=-1))


def test_new_york_six_pm_is_the_cme_day() -> None:
    ny = TradingCalendar(day_boundary=DayBoundary("America/New_York", time(18, 0)))
    # Business-day rules apply, not plain calendar dates.
    assert ny.trading_day(ct(2026, 6, 13, 12, 0)) == date(2026, 6, 15)
    assert ny.day_bounds(ct(2026, 12, 24, 18, 0)) == (ct(2026, 12, 24, 17), ct(2026, 12, 28, 17))


# ---- DST --------------------------------------------------------------------------------------


def test_spring_forward_2026(cal: TradingCalendar) -> None:
    monday = date(2026, 3, 9)
    session = cal.session("equity", monday)
    assert session is not None
    assert session.open == utc(2026, 3, 8, 22, 0)  # Sunday 17:00 CDT
    assert session.close == utc(2026, 3, 9, 21, 0)  # 16:00 CDT
    assert cal.next_open("equity", ct(2026, 3, 7, 12, 0)) == utc(2026, 3, 8, 22, 0)
    assert cal.trading_day(utc(2026, 3, 8, 21, 59)) == monday

    # Monday's trading day runs Fri 17:00 CST → Mon 17:00 CDT and holds the lost hour.
    start, end = cal.day_bounds(ct(2026, 3, 8, 12, 0))
    assert (start, end) == (utc(2026, 3, 6, 23, 0), utc(2026, 3, 9, 22, 0))
    assert end - start == timedelta(hours=71)
    friday = cal.day_bounds(ct(2026, 3, 6, 12, 0))
    tuesday = cal.day_bounds(ct(2026, 3, 10, 12, 0))
    assert friday[1] - friday[0] == timedelta(hours=24)
    assert tuesday[1] - tuesday[0] == timedelta(hours=24)

    # Topstep 15:10 CT − 30 min = 14:40 CT on both sides of the change.
    before = cal.cutoff(TOPSTEP, date(2026, 3, 6), BUFFER)
    after = cal.cutoff(TOPSTEP, monday, BUFFER)
    assert before == Cutoff(utc(2026, 3, 6, 20, 40), date(2026, 3, 6), utc(2026, 3, 6, 21, 10))
    assert after == Cutoff(utc(2026, 3, 9, 19, 40), monday, utc(2026, 3, 9, 20, 10))
    assert after.at.astimezone(CHICAGO).time() == time(14, 40)


def test_fall_back_2026(cal: TradingCalendar) -> None:
    monday = date(2026, 11, 2)
    session = cal.session("equity", monday)
    assert session is not None
    assert session.open == utc(2026, 11, 1, 23, 0)  # Sunday 17:00 CST
    assert cal.next_open("equity", ct(2026, 10, 31, 12, 0)) == utc(2026, 11, 1, 23, 0)
    assert cal.trading_day(utc(2026, 11, 1, 22, 59)) == monday

    start, end = cal.day_bounds(ct(2026, 11, 1, 1, 30))  # inside the repeated hour
    assert (start, end) == (utc(2026, 10, 30, 22, 0), utc(2026, 11, 2, 23, 0))
    assert end - start == timedelta(hours=73)

    before = cal.cutoff(TOPSTEP, date(2026, 10, 30), BUFFER)
    after = cal.cutoff(TOPSTEP, monday, BUFFER)
    assert before is not None
    assert after is not None
    assert before.at == utc(2026, 10, 30, 19, 40)
    assert after.at == utc(2026, 11, 2, 20, 40)
    assert before.at.astimezone(CHICAGO).time() == after.at.astimezone(CHICAGO).time()


# ---- Thanksgiving 2026 ------------------------------------------------------------------------

# What pandas_market_calendars 5.5 gives (Chicago time): Thursday's close (None: closed all day)
# and Friday's. FX trades a full Thursday there; grains and livestock do not trade on Thursday.
THANKSGIVING_CLOSES = {
    "equity": (time(12, 0), time(12, 15)),
    "energy": (time(13, 30), time(13, 45)),
    "metals": (time(13, 30), time(13, 45)),
    "fx": (time(16, 0), time(12, 15)),
    "rates": (time(12, 0), time(12, 15)),
    "grains": (None, time(13, 20)),
    "livestock": (None, time(12, 5)),
}
REGULAR_CLOSES = {"grains": time(13, 20), "livestock": time(13, 5)}  # others: 16:00 CT


@pytest.mark.parametrize("group", PRODUCT_GROUPS)
def test_thanksgiving_2026_closes(cal: TradingCalendar, group: str) -> None:
    # Thanksgiving is a clearing holiday: Thursday's session clears on Friday's trade date.
    thursday_close, friday_close = THANKSGIVING_CLOSES[group]
    assert cal.sessions(group, date(2026, 11, 26)) == ()
    sessions = cal.sessions(group, date(2026, 11, 27))
    friday = sessions[-1]
    assert cal.session(group, date(2026, 11, 27)) == friday
    assert friday.close == datetime.combine(date(2026, 11, 27), friday_close, CHICAGO)
    assert friday.session_date == friday.trading_day == date(2026, 11, 27)
    assert friday.is_early_close == (friday_close < REGULAR_CLOSES.get(group, time(16, 0)))
    if thursday_close is None:
        assert len(sessions) == 1
        return
    thursday, _ = sessions
    assert thursday.trading_day == date(2026, 11, 27)
    assert thursday.session_date == date(2026, 11, 26)
    assert thursday.open == ct(2026, 11, 25, 17, 0)
    assert thursday.close == datetime.combine(date(2026, 11, 26), thursday_close, CHICAGO)
    assert friday.open == ct(2026, 11, 26, 17, 0)
    assert thursday.is_early_close == (thursday_close < time(16, 0))


def test_thanksgiving_topstep_cutoff(cal: TradingCalendar) -> None:
    thursday, friday = cal.sessions("equity", date(2026, 11, 27))
    assert cal.session_cutoff(TOPSTEP, thursday, BUFFER) == Cutoff(
        ct(2026, 11, 26, 11, 30), date(2026, 11, 27), ct(2026, 11, 26, 12)
    )
    expected_friday = Cutoff(ct(2026, 11, 27, 11, 45), date(2026, 11, 27), ct(2026, 11, 27, 12, 15))
    assert cal.session_cutoff(TOPSTEP, friday, BUFFER) == expected_friday
    assert cal.cutoff(TOPSTEP, date(2026, 11, 27), BUFFER) == expected_friday, "the day's last"
    assert cal.cutoff(TOPSTEP, date(2026, 11, 26), BUFFER) is None, "not a trade date"
    # Energy closes later, so its cutoff is later too; FX runs a full day → the firm's 15:10.
    energy = cal.session_cutoff(TOPSTEP, cal.sessions("energy", date(2026, 11, 27))[0], BUFFER)
    fx = cal.session_cutoff(TOPSTEP, cal.sessions("fx", date(2026, 11, 27))[0], BUFFER)
    assert energy.at == ct(2026, 11, 26, 13, 0)
    assert fx.at == ct(2026, 11, 26, 14, 40)


def test_thanksgiving_tradeify_cutoff(cal: TradingCalendar) -> None:
    thursday_session, friday_session = cal.sessions("equity", date(2026, 11, 27))
    # Equity closes 12:00 CT = 13:00 ET; one minute's lead → 12:59 ET, as Tradeify states.
    thursday = cal.session_cutoff(TRADEIFY, thursday_session, BUFFER)
    assert thursday.firm_time == et(2026, 11, 26, 12, 59)
    assert thursday.at == et(2026, 11, 26, 12, 29)
    friday = cal.session_cutoff(TRADEIFY, friday_session, BUFFER)
    assert friday.firm_time == et(2026, 11, 27, 13, 14)
    assert friday.at == et(2026, 11, 27, 12, 44)
    # A normal day: 16:59 ET is before the 16:00 CT close; no lead applies.
    wednesday = cal.cutoff(TRADEIFY, date(2026, 11, 25), BUFFER)
    assert wednesday is not None
    assert wednesday.firm_time == et(2026, 11, 25, 16, 59)
    assert wednesday.at == ct(2026, 11, 25, 15, 29)
    # Without a lead the early close itself is the firm time.
    no_lead = FlatByRule(time(16, 59), "America/New_York")
    assert cal.session_cutoff(no_lead, thursday_session, BUFFER).firm_time == ct(2026, 11, 26, 12)


def test_thanksgiving_next_cutoff_may_trade_reopen(cal: TradingCalendar) -> None:
    thursday_cut = ct(2026, 11, 26, 11, 30)
    friday_cut = ct(2026, 11, 27, 11, 45)
    assert cal.next_cutoff(TOPSTEP, ct(2026, 11, 25, 14, 0), BUFFER).at == ct(2026, 11, 25, 14, 40)
    assert cal.next_cutoff(TOPSTEP, ct(2026, 11, 25, 14, 40), BUFFER).at == thursday_cut
    assert cal.next_cutoff(TOPSTEP, ct(2026, 11, 26, 11, 0), BUFFER).at == thursday_cut
    nxt = cal.next_cutoff(TOPSTEP, thursday_cut, BUFFER)
    assert (nxt.trading_day, nxt.at) == (date(2026, 11, 27), friday_cut)
    # After Friday's cutoff the next is Monday's regular 14:40.
    assert cal.next_cutoff(TOPSTEP, friday_cut, BUFFER).at == ct(2026, 11, 30, 14, 40)

    assert cal.may_trade(TOPSTEP, thursday_cut - timedelta(microseconds=1), BUFFER)
    assert not cal.may_trade(TOPSTEP, thursday_cut, BUFFER)
    assert not cal.may_trade(TOPSTEP, ct(2026, 11, 26, 12, 30), BUFFER)  # also closed
    reopen = cal.reopen_after(TOPSTEP, thursday_cut, BUFFER)
    assert reopen == ct(2026, 11, 26, 17, 0)
    assert reopen.tzinfo is UTC
    assert cal.trading_day(reopen) == date(2026, 11, 27)
    assert cal.may_trade(TOPSTEP, reopen, BUFFER)
    assert cal.reopen_after(TOPSTEP, reopen, BUFFER) == reopen
    assert cal.reopen_after(TOPSTEP, ct(2026, 11, 27, 11, 50), BUFFER) == ct(2026, 11, 29, 17)

    # With no firm rule only the session matters: open until 12:00 on Thursday.
    assert cal.may_trade(None, ct(2026, 11, 26, 11, 59), BUFFER)
    assert not cal.may_trade(None, ct(2026, 11, 26, 12, 0), BUFFER)
    assert cal.reopen_after(None, ct(2026, 11, 26, 12, 0), BUFFER) == ct(2026, 11, 26, 17, 0)

    # Tradeify on Thursday: trading until 12:29 ET.
    assert cal.may_trade(TRADEIFY, et(2026, 11, 26, 12, 28), BUFFER)
    assert not cal.may_trade(TRADEIFY, et(2026, 11, 26, 12, 29), BUFFER)


def test_session_queries_around_the_early_close(cal: TradingCalendar) -> None:
    assert cal.is_open("equity", ct(2026, 11, 26, 11, 59))
    assert not cal.is_open("equity", ct(2026, 11, 26, 12, 0))
    assert cal.is_open("energy", ct(2026, 11, 26, 12, 0))
    assert cal.session_close_after("equity", ct(2026, 11, 26, 9, 0)) == ct(2026, 11, 26, 12, 0)
    assert cal.session_close_after("equity", ct(2026, 11, 26, 12, 0)) == ct(2026, 11, 27, 12, 15)
    assert cal.next_open("equity", ct(2026, 11, 26, 12, 0)) == ct(2026, 11, 26, 17, 0)
    # Strictly after: at an open, the next open is the following evening's.
    assert cal.next_open("equity", ct(2026, 11, 26, 17, 0)) == ct(2026, 11, 29, 17, 0)


def test_maintenance_gap_is_closed(cal: TradingCalendar) -> None:
    assert cal.is_open("equity", ct(2026, 6, 10, 15, 59))
    assert not cal.is_open("equity", ct(2026, 6, 10, 16, 0))
    assert not cal.is_open("equity", ct(2026, 6, 10, 16, 59))
    assert cal.is_open("equity", ct(2026, 6, 10, 17, 0))
    assert not cal.is_open("equity", ct(2026, 6, 13, 12, 0))  # Saturday


# ---- Christmas 2026 ---------------------------------------------------------------------------


def test_christmas_2026(cal: TradingCalendar) -> None:
    assert cal.trading_day(ct(2026, 12, 24, 18, 0)) == date(2026, 12, 28)
    assert cal.trading_day(ct(2026, 12, 25, 10, 0)) == date(2026, 12, 28)
    assert cal.day_bounds(ct(2026, 12, 24, 18, 0)) == (ct(2026, 12, 24, 17), ct(2026, 12, 28, 17))
    for group in PRODUCT_GROUPS:
        assert cal.session(group, date(2026, 12, 25)) is None
    assert not cal.is_open("equity", ct(2026, 12, 25, 10, 0))
    assert cal.next_open("equity", ct(2026, 12, 24, 12, 30)) == ct(2026, 12, 27, 17, 0)
    eve = cal.session("equity", date(2026, 12, 24))
    assert eve is not None
    assert eve.close == ct(2026, 12, 24, 12, 15)
    assert cal.next_cutoff(TOPSTEP, ct(2026, 12, 24, 12, 0), BUFFER).at == ct(2026, 12, 28, 14, 40)
    assert cal.cutoff(TOPSTEP, date(2026, 12, 25), BUFFER) is None


def test_year_end_rolls_into_next_year(cal: TradingCalendar) -> None:
    # 1 Jan 2027 is a Friday holiday: New Year's Eve evening belongs to Monday 4 Jan.
    assert cal.trading_day(ct(2026, 12, 31, 18, 0)) == date(2027, 1, 4)
    assert cal.next_open("equity", ct(2026, 12, 31, 16, 30)) == ct(2027, 1, 3, 17, 0)


def test_sessions_lie_inside_their_trading_day(cal: TradingCalendar) -> None:
    day = date(2025, 1, 1)
    while day <= date(2027, 12, 31):
        for group in PRODUCT_GROUPS:
            sessions = cal.sessions(group, day)
            for session in sessions:
                start, end = cal.day_bounds(session.open)
                assert session.trading_day == day
                assert cal.trading_day(session.open) == day
                assert cal.trading_day(session.close) == day
                assert start <= session.open < session.close <= end
            for before, after in itertools.pairwise(sessions):
                assert before.close < after.open, "a halt between them"
        day += timedelta(days=1)


# ---- overrides --------------------------------------------------------------------------------


def test_parse_closures() -> None:
    closures = parse_closures(MOURNING_2025)
    assert closures == [
        Closure(date(2025, 1, 9), time(8, 30), frozenset({"equity"}), "national day of mourning"),
        Closure(date(2025, 1, 9), time(12, 15), frozenset({"rates"})),
    ]
    whole = parse_closures('[[closure]]\nday = "2025-01-10"\n')
    assert whole == [Closure(date(2025, 1, 10), None, None)]
    assert parse_closures("") == []


def test_mourning_day_override() -> None:
    cal = TradingCalendar(parse_closures(MOURNING_2025))
    day = date(2025, 1, 9)
    equity = cal.session("equity", day)
    rates = cal.session("rates", day)
    energy = cal.session("energy", day)
    assert equity is not None
    assert rates is not None
    assert energy is not None
    assert equity.close == ct(2025, 1, 9, 8, 30)
    assert equity.is_early_close
    assert rates.close == ct(2025, 1, 9, 12, 15)
    assert energy.close == ct(2025, 1, 9, 16, 0)
    assert not energy.is_early_close
    assert not cal.is_open("equity", ct(2025, 1, 9, 9, 0))
    assert cal.is_open("energy", ct(2025, 1, 9, 9, 0))
    assert cal.cutoff(TOPSTEP, day, BUFFER) == Cutoff(
        ct(2025, 1, 9, 8, 0), day, ct(2025, 1, 9, 8, 30)
    )
    energy_cut = cal.cutoff(TOPSTEP, day, BUFFER, "energy")
    assert energy_cut is not None
    assert energy_cut.at == ct(2025, 1, 9, 14, 40)
    # The plain calendar does not know the day.
    plain = TradingCalendar().session("equity", day)
    assert plain is not None
    assert plain.close == ct(2025, 1, 9, 16, 0)


def test_closed_all_day_override() -> None:
    equity_only = TradingCalendar([Closure(date(2025, 1, 10), None, frozenset({"equity"}))])
    assert equity_only.session("equity", date(2025, 1, 10)) is None
    assert equity_only.session("energy", date(2025, 1, 10)) is not None
    assert equity_only.trading_day(ct(2025, 1, 9, 18, 0)) == date(2025, 1, 10)
    assert equity_only.next_open("equity", ct(2025, 1, 9, 16, 30)) == ct(2025, 1, 12, 17, 0)

    # Every group closed: the day stops being a business day.
    everything = TradingCalendar([Closure(date(2025, 1, 10), None, None)])
    for group in PRODUCT_GROUPS:
        assert everything.session(group, date(2025, 1, 10)) is None
    assert everything.trading_day(ct(2025, 1, 9, 18, 0)) == date(2025, 1, 13)


def test_overrides_only_shorten_and_earliest_wins() -> None:
    cal = TradingCalendar(
        [
            Closure(date(2026, 11, 26), time(15, 0), frozenset({"equity"})),  # later than 12:00
            Closure(date(2026, 6, 10), time(11, 0), None),
            Closure(date(2026, 6, 10), time(10, 0), frozenset({"fx"})),
        ]
    )
    # A closure's day is the date a session closes on: Thanksgiving's halt session is Thursday's.
    thanksgiving = cal.sessions("equity", date(2026, 11, 27))[0]
    assert thanksgiving.session_date == date(2026, 11, 26)
    assert thanksgiving.close == ct(2026, 11, 26, 12, 0)
    fx = cal.session("fx", date(2026, 6, 10))
    equity = cal.session("equity", date(2026, 6, 10))
    assert fx is not None
    assert equity is not None
    assert fx.close == ct(2026, 6, 10, 10, 0)
    assert equity.close == ct(2026, 6, 10, 11, 0)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[[closure]]\nday = 2025-01-09\nclose = "8:3x"\n', ["closure #1", "'close'"]),
        ("[[closure]]\nday = 2025-01-09\nclose = 830\n", ["closure #1", "'close'"]),
        (
            '[[closure]]\nday = 2025-01-09\ngroups = ["crypto"]\n',
            ["2025-01-09", "'groups'", "crypto"],
        ),
        ("[[closure]]\nday = 2025-01-09\ngroups = []\n", ["'groups'"]),
        ('[[closure]]\nclose = "08:30"\n', ["closure #1", "'day'"]),
        ('[[closure]]\nday = "9 Jan"\n', ["'day'"]),
        ("[[closure]]\nday = 2025-01-09T08:30:00\n", ["'day'"]),
        (
            '[[closure]]\nday = 2025-01-09\n\n[[closure]]\nday = 2025-01-10\ngrups = ["fx"]\n',
            [
                "closure #2",
                "grups",
            ],
        ),
        ("[[closure]]\nday = 2025-01-09\nnote = 5\n", ["'note'"]),
        ("[closure]\nday = 2025-01-09\n", ["[[closure]]"]),
        ("[[closures]]\nday = 2025-01-09\n", ["closures"]),
        ("[[closure]\nday = ", ["TOML"]),
    ],
)
def test_bad_override_text(text: str, names: list[str]) -> None:
    with pytest.raises(ValueError, match="closure") as info:
        parse_closures(text)
    for name in names:
        assert name in str(info.value)


def test_closure_rejects_unknown_group() -> None:
    with pytest.raises(ValueError, match="'crypto'"):
        Closure(date(2025, 1, 9), None, frozenset({"crypto"}))


def test_rule_and_boundary_zones_are_checked() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        FlatByRule(time(15, 10), "Mars/Olympus")
    with pytest.raises(ValueError, match="Mars/Olympus"):
        DayBoundary("Mars/Olympus", time(0))


# ---- FTMO boundary ----------------------------------------------------------------------------


def test_ftmo_midnight_prague(ftmo: TradingCalendar) -> None:
    assert ftmo.trading_day(datetime(2026, 6, 10, 23, 59, 59, tzinfo=PRAGUE)) == date(2026, 6, 10)
    assert ftmo.trading_day(datetime(2026, 6, 11, 0, 0, tzinfo=PRAGUE)) == date(2026, 6, 11)
    # Calendar dates, weekends included; the CME rollover plays no part.
    assert ftmo.trading_day(ct(2026, 6, 12, 17, 30)) == date(2026, 6, 13)
    start, end = ftmo.day_bounds(datetime(2026, 6, 10, 12, 0, tzinfo=PRAGUE))
    assert (start, end) == (utc(2026, 6, 9, 22, 0), utc(2026, 6, 10, 22, 0))


def test_ftmo_european_dst(ftmo: TradingCalendar) -> None:
    # Spring forward 29 Mar 2026 02:00 → 03:00 CET/CEST: a 23-hour day.
    assert ftmo.trading_day(utc(2026, 3, 28, 22, 59)) == date(2026, 3, 28)
    assert ftmo.trading_day(utc(2026, 3, 28, 23, 0)) == date(2026, 3, 29)
    start, end = ftmo.day_bounds(datetime(2026, 3, 29, 12, 0, tzinfo=PRAGUE))
    assert (start, end) == (utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0))
    assert end - start == timedelta(hours=23)
    assert ftmo.trading_day(utc(2026, 3, 29, 21, 59)) == date(2026, 3, 29)
    assert ftmo.trading_day(utc(2026, 3, 29, 22, 0)) == date(2026, 3, 30)

    # Fall back 25 Oct 2026 03:00 → 02:00: a 25-hour day.
    start, end = ftmo.day_bounds(datetime(2026, 10, 25, 12, 0, tzinfo=PRAGUE))
    assert (start, end) == (utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0))
    assert end - start == timedelta(hours=25)
    assert ftmo.trading_day(utc(2026, 10, 25, 22, 59)) == date(2026, 10, 25)
    assert ftmo.trading_day(utc(2026, 10, 25, 23, 0)) == date(2026, 10, 26)
    assert ftmo.trading_day(datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PRAGUE)) == date(
        2026, 10, 25
    )


def test_ftmo_boundary_leaves_sessions_alone(ftmo: TradingCalendar) -> None:
    # Sessions and cutoffs follow the exchange whatever the firm's day boundary.
    assert ftmo.day_boundary != CME_DAY
    assert ftmo.cutoff(TOPSTEP, date(2026, 11, 26), BUFFER) == TradingCalendar().cutoff(
        TOPSTEP, date(2026, 11, 26), BUFFER
    )


# ---- properties -------------------------------------------------------------------------------

# Shared across examples so hypothesis exercises the warm caches, as production does.
_CALENDARS = {CME_DAY: TradingCalendar(), FTMO_DAY: TradingCalendar(day_boundary=FTMO_DAY)}
ZONES = [UTC, CHICAGO, NEW_YORK, PRAGUE, ZoneInfo("Asia/Tokyo"), ZoneInfo("Australia/Sydney")]
instants = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 12, 31, 23, 59, 59),
    timezones=st.sampled_from(ZONES),
)


@settings(deadline=None, max_examples=300)
@given(ts=instants, boundary=st.sampled_from([CME_DAY, FTMO_DAY]))
def test_day_bounds_contain_ts_and_trading_day_is_constant(
    ts: datetime, boundary: DayBoundary
) -> None:
    cal = _CALENDARS[boundary]
    start, end = cal.day_bounds(ts)
    assert start <= ts < end
    day = cal.trading_day(ts)
    tick = timedelta(microseconds=1)
    assert cal.trading_day(start) == day
    assert cal.trading_day(end - tick) == day
    assert cal.trading_day(start - tick) < day < cal.trading_day(end)
    assert cal.day_bounds(start) == (start, end)
    assert cal.day_bounds(end - tick) == (start, end)
    if boundary == CME_DAY:
        assert day.weekday() < 5
        assert end == datetime.combine(day, time(17, 0), CHICAGO)


@settings(deadline=None, max_examples=200)
@given(ts=instants, group=st.sampled_from(PRODUCT_GROUPS), with_rule=st.booleans())
def test_reopen_after_is_when_may_trade_turns_true(
    ts: datetime, group: str, with_rule: bool
) -> None:
    cal = _CALENDARS[CME_DAY]
    rule = TOPSTEP if with_rule else None
    reopen = cal.reopen_after(rule, ts, BUFFER, group)
    assert reopen >= ts
    assert cal.may_trade(rule, reopen, BUFFER, group)
    if reopen > ts:
        assert not cal.may_trade(rule, ts, BUFFER, group)
        assert not cal.may_trade(rule, reopen - timedelta(microseconds=1), BUFFER, group)
    if rule is not None:
        nxt = cal.next_cutoff(rule, ts, BUFFER, group)
        assert nxt.at > ts
        assert cal.session(group, nxt.trading_day) is not None


# ---- edges ------------------------------------------------------------------------------------


def test_other_boundary_at_a_clock_time() -> None:
    # A non-CME boundary counts plain calendar dates: at/after the time is the next date.
    five_pm_et = TradingCalendar(day_boundary=DayBoundary("America/New_York", time(17, 0)))
    assert five_pm_et.trading_day(et(2026, 6, 12, 16, 59)) == date(2026, 6, 12)
    assert five_pm_et.trading_day(et(2026, 6, 12, 17, 0)) == date(2026, 6, 13)  # a Saturday
    assert five_pm_et.day_bounds(et(2026, 6, 13, 9, 0)) == (
        et(2026, 6, 12, 17),
        et(2026, 6, 13, 17),
    )


def test_toml_time_and_duplicate_closed_lines() -> None:
    closures = parse_closures("[[closure]]\nday = 2025-01-09\nclose = 08:30:00\n")
    assert closures == [Closure(date(2025, 1, 9), time(8, 30), None)]
    cal = TradingCalendar(
        [
            Closure(date(2025, 1, 9), time(8, 30), None),
            Closure(date(2025, 1, 9), None, frozenset({"fx"})),
        ]
    )
    assert cal.session("fx", date(2025, 1, 9)) is None
    equity = cal.session("equity", date(2025, 1, 9))
    assert equity is not None
    assert equity.close == ct(2025, 1, 9, 8, 30)


def test_impossible_rule_does_not_loop_forever(cal: TradingCalendar) -> None:
    # A buffer longer than any session leaves no moment to trade: fail loudly, do not spin.
    with pytest.raises(ValueError, match="equity"):
        cal.reopen_after(TOPSTEP, ct(2026, 6, 10, 9, 0), timedelta(days=1))


def test_years_outside_the_range_are_refused(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="1900"):
        cal.session("equity", date(1900, 1, 2))
