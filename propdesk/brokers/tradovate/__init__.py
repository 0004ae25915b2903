"""Tradovate: a thin client of our own (httpx for REST, websockets for the user and market-data
sockets). `from_settings` is the entry point; `broker.py` documents the session and flatten rules.
"""

from propdesk.brokers.tradovate.broker import TradovateBroker
from propdesk.brokers.tradovate.endpoints import APP_VERSION, Endpoints, device_id, endpoints_for
from propdesk.brokers.tradovate.factory import SettingsError, from_settings
from propdesk.brokers.tradovate.rest import Credentials

__all__ = [
    "APP_VERSION",
    "Credentials",
    "Endpoints",
    "SettingsError",
    "TradovateBroker",
    "device_id",
    "endpoints_for",
    "from_settings",
]
