"""Time as the core reads it: a Clock is a callable that gives the current moment, in UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real Clock."""
    return datetime.now(UTC)

# Seconds on a monotonic scale (time.monotonic), for pacing and rate limits; never a moment in time.
Monotonic = Callable[[], float]
