"""Command line: `propdesk` (the console), `--headless`, `--smoke`, `replay`, `profiles`, control."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from propdesk import __version__

# Exit codes of every command. The control commands (status, flatten, unlock) exit EXIT_FAILED when
# propdesk is not running, refuses the command, or (flatten) leaves an account not verified flat.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
CONTROL_EXIT_CODES = (
    "exit status: 0 done; 1 propdesk is not running, refused the command, or (flatten) left an "
    "account not verified flat; 2 bad usage"
)
DEMO_DAY = ("samples", "demo-day.jsonl")
DEMO_PROFILE = "topstep-combine-50k"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="propdesk",
        description="Risk console for automated strategies on funded prop-firm futures accounts.",
    )
    parser.add_argument("--version", action="version", version=f"propdesk {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    replay = commands.add_parser(
        "replay",
        help="feed a JSONL day of fills, marks and clock ticks through ledger, floors and guard",
        description="One JSON line out per line in: balance, open P&L, equity, floors, state, actions.",
    )
    replay.add_argument(
        "events", metavar="EVENTS.jsonl", help="input file, or - for standard input"
    )
    replay.add_argument(
        "--profile", required=True, help="firm profile id (see `propdesk profiles`)"
    )
    replay.add_argument("--balance", help="the account's balance when the file starts")
    replay.add_argument(
        "--protocol",
        choices=("default", "none"),
        default="default",
        help="default: your buffers and warn levels; none: the firm's own numbers only",
    )
    replay.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override one profile value for this account, e.g. max_loss.amount=2500 (repeatable)",
    )
    replay.add_argument("--news", type=Path, help="news event list (TOML [[event]] tables)")
    replay.add_argument("--closures", type=Path, help="ad-hoc exchange closures (TOML)")
    replay.add_argument(
        "--table", action="store_true", help="a readable table instead of JSON lines"
    )
    replay.add_argument(
        "--commissions",
        action="store_true",
        help="charge the profile's commission schedule on fills without a fee (as the console "
        "does for brokers that report none); each line then also gives fees and estimated_fees",
    )
    replay.add_argument(
        "--platform",
        choices=("tradovate", "rithmic", "projectx"),
        help="with --commissions: the platform whose commissions apply, where the firm's differ",
    )

    profiles = commands.add_parser("profiles", help="list the firm profiles propdesk knows")
    profiles.add_argument(
        "--markdown", action="store_true", help="the supported-firms table, as in the README"
    )
    commands.add_parser("demo", help="replay the bundled demo day as a table")

    status = commands.add_parser(
        "status",
        help="the running propdesk's accounts, states and links",
        epilog=CONTROL_EXIT_CODES,
    )
    flatten = commands.add_parser(
        "flatten",
        help="flatten and lock accounts in the running propdesk (works while its window is frozen)",
        epilog=CONTROL_EXIT_CODES,
    )
    which = flatten.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every account")
    which.add_argument(
        "--account", action="append", metavar="BROKER:ID", help="one account (repeatable)"
    )
    which.add_argument("--cluster", metavar="NAME", help="every account of a strategy cluster")
    unlock = commands.add_parser(
        "unlock", help="unlock one locked account (asks to confirm)", epilog=CONTROL_EXIT_CODES
    )
    unlock.add_argument("account", metavar="BROKER:ID")
    unlock.add_argument(
        "--confirm", metavar="BROKER:ID", help="repeat the account to confirm without a prompt"
    )
    for sub in (status, flatten, unlock):
        sub.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a reply")
        sub.add_argument(
            "--json",
            action="store_true",
            help="print propdesk's answer as one JSON document (money as exact decimal strings)",
        )

    parser.add_argument("--headless", action="store_true", help="run the runtime without a window")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="build the window offscreen on the demo, render one frame, exit 0 (a self-check)",
    )
    parser.add_argument(
        "--screenshot", type=Path, metavar="FILE.png", help="with --smoke: save the rendered frame"
    )
    parser.add_argument(
        "--until",
        metavar="STATE,STATE",
        help="with --smoke: render as soon as accounts show all these states at once, e.g. "
        "LOCKED,WARNING (waits up to --for seconds)",
    )
    parser.add_argument(
        "--size", metavar="WxH", help="window size, e.g. 1366x768 (default: fits the screen)"
    )
    parser.add_argument(
        "--demo", action="store_true", help="the built-in simulator with demo accounts"
    )
    parser.add_argument(
        "--for",
        dest="run_for",
        type=float,
        metavar="SECONDS",
        help="stop after SECONDS of real time (with --smoke: run this long, then render)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        help="simulated clock speed (demo only; default 60 in the console, 1 with --headless)",
    )
    parser.add_argument("--journal", type=Path, help="journal file (default: the user data dir)")
    parser.add_argument(
        "--new-journal",
        action="store_true",
        help="start a new journal: the one there is moved aside (kept, never deleted); "
        "use it after propdesk reported the journal damaged",
    )
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (demo only)")
    parser.add_argument(
        "--sim-latency",
        type=float,
        metavar="MS",
        help="demo only: the simulated broker answers propdesk this many milliseconds late, each "
        "way (see a flatten against a slow broker)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "replay":
        return _replay(args, sys.stdout, sys.stderr)
    if args.command == "profiles":
        return _profiles(sys.stdout, markdown=args.markdown)
    if args.command == "demo":
        return _demo(sys.stdout, sys.stderr)
    if args.command in ("status", "flatten", "unlock"):
        return _control(args, sys.stdout, sys.stderr)
    if args.headless:
        from propdesk.app import run_headless

        args.speed = 1.0 if args.speed is None else args.speed
        return run_headless(args, sys.stdout, sys.stderr)
    # No command: the console's window on the accounts in the settings, or (first run, --demo,
    # --smoke) on the demo workspace: the simulator, an hour a minute.
    from propdesk.app import run_console

    args.speed = 60.0 if args.speed is None else args.speed
    return run_console(args, sys.stdout, sys.stderr)


def _fail(err: TextIO, message: str) -> int:
    err.write(f"propdesk: {message}\n")
    return EXIT_BAD_INPUT


def _replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from propdesk.domain.account import calendar_for
    from propdesk.domain.calendar import parse_closures
    from propdesk.domain.firm_overrides import apply_overrides
    from propdesk.domain.firms import ProfileError
    from propdesk.domain.money import MoneyError, to_decimal
    from propdesk.domain.news import NewsListError, parse_news
    from propdesk.domain.protocol import Protocol
    from propdesk.replay import MAX_BALANCE, ReplayError, read_lines, run, write_jsonl
    from propdesk.resources import load_commissions, load_instruments, load_profiles

    if args.platform is not None and not args.commissions:
        return _fail(err, "--platform only chooses commissions: give it with --commissions")
    try:
        profiles = load_profiles()
        profile = profiles.get(args.profile)
    except ProfileError as exc:
        return _fail(err, str(exc))
    except KeyError as exc:
        return _fail(err, exc.args[0] if exc.args else f"unknown profile {args.profile!r}")
    if args.set:
        overrides: dict[str, object] = {}
        for item in args.set:
            path, sep, value = item.partition("=")
            if not sep or not path.strip():
                return _fail(err, f"--set {item!r}: expected PATH=VALUE, e.g. max_loss.amount=2500")
            overrides[path.strip()] = value.strip()
        try:
            profile = apply_overrides(profile, overrides, checked=datetime.now(UTC).date())
        except ProfileError as exc:
            return _fail(err, str(exc))
    balance: Decimal | None = None
    if args.balance is not None:
        try:
            balance = to_decimal(args.balance, what="--balance")
        except MoneyError as exc:
            return _fail(err, str(exc))
        if not 0 < balance <= MAX_BALANCE:
            return _fail(
                err, f"--balance must be more than 0 and at most {MAX_BALANCE}, got {args.balance}"
            )
    try:
        news = (
            parse_news(args.news.read_text(encoding="utf-8"), args.news.name) if args.news else []
        )
        closures = (
            parse_closures(args.closures.read_text(encoding="utf-8")) if args.closures else []
        )
    except (OSError, NewsListError, ValueError) as exc:
        return _fail(err, str(exc))
    instruments = load_instruments()
    commissions = (
        load_commissions().table(profile.commissions, args.platform) if args.commissions else None
    )
    calendar = calendar_for(profile, closures)
    protocol = Protocol() if args.protocol == "default" else Protocol.none()
    try:
        # Bytes, not text: the lines are decoded one by one so a bad byte is named by its line.
        if args.events == "-":
            lines = read_lines(sys.stdin.buffer, instruments)
        else:
            with open(args.events, "rb") as stream:
                lines = read_lines(stream, instruments)
        records = run(
            lines,
            profile,
            calendar=calendar,
            protocol=protocol,
            balance=balance,
            news=news,
            commissions=commissions,
        )
    except OSError as exc:
        return _fail(err, f"cannot read {args.events}: {exc.strerror}")
    except ReplayError as exc:
        return _fail(err, f"{args.events}: {exc}")
    if args.table:
        _write_table(records, out, profile.id)
    else:
        write_jsonl(records, out)
    return 0


def _control(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Talk to the running propdesk over its local socket."""
    from propdesk.runtime import control

    command = {"status": _status, "flatten": _flatten, "unlock": _unlock}[args.command]
    try:
        return command(args, out, err)
    except (control.ControlError, NotImplementedError) as exc:
        # NotImplementedError: no control transport on this platform (Windows), said in its message.
        err.write(f"propdesk: {exc}\n")
        return EXIT_FAILED


def _status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from propdesk.runtime.control_client import call
    from propdesk.runtime.control_text import format_status

    result = call({"cmd": "status"}, timeout=args.timeout)
    _print(out, _json(result) if args.json else format_status(result))
    return EXIT_OK


def _flatten(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from propdesk.runtime.control_client import call
    from propdesk.runtime.control_text import format_flatten

    result = call({"cmd": "flatten", "scope": _scope(args)}, timeout=args.timeout)
    _print(out, _json(result) if args.json else format_flatten(result))
    all_flat = all(r.get("flat") is True for r in result.get("results", []))
    return EXIT_OK if all_flat else EXIT_FAILED


def _unlock(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from propdesk.runtime.control_client import call

    confirm = args.confirm
    if confirm is None:
        if not sys.stdin.isatty():
            return _fail(err, "unlock needs --confirm BROKER:ID when not run from a terminal")
        terms = _unlock_terms(call({"cmd": "status"}, timeout=args.timeout), args.account)
        confirm = input(
            f"Unlock {args.account}? Its strategy may trade again at once{terms}. "
            "Type the account again to confirm: "
        ).strip()
    result = call(
        {"cmd": "unlock", "account": args.account, "confirm": confirm}, timeout=args.timeout
    )
    text = f"{result['account']}: {result['state']}"
    if result.get("reason"):
        text += f" — {result['reason']}"
    _print(out, _json(result) if args.json else text)
    return EXIT_OK


def _unlock_terms(status: dict[str, Any], account: str) -> str:
    """What unlocking this account's lock does (lifts your own stop, or not), as a clause."""
    for row in status.get("accounts", []):
        if row.get("account") == account and row.get("unlock_terms"):
            return f"; {row['unlock_terms']}"
    return ""


def _scope(args: argparse.Namespace) -> str | dict[str, Any]:
    if args.all:
        return "all"
    return {"accounts": args.account} if args.account else {"cluster": args.cluster}


def _json(result: dict[str, Any]) -> str:
    # The result as propdesk sent it: money stays the exact decimal strings of the wire.
    return json.dumps(result, indent=2, ensure_ascii=False)


def _print(out: TextIO, text: str) -> None:
    """Write `text` as whole lines: a script reading the output line by line gets the last one too."""
    out.write(text if text.endswith("\n") else text + "\n")


def _profiles(out: TextIO, *, markdown: bool) -> int:
    from propdesk.firm_table import markdown_table
    from propdesk.resources import load_profiles

    if markdown:
        out.write(markdown_table(load_profiles().values()))
        return 0
    for profile in load_profiles().values():
        out.write(
            f"{profile.id:28} {profile.firm} — {profile.program} "
            f"(automation: {profile.automation.status})\n"
        )
    return 0


def _demo(out: TextIO, err: TextIO) -> int:
    from propdesk.resources import resource_path

    path = resource_path(*DEMO_DAY)
    out.write(
        f"propdesk {__version__} — replaying the demo day\n"
        f"({path.name}, profile {DEMO_PROFILE}) through the ledger, the floors and the guard.\n\n"
    )
    return main_replay_table(path, DEMO_PROFILE, out, err)


def main_replay_table(path: Path, profile: str, out: TextIO, err: TextIO) -> int:
    args = build_parser().parse_args(["replay", str(path), "--profile", profile, "--table"])
    return _replay(args, out, err)


def _write_table(records: Any, out: TextIO, profile_id: str) -> None:
    header = f"{'time (UTC offset as given)':26} {'equity':>10} {'day P&L':>9} {'floor':>10} {'state':12} actions"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for record in records:
        actions = "; ".join(f"{a['type']}: {a['reason']}" for a in record["actions"])
        out.write(
            f"{record['ts']:26} {record['equity']:>10} {record['day_pnl']:>9} "
            f"{record['floor'] or '—':>10} {record['state']:12} {actions}\n"
        )
    if records and "fees" in records[-1]:
        last = records[-1]
        out.write(
            f"\nfees: {last['fees']} (estimated: {last['estimated_fees']} — the broker reported "
            "none; charged from the profile's commission schedule)\n"
        )


if __name__ == "__main__":
    sys.exit(main())
