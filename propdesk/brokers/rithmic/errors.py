"""What a Rithmic `rp_code` means to the trader.

Rithmic answers a refused request with `rp_code = [code, text]`. Most texts speak for themselves;
code 13 does not: it is "permission denied", and on a prop-firm login it nearly always means that
API (R|Protocol) access is not enabled for this user or account (research/broker-apis.md §3).
"""

from __future__ import annotations

from collections.abc import Sequence

PERMISSION_DENIED = "13"
NO_DATA = "7"

#: Codes where trying again cannot help until someone changes the user's set-up.
TERMINAL_CODES = frozenset({PERMISSION_DENIED})

_PERMISSION_HELP = (
    "Rithmic refused {action}: permission denied (rp_code 13). API access is enabled per user "
    "and per account, and prop-firm and paper accounts often lack it: ask your firm (or "
    "Rithmic) to enable R|Protocol API access for this user, and check that the system name "
    "and gateway match the ones your firm gave you."
)


def explain(rp_code: Sequence[str], action: str) -> str:
    """One sentence for the trader: what was refused and, where known, what to do about it."""
    code = rp_code[0] if rp_code else "?"
    if code == PERMISSION_DENIED:
        return _PERMISSION_HELP.format(action=action)
    text = ", ".join(part for part in rp_code[1:] if part) or "no reason given"
    return f"Rithmic refused {action}: {text} (rp_code {code})"
