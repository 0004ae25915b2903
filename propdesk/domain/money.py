"""Exact money: Decimal everywhere, formatted to cents only at the edge."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ZERO = Decimal(0)
CENT = Decimal("0.01")


class MoneyError(ValueError):
    """A value that cannot be read as an exact amount."""


def to_decimal(value: object, *, what: str = "amount") -> Decimal:
    """Read a price or an amount exactly.

    Strings and ints are exact. Floats are accepted only because JSON numbers arrive as floats; they are
    converted through their shortest repr (`5012.25` stays `5012.25`, never `5012.2500000000001`).
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise MoneyError(f"{what}: expected a number, got {value!r}")
    elif isinstance(value, int | str):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise MoneyError(f"{what}: {value!r} is not a number") from None
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise MoneyError(f"{what}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise MoneyError(f"{what}: {value!r} is not a finite number")
    return result


def cents(value: Decimal) -> str:
    """`Decimal('48500') -> '48500.00'`; half-cents round away from zero (display only)."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))
