"""The Redactor: secret values and secret-named fields hidden, everything else left readable."""

from __future__ import annotations

import json
import logging

import pytest

from propdesk.brokers.redact import MARK, Redactor

PASSWORD = "Zq8#Lk2!vR9mWx"


@pytest.mark.parametrize(
    "text",
    [
        f"the password {PASSWORD} is wrong",
        json.dumps({"errorText": f"echo {json.dumps({'password': PASSWORD})}"}),
        f"ws://host/hubs/user?pw={PASSWORD.replace('#', '%23').replace('!', '%21')}",
        repr({"password": PASSWORD}),
    ],
)
def test_a_secret_value_is_hidden_however_it_is_escaped(text: str) -> None:
    hidden = Redactor([PASSWORD])(text)
    assert "Lk2" not in hidden, "no form of the password is left"
    assert MARK in hidden


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"name": "trader", "password": "p", "cid": 8}',
            '{"name": "trader", "password": •••, "cid": 8}',
        ),
        ("{'apiKey': 'k', 'userName': 'u'}", "{'apiKey': •••, 'userName': 'u'}"),
        ('{\\"sec\\": \\"s\\", \\"appId\\": \\"a\\"}', '{\\"sec\\": •••, \\"appId\\": \\"a\\"}'),
        ("/hubs/user?access_token=t&x=1", "/hubs/user?access_token=•••&x=1"),
        ('"mdAccessToken":"t","expirationTime":"e"', '"mdAccessToken":•••,"expirationTime":"e"'),
        ("authorization: Bearer abc.def", "authorization: •••"),
        ('user: "u" password: "p"', 'user: "u" password: •••'),
        ('cut short {"password": "hunt', 'cut short {"password": •••'),
        ('{"token": null, "success": false}', '{"token": null, "success": false}'),
    ],
)
def test_a_secret_named_field_is_hidden_whatever_its_length(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


def test_a_short_secret_does_not_blank_out_the_text() -> None:
    redact = Redactor(["a", "12"])
    text = "a refusal: account 12 has no permission"
    assert redact(text) == text


def test_plain_words_near_secret_names_stay() -> None:
    text = "login answered without a token: 'accessToken'; waited 2 seconds; no answer in 10 s"
    assert Redactor()(text) == text


def test_a_token_added_later_is_hidden_from_then_on() -> None:
    redact = Redactor()
    assert redact("token-abc123 refused") == "token-abc123 refused"
    redact.add("token-abc123")
    assert redact("token-abc123 refused") == f"{MARK} refused"


def test_a_cause_whose_text_would_leak_is_not_chained() -> None:
    redact = Redactor([PASSWORD])
    clean = ValueError("not JSON")
    assert redact.cause(clean) is clean
    outer = ValueError("wrapped")
    outer.__cause__ = KeyError(PASSWORD)
    assert redact.cause(outer) is None


def test_the_log_helpers_hide_secrets_in_messages_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redact = Redactor([PASSWORD])
    caplog.set_level(logging.DEBUG)
    library = logging.getLogger("a.library")
    hidden = redact.log_filter()
    library.addFilter(hidden)
    try:
        try:
            raise RuntimeError(f"refused {PASSWORD}")
        except RuntimeError:
            library.exception("failed for %s", PASSWORD)
            redact.logger(logging.getLogger("another.library")).debug("sent %r", PASSWORD)
    finally:
        library.removeFilter(hidden)
    assert len(caplog.records) == 2
    assert PASSWORD not in caplog.text
    assert "RuntimeError: refused •••" in caplog.text


def test_a_head_is_redacted_before_it_is_cut() -> None:
    text = "x" * 100 + PASSWORD + "y" * 100_000
    assert Redactor([PASSWORD]).head(text, 105) == "x" * 100 + MARK + "yy"
    assert Redactor().head('{"password": "' + PASSWORD + '"}', 15) == '{"password": ••'
