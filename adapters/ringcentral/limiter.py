"""A client-side rate limiter for RingCentral's throttling groups, with the 429 penalty box."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bridge.clock import Monotonic

Sleep = Callable[[float], Awaitable[None]]

# RingCentral's default user-level plans: requests per window of seconds (docs: basics/rate-limits).
DEFAULT_GROUPS: Mapping[str, tuple[int, float]] = {
    "heavy": (10, 60.0),
    "medium": (40, 60.0),
    "light": (50, 60.0),
    "auth": (5, 60.0),
}
# The JS SDK's fallback when a 429 comes without Retry-After; the docs ask for at least 30 s.
DEFAULT_PENALTY = 60.0


EXPIRED_GRACE = 2.0  # seconds a send of ours may still count at the server after it left our window


def arrival_margin(window: float) -> float:
    """How far past a window to wait: the server counts arrivals, which come a moment after our sends."""
    return min(0.25, window * 0.02)


@dataclass
class _Bucket:
    limit: int
    window: float
    sent: deque[float] = field(default_factory=deque)

    # Sends that just left our window but may still be inside the server's (it counts arrivals).
    expired: deque[float] = field(default_factory=deque)

    def prune(self, now: float) -> None:
        while self.sent and self.sent[0] <= now - self.window:
            self.expired.append(self.sent.popleft())
        while self.expired and self.expired[0] <= now - self.window - EXPIRED_GRACE:
            self.expired.popleft()

    def wait(self, now: float) -> float:
        """Seconds until one more request fits in the window."""
        self.prune(now)
        if len(self.sent) < self.limit:
            return 0.0
        return self.sent[len(self.sent) - self.limit] + self.window + arrival_margin(self.window) - now


class RateLimiter:
    """Keeps requests under each group's sliding window and sends nothing during a 429 penalty.

    One limiter is shared by every call of one process: the server counts per user and app,
    and a request sent during a penalty restarts the penalty, so waiting is the only safe move.
    """

    def __init__(
        self,
        *,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        groups: Mapping[str, tuple[int, float]] = DEFAULT_GROUPS,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._buckets = {name: _Bucket(limit, window) for name, (limit, window) in groups.items()}
        self._aliases: dict[str, str] = {}
        self._penalty_until = float("-inf")

    def _bucket(self, group: str) -> _Bucket:
        name = self._aliases.get(group.lower(), group.lower())
        if name not in self._buckets:
            # An unknown group gets the strictest default until its headers teach us more.
            self._buckets[name] = _Bucket(*DEFAULT_GROUPS["heavy"])
        return self._buckets[name]

    def penalty_remaining(self) -> float:
        """Seconds left in the current 429 penalty, 0 when there is none."""
        return max(0.0, self._penalty_until - self._clock())

    def delay(self, group: str) -> float:
        """Seconds before a request of `group` may go out."""
        return max(self.penalty_remaining(), self._bucket(group).wait(self._clock()))

    async def acquire(self, group: str) -> None:
        """Wait until a request of `group` may be sent, then count it."""
        while (pause := self.delay(group)) > 0:
            # Re-check after every sleep: a 429 seen meanwhile may have extended the penalty.
            await self._sleep(pause)
        self._bucket(group).sent.append(self._clock())

    def try_acquire(self, group: str) -> bool:
        """Count a request of `group` only if it may go out now; never waits."""
        if self.delay(group) > 0:
            return False
        self._bucket(group).sent.append(self._clock())
        return True

    def penalize(self, retry_after: float | None) -> float:
        """Record a 429: nothing at all is sent for `retry_after` seconds. Returns the wait used."""
        wait = retry_after if retry_after is not None and retry_after > 0 else DEFAULT_PENALTY
        self._penalty_until = max(self._penalty_until, self._clock() + wait)
        return wait

    def observe(self, group: str, headers: Mapping[str, str]) -> None:
        """Learn the real plan from a response's X-Rate-Limit-* headers."""
        try:
            limit = int(headers["X-Rate-Limit-Limit"])
            window = float(headers["X-Rate-Limit-Window"])
        except (KeyError, ValueError):
            return  # Limits other than the user-level ones come without headers.
        server_group = headers.get("X-Rate-Limit-Group", "").strip().lower()
        if server_group and server_group != group.lower():
            self._merge_alias(group.lower(), server_group)
        bucket = self._bucket(group)
        bucket.limit, bucket.window = max(1, limit), max(1.0, window)
        self._sync_remaining(bucket, headers.get("X-Rate-Limit-Remaining"))

    def _merge_alias(self, group: str, server_group: str) -> None:
        old = self._buckets.pop(group, None)
        self._aliases[group] = server_group
        if server_group not in self._buckets and old is not None:
            self._buckets[server_group] = old

    def _sync_remaining(self, bucket: _Bucket, remaining: str | None) -> None:
        # Other processes of the same user and app spend the same budget; trust the server's count.
        try:
            used = bucket.limit - int(remaining) if remaining is not None else 0
        except ValueError:
            return
        now = self._clock()
        bucket.prune(now)
        # Sends of ours the server still counts are not someone else's: only the rest are.
        for _ in range(used - len(bucket.sent) - len(bucket.expired)):
            bucket.sent.append(now)
