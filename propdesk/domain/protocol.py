"""The trader's own protocol: buffers inside the firm's limits (defaults from the seed article's practice)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Protocol:
    """User-side levels. `Protocol.none()` keeps only the firm's own numbers."""

    warn_fraction: Decimal | None = Decimal(
        "0.50"
    )  # of the daily limit, or of the max-loss cushion
    reduce_fraction: Decimal | None = Decimal("0.65")
    stop_fraction: Decimal | None = Decimal("0.75")  # the user's stop: flatten and lock
    max_loss_buffer: Decimal | None = None  # $ above the max-loss floor; None → (1 − stop) × D
    size_cap_offset: int = 1  # cap = firm max − offset
    size_cap: Decimal | None = None  # an explicit cap in full-size contracts wins over the offset
    cutoff_buffer: timedelta = timedelta(minutes=30)  # flat this long before the firm's flat-by
    cutoff_reduce_lead: timedelta = timedelta(minutes=10)  # reduce-only this long before the cutoff
    news_reduce_lead: timedelta = timedelta(minutes=5)  # reduce-only this long before a window
    connection_down_limit: timedelta | None = timedelta(seconds=10)
    hysteresis: Decimal = Decimal("0.05")  # of the limit: how far back before a state eases
    # ... and how long the numbers must stay back (event time) before a state they raised eases:
    # marks crossing a level every few seconds made WARNING <-> ACTIVE flap (issue 13).
    ease_after: timedelta = timedelta(seconds=60)
    # After a confirmed unlock of your own stop: the line that still holds for the rest of the
    # day, as a fraction of the firm's limit (None: only the firm's floors).
    last_line_fraction: Decimal | None = Decimal("0.90")

    @classmethod
    def none(cls) -> Protocol:
        return cls(
            warn_fraction=None,
            reduce_fraction=None,
            stop_fraction=None,
            max_loss_buffer=Decimal(0),
            size_cap_offset=0,
            cutoff_buffer=timedelta(0),
            cutoff_reduce_lead=timedelta(0),
            news_reduce_lead=timedelta(0),
            connection_down_limit=None,
            last_line_fraction=None,
        )

    def __post_init__(self) -> None:
        fractions = [f for f in (self.warn_fraction, self.reduce_fraction, self.stop_fraction) if f]
        if any(not (0 < f <= 1) for f in fractions):
            raise ValueError("warn/reduce/stop fractions must be within (0, 1]")
        if fractions != sorted(fractions):
            raise ValueError("levels must rise: warn ≤ reduce ≤ stop")
        if self.size_cap_offset < 0:
            raise ValueError("size_cap_offset must be ≥ 0")
        if self.last_line_fraction is not None and not 0 < self.last_line_fraction < 1:
            raise ValueError("last_line_fraction must be within (0, 1)")
        if self.hysteresis < 0:
            raise ValueError("hysteresis must be ≥ 0")
        if self.ease_after < timedelta(0):
            raise ValueError("ease_after must be ≥ 0 s")
