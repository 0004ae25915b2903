"""`./dev`, the README's entry point: usage, and a clear message when no Python ≥ 3.12 exists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "dev"


def run_dev(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEV), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_help_lists_both_quick_start_commands() -> None:
    result = run_dev("help")
    assert result.returncode == 0
    text = result.stdout + result.stderr
    assert "start" in text
    assert "test" in text


def test_unknown_command_is_refused() -> None:
    result = run_dev("frobnicate")
    assert result.returncode == 2


@pytest.mark.skipif(
    any(Path(f"/usr/bin/python3.{m}").exists() for m in range(12, 20)),
    reason="this machine has a system Python ≥ 3.12 in /usr/bin",
)
def test_no_suitable_python_says_what_to_install(tmp_path: Path) -> None:
    # A PATH with only an old interpreter, no pyenv, and a HOME without ~/.pyenv.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in (
        "bash",
        "env",
        "cat",
        "dirname",
        "uname",
        "mkdir",
        "sort",
        "tr",
        "head",
        "grep",
        "sed",
    ):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    old = bin_dir / "python3"
    old.write_text("#!/bin/sh\necho 'Python 3.11.7'\nexit 1\n")
    old.chmod(0o755)
    # A copy of the script in an empty checkout, so an existing .venv beside the real one is not used.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy2(DEV, checkout / "dev")
    shutil.copy2(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PROPDESK_PYTHON": str(old)}
    result = subprocess.run(
        ["bash", str(checkout / "dev"), "start", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    message = result.stderr
    assert "needs Python >= 3.12" in message or "needs Python ≥ 3.12" in message
    assert "pyenv install 3.12" in message
    assert "python3.12-venv" in message
