"""`propdesk replay`: the output contract, the error contract, and a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from propdesk.cli import main
from propdesk.domain.account import calendar_for
from propdesk.domain.events import Fill
from propdesk.domain.protocol import Protocol
from propdesk.replay import ReplayError, ReplayLine, parse_line, run
from propdesk.resources import load_instruments, load_profiles, resource_path

DAY = [
    {
        "ts": "2026-11-17T09:00:00-06:00",
        "type": "fill",
        "symbol": "ESZ6",
        "side": "buy",
        "qty": 2,
        "price": 6000.25,
        "fee": "2.80",
    },
    {
        "ts": "2026-11-17T09:01:00-06:00",
        "type": "mark",
        "symbol": "ESZ6",
        "bid": "5995.25",
        "ask": "5995.50",
    },
    {"ts": "2026-11-17T09:02:00-06:00", "type": "mark", "symbol": "ESZ6", "last": 5992.75},
    {
        "ts": "2026-11-17T09:02:30-06:00",
        "type": "fill",
        "symbol": "ESZ6",
        "side": "sell",
        "qty": 2,
        "price": "5992.75",
        "fee": 2.8,
    },
    {"ts": "2026-11-17T17:00:00-06:00", "type": "clock"},
    {"ts": "2026-11-18T08:00:00-06:00", "type": "kill"},
]


def write(tmp_path: Path, lines: list[dict] | list[str]) -> Path:
    path = tmp_path / "day.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["replay", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_one_output_line_per_input_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, records, err = replay(
        capsys, str(write(tmp_path, DAY)), "--profile", "topstep-combine-50k"
    )
    assert code == 0, err
    assert len(records) == len(DAY)
    first = records[0]
    assert set(first) == {
        "ts",
        "trading_day",
        "balance",
        "open_pnl",
        "equity",
        "day_pnl",
        "floor",
        "floors",
        "state",
        "actions",
    }
    assert first["ts"] == DAY[0]["ts"]
    assert first["trading_day"] == "2026-11-17"
    assert first["balance"] == "49997.20"
    assert first["floors"] == {"max_loss": "48000.00", "daily": "49000.00"}
    assert first["floor"] == "49000.00"
    second = records[1]
    assert second["open_pnl"] == "-500.00"
    assert second["equity"] == "49497.20"
    assert second["state"] == "WARNING"
    assert second["actions"][0]["type"] == "alert"
    third = records[2]
    assert third["state"] == "FLATTENING"
    assert [a["type"] for a in third["actions"]] == ["flatten"]
    assert "75%" in third["actions"][0]["reason"]
    fourth = records[3]
    assert fourth["state"] == "LOCKED"
    assert fourth["balance"] == "49244.40"
    fifth = records[4]
    assert fifth["trading_day"] == "2026-11-18"
    assert fifth["state"] == "ACTIVE"
    assert fifth["day_pnl"] == "0.00"
    assert fifth["floors"]["daily"] == "48244.40"
    assert [a["type"] for a in fifth["actions"]] == ["unlock"]
    assert records[5]["state"] == "LOCKED", "a kill on a flat account locks at once"


def test_protocol_none_uses_the_firms_numbers_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, records, _ = replay(
        capsys, str(write(tmp_path, DAY)), "--profile", "topstep-combine-50k", "--protocol", "none"
    )
    assert code == 0
    assert [r["state"] for r in records[:4]] == ["ACTIVE", "ACTIVE", "ACTIVE", "ACTIVE"]


def test_balance_option_and_null_floors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, DAY[:1])
    code, records, _ = replay(
        capsys, str(path), "--profile", "apex-intraday-50k", "--balance", "51000"
    )
    assert code == 0
    assert records[0]["floors"]["daily"] is None
    assert records[0]["balance"] == "50997.20"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        (
            '{"ts": "2026-11-17T09:05:00", "type": "clock"}',
            "line 2: 'ts' '2026-11-17T09:05:00' has no UTC offset",
        ),
        (
            '{"ts": "2026-11-17T09:05:00-06:00", "type": "fill", "symbol": "XXZ6", "side": "buy", "qty": 1, "price": 1}',
            "line 2: ",
        ),
        (
            '{"ts": "2026-11-17T09:05:00-06:00", "type": "fill", "symbol": "ESZ6", "side": "long", "qty": 1, "price": 1}',
            "line 2: 'side' must be 'buy' or 'sell'",
        ),
        (
            '{"ts": "2026-11-17T09:05:00-06:00", "type": "fill", "symbol": "ESZ6", "side": "buy", "qty": 0, "price": 1}',
            "line 2: 'qty' must be a whole number > 0",
        ),
        (
            '{"ts": "2026-11-17T09:05:00-06:00", "type": "mark", "symbol": "ESZ6"}',
            "line 2: a mark needs",
        ),
        (
            '{"ts": "2026-11-17T09:05:00-06:00", "type": "teleport"}',
            "line 2: unknown type 'teleport'",
        ),
        ('{"type": "clock"}', "line 2: missing field 'ts'"),
    ],
)
def test_bad_input_names_the_line_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    path = write(tmp_path, [DAY[0], line, DAY[1]])
    code = main(["replay", str(path), "--profile", "topstep-combine-50k"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == "", "nothing half-printed as if valid"
    assert message in err


# Every kind of bad value, on line 3 after two good lines: the replay must stop with the line's
# number and what is wrong, exit 2, and print nothing at all (before the fix, some of these printed
# the good lines and then a traceback, some only a traceback).
AT = '"ts": "2026-11-17T09:05:00-06:00"'
FILL = AT + ', "type": "fill", "symbol": "ESZ6", "side": "sell", "qty": 2'
BAD_VALUES = {
    "non-UTF-8 bytes": (
        ("{" + AT + ', "type": "kill", "reason": "caf').encode() + b'\xe9"}',
        "line 3: not UTF-8 text (byte 0xe9",
    ),
    "fill without price": ("{" + FILL + "}", "line 3: missing field 'price'"),
    "reconnect without down_seconds": (
        "{" + AT + ', "type": "reconnect"}',
        "line 3: missing field 'down_seconds'",
    ),
    "deeply nested JSON": (
        "{" + AT + ', "type": "clock", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "line 3: not valid replay input (JSON nested too deeply)",
    ),
    "price 1e400 as a JSON number": (
        "{" + FILL + ', "price": 1e400}',
        "line 3: 'price' must be more than 0 and at most 10000000, got 1E+400",
    ),
    "price '1e999999' as a string": (
        "{" + FILL + ', "price": "1e999999"}',
        "line 3: 'price' must be more than 0 and at most 10000000, got '1e999999'",
    ),
    "price with more places than exact sums allow": (
        "{" + FILL + ', "price": "1e-999999"}',
        "line 3: 'price' 1E-999999 has more than 8 decimal places",
    ),
    "price beyond Decimal's exponent range": (
        "{" + FILL + ', "price": 1e9999999999999999999999}',
        "line 3: the number 1e9999999999999999999999 is out of range",
    ),
    "fee '1e999999'": (
        "{" + FILL + ', "price": 6000, "fee": "1e999999"}',
        "line 3: 'fee' must be from 0 to 1000000",
    ),
    "qty beyond any account": (
        "{" + FILL + '0000000000000000000000, "price": 6000}',
        "line 3: 'qty' must be a whole number > 0, at most 10000",
    ),
    "qty with 5000 digits": (
        "{" + FILL + "9" * 5000 + ', "price": 6000}',
        "line 3: a number 5001 digits long is too long for any field",
    ),
    "down_seconds '1e30'": (
        "{" + AT + ', "type": "reconnect", "down_seconds": "1e30"}',
        "line 3: 'down_seconds' must be from 0 to 315360000 (ten years), got '1e30'",
    ),
    "down_seconds negative": (
        "{" + AT + ', "type": "reconnect", "down_seconds": -5}',
        "line 3: 'down_seconds' must be from 0 to 315360000",
    ),
    "year 1": (
        '{"ts": "0001-01-01T00:00:00+00:00", "type": "clock"}',
        "line 3: 'ts' '0001-01-01T00:00:00+00:00' is outside the dates the trading calendar covers",
    ),
    "year 9999": (
        '{"ts": "9999-12-31T23:00:00-06:00", "type": "clock"}',
        "line 3: 'ts' '9999-12-31T23:00:00-06:00' is outside the dates the trading calendar covers",
    ),
    "NaN price": ("{" + FILL + ', "price": NaN}', "line 3: NaN is not valid JSON"),
    "NaN in a text field": (
        "{" + AT + ', "type": "kill", "reason": NaN}',
        "line 3: NaN is not valid JSON",
    ),
    "Infinity mark": (
        "{" + AT + ', "type": "mark", "symbol": "ESZ6", "last": Infinity}',
        "line 3: Infinity is not valid JSON",
    ),
    "-Infinity in a text field": (
        "{" + AT + ', "type": "unlock", "confirmed": true, "scope": -Infinity}',
        "line 3: -Infinity is not valid JSON",
    ),
    "exchange not a string": (
        "{" + FILL + ', "price": 6000, "exchange": ["CME"]}',
        "line 3: 'exchange' must be a string, got ['CME']",
    ),
    "lone surrogate in the kill reason": (
        "{" + AT + r', "type": "kill", "reason": "\ud800"}',
        "line 3: 'reason' contains a lone surrogate escape",
    ),
}


def write_bytes(tmp_path: Path, bad: str | bytes) -> Path:
    """DAY's first two lines, then `bad` as line 3."""
    path = tmp_path / "day.jsonl"
    good = b"".join(json.dumps(line).encode() + b"\n" for line in DAY[:2])
    path.write_bytes(good + (bad if isinstance(bad, bytes) else bad.encode()) + b"\n")
    return path


@pytest.mark.parametrize(("bad", "message"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_value_names_the_line_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str | bytes, message: str
) -> None:
    code = main(["replay", str(write_bytes(tmp_path, bad)), "--profile", "topstep-combine-50k"])
    out, err = capsys.readouterr()
    assert out == "", "nothing printed, not even the good lines before the bad one"
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err


STDIN_CASES = (
    "non-UTF-8 bytes",
    "price 1e400 as a JSON number",
    "year 9999",
    "fill without price",
)


@pytest.mark.parametrize("case", STDIN_CASES)
def test_bad_value_on_standard_input_is_reported_the_same(tmp_path: Path, case: str) -> None:
    bad, message = BAD_VALUES[case]
    result = subprocess.run(
        [sys.executable, "-m", "propdesk", "replay", "-", "--profile", "topstep-combine-50k"],
        input=write_bytes(tmp_path, bad).read_bytes(),
        capture_output=True,
        check=False,
    )
    err = result.stderr.decode()
    assert result.stdout == b""
    assert result.returncode == 2, err
    assert f"propdesk: -: {message}" in err
    assert "Traceback" not in err


def test_time_going_backwards_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = {"ts": "2026-11-17T08:59:00-06:00", "type": "clock"}
    code = main(
        ["replay", str(write(tmp_path, [*DAY[:2], earlier])), "--profile", "topstep-combine-50k"]
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert code == 2
    assert (
        "line 3: 'ts' 2026-11-17T08:59:00-06:00 is earlier than line 2's "
        "2026-11-17T09:01:00-06:00; times must not go backwards"
    ) in err


def test_the_same_time_twice_is_not_going_backwards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    again = {"ts": DAY[1]["ts"], "type": "clock"}
    code, records, err = replay(
        capsys, str(write(tmp_path, [*DAY[:2], again])), "--profile", "topstep-combine-50k"
    )
    assert code == 0, err
    assert len(records) == 3


@pytest.mark.parametrize(
    "ts", ["1991-01-01T00:00:00+00:00", "2099-12-31T23:59:59+00:00", "2099-12-31T17:59:59-06:00"]
)
def test_the_first_and_last_moments_in_range_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ts: str
) -> None:
    lines = [{"ts": ts, "type": "clock"}, {"ts": ts, "type": "kill"}]
    code, records, err = replay(
        capsys, str(write(tmp_path, lines)), "--profile", "topstep-combine-50k"
    )
    assert code == 0, err
    assert records[1]["state"] == "LOCKED"


@pytest.mark.parametrize("ts", ["1990-12-31T23:59:59+00:00", "2100-01-01T00:00:00+00:00"])
def test_just_outside_the_range_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ts: str
) -> None:
    code = main(
        [
            "replay",
            str(write(tmp_path, [{"ts": ts, "type": "clock"}])),
            "--profile",
            "topstep-combine-50k",
        ]
    )
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "line 1: 'ts'" in err
    assert "(1991-01-01 to 2099-12-31 UTC)" in err


def test_largest_values_in_range_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill = {**DAY[0], "qty": 10_000, "price": "0.00000001", "fee": "1000000"}
    mark = {**DAY[1], "bid": "10000000", "ask": "10000000"}
    down = {"ts": DAY[2]["ts"], "type": "reconnect", "down_seconds": 315_360_000}
    code, records, err = replay(
        capsys,
        str(write(tmp_path, [fill, mark, down])),
        "--profile",
        "topstep-combine-50k",
        "--balance",
        "1000000000",
    )
    assert code == 0, err
    assert records[0]["balance"] == "999000000.00"
    assert [a["type"] for a in records[2]["actions"]] == ["flatten"]


@pytest.mark.parametrize("balance", ["1e999999", "1000000000.01", "0"])
def test_balance_out_of_range_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], balance: str
) -> None:
    code = main(
        [
            "replay",
            str(write(tmp_path, DAY)),
            "--profile",
            "topstep-combine-50k",
            "--balance",
            balance,
        ]
    )
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert f"--balance must be more than 0 and at most 1000000000, got {balance}" in err


def test_a_line_the_engine_cannot_process_is_named_not_half_printed() -> None:
    """The backstop behind the checks: a value parse_line would refuse, built by hand."""
    instruments = load_instruments()
    good = parse_line(json.dumps(DAY[0]), 1, instruments)
    fill = good.event
    assert isinstance(fill, Fill)
    huge = ReplayLine(2, DAY[1]["ts"], replace(fill, price=Decimal("1e400")))
    profile = load_profiles().get("topstep-combine-50k")
    with pytest.raises(ReplayError, match=r"^line 2: cannot process this line: a number is too"):
        run([good, huge], profile, calendar=calendar_for(profile, []), protocol=Protocol())


def test_unknown_symbol_message_is_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {**DAY[0], "symbol": "XXZ6"}
    code = main(["replay", str(write(tmp_path, [bad])), "--profile", "topstep-combine-50k"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "line 1" in err
    assert "XXZ6" in err


def test_unknown_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", str(write(tmp_path, DAY)), "--profile", "no-such-firm"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "no-such-firm" in err
    assert "topstep-combine-50k" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", str(tmp_path / "nope.jsonl"), "--profile", "topstep-combine-50k"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "nope.jsonl" in err


def test_demo_day_runs_and_shows_the_guard(capsys: pytest.CaptureFixture[str]) -> None:
    path = resource_path("samples", "demo-day.jsonl")
    code, records, err = replay(capsys, str(path), "--profile", "topstep-combine-50k")
    assert code == 0, err
    states = {r["state"] for r in records}
    assert {"WARNING", "REDUCE_ONLY", "FLATTENING", "LOCKED"} <= states
    kinds = {a["type"] for r in records for a in r["actions"]}
    assert {"alert", "reduce_only", "flatten", "lock", "unlock"} <= kinds


def test_real_process_exit_codes(tmp_path: Path) -> None:
    version = subprocess.run(
        [sys.executable, "-m", "propdesk", "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    assert version.stdout.startswith("propdesk ")
    bad = write(tmp_path, [DAY[0], "{oops"])
    result = subprocess.run(
        [sys.executable, "-m", "propdesk", "replay", str(bad), "--profile", "topstep-combine-50k"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "line 2" in result.stderr


def test_set_overrides_a_profile_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, DAY[:1])
    code, records, err = replay(
        capsys,
        str(path),
        "--profile",
        "topstep-combine-50k",
        "--set",
        "daily_loss.amount=1500",
        "--set",
        "max_loss.kind=static",
    )
    assert code == 0, err
    assert records[0]["floors"] == {"max_loss": "48000.00", "daily": "48500.00"}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("daily_loss.amount", "expected PATH=VALUE"),
        ("max_loss.amount=lots", "max_loss.amount"),
        ("no.such.path=1", "no.such.path"),
    ],
)
def test_bad_override_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], item: str, message: str
) -> None:
    code = main(
        ["replay", str(write(tmp_path, DAY)), "--profile", "topstep-combine-50k", "--set", item]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert message in err


def test_a_fill_inside_a_no_executions_window_is_an_alert_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    news = tmp_path / "news.toml"
    news.write_text('[[event]]\nat = 2026-12-09T14:00:00-05:00\ntitle = "FOMC"\n')
    fill = {"type": "fill", "symbol": "ESZ6", "side": "buy", "qty": 1, "price": "6000"}
    lines = [
        {"ts": "2026-12-09T12:50:00-06:00", **fill},
        {"ts": "2026-12-09T13:00:30-06:00", **fill, "side": "sell", "price": "5990"},
    ]
    code, records, err = replay(
        capsys,
        str(write(tmp_path, lines)),
        "--profile",
        "ftmo-1step-100k",
        "--news",
        str(news),
    )
    assert code == 0, err
    assert records[0]["actions"] == []
    [alert] = [a for a in records[1]["actions"] if "no-executions window" in a["reason"]]
    assert alert["type"] == "alert"
    assert "window 'FOMC' (all instruments" in alert["reason"]
    assert "SELL 1 ESZ26 @ 5990" in alert["reason"]


# A Tradovate-style day: the fills carry no fee. One ES round trip at the same price and one MES
# round trip whose fee the broker did report.
def fill_line(minute: int, symbol: str, side: str, fee: str | None = None) -> dict:
    line = {
        "ts": f"2026-11-17T09:{minute:02d}:00-06:00",
        "type": "fill",
        "symbol": symbol,
        "side": side,
        "qty": 1,
        "price": "6000.00",
    }
    return line if fee is None else line | {"fee": fee}


NO_FEE_DAY = [
    fill_line(0, "ESZ6", "buy"),
    fill_line(1, "ESZ6", "sell"),
    fill_line(2, "MESZ6", "buy", "0.37"),
    fill_line(3, "MESZ6", "sell", "0.37"),
]


def test_commissions_charge_the_profiles_schedule_on_fills_without_a_fee(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write(tmp_path, NO_FEE_DAY))
    code, plain, err = replay(capsys, path, "--profile", "tpt-test-50k")
    assert code == 0, err
    assert plain[1]["equity"] == "50000.00", "without the option: as before, no fee at all"
    assert "fees" not in plain[1], "and the output keeps its keys"
    code, charged, err = replay(capsys, path, "--profile", "tpt-test-50k", "--commissions")
    assert code == 0, err
    assert [r["equity"] for r in charged] == ["49997.50", "49995.00", "49994.63", "49994.26"]
    assert [(r["fees"], r["estimated_fees"]) for r in charged] == [
        ("2.50", "2.50"),
        ("5.00", "5.00"),  # Take Profit Trader's $5.00 ES round turn
        ("5.37", "5.00"),  # the broker's MES fee stands: not charged again
        ("5.74", "5.00"),
    ]


def test_commissions_alert_a_root_without_an_amount_and_show_in_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write(tmp_path, NO_FEE_DAY[:2]))
    code, records, err = replay(
        capsys, path, "--profile", "ftmo-2step-100k", "--commissions", "--platform", "rithmic"
    )
    assert code == 0, err
    assert records[0]["actions"][0]["type"] == "alert"
    assert "names no commission schedule" in records[0]["actions"][0]["reason"]
    assert records[1]["actions"] == [], "once per root"
    assert main(["replay", path, "--profile", "tpt-test-50k", "--commissions", "--table"]) == 0
    out, _ = capsys.readouterr()
    assert "fees: 5.00 (estimated: 5.00 — the broker reported none" in out


def test_platform_without_commissions_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write(tmp_path, NO_FEE_DAY))
    assert main(["replay", path, "--profile", "tpt-test-50k", "--platform", "tradovate"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "--platform only chooses commissions" in err
