"""The tracker: follows faxes the provider has until they end, and applies the retry policy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from bridge.clock import Clock
from bridge.errors import InvalidTransition, ProviderError, StoreUnavailable
from bridge.logs import about_job
from bridge.loop import WorkerLoop, backoff
from bridge.model import Job
from bridge.ports import FailureCause, FaxOutcome, FaxProvider, Jobs, ProviderStatus
from bridge.retry import RetryPolicy
from bridge.states import JobState
from bridge.wording import CAUSE_WORDS

log = logging.getLogger("faxbridge.tracking")
MAX_POLL_BACKOFF = 300.0
MAX_POLL_DOUBLINGS = 5


class Tracker:
    """Polls the provider for every fax in flight, or wakes on a webhook's nudge."""

    def __init__(
        self,
        jobs: Jobs,
        provider: FaxProvider,
        *,
        clock: Clock,
        retry: RetryPolicy,
        poll_seconds: float,
        settle_seconds: float,
        on_requeue: Callable[[], None] = lambda: None,
    ) -> None:
        self.jobs = jobs
        self.provider = provider
        self.clock = clock
        self.retry = retry
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.on_requeue = on_requeue
        self.worker = WorkerLoop(
            "status check",
            (self.check,),
            wait=self._until_next,
            log=log,
            expected=(ProviderError, StoreUnavailable),
        )

    def wake(self) -> None:
        """Something changed at the provider (a webhook said so): check now."""
        self.worker.wake()

    async def run(self) -> None:
        """Check until cancelled; stopping would leave every fax in flight unreported."""
        await self.worker.run()

    async def check(self) -> int:
        """Ask the provider about every fax in flight and act on the answers; return how many changed."""
        jobs = await self.jobs.in_flight()
        if not jobs:
            return 0
        by_id = {job.provider_id: job for job in jobs if job.provider_id}
        statuses = {s.provider_id: s for s in await self.provider.status(list(by_id))}
        changed = 0
        for provider_id, job in by_id.items():
            status = statuses.get(provider_id)
            with about_job(job.id):
                try:
                    changed += await (self._missing(job) if status is None else self._apply(job, status))
                except InvalidTransition as exc:
                    # Someone else moved it meanwhile; the next pass sees where it stands.
                    log.info("job %s changed meanwhile: %s", job.id, exc.reason)
        return changed

    async def _apply(self, job: Job, status: ProviderStatus) -> int:
        now = self.clock()
        if status.outcome is FaxOutcome.QUEUED:
            return 0
        if status.outcome is FaxOutcome.SENT:
            if job.state is JobState.SUBMITTED:
                await self.jobs.transition(
                    job.id, JobState.SENT, reason="transmitted", now=now, durable=False
                )
                return 1
            if now - job.updated > timedelta(seconds=self.settle_seconds):
                await self.jobs.mark_settled(job.id, now=now)
                log.info("job %s sent; no confirmation reported, no longer followed", job.id)
                return 1
            return 0
        if status.outcome is FaxOutcome.DELIVERED:
            await self.jobs.transition(
                job.id, JobState.DELIVERED, reason="the receiving machine confirmed", now=now, durable=False
            )
            log.info("job %s delivered", job.id)
            return 1
        await self._failed(job, status)
        return 1

    async def _failed(self, job: Job, status: ProviderStatus) -> None:
        now = self.clock()
        cause = status.cause or FailureCause.UNKNOWN
        words = CAUSE_WORDS[cause]
        again = self.retry.next_try(cause, job.attempts, now)
        if again is not None:
            reason = f"{words}; trying again at {again:%H:%M:%S} UTC (try {job.attempts + 1} of {self.retry.attempts + 1})"
            await self.jobs.transition(
                job.id, JobState.QUEUED, reason=reason, now=now, due_at=again, durable=False
            )
            self.on_requeue()
            log.info("job %s: %s", job.id, reason)
            return
        tried = f" (tried {job.attempts} times)" if job.attempts > 1 else ""
        # Busy and no-answer say it all; for the rest the provider's own words tell the sender more.
        plain = cause in (FailureCause.LINE_BUSY, FailureCause.NO_ANSWER) or not status.detail
        detail = "" if plain else f": {status.detail}"
        await self.jobs.transition(
            job.id, JobState.FAILED, reason=f"{words}{tried}{detail}", now=now, durable=False
        )
        log.info("job %s failed: %s%s", job.id, words, tried)

    async def _missing(self, job: Job) -> int:
        # The provider forgot this fax (or never showed it); give it time, then say so plainly.
        now = self.clock()
        if now - job.updated <= timedelta(seconds=self.settle_seconds):
            return 0
        await self.jobs.transition(
            job.id,
            JobState.FAILED,
            reason="RingCentral no longer reports this fax; its outcome is unknown",
            now=now,
        )
        return 1

    async def _until_next(self, failures: int) -> float:
        """The poll interval, doubled for each failed check in a row (up to 32 times, and MAX_POLL_BACKOFF)."""
        most = min(MAX_POLL_BACKOFF, self.poll_seconds * 2**MAX_POLL_DOUBLINGS)
        return backoff(failures + 1, first=self.poll_seconds, most=most)
