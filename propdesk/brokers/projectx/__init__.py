"""ProjectX Gateway adapter (TopstepX and other firms): httpx for REST, SignalR JSON over websockets."""

from propdesk.brokers.projectx.broker import ProjectXBroker
from propdesk.brokers.projectx.firms import Gateway, gateway_for, load_firms, parse_firms
from propdesk.brokers.projectx.settings import from_settings

__all__ = ["Gateway", "ProjectXBroker", "from_settings", "gateway_for", "load_firms", "parse_firms"]
