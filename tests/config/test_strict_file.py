"""The settings file is read strictly: a typo, a secret, a NaN or a damaged file is an error, never a default.

Each case is a small TOML file as a trader would write it, read with `load_config`; every problem comes
back as an Issue naming its place in the file.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from memory_keyring import MemoryKeyring

from propdesk.config.model import (
    BROKERS,
    AccountConfig,
    BrokerKind,
    Config,
    ConfigError,
    Connection,
    Environment,
)
from propdesk.config.secrets import SecretStore
from propdesk.config.store import load_config, save_config
from propdesk.domain.firms import ProfileSet

KEYRING = "secrets go to the keyring: Settings → Connections"
SECRET_VALUE = "hunter2-do-not-show"

BASE = """\
version = 1

[[connections]]
id = "paper"
broker = "sim"
demo_strategy = true

[[connections]]
id = "tv"
broker = "tradovate"
username = "trader"
app_id = "propdesk"
cid = "42"

[[accounts]]
connection = "paper"
account_id = "P-1"
profile = "apex-eod-50k"

[buffers]
stop_fraction = "0.7"

[disconnect]
flatten_after_seconds = 20

[alerts]
sound = false
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _issues(tmp_path: Path, profiles: ProfileSet, text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as error:
        load_config(_write(tmp_path, text), profiles)
    return {issue.field: issue.message for issue in error.value.issues}


def _edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new, 1)


def test_the_base_file_is_valid(tmp_path: Path, profiles: ProfileSet) -> None:
    config = load_config(_write(tmp_path, BASE), profiles)
    assert config is not None
    assert config.buffers.stop_fraction == Decimal("0.7")


# -- unknown sections and keys ----------------------------------------------------------------------
def test_a_misspelt_section_is_an_error_naming_the_closest(
    tmp_path: Path, profiles: ProfileSet
) -> None:
    issues = _issues(tmp_path, profiles, _edit("[buffers]", "[bufers]"))
    assert issues["bufers"] == "unknown section; did you mean 'buffers'?"


@pytest.mark.parametrize(
    ("old", "new", "field", "closest"),
    [
        ("version = 1", "versoin = 1", "versoin", "version"),
        ('stop_fraction = "0.7"', 'stop_fracton = "0.7"', "buffers.stop_fracton", "stop_fraction"),
        (
            "flatten_after_seconds = 20",
            "flatten_after_second = 20",
            "disconnect.flatten_after_second",
            "flatten_after_seconds",
        ),
        ("sound = false", "sounds = false", "alerts.sounds", "sound"),
        (
            "demo_strategy = true",
            "demo_stratgy = true",
            "connections[0].demo_stratgy",
            "demo_strategy",
        ),
        ('username = "trader"', 'usrname = "trader"', "connections[1].usrname", "username"),
        ('account_id = "P-1"', 'account_id = "P-1"\nnmae = "Paper"', "accounts[0].nmae", "name"),
        (
            'cid = "42"',
            'cid = "42"\nEnvironment = "live"',
            "connections[1].Environment",
            "environment",
        ),
    ],
)
def test_an_unknown_key_at_every_level_names_the_closest(
    tmp_path: Path, profiles: ProfileSet, old: str, new: str, field: str, closest: str
) -> None:
    issues = _issues(tmp_path, profiles, _edit(old, new))
    assert f"did you mean '{closest}'?" in issues[field]
    assert issues[field].startswith("unknown")


def test_a_key_with_nothing_close_lists_the_known_ones(
    tmp_path: Path, profiles: ProfileSet
) -> None:
    issues = _issues(tmp_path, profiles, _edit("[disconnect]", "[disconnect]\nzzz = 1"))
    assert issues["disconnect.zzz"] == "unknown key; known: flatten_after_seconds"


def test_a_connection_knows_only_its_own_brokers_keys(tmp_path: Path, profiles: ProfileSet) -> None:
    text = _edit('cid = "42"', 'cid = "42"\nfirm = "topstepx"')
    text = text.replace("demo_strategy = true", 'demo_strategy = true\nserver = "https://x.test"')
    text += '\n[[connections]]\nid = "px"\nbroker = "projectx"\nusername = "t"\nfirm = "topstepx"\n'
    text += "demo_strategy = true\n"
    issues = _issues(tmp_path, profiles, text)
    assert issues["connections[1].firm"].startswith("unknown key for a Tradovate connection")
    assert issues["connections[0].server"].startswith("unknown key for a Simulator connection")
    assert issues["connections[2].demo_strategy"].startswith(
        "unknown key for a ProjectX connection"
    )
    assert "connections[2].firm" not in issues  # a ProjectX connection has a firm


def test_an_unknown_override_path_names_the_closest(tmp_path: Path, profiles: ProfileSet) -> None:
    overrides = '\n[accounts.overrides]\nmax_loss.amout = 2500\n"daily_los.amount" = "500"\n'
    issues = _issues(tmp_path, profiles, _edit("\n[buffers]", overrides + "\n[buffers]"))
    assert "did you mean 'amount'?" in issues["accounts[0].overrides.max_loss.amout"]
    assert "did you mean 'daily_loss'?" in issues["accounts[0].overrides.daily_los.amount"]


def test_an_override_written_as_bare_toml_reads_as_its_dotted_path(
    tmp_path: Path, profiles: ProfileSet
) -> None:
    # The README's `max_loss.amount = 2500`, unquoted, is a nested table in TOML.
    overrides = "\n[accounts.overrides]\nmax_loss.amount = 2500\n"
    config = load_config(
        _write(tmp_path, _edit("\n[buffers]", overrides + "\n[buffers]")), profiles
    )
    assert config is not None
    assert config.accounts[0].overrides == {"max_loss.amount": "2500"}


# -- secrets ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("version = 1", f'version = 1\napi_key = "{SECRET_VALUE}"', "api_key"),
        (
            "demo_strategy = true",
            f'demo_strategy = true\npassword = "{SECRET_VALUE}"',
            "connections[0].password",
        ),
        ('cid = "42"', f'cid = "42"\nsec = "{SECRET_VALUE}"', "connections[1].sec"),
        ('cid = "42"', f'cid = "42"\nPassword = "{SECRET_VALUE}"', "connections[1].Password"),
        (
            'account_id = "P-1"',
            f'account_id = "P-1"\ntoken = "{SECRET_VALUE}"',
            "accounts[0].token",
        ),
        (
            'account_id = "P-1"',
            f'account_id = "P-1"\naccessToken = "{SECRET_VALUE}"',
            "accounts[0].accessToken",
        ),
        ("sound = false", f'sound = false\n"private key" = "{SECRET_VALUE}"', "alerts.private key"),
        (
            "[buffers]",
            f'[buffers.extra]\nAPIKEY = "{SECRET_VALUE}"\n[buffers]',
            "buffers.extra.APIKEY",
        ),
        (
            "[alerts]",
            f'[alerts]\nhooks = [{{client_secret = "{SECRET_VALUE}"}}]',
            "alerts.hooks[0].client_secret",
        ),
        (
            "\n[buffers]",
            f'\n[accounts.overrides]\npasswd = "{SECRET_VALUE}"\n\n[buffers]',
            "accounts[0].overrides.passwd",
        ),
    ],
)
def test_a_secret_looking_key_anywhere_is_refused_without_showing_it(
    tmp_path: Path, profiles: ProfileSet, old: str, new: str, field: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(_write(tmp_path, _edit(old, new)), profiles)
    issues = {issue.field: issue.message for issue in error.value.issues}
    assert KEYRING in issues[field]
    assert SECRET_VALUE not in str(error.value)
    assert [i.field for i in error.value.issues].count(field) == 1  # said once, as a secret


def test_every_brokers_secret_is_a_secret_looking_key() -> None:
    from propdesk.config.parse import is_secret_key

    for spec in BROKERS.values():
        for secret in spec.secrets:
            assert is_secret_key(secret.key), secret.key
        for plain in spec.fields:
            assert not is_secret_key(plain.key), plain.key


# -- numbers that are no numbers -------------------------------------------------------------------
@pytest.mark.parametrize(
    "written",
    ["nan", "-nan", '"NaN"', '"sNaN%"'],
)
def test_nan_in_a_level_is_a_clean_issue(
    tmp_path: Path, profiles: ProfileSet, written: str
) -> None:
    text = _edit('stop_fraction = "0.7"', f"stop_fraction = {written}")
    assert "is not a number" in _issues(tmp_path, profiles, text)["buffers.stop_fraction"]


def test_nan_and_infinity_in_every_numeric_field_are_clean_issues(
    tmp_path: Path, profiles: ProfileSet
) -> None:
    text = _edit(
        'stop_fraction = "0.7"',
        'stop_fraction = nan\nwarn_fraction = -inf\nreduce_fraction = "inf%"',
    )
    text = text.replace(
        "[buffers]", '[buffers]\ncutoff_buffer_minutes = inf\nsize_cap_offset = "nan"'
    )
    text = text.replace("flatten_after_seconds = 20", "flatten_after_seconds = +inf")
    overrides = '\n[accounts.overrides]\n"max_loss.amount" = inf\n"daily_loss.amount" = nan\n'
    text = text.replace("\n[buffers]", overrides + "\n[buffers]", 1)
    issues = _issues(tmp_path, profiles, text)
    for field in (
        "buffers.stop_fraction",
        "buffers.warn_fraction",
        "buffers.reduce_fraction",
        "buffers.cutoff_buffer_minutes",
        "buffers.size_cap_offset",
        "disconnect.flatten_after_seconds",
    ):
        assert field in issues
    overridden = [f for f in issues if f.startswith("accounts[0].overrides.")]
    assert any(".max_loss.amount" in f for f in overridden)
    assert any(".daily_loss.amount" in f for f in overridden)


# -- damaged files ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["[" * 2000 + "]" * 2000, "{a = " * 2000 + "1" + "}" * 2000],
    ids=["arrays", "inline-tables"],
)
def test_deep_nesting_is_a_clean_error(tmp_path: Path, profiles: ProfileSet, value: str) -> None:
    path = _write(tmp_path, BASE + f"\n[extra]\nx = {value}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, profiles)
    assert "nested" in str(error.value)


def test_deep_dotted_keys_are_a_clean_error(tmp_path: Path, profiles: ProfileSet) -> None:
    # Dotted keys nest without recursion in the reader: the depth check must not recurse either.
    key = ".".join(["a"] * 5000)
    issues = _issues(tmp_path, profiles, _edit("[buffers]", f"[buffers]\n{key} = 1"))
    [field] = [f for f, message in issues.items() if "nested" in message]
    assert field.startswith("buffers.a.a")
    assert len(field) < 200


# -- the file's version ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "said"),
    [
        ('"1"', 'the file says version "1" (text)'),
        ("2", "this file is version 2"),
        ("true", "the file says version true"),
        ("1.0", "the file says version 1.0"),
    ],
)
def test_the_version_message_says_what_the_file_has_and_what_is_read(
    tmp_path: Path, profiles: ProfileSet, written: str, said: str
) -> None:
    message = _issues(tmp_path, profiles, _edit("version = 1", f"version = {written}"))["version"]
    assert said in message
    assert "this propdesk reads version 1" in message


# -- what propdesk writes, it reads ----------------------------------------------------------------
def test_what_the_settings_save_writes_for_every_broker_reads_back_strictly(
    tmp_path: Path, profiles: ProfileSet
) -> None:
    config = Config(
        connections=(
            Connection("paper", BrokerKind.SIM, demo_strategy=True),
            Connection(
                "tv",
                BrokerKind.TRADOVATE,
                Environment.LIVE,
                {"username": "t", "app_id": "propdesk", "cid": "42"},
                server="https://tv.test/v1",
            ),
            Connection("px", BrokerKind.PROJECTX, values={"username": "t", "firm": "topstepx"}),
            Connection(
                "rt",
                BrokerKind.RITHMIC,
                values={"username": "t", "system": "Rithmic Test", "gateway": "wss://r.test:443"},
            ),
        ),
        accounts=(
            AccountConfig(
                "paper", "P-1", "apex-eod-50k", "Paper", "trend", {"max_loss.amount": "2500"}
            ),
        ),
    )
    secrets = {
        ("tv", "password"): "p",
        ("tv", "sec"): "s",
        ("px", "api_key"): "k",
        ("rt", "password"): "p",
    }
    path = tmp_path / "config.toml"
    store = SecretStore(MemoryKeyring())
    save_config(path, config, profiles, store, secrets)
    assert load_config(path, profiles) == config
    # A file that had a typo and a secret in it, saved over by the window: both are gone.
    path.write_text('api_key = "x"\n' + path.read_text() + '\n[bufers]\nstop_fraction = "0.5"\n')
    later = replace(config, accounts=())
    save_config(path, later, profiles, store, {})
    assert load_config(path, profiles) == later
