"""The wire: async-rithmic's client on the ORDER and PNL plants, tapped and fenced in.

async-rithmic (pinned to 1.6.x) does the framing, the logins, the request/response matching and the
pushes. Some of its habits do not suit a risk monitor, so this module fences them:

- it reconnects by itself, forever (linear backoff 10→120 s), and re-logs in after a ForcedLogout,
  so two clients can keep kicking each other off: its reconnection is turned off here
  (`NO_RECONNECT`); propdesk's supervisor reconnects with its own backoff, and never after a
  ForcedLogout;
- it notices a dead link only through WebSocket pings (60 s interval, 50 s timeout): every frame
  is tapped for liveness so the adapter's own watchdog can judge, and a closed socket is reported
  at once;
- it logs a refused request (`rp_code` ≠ 0) from its receive loop and hands the caller an empty
  answer: the tap catches the refusal, completes the request and keeps the code, so the caller
  gets a `BrokerError` that says what was refused and why (rp_code 13 explained, errors.py);
- a request in flight when a socket breaks waits out its whole timeout: here it fails at once;
- it renders every inbound message for a debug log line even when nothing is logged: that
  rendering now happens only when the "rithmic" logger is at DEBUG;
- at DEBUG it logs every request it sends, the login with its password: while a wire is open its
  `Redactor` filters the library's loggers, and what Rithmic says back (a refusal's text may echo
  the request) is redacted before it enters an error or a log line.

The tap is an instance attribute over the plant's `_convert_bytes_to_response`, the one place every
inbound frame passes through; malformed frames stop there (logged, reported, never parsed further).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from async_rithmic import RithmicClient
from async_rithmic.enums import OrderPlacement, OrderType, SysInfraType, TransactionType
from async_rithmic.helpers import background_task_mixin
from async_rithmic.objects import ReconnectionSettings, RetrySettings
from google.protobuf.json_format import MessageToDict

from propdesk.brokers.base import BrokerError, SessionLost
from propdesk.brokers.redact import Redactor
from propdesk.brokers.rithmic.errors import NO_DATA, TERMINAL_CODES, explain

log = logging.getLogger(__name__)

T = TypeVar("T")
PLANTS = {"order": SysInfraType.ORDER_PLANT, "pnl": SysInfraType.PNL_PLANT}
PUSHES = frozenset({351, 352, 450, 451})
FORCED_LOGOUT, REJECT = 77, 75
NO_RECONNECT = ReconnectionSettings(max_retries=0, backoff_type="constant", interval=0)


_LIBRARY_LOG = logging.getLogger("rithmic")


def _render_for_debug(message: Any) -> Any:
    return MessageToDict(message) if _LIBRARY_LOG.isEnabledFor(logging.DEBUG) else ""


# The library's receive loop renders every inbound message into a debug f-string, logged or not:
# a third of the adapter's CPU in a flatten burst (bench/kill_latency_rithmic.py). That module
# uses the name for that line alone, so rendering only when debug logging is on loses no output.
background_task_mixin.MessageToDict = _render_for_debug  # type: ignore[attr-defined]

# The key a refusal is filed under: the request's template and whatever tells it apart.
RequestKey = tuple[int, str | None, str | None, str | None, str | None]


def request_key(fields: dict[str, Any]) -> RequestKey:
    return (
        int(fields["template_id"]),
        fields.get("account_id"),
        fields.get("user_tag"),
        fields.get("basket_id"),
        fields.get("symbol"),
    )


@dataclass(frozen=True, slots=True)
class Login:
    url: str
    user: str
    password: str
    system: str
    app_name: str
    app_version: str


class WireListener(Protocol):
    def on_frame(self) -> None:
        """Any well-formed frame arrived (liveness)."""

    def on_push(self, message: Any) -> None:
        """An order notification (351/352) or a P&L update (450/451)."""

    def on_forced_logout(self) -> None: ...

    def on_broken(self, detail: str) -> None:
        """The transport is unusable: a socket closed or a malformed frame arrived."""


class RithmicWire:
    """One login (both plants); `open()` again after `close()` for a fresh transport."""

    def __init__(
        self, login: Login, listener: WireListener, *, request_timeout: float = 10.0
    ) -> None:
        self.login = login
        self._listener = listener
        self._timeout = request_timeout
        self.redact = Redactor([login.password])  # hides the password in what Rithmic says
        self._library_filter = self.redact.log_filter()
        self._filtered: list[logging.Logger] = []
        self._client: RithmicClient | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self._errors: dict[RequestKey, list[str]] = {}
        self._inflight: set[asyncio.Future[Any]] = set()
        self._lost = ""  # why the current transport broke ("" while it works)
        self.forced_out = False
        self.malformed = 0

    # -- lifetime ------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        client = self._client
        return client is not None and all(client.plants[p].is_connected for p in PLANTS)

    async def open(self) -> None:
        """Log in on both plants and subscribe to the accounts' P&L; raises BrokerError."""
        await self.close()
        self.forced_out = False
        self._lost = ""
        client = self._new_client()
        self._filter_library_logs(client)
        try:
            await asyncio.wait_for(
                client.connect(plants=list(PLANTS.values()), plant_connect_delay=0),
                self._timeout,
            )
            await client.subscribe_to_pnl_updates()
        except Exception as exc:
            await _discard(client)
            cause = self.redact.cause(exc)
            refused = self._errors.pop(request_key({"template_id": 10}), None)
            if refused is not None:
                refusal = self.redact(explain(refused, "the login"))
                raise BrokerError(refusal, retryable=False) from cause
            raise BrokerError(
                self.redact(
                    f"could not log in to Rithmic at {self.login.url}: {exc or type(exc).__name__}"
                )
            ) from cause
        self._client = client
        for name in PLANTS:
            plant = client.plants[name]
            self._watchers.append(
                asyncio.get_running_loop().create_task(
                    self._watch(name, plant.ws), name=f"rithmic {name} socket"
                )
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        watchers, self._watchers = self._watchers, []
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        if client is not None:
            await _discard(client)
        filtered, self._filtered = self._filtered, []
        for logger in filtered:
            logger.removeFilter(self._library_filter)

    def _filter_library_logs(self, client: RithmicClient) -> None:
        """Hide the password in what async-rithmic logs (its debug lines show every request).

        The library's loggers are shared by name: each wire adds its own filter while it is open
        and takes it away on close, so a closed connection leaves nothing behind.
        """
        self._filtered = [_LIBRARY_LOG, *(plant.logger for plant in client.plants.values())]
        for logger in self._filtered:
            logger.addFilter(self._library_filter)

    def _new_client(self) -> RithmicClient:
        login = self.login
        client = RithmicClient(
            user=login.user,
            password=login.password,
            system_name=login.system,
            app_name=login.app_name,
            app_version=login.app_version,
            url=login.url,
            manual_or_auto=OrderPlacement.AUTO,  # propdesk's orders are automated, and say so
            reconnection_settings=NO_RECONNECT,
            retry_settings=RetrySettings(max_retries=1, timeout=self._timeout, jitter_range=None),
        )
        if login.url.startswith("ws://"):
            # A plain-text loopback fake: the library's TLS context would refuse a ws:// URI.
            client.ssl_context = None
        for plant in client.plants.values():
            self._tap(plant)
        client.on_rithmic_order_notification += self._listener.on_push
        client.on_exchange_order_notification += self._listener.on_push
        client.on_instrument_pnl_update += self._listener.on_push
        client.on_account_pnl_update += self._listener.on_push
        return client

    async def _watch(self, name: str, ws: Any) -> None:
        await ws.wait_closed()
        self._transport_lost(f"the {name} plant's connection closed")

    def _transport_lost(self, detail: str) -> None:
        """Fail the requests in flight at once: their answers will never come on this transport."""
        if self._lost:
            return
        self._lost = detail
        for request in list(self._inflight):
            request.cancel()
        self._listener.on_broken(detail)

    # -- the tap ---------------------------------------------------------------------------------
    def _tap(self, plant: Any) -> None:
        parse: Callable[[Any], Any] = plant._convert_bytes_to_response
        manager = plant.request_manager
        listener = self._listener

        def tapped(buffer: Any) -> Any:
            if (
                not isinstance(buffer, bytes | bytearray)
                or len(buffer) < 4
                or int.from_bytes(buffer[:4], "big") != len(buffer) - 4
            ):
                return self._reject_frame(plant, "a frame that is not length-prefixed protobuf")
            try:
                response = parse(buffer)
            except Exception as exc:  # whatever the parser raises, the frame is bad
                said = self.redact(exc)
                return self._reject_frame(plant, f"an undecodable frame ({said})")
            listener.on_frame()
            if response is None:  # a template the library does not know: skipped, as it logs
                return None
            template_id = response.template_id
            if template_id in PUSHES:  # pushes carry no request id and no refusal
                return response
            if template_id == FORCED_LOGOUT:
                self.forced_out = True
                listener.on_forced_logout()
                self._transport_lost("Rithmic sent a ForcedLogout")
                return None
            ids = list(getattr(response, "user_msg", ()))
            codes = list(getattr(response, "rp_code", ()))
            refused = template_id == REJECT or (codes and codes[0] not in ("0", NO_DATA))
            if refused and ids and manager.has_pending(ids[0]) and ids[0] in manager.requests:
                self._errors[request_key(manager.requests[ids[0]])] = codes
                manager.mark_complete(ids[0])
                return None
            if template_id == REJECT:
                log.warning("Rithmic rejected a message: %s", self.redact(", ".join(codes)))
                return None
            return response

        plant._convert_bytes_to_response = tapped

    def _reject_frame(self, plant: Any, what: str) -> None:
        self.malformed += 1
        detail = f"the {plant.plant_type} plant sent {what}"
        log.warning("%s; resetting the connection", detail)
        self._transport_lost(detail)
        return None

    # -- requests --------------------------------------------------------------------------------
    def _require(self) -> RithmicClient:
        if self.forced_out:
            raise SessionLost("Rithmic logged this user out (another session took it)")
        client = self._client
        if client is None or not self.is_open:
            raise BrokerError("not connected to Rithmic")
        return client

    async def _call(
        self, action: str, key: RequestKey, request: Callable[[RithmicClient], Awaitable[T]]
    ) -> T:
        client = self._require()
        self._errors.pop(key, None)
        pending = asyncio.ensure_future(asyncio.wait_for(request(client), self._timeout + 1))
        self._inflight.add(pending)
        try:
            result = await pending
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._lost or (task is not None and task.cancelling()):
                raise  # the caller itself was cancelled
            if self.forced_out:
                raise SessionLost("Rithmic logged this user out during the request") from None
            raise BrokerError(f"{action} was cut off: {self._lost}") from None
        except TimeoutError as exc:
            raise BrokerError(f"Rithmic did not answer {action} in {self._timeout:.0f} s") from exc
        except BrokerError:
            raise
        except Exception as exc:
            cause = self.redact.cause(exc)
            if self.forced_out:
                raise SessionLost("Rithmic logged this user out during the request") from cause
            said = self.redact(exc or type(exc).__name__)
            raise BrokerError(f"{action} failed: {said}") from cause
        finally:
            self._inflight.discard(pending)
        refused = self._errors.pop(key, None)
        if refused is not None:
            refusal = self.redact(explain(refused, action))
            raise BrokerError(refusal, retryable=refused[0] not in TERMINAL_CODES)
        return result

    def account_ids(self) -> list[tuple[str, str]]:
        """(account id, account name) of every account the login may see."""
        client = self._require()
        return [(a.account_id, a.account_name or a.account_id) for a in client.accounts or ()]

    async def orders(self, account: str) -> list[Any]:
        return await self._call(
            f"the order list of {account}",
            request_key({"template_id": 320, "account_id": account}),
            lambda c: c.list_orders(account_id=account),
        )

    async def positions(self, account: str) -> list[Any]:
        return await self._call(
            f"the positions of {account}",
            request_key({"template_id": 402, "account_id": account}),
            lambda c: c.list_positions(account_id=account),
        )

    async def account_pnl(self, account: str) -> list[Any]:
        return await self._call(
            f"the P&L of {account}",
            request_key({"template_id": 402, "account_id": account}),
            lambda c: c.list_account_summary(account_id=account),
        )

    async def fills(self, account: str, start: datetime, end: datetime) -> list[Any]:
        return await self._call(
            f"the fills of {account}",
            request_key({"template_id": 3512, "account_id": account}),
            lambda c: c.get_fill_history(start, end, account_id=account),
        )

    async def place(
        self,
        account: str,
        tag: str,
        symbol: str,
        exchange: str,
        qty: int,
        *,
        buy: bool,
        order_type: int,
        prices: dict[str, float],
    ) -> str:
        answers = await self._call(
            f"the order {tag}",
            request_key(
                {"template_id": 312, "account_id": account, "user_tag": tag, "symbol": symbol}
            ),
            lambda c: c.submit_order(
                tag,
                symbol,
                exchange,
                qty,
                TransactionType.BUY if buy else TransactionType.SELL,
                order_type,
                account_id=account,
                **prices,
            ),
        )
        basket = next((a.basket_id for a in answers if a.basket_id), "")
        if not basket:
            raise BrokerError(f"Rithmic gave no order id for {tag}")
        return str(basket)

    async def cancel(self, account: str, basket_id: str) -> None:
        await self._call(
            f"the cancel of {basket_id}",
            request_key({"template_id": 316, "account_id": account, "basket_id": basket_id}),
            lambda c: c.cancel_order(basket_id=basket_id, account_id=account),
        )

    async def cancel_all(self, account: str) -> None:
        await self._call(
            f"cancel-all on {account}",
            request_key({"template_id": 346, "account_id": account}),
            lambda c: c.cancel_all_orders(account_id=account),
        )

    async def exit_position(
        self, account: str, symbol: str | None = None, exchange: str | None = None
    ) -> None:
        where = {"symbol": symbol, "exchange": exchange} if symbol else {}
        await self._call(
            f"exit-position on {account}" + (f" {symbol}" if symbol else ""),
            request_key({"template_id": 3504, "account_id": account, "symbol": symbol}),
            lambda c: c.exit_position(account_id=account, **where),
        )

    async def heartbeat(self) -> None:
        """A heartbeat on each plant: its reply is the frame that proves the link alive."""
        client = self._client
        if client is None:
            return
        for name in PLANTS:
            plant = client.plants[name]
            if plant.is_connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(plant._send_heartbeat(), self._timeout)


ORDER_TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP_MARKET,
}


async def _discard(client: RithmicClient) -> None:
    """Close both plants, whatever state they are in, leaving no task of the library running."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(timeout=1.0), 3.0)
    for plant in client.plants.values():
        with contextlib.suppress(Exception):
            await plant._stop_background_tasks()
        ws = plant.ws
        transport = getattr(ws, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.abort()
