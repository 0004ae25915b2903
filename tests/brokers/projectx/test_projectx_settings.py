"""Building the adapter from settings: the firm table, the `server` and `hubs` overrides."""

from __future__ import annotations

import pytest
from fakes.projectx import FakeProjectX
from projectx_helpers import ACCOUNT_NAME

from propdesk.brokers.base import AccountRef, Broker
from propdesk.brokers.projectx import ProjectXBroker, from_settings, gateway_for, load_firms
from propdesk.brokers.projectx.firms import FirmTableError, parse_firms
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.clock import ScaledClock


def test_the_shipped_table_has_the_documented_gateways() -> None:
    firms = load_firms()
    topstep = firms["topstepx"]
    assert topstep.api == "https://api.topstepx.com/api"
    assert topstep.user_hub == "wss://rtc.topstepx.com/hubs/user"
    assert topstep.market_hub == "wss://rtc.topstepx.com/hubs/market"
    assert firms["demo"].user_hub == "wss://gateway-rtc-demo.s2f.projectx.com/hubs/user"
    assert all(g.verified for g in firms.values())


def test_server_replaces_the_firm_and_the_hubs_sit_beside_it() -> None:
    gateway = gateway_for("topstepx", "http://127.0.0.1:8123/api/", load_firms())
    assert gateway.api == "http://127.0.0.1:8123/api"
    assert gateway.user_hub == "ws://127.0.0.1:8123/hubs/user"
    moved = gateway_for(
        "", "https://api.example.test/api", {}, hubs="https://rtc.example.test/hubs"
    )
    assert moved.market_hub == "wss://rtc.example.test/hubs/market"


def test_unknown_or_missing_firm_is_explained() -> None:
    with pytest.raises(FirmTableError, match="known: demo, topstepx"):
        gateway_for("someprop", "", load_firms())
    with pytest.raises(FirmTableError, match="choose the firm"):
        gateway_for("", "", load_firms())
    with pytest.raises(FirmTableError, match="not an http"):
        gateway_for("topstepx", "ftp://nowhere", load_firms())


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("firms = 3", "no \\[firms"),
        ("[firms.x]\nname = 'X'\napi = 'https://a/api'", "firms.x.hubs"),
        ("[firms.x]\nname = 'X'\napi = 'nope'\nhubs = 'https://h/hubs'", "not an http"),
        ("[firms", "not valid TOML"),
    ],
)
def test_a_malformed_firm_table_is_refused(text: str, problem: str) -> None:
    with pytest.raises(FirmTableError, match=problem):
        parse_firms(text)


def test_from_settings_needs_a_user_name_a_key_and_accounts(
    instruments: InstrumentBook, clock: ScaledClock
) -> None:
    def build(values: dict[str, str], secrets: dict[str, str], accounts: list[str]) -> Broker:
        return from_settings(
            values,
            environment="live",
            server="",
            secret=secrets.get,
            accounts=accounts,
            instruments=instruments,
            clock=clock,
            name="topstep-main",
        )

    with pytest.raises(ValueError, match="user name"):
        build({"firm": "topstepx"}, {"api_key": "k"}, ["A"])
    with pytest.raises(ValueError, match="API key"):
        build({"username": "u", "firm": "topstepx"}, {}, ["A"])
    with pytest.raises(ValueError, match="no account"):
        build({"username": "u", "firm": "topstepx"}, {"api_key": "k"}, [])
    broker = build({"username": "u", "firm": "TopstepX"}, {"api_key": "k"}, ["A"])
    assert isinstance(broker, ProjectXBroker)
    assert broker.name == "topstep-main"
    assert broker.gateway.api == "https://api.topstepx.com/api"


async def test_a_broker_from_settings_reaches_the_server(
    fake: FakeProjectX, instruments: InstrumentBook, clock: ScaledClock
) -> None:
    broker = from_settings(
        {"username": fake.username, "firm": "topstepx"},
        environment="demo",
        server=fake.url,
        secret={"api_key": fake.api_key}.get,
        accounts=[ACCOUNT_NAME],
        instruments=instruments,
        clock=clock,
        name="px",
    )
    try:
        await broker.connect()
        snapshot = await broker.snapshot()
        assert [a.ref for a in snapshot.accounts] == [AccountRef("px", ACCOUNT_NAME)]
    finally:
        await broker.close()
