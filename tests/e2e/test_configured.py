"""propdesk on the user's settings (not the demo): a real process reads config.toml and watches them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import PYTHON, ROOT, isolated_env, remove_tree, short_tmpdir, status, wait_until

CONFIG = """\
version = 1

[[connections]]
id = "paper"
broker = "sim"
demo_strategy = true

[[accounts]]
connection = "paper"
account_id = "P-1"
profile = "topstep-combine-50k"
name = "Paper Topstep"

[[accounts]]
connection = "paper"
account_id = "P-2"
profile = "apex-eod-50k"
[accounts.overrides]
"max_loss.amount" = "1500"
"""


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = short_tmpdir("pdcfg")
    yield path
    remove_tree(path)


def _start(workdir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "propdesk", *args],
        cwd=ROOT,
        env=isolated_env(workdir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _write_config(workdir: Path, text: str) -> Path:
    path = workdir / "xdg_config_home" / "propdesk" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_headless_watches_the_accounts_in_the_settings(workdir: Path) -> None:
    _write_config(workdir, CONFIG)
    proc = _start(workdir, "--headless", "--for", "60")
    try:
        answer = wait_until(
            lambda: _status_or_none(workdir), timeout=30, what="the control socket's status"
        )
        accounts = {a["account"]: a for a in answer["accounts"]}
        assert set(accounts) == {"paper:P-1", "paper:P-2"}
        assert accounts["paper:P-1"]["name"] == "Paper Topstep"
        # Real time here (no simulated clock): the market may be closed, so only the link is awaited.
        wait_until(
            lambda: (
                _status_or_none(workdir)["brokers"]
                == [{"name": "paper", "link": "connected", "detail": ""}]
            ),
            timeout=30,
            what="the simulator connection",
        )
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "propdesk headless: 2 accounts from the settings (paper)" in out
    assert "Traceback" not in err


def test_an_invalid_settings_file_stops_with_the_field_named(workdir: Path) -> None:
    _write_config(workdir, CONFIG.replace('profile = "apex-eod-50k"', 'profile = "acme-1m"'))
    done = subprocess.run(
        [PYTHON, "-m", "propdesk", "--headless"],
        cwd=ROOT,
        env=isolated_env(workdir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "accounts[1].profile: no firm profile is named 'acme-1m'" in done.stderr


def _status_or_none(workdir: Path) -> dict | None:
    try:
        return status(workdir, timeout=2.0)
    except Exception:
        return None
