"""`propdesk replay`: the output contract, the error contract, and a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from propdesk.cli import main
from propdesk.resources import resource_path

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
