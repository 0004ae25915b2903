"""How the console writes money, time spans and clock times (one place, so every widget agrees)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

CT = ZoneInfo("America/Chicago")
MINUS = "\u2212"  # a real minus sign: as wide as the plus, readable from across the desk
DASH = "\u2014"


def fees(total: Decimal, estimated: Decimal) -> str:
    """Fees booked, saying which part propdesk charged because the broker reported none."""
    if not estimated:
        return f"fees: {money(total)}"
    return (
        f"fees: {money(total)} (estimated: {money(estimated)} — the broker reported none; "
        "charged from the firm's commission schedule)"
    )


def money(value: Decimal | None, *, sign: bool = False) -> str:
    """$1,234.56; with `sign`, +$1,234.56 / −$1,234.56."""
    if value is None:
        return DASH
    cents = value.quantize(Decimal("0.01"))
    text = f"${abs(cents):,.2f}"
    if cents < 0:
        return MINUS + text
    if sign and cents > 0:
        return "+" + text
    return text


def signed_int(value: int) -> str:
    return f"+{value}" if value > 0 else (f"{MINUS}{-value}" if value < 0 else "0")


def span(delta: timedelta) -> str:
    """H:MM:SS (days as "2d 3:04:05"); negative spans read as 0:00:00."""
    seconds = max(0, int(delta.total_seconds()))
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    clock = f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{days}d {clock}" if days else clock


def ct_time(ts: datetime, *, seconds: bool = False) -> str:
    local = ts.astimezone(CT)
    return local.strftime("%H:%M:%S" if seconds else "%H:%M") + " CT"


def price(value: Decimal | None, tick: Decimal | None = None) -> str:
    """A price to its tick's decimals (an average between ticks: two more, zeros trimmed)."""
    if value is None:
        return DASH
    places = 2 if tick is None else max(0, -tick.normalize().as_tuple().exponent)
    rounded = value.quantize(Decimal(1).scaleb(-(places + 2)))
    if rounded == rounded.quantize(Decimal(1).scaleb(-places)):
        rounded = rounded.quantize(Decimal(1).scaleb(-places))
    else:
        rounded = rounded.normalize()
    return f"{rounded:,}"
