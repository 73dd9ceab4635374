"""Retry policy: which failures earn another try, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.loop import backoff
from bridge.ports import FailureCause

# Busy lines and unanswered calls clear up; a wrong number or a refusal does not.
RETRYABLE_CAUSES = frozenset({FailureCause.LINE_BUSY, FailureCause.NO_ANSWER, FailureCause.CALL_FAILED})
PROVIDER_BACKOFF_FIRST = 5.0
PROVIDER_BACKOFF_MAX = 300.0


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Fax-level retries (busy, no answer) and provider-level backoff (5xx, network)."""

    attempts: int = 3
    delay_seconds: float = 300.0

    def next_try(self, cause: FailureCause, tries_so_far: int, now: datetime) -> datetime | None:
        """When to dial again after a failed fax, or None when it should fail now."""
        if cause not in RETRYABLE_CAUSES or tries_so_far > self.attempts:
            return None
        return now + timedelta(seconds=self.delay_seconds)

    @staticmethod
    def provider_backoff(failures: int, retry_after: float | None, now: datetime) -> datetime:
        """When to call the provider again after trouble on its side."""
        wait = backoff(failures, first=PROVIDER_BACKOFF_FIRST, most=PROVIDER_BACKOFF_MAX)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return now + timedelta(seconds=wait)
