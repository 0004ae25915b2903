"""Every worked example of research/prop-firm-rules.md §2, on the floor arithmetic itself."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from propdesk.domain.floors import FloorRules, Floors, ticks_to_floor
from propdesk.domain.rules import ScalingPlan, ScalingTier, consistency


def rules(**kw: object) -> FloorRules:
    base: dict[str, object] = {
        "start_balance": D(50_000),
        "max_loss_kind": "none",
        "max_loss": None,
        "lock_level": None,
        "daily_kind": "none",
        "daily_loss": None,
    }
    base.update(kw)
    return FloorRules(**base)  # type: ignore[arg-type]


# -- A. static --------------------------------------------------------------------------------------
def test_static_ftmo_2step_100k_breaches_at_89999() -> None:
    floors = Floors(rules(start_balance=D(100_000), max_loss_kind="static", max_loss=D(10_000)))
    assert floors.max_loss_floor == D(90_000)
    balance, floating = D(92_000), D(-2_001)
    floors.on_value(balance + floating, balance)
    assert floors.max_loss_floor == D(90_000)
    assert floors.breached(D(89_999))
    assert not floors.breached(D("90000.01"))
    assert floors.breached(D(90_000)), "a firm's 'reaches' counts: E == floor is a breach"


# -- B. intraday trailing ---------------------------------------------------------------------------
def test_intraday_trailing_apex_50k() -> None:
    floors = Floors(rules(max_loss_kind="intraday_trailing", max_loss=D(2_500)))
    assert floors.max_loss_floor == D(47_500)
    floors.on_value(D(50_800), D(50_000))  # the trade runs to +800 open
    assert floors.max_loss_floor == D(48_300)
    floors.on_value(D(50_200), D(50_200))  # closed at +200
    assert floors.max_loss_floor == D(48_300)
    assert D(50_200) - floors.max_loss_floor == D(1_900), "cushion is 1,900, not 2,700"


def test_intraday_trailing_lock_at_start_plus_100() -> None:
    floors = Floors(
        rules(max_loss_kind="intraday_trailing", max_loss=D(2_500), lock_level=D(50_100))
    )
    floors.on_value(D(52_599), D(50_000))
    assert floors.max_loss_floor == D(50_099)
    floors.on_value(D(52_600), D(50_000))
    assert floors.max_loss_floor == D(50_100)
    floors.on_value(D(60_000), D(60_000))
    assert floors.max_loss_floor == D(50_100), "frozen at the lock level"


def test_intraday_trailing_realized_variant_ignores_open_profit() -> None:
    floors = Floors(rules(max_loss_kind="intraday_trailing_realized", max_loss=D(2_000)))
    floors.on_value(D(51_500), D(50_000))  # +1,500 open, nothing realized
    assert floors.max_loss_floor == D(48_000)
    floors.on_value(D(50_700), D(50_700))  # +700 realized
    assert floors.max_loss_floor == D(48_700)


# -- C. end-of-day trailing -------------------------------------------------------------------------
def test_eod_trailing_topstep_50k_locks_at_start() -> None:
    floors = Floors(rules(max_loss_kind="eod_trailing", max_loss=D(2_000), lock_level=D(50_000)))
    assert floors.max_loss_floor == D(48_000)
    floors.on_session_close(D(50_500))
    assert floors.max_loss_floor == D(48_500)
    floors.on_session_close(D(50_000))
    assert floors.max_loss_floor == D(48_500)
    floors.on_value(D(53_000), D(53_000))  # an intraday peak on day 3 changes nothing
    assert floors.max_loss_floor == D(48_500)
    floors.on_session_close(D(52_500))
    assert floors.max_loss_floor == D(50_000)
    floors.on_session_close(D(58_000))
    assert floors.max_loss_floor == D(50_000), "locked"


def test_eod_trailing_lock_at_start_plus_100() -> None:
    floors = Floors(rules(max_loss_kind="eod_trailing", max_loss=D(2_000), lock_level=D(50_100)))
    floors.on_session_close(D(51_000))
    assert floors.max_loss_floor == D(49_000)
    floors.on_session_close(D(52_300))
    assert floors.max_loss_floor == D(50_100)
    floors.on_session_close(D(51_000))
    floors.on_session_close(D(60_000))
    assert floors.max_loss_floor == D(50_100), "permanent"


def test_eod_trailing_without_lock_ftmo_1step() -> None:
    floors = Floors(
        rules(start_balance=D(100_000), max_loss_kind="eod_trailing", max_loss=D(10_000))
    )
    assert floors.max_loss_floor == D(90_000)
    floors.on_session_close(D(104_000))
    assert floors.max_loss_floor == D(94_000)
    floors.on_session_close(D(103_000))
    assert floors.max_loss_floor == D(94_000)
    floors.on_session_close(D(130_000))
    assert floors.max_loss_floor == D(120_000), "trails forever"


# -- D. daily loss limits ---------------------------------------------------------------------------
def test_daily_fixed_topstep_50k_effective_floor() -> None:
    floors = Floors(
        rules(
            max_loss_kind="eod_trailing",
            max_loss=D(2_000),
            lock_level=D(50_000),
            daily_kind="fixed",
            daily_loss=D(1_000),
        )
    )
    floors.on_session_close(D(50_800))
    floors.on_new_day(D(50_800))
    assert floors.max_loss_floor == D(48_800)
    assert floors.daily_floor == D(49_800)
    assert floors.effective == D(49_800)
    assert floors.breached(D(49_800))
    assert not floors.breached(D("49800.01"))


def test_daily_previous_close_ftmo_200k() -> None:
    floors = Floors(
        rules(
            start_balance=D(200_000),
            max_loss_kind="static",
            max_loss=D(20_000),
            daily_kind="previous_close",
            daily_loss=D(10_000),
        )
    )
    assert floors.daily_floor == D(190_000)
    balance = D(204_000)  # +4,000 closed today
    floors.on_value(balance, balance)
    assert not floors.breached(balance - D("13999.99"))
    assert floors.breached(balance - D(14_000)), "floating −14,000 reaches the limit"
    floors.on_session_close(balance)
    floors.on_new_day(balance)  # midnight
    assert floors.daily_floor == D(194_000)
    assert floors.breached(balance - D(13_000)), "equity 191,000 now breaches"


def test_daily_limit_can_go_down_as_well_as_up() -> None:
    floors = Floors(
        rules(start_balance=D(100_000), daily_kind="previous_close", daily_loss=D(5_000))
    )
    floors.on_new_day(D(98_000))
    assert floors.daily_floor == D(93_000)


def test_daily_trailing_topstepx_personal_dll() -> None:
    floors = Floors(rules(daily_kind="trailing", daily_loss=D(500)))
    assert floors.daily_floor == D(49_500)
    floors.on_value(D(51_200), D(51_200))
    assert floors.daily_floor == D(50_700)
    floors.on_value(D(50_900), D(50_900))
    assert floors.daily_floor == D(50_700), "the line only rises within the day"
    floors.on_new_day(D(50_900))
    assert floors.daily_floor == D(50_400)


# -- E. consistency ---------------------------------------------------------------------------------
def test_consistency_best_day_60_percent_fails() -> None:
    days = {date(2026, 6, 1): D(1_800), date(2026, 6, 2): D(700), date(2026, 6, 3): D(500)}
    result = consistency(days, D("0.5"))
    assert result.total_profit == D(3_000)
    assert result.ratio == D("0.6")
    assert not result.passes
    assert result.total_needed == D(3_600)
    days[date(2026, 6, 4)] = D("600.01")  # the total now exceeds 3,600 without a new best day
    assert consistency(days, D("0.5")).passes


# -- F. scaling ---------------------------------------------------------------------------------------
def test_scaling_topstep_xfa_50k() -> None:
    plan = ScalingPlan(2, (ScalingTier(D(1_500), 3), ScalingTier(D(2_000), 5)))
    assert plan.max_contracts(D(1_600)) == 3
    assert plan.max_contracts(D(1_400)) == 2
    assert plan.max_contracts(D(1_500)) == 2, "'above' is strict"
    assert plan.max_contracts(D("2000.01")) == 5


# -- distance in ticks --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("distance", "qty", "tick_value", "ticks"),
    [
        (D(500), 2, D("12.50"), 20),
        (D(499), -2, D("12.50"), 19),
        (D(0), 1, D("12.50"), 0),
        (D(-10), 1, D("12.50"), 0),
        (D(100), 3, D("15.625"), 2),
    ],
)
def test_ticks_to_floor(distance: D, qty: int, tick_value: D, ticks: int) -> None:
    assert ticks_to_floor(distance, qty, tick_value) == ticks


def test_rules_need_amounts() -> None:
    with pytest.raises(ValueError, match="needs a positive amount"):
        rules(max_loss_kind="static")
    with pytest.raises(ValueError, match="needs a positive amount"):
        rules(daily_kind="fixed", daily_loss=D(0))
