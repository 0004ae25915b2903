"""The real broker adapters (httpx, websockets, async-rithmic) on the console's own loop.

`propdesk.ui.loop.ConsoleLoop` keeps its own timers and ready queue; here the same scenarios as
tests/config/test_workspace_brokers.py (connect to the loopback fake, the strategy's fill reaches the
ledger, FLATTEN ALL verified flat, LOCKED) run on it, with real sockets and real timeouts, as the
console runs them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_CONFIG_TESTS = Path(__file__).parents[1] / "config"
sys.path.insert(0, str(_CONFIG_TESTS))  # the scenarios import their keyring stand-in from there
_spec = importlib.util.spec_from_file_location(
    "workspace_broker_scenarios", _CONFIG_TESTS / "test_workspace_brokers.py"
)
assert _spec is not None
assert _spec.loader is not None
_scenarios = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_scenarios)

test_projectx_on_the_console_loop = (
    _scenarios.test_a_projectx_connection_from_the_settings_is_watched_live
)
test_tradovate_on_the_console_loop = (
    _scenarios.test_a_tradovate_connection_from_the_settings_is_watched_live
)
test_rithmic_on_the_console_loop = (
    _scenarios.test_a_rithmic_connection_from_the_settings_is_watched_live
)
