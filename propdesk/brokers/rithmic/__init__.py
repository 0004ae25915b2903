"""Rithmic R|Protocol through async-rithmic (1.6.x), on the ORDER and PNL plants.

`from_settings` is the entry point; broker.py documents the session and flatten rules, wire.py how
the library is fenced in (its reconnection off, frames tapped for liveness and refusals).
"""

from propdesk.brokers.rithmic.broker import RithmicBroker
from propdesk.brokers.rithmic.errors import explain
from propdesk.brokers.rithmic.settings import SettingsError, from_settings, gateway_url
from propdesk.brokers.rithmic.wire import Login, RithmicWire

__all__ = [
    "Login",
    "RithmicBroker",
    "RithmicWire",
    "SettingsError",
    "explain",
    "from_settings",
    "gateway_url",
]
