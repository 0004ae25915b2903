"""The README stays true: its firms table is what the profiles say."""

from __future__ import annotations

from pathlib import Path

from propdesk.firm_table import markdown_table
from propdesk.resources import load_profiles

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_firms_table_matches_the_profiles() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- firms-table:start -->\n") + len("<!-- firms-table:start -->\n")
    end = text.index("<!-- firms-table:end -->")
    assert text[start:end] == markdown_table(load_profiles().values()), (
        "README's firms table is stale: paste `propdesk profiles --markdown` between the markers"
    )


def test_readme_quick_start_is_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line for line in section.splitlines() if line.strip()]
    assert [c.split()[0:2] for c in commands] == [["./dev", "start"], ["./dev", "test"]]
