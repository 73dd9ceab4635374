"""FaxService: the one entry point adapters call to check, accept and act on faxes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bridge.clock import Clock, utcnow
from bridge.errors import NumberRefused, RequestRejected, SenderRefused, StoreUnavailable
from bridge.judging import judge
from bridge.metrics import Metrics
from bridge.model import Channel, Destination, FaxRequest, Job
from bridge.numbers import parse_destination
from bridge.pipeline import PipelineConfig, prepare
from bridge.ports import Acceptance, Jobs
from bridge.senders import SenderPolicy
from bridge.settings import Settings
from bridge.states import JobState
from bridge.wording import UNKNOWN_FATE
from bridge.workers import ThreadWorkers, Workers

log = logging.getLogger("faxbridge.service")
# A fax can be called back until it is handed to the provider.
CANCELLABLE = frozenset({JobState.RECEIVED, JobState.QUEUED})
class FaxService:
    """Decides: which numbers and senders are allowed, what a request becomes, what operators may do."""

    def __init__(
        self,
        settings: Settings,
        jobs: Jobs,
        *,
        clock: Clock = utcnow,
        on_new_work: Callable[[], None] = lambda: None,
        metrics: Metrics,
        workers: Workers | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._jobs = jobs
        # Untrusted files are read here; `serve` passes its process pool (bridge.workers).
        self.workers: Workers = workers or ThreadWorkers()
        self.clock = clock
        self.on_new_work = on_new_work
        self.senders = SenderPolicy(settings.allowed_senders, open_when_empty=settings.demo)

    def destination(self, text: str, *, channel: Channel | None = None) -> Destination:
        """Parse and check one number; raise NumberRefused with the reason.

        With `channel`, a refusal is counted as that channel's intake refusal.
        """
        try:
            return parse_destination(
                text, default_region=self.settings.default_region, allowed_countries=self.settings.countries
            )
        except NumberRefused as refused:
            if channel is not None:
                self.metrics.refused(channel, refused)
            raise

    def check_sender(self, address: str, *, channel: Channel = Channel.EMAIL) -> None:
        """Raise SenderRefused unless this email address may send faxes."""
        if not self.senders.allows(address):
            refused = SenderRefused(f"{address or 'the null sender'} is not allowed to send faxes")
            self.metrics.refused(channel, refused)
            raise refused

    async def accept(self, request: FaxRequest) -> Acceptance:
        """Turn a request into durably stored jobs, one per number.

        Raises RequestRejected (permanent, with the reason) or StoreUnavailable (try later).
        Returns only after every job and its documents are committed. The attachments are judged
        in the worker pool; the event loop never reads them.
        """
        try:
            destinations = _unique([self.destination(n) for n in request.to])
            if not destinations:
                raise NumberRefused("no fax number was given")
            verdicts = await judge(self.workers, request.attachments)
            prepared = prepare(
                request,
                destinations,
                PipelineConfig(cover_mode=self.settings.cover, now=self.clock()),
                verdicts,
            )
        except RequestRejected as rejected:
            self.metrics.refused(request.origin.channel, rejected)
            await self._record_rejection(request, rejected)
            raise
        now = self.clock()
        try:
            acceptance = await self._jobs.create_jobs(
                numbers=[d.e164 for d in destinations],
                prepared=prepared,
                origin=request.origin,
                idempotency_key=request.idempotency_key,
                now=now,
                # A request is "the same" only within the retention period; after it, a new one.
                key_since=now - timedelta(days=self.settings.retention_days),
            )
        except StoreUnavailable as unavailable:
            self.metrics.refused(request.origin.channel, unavailable)
            raise
        if not acceptance.duplicate:
            self.metrics.accepted(request.origin.channel, len(acceptance.jobs))
        for job in acceptance.jobs:
            log.info(
                "job %s %s to %s (%d pages) from %s",
                job.id,
                "seen again" if acceptance.duplicate else "queued",
                job.to,
                job.pages,
                job.origin.channel,
                extra={"job_id": job.id},
            )
        if not acceptance.duplicate:
            self.on_new_work()
        return acceptance

    async def _record_rejection(self, request: FaxRequest, rejected: RequestRejected) -> None:
        # Kept so `faxbridge jobs` shows refusals too; a store failure must not hide the real reason.
        number = request.to[0] if request.to else ""
        try:
            job = await self._jobs.create_rejected(
                number=number[:64], origin=request.origin, reason=rejected.reason, now=self.clock()
            )
        except StoreUnavailable:
            log.warning("could not record a refused request: %s", rejected.reason)
            return
        log.info("job %s refused: %s", job.id, rejected.reason, extra={"job_id": job.id})

    async def job(self, job_id: str) -> Job:
        return await self._jobs.get(job_id)

    async def jobs(self, state: JobState | None = None, limit: int = 100) -> list[Job]:
        return await self._jobs.list_jobs(state=state, limit=limit)

    async def jobs_for_key(self, idempotency_key: str) -> list[Job]:
        """The jobs a request with this idempotency key became, if it was stored."""
        return await self._jobs.jobs_for_key(idempotency_key)

    async def cancel(self, job_id: str, *, by: str = "an operator") -> Job:
        """Cancel a job that has not been handed to the provider yet."""
        job = await self._jobs.get(job_id)
        if job.state not in CANCELLABLE:
            raise RequestRejected(f"job {job_id} is {job.state} and can no longer be cancelled")
        done = await self._jobs.transition(
            job_id, JobState.CANCELLED, reason=f"cancelled by {by}", now=self.clock(), expect=job.state
        )
        log.info("job %s cancelled by %s", job_id, by, extra={"job_id": job_id})
        return done

    async def resolve(self, job_id: str, *, sent: bool, by: str = "an operator") -> Job:
        """Record what an operator found at RingCentral about a submission whose fate was unknown.

        Sent: the job ends as sent (nothing follows it further) and its sender hears so. Not sent:
        it is queued and sent again. Only for a job failed as UNKNOWN_FATE, or one still
        `submitting` well after its submission began (its POST is surely over by then).
        """
        job = await self._jobs.get(job_id)
        now = self.clock()
        if not self._fate_unknown(job, now):
            raise RequestRejected(
                f"job {job_id} is {job.state}; only a submission whose fate RingCentral could not tell"
                " can be resolved"
            )
        if sent:
            done = await self._jobs.transition(
                job_id,
                JobState.SENT,
                reason=f"{by} found at RingCentral that it was sent",
                now=now,
                expect=job.state,
                settle=True,
            )
        else:
            done = await self._jobs.transition(
                job_id,
                JobState.QUEUED,
                reason=f"{by} found at RingCentral that it was never sent; sending again",
                now=now,
                due_at=now,
                expect=job.state,
            )
            self.on_new_work()
        log.info(
            "job %s resolved by %s as %s",
            job_id,
            by,
            "sent" if sent else "not sent",
            extra={"job_id": job_id},
        )
        return done

    def _fate_unknown(self, job: Job, now: datetime) -> bool:
        if job.state is JobState.FAILED:
            return job.reason == UNKNOWN_FATE
        started = job.submit_started_at or job.updated
        over = timedelta(seconds=self.settings.submit_timeout_seconds)
        return job.state is JobState.SUBMITTING and now - started >= over

    async def retry(self, job_id: str) -> Job:
        """Queue a failed job again, now."""
        job = await self._jobs.get(job_id)
        if job.state is not JobState.FAILED:
            raise RequestRejected(f"job {job_id} is {job.state}; only failed jobs can be retried")
        now = self.clock()
        done = await self._jobs.transition(
            job_id,
            JobState.QUEUED,
            reason="retry requested by an operator",
            now=now,
            due_at=now,
            expect=job.state,
        )
        self.on_new_work()
        return done


def _unique(destinations: list[Destination]) -> list[Destination]:
    seen: dict[str, Destination] = {}
    for destination in destinations:
        seen.setdefault(destination.e164, destination)
    return list(seen.values())
