"""RingCentral's rate-limit groups, and scripted faults for reliability tests.

Each group counts accepted requests in a sliding window. A request over the limit starts
a penalty; every request to that group during the penalty is refused and restarts it,
as RingCentral's docs warn. When the penalty ends the window starts afresh.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Group(StrEnum):
    HEAVY = "heavy"
    MEDIUM = "medium"
    LIGHT = "light"
    AUTH = "auth"


@dataclass
class _Bucket:
    limit: int
    accepted: deque[float] = field(default_factory=deque)
    penalty_until: float = 0.0


class RateLimiter:
    """Sliding-window counters per group, answering with RingCentral's `X-Rate-Limit-*` headers."""

    def __init__(
        self, limits: dict[Group, int], *, window: float, penalty: float, clock: Callable[[], float]
    ) -> None:
        self._buckets = {group: _Bucket(limit) for group, limit in limits.items()}
        self._window = window
        self._penalty = penalty
        self._clock = clock

    def admit(self, group: Group) -> tuple[bool, dict[str, str]]:
        """Count one request; say whether it may proceed, and the headers to send either way."""
        bucket = self._buckets[group]
        now = self._clock()
        while bucket.accepted and bucket.accepted[0] <= now - self._window:
            bucket.accepted.popleft()
        allowed = now >= bucket.penalty_until and len(bucket.accepted) < bucket.limit
        if allowed:
            bucket.accepted.append(now)
        else:
            bucket.penalty_until = now + self._penalty
            bucket.accepted.clear()
        headers = {
            "X-Rate-Limit-Group": str(group),
            "X-Rate-Limit-Limit": str(bucket.limit),
            "X-Rate-Limit-Remaining": str(max(0, bucket.limit - len(bucket.accepted)) if allowed else 0),
            "X-Rate-Limit-Window": str(_seconds(self._window)),
        }
        if not allowed:
            headers["Retry-After"] = str(_seconds(self._penalty))
        return allowed, headers

    def reset(self) -> None:
        for bucket in self._buckets.values():
            bucket.accepted.clear()
            bucket.penalty_until = 0.0


def _seconds(value: float) -> int:
    """Whole seconds, rounded up, as the headers carry them."""
    return max(0, math.ceil(value))


class FaultKind(StrEnum):
    """What a scripted fault does to the request it catches."""

    ERROR_500 = "500"
    ERROR_502 = "502"
    ERROR_503 = "503"
    ERROR_504 = "504"
    RATE_LIMITED = "429"  # 429 CMN-301 with Retry-After, outside the real counters
    HANG = "hang"  # never answer, and do nothing
    HANG_AFTER = "hang_after"  # do the work (a fax is created), then never answer
    RESET = "reset"  # drop the connection, and do nothing
    RESET_AFTER = "reset_after"  # do the work, then drop the connection
    EXPIRE_TOKENS = "expire_tokens"  # expire every access token, then handle the request
    REFUSE_REFRESH = "refuse_refresh"  # a refresh grant is refused with invalid_grant
    FORBIDDEN = "403"  # 403 MSG-341: a permanent refusal ("Outbound fax not allowed for extension")


@dataclass(kw_only=True)
class Fault:
    """One scripted answer: requests whose path matches `path` (a regex) get `kind`."""

    path: str
    kind: FaultKind
    method: str | None = None
    times: int | None = 1
    retry_after: int = 60
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": str(self.kind),
            "method": self.method,
            "times": self.times,
            "retryAfter": self.retry_after,
            "hits": self.hits,
        }


class Faults:
    """Scripted faults, consumed in the order they were pushed."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []

    def push(
        self,
        path: str,
        kind: FaultKind | str,
        *,
        method: str | None = None,
        times: int | None = 1,
        retry_after: int = 60,
    ) -> Fault:
        """Script `kind` for the next `times` matching requests (None: until cleared)."""
        re.compile(path)
        fault = Fault(path=path, kind=FaultKind(kind), method=method, times=times, retry_after=retry_after)
        self._pending.append(fault)
        return fault

    def take(self, method: str, path: str, kinds: frozenset[FaultKind]) -> Fault | None:
        """The first pending fault of one of `kinds` matching this request, counted as used."""
        for fault in self._pending:
            if fault.kind in kinds and fault.matches(method, path):
                fault.hits += 1
                if fault.times is not None and fault.hits >= fault.times:
                    self._pending.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self._pending.clear()

    @property
    def pending(self) -> list[Fault]:
        return list(self._pending)


REQUEST_FAULTS = frozenset(FaultKind) - {FaultKind.REFUSE_REFRESH}
