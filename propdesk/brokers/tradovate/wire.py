"""Tradovate's WebSocket framing, with no I/O: server frames in, request text out.

Server frames are one letter, optionally followed by JSON: `o` (open), `h` (heartbeat), `a[...]`
(a JSON array of messages) and `c[code, reason]` (close). A message is either a response
`{"s": status, "i": request id, "d": data}` or a push `{"e": event, "d": data}`. Requests are
`endpoint\\nid\\nquery\\nbody`, blank lines kept; the client's heartbeat is the text `[]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

HEARTBEAT = "[]"


class MalformedFrame(ValueError):
    """A frame or message that does not follow the protocol."""


class FrameKind(StrEnum):
    OPEN = "o"
    HEARTBEAT = "h"
    ARRAY = "a"
    CLOSE = "c"


@dataclass(frozen=True, slots=True)
class Response:
    request_id: int
    status: int
    data: Any


@dataclass(frozen=True, slots=True)
class Push:
    event: str
    data: Any


@dataclass(frozen=True, slots=True)
class Frame:
    kind: FrameKind
    messages: tuple[Response | Push, ...] = ()
    close_reason: str = ""


def encode_request(endpoint: str, request_id: int, body: Any = None, query: str = "") -> str:
    """One request; a str body goes as is (the authorize token), anything else as JSON."""
    if body is None:
        text = ""
    elif isinstance(body, str):
        text = body
    else:
        text = json.dumps(body, separators=(",", ":"))
    return f"{endpoint}\n{request_id}\n{query}\n{text}"


def parse_frame(text: str | bytes) -> Frame:
    """One server frame; MalformedFrame for anything else."""
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError as exc:
            raise MalformedFrame(f"a binary frame that is not UTF-8: {exc}") from exc
    if not text:
        raise MalformedFrame("an empty frame")
    letter, rest = text[0], text[1:]
    if letter == "o" and not rest:
        return Frame(FrameKind.OPEN)
    if letter == "h" and not rest:
        return Frame(FrameKind.HEARTBEAT)
    if letter == "c":
        return Frame(FrameKind.CLOSE, close_reason=_close_reason(rest))
    if letter != "a":
        raise MalformedFrame(f"unknown frame type {text[:40]!r}")
    try:
        payload = json.loads(rest)
    except (ValueError, RecursionError) as exc:
        raise MalformedFrame(f"an `a` frame whose payload is not JSON: {rest[:80]!r}") from exc
    if not isinstance(payload, list):
        raise MalformedFrame(f"an `a` frame that is not a JSON array: {rest[:80]!r}")
    return Frame(FrameKind.ARRAY, tuple(_message(m) for m in payload))


def _message(message: object) -> Response | Push:
    if not isinstance(message, dict):
        raise MalformedFrame(f"a message that is not an object: {str(message)[:80]!r}")
    if "e" in message:
        event = message["e"]
        if not isinstance(event, str):
            raise MalformedFrame(f"a push whose event is not a string: {event!r}")
        return Push(event, message.get("d"))
    request_id, status = message.get("i"), message.get("s")
    if not _is_int(request_id) or not _is_int(status):
        raise MalformedFrame(f"a message that is neither a push nor a response: {message!r:.80}")
    return Response(request_id, status, message.get("d"))  # type: ignore[arg-type]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _close_reason(rest: str) -> str:
    if not rest:
        return ""
    try:
        payload = json.loads(rest)
    except (ValueError, RecursionError):
        return rest[:200]
    if isinstance(payload, list):
        return " ".join(str(p) for p in payload)[:200]
    return str(payload)[:200]
