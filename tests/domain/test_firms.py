"""Firm profiles: the shipped data files, validation messages, per-account overrides."""

from collections.abc import Iterator
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from propdesk.domain.firm_overrides import apply_overrides
from propdesk.domain.firms import (
    USER_OVERRIDE,
    FirmProfile,
    ProfileError,
    ProfileSet,
    Sourced,
    parse_profile,
)
from propdesk.resources import resource_path

SNAPSHOT = date(2026, 7, 1)  # the research snapshot's date
LAST_CHECK = date(2026, 12, 4)  # the re-check for issue 12: nothing can have been checked later
FIRM_FILES = sorted(resource_path("firms").glob("*.toml"))
REQUIRED_IDS = {
    "topstep-combine-50k",
    "topstep-combine-100k",
    "topstep-combine-150k",
    "topstep-xfa-50k",
    "topstep-xfa-100k",
    "topstep-xfa-150k",
    "apex-eod-50k",
    "apex-intraday-50k",
    "mffu-core-50k",
    "tpt-test-50k",
    "tpt-proplus-50k",
    "tradeify-growth-50k",
    "alpha-futures-50k",
    "lucid-flex-50k",
    "bulenox-option1-50k",
    "bulenox-option2-50k",
    "earn2trade-gauntlet-50k",
    "ftmo-2step-100k",
    "ftmo-1step-100k",
    "custom",
}

# A small valid profile; the error tests below break one thing at a time.
SAMPLE = """\
id = "sample"
firm = "Sample Firm"
program = "Sample"
phase = "evaluation"
account_size = { value = 50000, source = "S1", checked = 2026-07-01 }

[max_loss]
kind = "eod_trailing"
amount = { value = "2000", source = "S1", checked = 2026-07-01 }
lock = "start"

[daily_loss]
kind = "fixed"
amount = { value = 1000, source = "S1", checked = 2026-07-01 }

[size]
max_contracts = { value = 5, source = "S1", checked = 2026-07-01 }
micros_per_contract = { value = 10, source = "S1", checked = 2026-07-01 }

[flat_by]
at = { value = 15:10:00, source = "S1", checked = 2026-07-01 }
tz = "America/Chicago"

[news]
restriction = "none"
source = "S1"
checked = 2026-07-01

[automation]
status = "allowed"
source = "S1"
checked = 2026-07-01
note = "sample"

[sources]
S1 = "https://example.com/rules"
"""


def _broken(old: str, new: str) -> str:
    assert old in SAMPLE, old  # guards the test itself against SAMPLE drifting
    return SAMPLE.replace(old, new, 1)


def _error(text: str, name: str = "sample.toml") -> str:
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, name)
    return str(caught.value)


def _sourced_values(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Sourced[object]]]:
    for name in type(model).model_fields:
        child = getattr(model, name)
        if isinstance(child, Sourced):
            yield f"{prefix}{name}", child
        elif isinstance(child, BaseModel):
            yield from _sourced_values(child, f"{prefix}{name}.")


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    return ProfileSet.from_texts(
        (path.name, path.read_text(encoding="utf-8")) for path in FIRM_FILES
    )


@pytest.fixture
def sample() -> FirmProfile:
    return parse_profile(SAMPLE, "sample.toml")


# --- the shipped files --------------------------------------------------------------------------


@pytest.mark.parametrize("path", FIRM_FILES, ids=lambda path: path.name)
def test_every_shipped_profile_parses(path: Path) -> None:
    profile = parse_profile(path.read_text(encoding="utf-8"), path.name)
    assert profile.id == path.stem
    assert type(profile.start_balance) is Decimal


def test_every_required_profile_is_shipped(profiles: ProfileSet) -> None:
    missing = REQUIRED_IDS - set(profiles)
    assert not missing, missing


def test_every_shipped_number_has_a_known_source_and_a_plausible_date(profiles: ProfileSet) -> None:
    for profile in profiles.values():
        for path, sourced in _sourced_values(profile):
            where = f"{profile.id}: {path}"
            assert sourced.source in profile.sources, where
            assert date(2025, 1, 1) <= sourced.checked <= LAST_CHECK, where
            if sourced.source == "UNVERIFIED":
                # A stand-in number must say why it is there.
                assert sourced.note, where
        for policy in (profile.news, profile.automation, profile.scaling):
            if policy is not None:
                assert policy.source in profile.sources, profile.id
                assert policy.checked <= LAST_CHECK, profile.id


def test_money_in_shipped_profiles_is_decimal(profiles: ProfileSet) -> None:
    for profile in profiles.values():
        amounts = [profile.account_size, profile.max_loss.amount, profile.daily_loss.amount]
        for amount in amounts:
            if amount is not None:
                assert type(amount.value) is Decimal, profile.id


@pytest.mark.parametrize(
    ("size", "max_loss", "daily"),
    [(50, 2000, 1000), (100, 3000, 2000), (150, 4500, 3000)],
)
def test_topstep_combine(profiles: ProfileSet, size: int, max_loss: int, daily: int) -> None:
    profile = profiles[f"topstep-combine-{size}k"]
    assert profile.start_balance == Decimal(size * 1000)
    assert profile.max_loss.kind == "eod_trailing"
    assert profile.max_loss.amount is not None
    assert profile.max_loss.amount.value == Decimal(max_loss)
    assert profile.max_loss.lock == "start"
    assert profile.max_loss.lock_level(profile.start_balance) == profile.start_balance
    assert profile.daily_loss.kind == "fixed"
    assert profile.daily_loss.amount is not None
    assert profile.daily_loss.amount.value == Decimal(daily)
    assert profile.daily_loss.soft
    assert "TopstepX" in profile.notes  # the platform where this DLL does not apply
    assert profile.flat_by is not None
    assert profile.flat_by.at.value == time(15, 10)
    assert profile.flat_by.tz == "America/Chicago"
    assert profile.day_boundary.tz == "America/Chicago"
    assert profile.day_boundary.at == time(17, 0)


def test_topstep_xfa_50k_starts_at_the_first_scaling_tier(profiles: ProfileSet) -> None:
    profile = profiles["topstep-xfa-50k"]
    assert profile.phase == "funded"
    assert profile.max_loss.kind == "eod_trailing"
    assert profile.max_loss.lock == "start"
    assert profile.size.max_contracts is not None
    assert profile.size.max_contracts.value == 2
    assert profile.size.max_contracts.source == "T8"


def test_apex_eod_50k(profiles: ProfileSet) -> None:
    profile = profiles["apex-eod-50k"]
    assert profile.max_loss.kind == "eod_trailing"
    assert profile.max_loss.amount is not None
    assert profile.max_loss.amount.value == Decimal(2000)
    assert profile.daily_loss.kind == "fixed"
    assert profile.daily_loss.amount is not None
    assert profile.daily_loss.amount.value == Decimal(1000)
    assert profile.flat_by is not None
    assert (profile.flat_by.at.value, profile.flat_by.tz) == (time(16, 59), "America/New_York")


def test_apex_intraday_50k_evaluation_uses_the_stricter_drawdown_and_no_lock(
    profiles: ProfileSet,
) -> None:
    profile = profiles["apex-intraday-50k"]
    assert profile.phase == "evaluation"
    assert profile.max_loss.kind == "intraday_trailing"
    assert profile.max_loss.amount is not None
    # $2,000 (issue 12's 2026-07 report) against $2,500 (A4, A12): the stricter, both cited.
    assert profile.max_loss.amount.value == Decimal(2000)
    assert "$2,500" in profile.max_loss.amount.note
    assert {"A4", "A12", "ISSUE12"} <= set(profile.sources)
    # The start + $100 lock is the funded (PA) account's; the evaluation keeps trailing.
    assert profile.max_loss.lock == "none"
    assert profile.max_loss.lock_level(profile.start_balance) is None
    assert "PA" in profile.notes
    assert "start + $100" in profile.notes
    assert profile.daily_loss.kind == "none"
    assert profile.flat_by is not None
    assert (profile.flat_by.at.value, profile.flat_by.tz) == (time(16, 59), "America/New_York")


def test_tradeify_growth_50k(profiles: ProfileSet) -> None:
    profile = profiles["tradeify-growth-50k"]
    assert profile.max_loss.kind == "eod_trailing"
    assert profile.max_loss.lock == "start_plus"
    assert profile.max_loss.lock_offset is not None
    assert profile.max_loss.lock_offset.value == Decimal(100)
    assert profile.daily_loss.kind == "fixed"
    assert profile.daily_loss.amount is not None
    assert profile.daily_loss.amount.value == Decimal(1250)
    assert profile.flat_by is not None
    assert profile.flat_by.at.value == time(16, 59)
    assert profile.flat_by.tz == "America/New_York"
    assert profile.flat_by.early_close_lead_minutes == 1


def test_ftmo_2step_100k(profiles: ProfileSet) -> None:
    profile = profiles["ftmo-2step-100k"]
    assert profile.start_balance == Decimal(100000)
    assert profile.max_loss.kind == "static"
    assert profile.max_loss.amount is not None
    assert profile.max_loss.amount.value == Decimal(10000)
    assert profile.daily_loss.kind == "previous_close"
    assert profile.daily_loss.amount is not None
    assert profile.daily_loss.amount.value == Decimal(5000)
    assert (profile.day_boundary.tz, profile.day_boundary.at) == ("Europe/Prague", time(0, 0))
    assert profile.flat_by is None
    assert profile.news.restriction == "no_executions"
    assert (profile.news.pre_minutes, profile.news.post_minutes) == (2, 2)


def test_ftmo_1step_100k(profiles: ProfileSet) -> None:
    profile = profiles["ftmo-1step-100k"]
    assert profile.max_loss.kind == "eod_trailing"
    assert profile.max_loss.amount is not None
    assert profile.max_loss.amount.value == Decimal(10000)
    assert profile.max_loss.lock == "none"
    assert profile.max_loss.lock_level(profile.start_balance) is None
    assert profile.day_boundary.tz == "Europe/Prague"
    assert profile.daily_loss.kind == "previous_close"
    assert profile.daily_loss.amount is not None
    assert profile.daily_loss.amount.value == Decimal(3000)
    # The 3% is the 1-Step's Max Daily Loss on the firm's partner portal (read for issue 12).
    assert profile.daily_loss.amount.source == "O8"


def test_ftmo_best_day_rule_is_data_on_the_1step_only(profiles: ProfileSet) -> None:
    one_step = profiles["ftmo-1step-100k"]
    assert one_step.consistency is not None
    assert one_step.consistency.value == Decimal("0.5")
    assert one_step.consistency.source == "O7"
    assert "ftmo.com" in one_step.sources["O7"]
    assert "Best Day Rule" in one_step.notes
    two_step = profiles["ftmo-2step-100k"]
    assert two_step.consistency is None
    assert "Best Day Rule" in two_step.notes  # says why it is not set


def test_tpt_proplus_50k(profiles: ProfileSet) -> None:
    profile = profiles["tpt-proplus-50k"]
    assert profile.max_loss.kind == "intraday_trailing"
    assert profile.news.restriction == "flat"
    assert (profile.news.pre_minutes, profile.news.post_minutes) == (1, 1)


@pytest.mark.parametrize(
    ("profile_id", "status"),
    [
        ("apex-eod-50k", "prohibited"),
        ("apex-intraday-50k", "prohibited"),
        ("alpha-futures-50k", "prohibited"),
        ("topstep-combine-50k", "allowed"),
        ("topstep-combine-100k", "allowed"),
        ("topstep-combine-150k", "allowed"),
        ("topstep-xfa-50k", "allowed"),
        ("topstep-xfa-100k", "allowed"),
        ("topstep-xfa-150k", "allowed"),
    ],
)
def test_automation_status(profiles: ProfileSet, profile_id: str, status: str) -> None:
    assert profiles[profile_id].automation.status == status


def test_alpha_uses_the_earlier_of_two_disputed_cutoffs(profiles: ProfileSet) -> None:
    profile = profiles["alpha-futures-50k"]
    assert profile.flat_by is not None
    assert profile.flat_by.at.value == time(16, 20)
    assert profile.flat_by.at.source == "L4"
    assert "4:59 PM ET" in profile.notes
    assert "(firm)" in profile.sources["L6"]  # the firm's own page is cited for 4:59


def test_alpha_keeps_the_stricter_daily_loss_and_cites_the_firm_against_it(
    profiles: ProfileSet,
) -> None:
    profile = profiles["alpha-futures-50k"]
    assert profile.phase == "evaluation"
    # The firm's pages say evaluations have none; a third-party table lists the guard: the
    # stricter reading holds, soft, and the notes say how to follow the firm's page.
    assert profile.daily_loss.kind == "fixed"
    assert profile.daily_loss.amount is not None
    assert profile.daily_loss.amount.value == 1000
    assert profile.daily_loss.soft
    assert "(firm)" in profile.sources["L6"]
    assert "No Daily Loss Limit on Evaluation" in profile.notes
    assert 'daily_loss.kind = "none"' in profile.notes
    assert profile.size.micros_per_contract.value == 10  # 5 minis or 50 micros [firm]
    assert profile.consistency is not None
    assert profile.consistency.value == Decimal("0.5")


def test_bulenox_amounts_are_the_stricter_of_the_sources(profiles: ProfileSet) -> None:
    option1 = profiles["bulenox-option1-50k"]
    option2 = profiles["bulenox-option2-50k"]
    assert option1.max_loss.kind == "intraday_trailing"
    assert option2.max_loss.kind == "eod_trailing"
    assert option1.daily_loss.kind == "none"
    for profile in (option1, option2):
        amount = profile.max_loss.amount
        assert amount is not None
        # One third-party site says $2,500: the $2,000 stand-in is stricter and says so.
        assert amount.value == Decimal(2000)
        assert amount.source == "UNVERIFIED"
        assert "$2,500" in amount.note
        assert profile.max_loss.lock == "none"
    daily = option2.daily_loss.amount
    assert daily is not None
    assert daily.value == Decimal(1000)
    assert daily.source == "B5"  # now sourced; B6 says $1,100
    assert "$1,100" in daily.note
    assert option2.daily_loss.soft


def test_hold_time_rules(profiles: ProfileSet) -> None:
    tradeify = profiles["tradeify-growth-50k"].hold_time
    assert tradeify is not None
    assert tradeify.seconds.value == 10
    assert tradeify.profit_share.value == Decimal("0.5")
    assert tradeify.trade_share is not None
    assert tradeify.trade_share.value == Decimal("0.5")
    assert tradeify.seconds.source == "F7"
    lucid = profiles["lucid-flex-50k"].hold_time
    assert lucid is not None
    assert (lucid.seconds.value, lucid.profit_share.value) == (5, Decimal("0.5"))
    assert lucid.trade_share is None
    assert "(firm)" in profiles["lucid-flex-50k"].sources[lucid.seconds.source]


def test_topstep_xfa_50k_scaling_plan(profiles: ProfileSet) -> None:
    profile = profiles["topstep-xfa-50k"]
    assert profile.scaling is not None
    assert profile.scaling.source == "T8"
    assert profile.scaling.base_contracts == 2
    tiers = [(t.above_profit, t.max_contracts) for t in profile.scaling.tiers]
    assert tiers == [(Decimal(1500), 3), (Decimal(2000), 5)]
    # A trader on a higher tier starts the account there: the plan takes over at the day's end.
    on_tier = apply_overrides(profile, {"size.max_contracts": 5}, checked=LAST_CHECK)
    assert on_tier.size.max_contracts is not None
    assert on_tier.size.max_contracts.value == 5


# --- validation messages ------------------------------------------------------------------------


def test_sample_parses(sample: FirmProfile) -> None:
    assert sample.start_balance == Decimal(50000)
    assert sample.max_loss.amount is not None
    assert sample.max_loss.amount.value == Decimal("2000")
    assert sample.day_boundary.tz == "America/Chicago"  # the default
    assert sample.currency == "USD"


def test_missing_amount_names_file_and_field() -> None:
    text = _broken('amount = { value = "2000", source = "S1", checked = 2026-07-01 }\n', "")
    assert _error(text) == "sample.toml: max_loss.amount: required when kind is 'eod_trailing'"


def test_amount_without_a_limit_is_refused() -> None:
    message = _error(_broken('kind = "fixed"', 'kind = "none"'))
    assert message == (
        "sample.toml: daily_loss.amount: must be left out when kind is 'none' (there is no limit)"
    )


def test_float_money_is_refused_with_the_reason() -> None:
    message = _error(_broken('value = "2000"', "value = 2000.1"))
    assert message.startswith("sample.toml: max_loss.amount.value: ")
    assert "not a float (2000.1)" in message
    assert 'write "2000.1"' in message


def test_misspelt_key_is_refused_with_a_suggestion() -> None:
    message = _error(_broken('lock = "start"', 'lokc = "start"'))
    assert message == "sample.toml: max_loss.lokc: unknown key; did you mean 'lock'?"


def test_unknown_table_is_refused() -> None:
    message = _error(SAMPLE + '\n[flatby]\ntz = "America/Chicago"\n')
    assert message == "sample.toml: flatby: unknown key; did you mean 'flat_by'?"


def test_bad_time_zone() -> None:
    message = _error(_broken('tz = "America/Chicago"', 'tz = "America/Chicgo"'))
    assert message.startswith("sample.toml: flat_by.tz: unknown time zone 'America/Chicgo'")


def test_unknown_source_key() -> None:
    text = _broken(
        'kind = "fixed"\namount = { value = 1000, source = "S1"',
        'kind = "fixed"\namount = { value = 1000, source = "S9"',
    )
    message = _error(text)
    assert (
        message
        == "sample.toml: daily_loss.amount.source: unknown source key 'S9'; [sources] has S1"
    )


def test_unknown_source_key_in_a_policy() -> None:
    text = _broken('restriction = "none"\nsource = "S1"', 'restriction = "none"\nsource = "N1"')
    assert _error(text).startswith("sample.toml: news.source: unknown source key 'N1'")


def test_id_must_equal_file_stem() -> None:
    assert _error(SAMPLE, "other.toml") == (
        "other.toml: id: 'sample' must equal the file name stem 'other'"
    )


def test_toml_syntax_error_names_file_and_line() -> None:
    line = SAMPLE.splitlines().index('kind = "fixed"') + 1
    message = _error(_broken('kind = "fixed"', "kind = fixed"))
    assert message.startswith(f"sample.toml: line {line}, column 8: ")
    assert "TOML syntax error" in message


def test_every_problem_is_reported_at_once() -> None:
    text = _broken('lock = "start"', 'lokc = "start"').replace("America/Chicago", "Mars/Olympus")
    lines = _error(text).splitlines()
    assert "sample.toml: max_loss.lokc: unknown key; did you mean 'lock'?" in lines
    assert any(line.startswith("sample.toml: flat_by.tz: unknown time zone") for line in lines)


def test_lock_offset_only_with_start_plus() -> None:
    with_offset = _broken(
        'lock = "start"',
        'lock = "start"\nlock_offset = { value = 100, source = "S1", checked = 2026-07-01 }',
    )
    assert _error(with_offset) == (
        "sample.toml: max_loss.lock_offset: only allowed when lock is 'start_plus' (lock is 'start')"
    )
    without = _broken('lock = "start"', 'lock = "start_plus"')
    assert _error(without).startswith("sample.toml: max_loss.lock_offset: required when lock is")


def test_amounts_must_be_positive() -> None:
    message = _error(_broken('value = "2000"', 'value = "-2000"'))
    assert message.startswith("sample.toml: max_loss.amount.value: Input should be greater than 0")


def test_contract_counts_must_be_whole() -> None:
    message = _error(_broken("value = 5,", "value = 5.0,"))
    assert message == "sample.toml: size.max_contracts.value: must be a whole number (got 5.0)"


def test_a_news_restriction_needs_a_window() -> None:
    message = _error(_broken('restriction = "none"', 'restriction = "flat"'))
    assert message.startswith("sample.toml: news.pre_minutes: a 'flat' restriction needs a window")


def test_bad_literal_shows_the_value_given() -> None:
    message = _error(_broken('status = "allowed"', 'status = "allow"'))
    assert message.startswith("sample.toml: automation.status: Input should be 'allowed'")
    assert message.endswith("(got 'allow')")


def test_fractions_written_as_toml_floats_stay_exact() -> None:
    text = _broken(
        "account_size = {",
        'consistency = { value = 0.1, source = "S1", checked = 2026-07-01 }\naccount_size = {',
    )
    profile = parse_profile(text, "sample.toml")
    assert profile.consistency is not None
    assert profile.consistency.value == Decimal("0.1")  # not 0.1000000000000000055511151231257827


SCALING = """
[scaling]
source = "S1"
checked = 2026-07-01
base_contracts = 5
tiers = [{ above_profit = 1500, max_contracts = 6 }, { above_profit = 2000, max_contracts = 8 }]
"""


def test_a_scaling_plan_parses_after_the_size_limit(sample: FirmProfile) -> None:
    profile = parse_profile(SAMPLE.replace("[sources]", SCALING + "\n[sources]"), "sample.toml")
    assert profile.scaling is not None
    assert [t.max_contracts for t in profile.scaling.tiers] == [6, 8]


def test_scaling_tiers_must_go_up() -> None:
    text = SAMPLE.replace(
        "[sources]",
        SCALING.replace("above_profit = 2000", "above_profit = 1000") + "\n[sources]",
    )
    assert "scaling.tiers.1.above_profit: tiers must go up in profit" in _error(text)


def test_a_scaling_plan_needs_a_starting_cap() -> None:
    text = _broken(
        'max_contracts = { value = 5, source = "S1", checked = 2026-07-01 }\n', ""
    ).replace("[sources]", SCALING + "\n[sources]")
    assert "scaling: a scaling plan needs size.max_contracts, the cap until a day" in _error(text)


def test_a_scaling_tier_below_the_first_is_refused() -> None:
    text = SAMPLE.replace(
        "[sources]", SCALING.replace("max_contracts = 6", "max_contracts = 4") + "\n[sources]"
    )
    assert "scaling.tiers.0.max_contracts: a tier cannot allow fewer contracts than base" in (
        _error(text)
    )


def test_a_dropped_zero_is_caught() -> None:
    message = _error(_broken("value = 50000", "value = 2000"))
    assert message == "sample.toml: max_loss.amount.value: 2000 is not below the account size 2000"


# --- per-account overrides ----------------------------------------------------------------------


def test_bare_value_becomes_a_user_override(sample: FirmProfile) -> None:
    changed = apply_overrides(sample, {"max_loss.amount": "2500"}, checked=date(2026, 7, 2))
    amount = changed.max_loss.amount
    assert amount is not None
    assert amount.value == Decimal("2500")
    assert amount.source == USER_OVERRIDE
    assert amount.checked == date(2026, 7, 2)
    assert "was 2000" in amount.note
    assert "S1" in amount.note
    assert "max_loss.amount = '2500' (was 2000)" in changed.notes


def test_nested_paths(sample: FirmProfile) -> None:
    changed = apply_overrides(
        sample,
        {"flat_by.at": "15:00", "daily_loss.kind": "none", "flat_by.tz": "America/New_York"},
        checked=date(2026, 7, 2),
    )
    assert changed.flat_by is not None
    assert changed.flat_by.at.value == time(15, 0)
    assert changed.flat_by.at.source == USER_OVERRIDE
    assert changed.flat_by.tz == "America/New_York"
    assert changed.daily_loss.kind == "none"


def test_turning_a_limit_off_clears_its_amount(sample: FirmProfile) -> None:
    changed = apply_overrides(sample, {"daily_loss.kind": "none"}, checked=date(2026, 7, 2))
    assert changed.daily_loss.kind == "none"
    # Consumers read the amount as the limit: none may linger behind kind "none".
    assert changed.daily_loss.amount is None
    assert "daily_loss.amount cleared (was 1000)" in changed.notes


def test_turning_a_limit_off_while_setting_its_amount_is_an_error(sample: FirmProfile) -> None:
    with pytest.raises(ProfileError, match=r"daily_loss\.amount: must be left out when kind is"):
        apply_overrides(
            sample,
            {"daily_loss.kind": "none", "daily_loss.amount": "900"},
            checked=date(2026, 7, 2),
        )


def test_overriding_a_policy_field_relabels_the_policy(sample: FirmProfile) -> None:
    changed = apply_overrides(
        sample,
        {"news.restriction": "flat", "news.pre_minutes": 2, "news.post_minutes": 2},
        checked=date(2026, 7, 2),
    )
    assert changed.news.restriction == "flat"
    assert changed.news.source == USER_OVERRIDE
    assert changed.news.checked == date(2026, 7, 2)
    assert "from S1" in changed.news.note


def test_the_original_is_unchanged(sample: FirmProfile) -> None:
    before = sample.model_dump()
    apply_overrides(
        sample, {"max_loss.amount": "2500", "sources.U1": "my notes"}, checked=date(2026, 7, 2)
    )
    assert sample.model_dump() == before
    assert sample.max_loss.amount is not None
    assert sample.max_loss.amount.source == "S1"


def test_unknown_path_names_the_path(sample: FirmProfile) -> None:
    with pytest.raises(ProfileError) as caught:
        apply_overrides(sample, {"max_loss.amout": "2500"}, checked=date(2026, 7, 2))
    assert str(caught.value) == (
        "sample (account overrides): max_loss.amout: unknown field 'amout' in max_loss; "
        "did you mean 'amount'?"
    )


def test_path_below_a_plain_value(sample: FirmProfile) -> None:
    with pytest.raises(ProfileError, match=r"max_loss\.kind\.x: max_loss\.kind is a value"):
        apply_overrides(sample, {"max_loss.kind.x": 1}, checked=date(2026, 7, 2))


def test_bad_value_names_the_path(sample: FirmProfile) -> None:
    with pytest.raises(ProfileError) as caught:
        apply_overrides(sample, {"max_loss.amount": "lots"}, checked=date(2026, 7, 2))
    assert str(caught.value) == (
        "sample (account overrides): max_loss.amount.value: not an amount: 'lots' "
        '(write digits, e.g. "2000")'
    )


def test_float_money_is_refused_in_overrides_too(sample: FirmProfile) -> None:
    with pytest.raises(ProfileError, match=r"max_loss\.amount\.value: .*not a float"):
        apply_overrides(sample, {"max_loss.amount": 2500.5}, checked=date(2026, 7, 2))


def test_the_id_cannot_be_overridden(sample: FirmProfile) -> None:
    with pytest.raises(ProfileError, match="id: the profile id cannot be overridden"):
        apply_overrides(sample, {"id": "other"}, checked=date(2026, 7, 2))


def test_overrides_are_validated_together(profiles: ProfileSet) -> None:
    tradeify = profiles["tradeify-growth-50k"]
    with pytest.raises(ProfileError, match=r"max_loss\.lock_offset: only allowed when lock is"):
        apply_overrides(tradeify, {"max_loss.lock": "none"}, checked=date(2026, 7, 2))
    strict = apply_overrides(
        tradeify, {"max_loss.lock": "none", "max_loss.lock_offset": None}, checked=date(2026, 7, 2)
    )
    assert strict.max_loss.lock_level(strict.start_balance) is None


def test_an_absent_optional_table_can_be_added(profiles: ProfileSet) -> None:
    ftmo = profiles["ftmo-2step-100k"]
    with pytest.raises(ProfileError, match=r"flat_by\.tz: required but missing"):
        apply_overrides(ftmo, {"flat_by.at": "16:00"}, checked=date(2026, 7, 2))
    changed = apply_overrides(
        ftmo, {"flat_by.at": "16:00", "flat_by.tz": "Europe/Prague"}, checked=date(2026, 7, 2)
    )
    assert changed.flat_by is not None
    assert changed.flat_by.at.value == time(16, 0)
    assert ftmo.flat_by is None


def test_a_mapping_replaces_a_sourced_value_as_given(sample: FirmProfile) -> None:
    changed = apply_overrides(
        sample,
        {"consistency": {"value": "0.4", "source": "S1", "checked": date(2026, 6, 1)}},
        checked=date(2026, 7, 2),
    )
    assert changed.consistency is not None
    assert (changed.consistency.value, changed.consistency.source) == (Decimal("0.4"), "S1")


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(49999), places=2))
def test_money_overrides_are_exact(amount: Decimal) -> None:
    profile = parse_profile(SAMPLE, "sample.toml")
    changed = apply_overrides(profile, {"max_loss.amount": str(amount)}, checked=SNAPSHOT)
    assert changed.max_loss.amount is not None
    assert changed.max_loss.amount.value == amount


@given(st.floats(min_value=0.01, max_value=49999, allow_nan=False))
def test_money_overrides_never_accept_floats(amount: float) -> None:
    profile = parse_profile(SAMPLE, "sample.toml")
    with pytest.raises(ProfileError, match="not a float"):
        apply_overrides(profile, {"max_loss.amount": amount}, checked=SNAPSHOT)


# --- the set ------------------------------------------------------------------------------------


def test_duplicate_id_names_both_files() -> None:
    other = SAMPLE.replace('firm = "Sample Firm"', 'firm = "Another"')
    with pytest.raises(ProfileError) as caught:
        ProfileSet.from_texts([("sample.toml", SAMPLE), ("nested/sample.toml", other)])
    assert str(caught.value) == (
        "nested/sample.toml: id: duplicate id 'sample' (also in sample.toml)"
    )


def test_problems_from_every_file_are_collected() -> None:
    with pytest.raises(ProfileError) as caught:
        ProfileSet.from_texts([("a.toml", SAMPLE), ("sample.toml", SAMPLE.replace("S1 =", "S2 ="))])
    files = {problem.file for problem in caught.value.problems}
    assert files == {"a.toml", "sample.toml"}


def test_get_unknown_id_lists_the_known_ones(profiles: ProfileSet) -> None:
    with pytest.raises(KeyError) as caught:
        profiles.get("apex-50k")
    assert "apex-eod-50k" in str(caught.value)
    assert "topstep-combine-50k" in str(caught.value)
    with pytest.raises(KeyError, match="known ids"):
        profiles["nope"]
    assert profiles.get("nope", None) is None
    assert profiles.get("custom").id == "custom"
    assert "custom" in profiles
    assert "nope" not in profiles


def test_every_news_rule_says_a_root_covers_its_micro(profiles: ProfileSet) -> None:
    restricted = [p for p in profiles.values() if p.news.restriction != "none"]
    assert restricted
    for profile in restricted:
        assert "covers its micro" in profile.news.note, profile.id
