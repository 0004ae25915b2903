"""Keeping an adapter's secrets out of whatever text a broker sends back.

A broker's error body may echo the request it refuses: the password, the API key, the API secret,
the session's token. That text becomes a `BrokerError`, a `LinkEvent` detail or a log line, and from
there the journal, a notice, the phone and stdout. Every adapter keeps one `Redactor`, built from
the secrets it holds and fed every token it receives, and passes server text and library exception
text through it where that text enters its messages.

Two rules, both applied to every text:
- a secret's exact value (and its JSON-, URL- and repr-escaped forms) becomes `MARK`, wherever it
  stands; values shorter than `MIN_SECRET_LENGTH` are left alone, or a password "a" would blank out
  every "a" of the message;
- the value of a field whose name says it is secret ("password", "apiKey", "sec", "accessToken",
  "token", `access_token=` in a URL, `Authorization: Bearer …`) becomes `MARK` whatever its length,
  in JSON, in Python reprs, in JSON escaped inside a JSON string, in query strings and headers.

Redact before truncating (`Redactor.head`): a secret cut in half no longer matches its value.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MARK = "•••"
MIN_SECRET_LENGTH = 4
# `head` redacts this much beyond the cut: any secret that reaches into the head is shorter.
HEAD_MARGIN = 4096

# A field name that says its value is secret: "password", "apiKey", "api_key", "sec",
# "accessToken", "mdAccessToken", "access_token", "newToken", "clientSecret", "Authorization"…
_NAME = (
    r"(?<![A-Za-z0-9_-])"
    r"(?:[A-Za-z_-]*?(?:password|passwd|secret|token|api[_-]?key)|sec|authorization|cookie)"
    r"(?![A-Za-z0-9_-])"
)
_QUOTE = r"\\*[\"']"  # a quote, escaped any number of times (JSON inside a JSON string)
_STOP = r"[^\s\"'\\,;&}\])]"  # a character of an unquoted value
_SCHEME = rf"(?:Bearer|Basic|Token)\s+{_STOP}+"
_ESCAPED = r"\\+\"(?:(?!\\+\").)*(?:\\+\")?"  # a value quoted inside an escaped JSON string
_DOUBLE = r"\"(?:[^\"\\]|\\.)*\"?"  # a closing quote may be cut off by a server's truncation
_SINGLE = r"'(?:[^'\\]|\\.)*'?"
_BARE = rf"(?!(?:null|None|true|false)\b){_STOP}+"  # an absent value is not worth hiding
_VALUE = rf"(?P<value>{_SCHEME}|{_ESCAPED}|{_DOUBLE}|{_SINGLE}|{_BARE})"

_FIELDS = tuple(
    re.compile(pattern, re.IGNORECASE | re.DOTALL)
    for pattern in (
        # "password": "…", 'apiKey': '…', \"sec\": \"…\" (JSON, reprs, JSON inside JSON)
        rf"{_QUOTE}{_NAME}{_QUOTE}\s*[:=]\s*{_VALUE}",
        # access_token=… (query strings, forms, keyword reprs)
        rf"{_NAME}\s*=\s*{_VALUE}",
        # password: "…" (protobuf text), Authorization: Bearer …
        rf"{_NAME}\s*:\s*(?P<value>{_SCHEME}|{_DOUBLE})",
        # a bearer token anywhere
        rf"\bBearer\s+(?P<value>{_BARE})",
    )
)


def redact_fields(text: str) -> str:
    """`text` with the value of every secret-named field replaced by MARK."""
    for pattern in _FIELDS:
        text = pattern.sub(_mark_value, text)
    return text


def _mark_value(match: re.Match[str]) -> str:
    start, end = match.span("value")
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + MARK + whole[end - offset :]


def _forms(secret: str) -> set[str]:
    """How a secret may appear in text: as is, JSON-escaped, URL-quoted, repr-escaped."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        repr(secret)[1:-1],
    }


class Redactor:
    """One adapter's secrets; calling it on a text returns the text with them hidden."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._values: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Hide these too from now on (a token just received, a renewed one)."""
        fresh = {
            form
            for secret in secrets
            if secret and len(secret) >= MIN_SECRET_LENGTH
            for form in _forms(secret)
            if len(form) >= MIN_SECRET_LENGTH
        }
        if fresh <= self._secrets:
            return
        self._secrets |= fresh
        # Longest first: a secret that contains another is hidden whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._values = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, text: object) -> str:
        clean = str(text)
        if self._values is not None:
            clean = self._values.sub(MARK, clean)
        return redact_fields(clean)

    def head(self, text: object, length: int) -> str:
        """The first `length` characters of `text`, redacted before the cut (half a secret leaks).

        Only the head and a margin are redacted: a megabyte error page costs no more than a line.
        """
        return self(str(text)[: length + HEAD_MARGIN])[:length]

    def leaks(self, text: str) -> bool:
        return self(text) != text

    def cause(self, error: BaseException) -> BaseException | None:
        """`error` to chain a new exception to (`raise … from`), or None if its text would leak.

        A chained exception is printed whole in a logged traceback, and some print more than their
        message: websockets' InvalidStatus repr holds the response's headers and body, InvalidURI
        the URL with its `access_token`.
        """
        seen: set[int] = set()
        link: BaseException | None = error
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            if self.leaks(str(link)) or self.leaks(repr(link)):
                return None
            link = link.__cause__ or link.__context__
        return error

    def traceback(self, error: BaseException) -> str:
        """`error`'s traceback, chain included, with the secrets hidden."""
        return self("".join(traceback.format_exception(error)).rstrip())

    def log_filter(self) -> logging.Filter:
        """A filter that hides the secrets in every record it sees (for a library's loggers)."""
        return _RedactingFilter(self)

    def logger(self, base: logging.Logger) -> logging.LoggerAdapter[logging.Logger]:
        """`base`, hiding the secrets in what it logs (for a library that takes a logger)."""
        return _RedactingLogger(base, self)


def _clean_record(record: logging.LogRecord, redact: Callable[[str], str]) -> None:
    record.msg = redact(record.getMessage())
    record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        details = "".join(traceback.format_exception(record.exc_info[1])).rstrip()
        record.exc_text = redact(details)
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class _RedactingFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        _clean_record(record, self._redact)
        return True


class _RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    def __init__(self, base: logging.Logger, redact: Redactor) -> None:
        super().__init__(base, {})
        self._redact = redact

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        error = kwargs.pop("exc_info", None)
        if error is True:
            error = sys.exception()
        if isinstance(error, tuple):
            error = error[1]
        if isinstance(error, BaseException):
            text = f"{text}\n{self._redact.traceback(error)}"
        kwargs.pop("stack_info", None)  # logging would add the stack after this redaction
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1  # the caller's line, not this one
        self.logger.log(level, "%s", self._redact(text), **kwargs)
