"""The built-in simulator: the embedded default broker and the demo strategy that trades on it.

`SimExchange` is the venue (prices, accounts, matching, fees); `SimBroker` is one login on it, the
adapter propdesk uses (and the strategy uses another); `DemoStrategy` trades demo accounts through its
own session; `build_demo` wires the three together. Fault injection is documented in `broker.py`.
"""

from propdesk.brokers.sim.accounts import FULL_SIZE_FEE, MICRO_FEE, FeeTable
from propdesk.brokers.sim.broker import INJECTED_REJECT, SimBroker
from propdesk.brokers.sim.contracts import DEMO_ROOTS, front_month, front_months
from propdesk.brokers.sim.demo import DEFAULT_DEMO_ACCOUNTS, SimDemo, build_demo
from propdesk.brokers.sim.exchange import LIQUIDATION_TAG, OrderRejected, SimExchange
from propdesk.brokers.sim.market import START_PRICES, PriceModel, Regime, SimMarket
from propdesk.brokers.sim.strategy import DEMO_TAG, DemoStrategy, StrategyStats

__all__ = [
    "DEFAULT_DEMO_ACCOUNTS",
    "DEMO_ROOTS",
    "DEMO_TAG",
    "FULL_SIZE_FEE",
    "INJECTED_REJECT",
    "LIQUIDATION_TAG",
    "MICRO_FEE",
    "START_PRICES",
    "DemoStrategy",
    "FeeTable",
    "OrderRejected",
    "PriceModel",
    "Regime",
    "SimBroker",
    "SimDemo",
    "SimExchange",
    "SimMarket",
    "StrategyStats",
    "build_demo",
    "front_month",
    "front_months",
]
