"""The dispatcher: claims due jobs, hands them to the provider, and settles submissions a crash left open."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from bridge.clock import Clock
from bridge.cover import render_sheet
from bridge.errors import (
    BridgeError,
    DocumentMissing,
    InvalidTransition,
    ProviderPermanent,
    ProviderTransient,
    StoreUnavailable,
)
from bridge.logs import about_job
from bridge.loop import WorkerLoop
from bridge.model import Job
from bridge.ports import Documents, FaxProvider, Jobs, OutboundFax, ProviderStatus
from bridge.retry import RetryPolicy
from bridge.states import JobState
from bridge.wording import UNKNOWN_FATE
from bridge.workers import ThreadWorkers, Workers, WorkFailed

log = logging.getLogger("faxbridge.dispatch")
IDLE_WAIT = 1.0  # also how soon a job queued by another process (`faxbridge send`) is seen
UNKNOWN_FATE_SECONDS = 24 * 3600.0
COVER_SECONDS = 60.0


class FateUnclear(BridgeError):
    """The provider's records cannot tell whether this submission reached it."""


class Dispatcher:
    """Moves queued jobs to the provider, at most `concurrency` at a time.

    One at a time by default: sends are RingCentral's Heavy group (10 a minute), so nothing is
    gained by sending in parallel, and a 429 then never finds a second send already on the wire
    (each request during a penalty restarts it).

    A job is `submitting` (with a lease) before the POST and `submitted` with the provider's
    id after it. A POST whose answer never came leaves the job `submitting`; when its lease
    runs out, `reconcile` asks the provider before anything is sent again. A submission whose
    fate stays unclear for `unknown_after` seconds fails with UNKNOWN_FATE, for an operator's
    `faxbridge resolve`.
    """

    def __init__(
        self,
        jobs: Jobs,
        provider: FaxProvider,
        *,
        documents: Documents,
        clock: Clock,
        retry: RetryPolicy,
        submit_timeout: float = 120.0,
        unknown_after: float = UNKNOWN_FATE_SECONDS,
        concurrency: int = 1,
        workers: Workers | None = None,
    ) -> None:
        self.jobs = jobs
        self.documents = documents
        # Covers are drawn here, once per job, just before it is sent; `serve` passes its process pool.
        self.workers: Workers = workers or ThreadWorkers(1)
        self.provider = provider
        self.clock = clock
        self.retry = retry
        self.submit_timeout = submit_timeout
        self.unknown_after = timedelta(seconds=unknown_after)
        self.worker = WorkerLoop(
            "dispatcher", (self.reconcile, self.dispatch_due), wait=self._until_due, log=log
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconciling = asyncio.Lock()
        # While the provider is in trouble nothing is sent, instead of walking the whole queue into it.
        self._paused_until: datetime | None = None
        self._trouble = 0
        self._submitting: set[str] = set()
        # None: every job. A set: only these (a `send --wait` with no `serve` sends its own faxes only).
        self.only: frozenset[str] | None = None

    def wake(self) -> None:
        """New work may be due: look now rather than at the next timer."""
        self.worker.wake()

    async def run(self) -> None:
        """Dispatch until cancelled; no single failure stops it (settling one submission never keeps
        the others from going out)."""
        await self.worker.run()

    async def run_until_idle(self) -> None:
        """Dispatch everything due now, and wait for those submissions to finish."""
        await self.reconcile()
        await self.dispatch_due()
        await self.drain()

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def dispatch_due(self) -> int:
        """Start a submission for every job that is due; return how many started."""
        started = 0
        while True:
            await self._slots.acquire()
            now = self.clock()
            if self._paused_until is not None and now < self._paused_until:
                self._slots.release()
                return started
            try:
                job = await self.jobs.claim_due(
                    now, lease_until=now + timedelta(seconds=self.submit_timeout), only=self.only
                )
            except BaseException:
                self._slots.release()
                raise
            if job is None:
                self._slots.release()
                return started
            task = asyncio.create_task(self._submit(job), name=f"submit-{job.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1

    async def _submit(self, job: Job) -> None:
        self._submitting.add(job.id)
        try:
            with about_job(job.id):
                await self._submit_one(job)
        except StoreUnavailable as exc:
            # The job stays `submitting`; its lease runs out and reconciliation settles it.
            log.error("job %s: could not record the submission: %s", job.id, exc.reason)
        except InvalidTransition as exc:
            # Settled meanwhile (an operator's `faxbridge resolve`): theirs is the last word.
            log.warning("job %s changed while its submission was under way: %s", job.id, exc.reason)
        except Exception as exc:
            # A bug must not leave a fax circling forever unseen: fail it loudly; `faxbridge retry` resends.
            log.exception("job %s: submission failed unexpectedly", job.id)
            with contextlib.suppress(BridgeError):
                await self.jobs.transition(
                    job.id, JobState.FAILED, reason=f"internal error ({type(exc).__name__})", now=self.clock()
                )
        finally:
            self._submitting.discard(job.id)
            self._slots.release()

    async def _submit_one(self, job: Job) -> None:
        try:
            job = await self.ready(job)
        except WorkFailed as exc:
            await self.jobs.transition(
                job.id,
                JobState.FAILED,
                reason=f"the cover page could not be made: {exc.reason}",
                now=self.clock(),
            )
            return
        fax = OutboundFax(
            job_id=job.id,
            to=job.to,
            envelope=job.envelope,
            documents=job.documents,
            open=self.documents.open_document,
        )
        log.info("job %s submitting to %s (%d pages)", job.id, job.to, job.pages)
        try:
            receipt = await self.provider.submit(fax)
        except ProviderTransient as exc:
            await self._after_transient(job, exc)
            return
        except ProviderPermanent as exc:
            if exc.account:
                await self._account_trouble(job, exc)
                return
            log.warning("job %s refused by the provider: %s", job.id, exc.reason)
            await self.jobs.transition(job.id, JobState.FAILED, reason=exc.reason, now=self.clock())
            return
        except DocumentMissing as exc:
            await self.jobs.transition(job.id, JobState.FAILED, reason=exc.reason, now=self.clock())
            return
        self._trouble, self._paused_until = 0, None
        await self.jobs.transition(
            job.id,
            JobState.SUBMITTED,
            reason=f"RingCentral accepted it as message {receipt.provider_id}",
            provider_id=receipt.provider_id,
            now=self.clock(),
        )
        log.info("job %s submitted as %s", job.id, receipt.provider_id)

    async def ready(self, job: Job) -> Job:
        """The job with every document it sends on disk: its cover is drawn the first time (off the loop)."""
        for doc in job.documents:
            if doc.unrendered and doc.sheet is not None:
                data = await self.workers.run(render_sheet, doc.sheet, timeout=COVER_SECONDS)
                job = await self.documents.keep_cover(job.id, doc.id, data)
        return job

    async def _account_trouble(self, job: Job, exc: ProviderPermanent) -> None:
        """The login itself is refused: keep every fax queued and wait for the operator to fix it."""
        now = self.clock()
        self._trouble += 1
        pause = self.retry.provider_backoff(max(self._trouble, 5), None, now)
        self._paused_until = max(self._paused_until or pause, pause)
        await self.jobs.transition(
            job.id,
            JobState.QUEUED,
            reason=f"waiting: {exc.reason} (the operator must fix the credentials)",
            now=now,
            due_at=pause,
        )
        log.error(
            "RingCentral refuses the login (%s); nothing is sent until it works - run `faxbridge check`",
            exc.reason,
        )

    async def _after_transient(self, job: Job, exc: ProviderTransient) -> None:
        now = self.clock()
        if exc.may_have_sent:
            # The provider may have the fax, perhaps still taking it in: ask only once a whole submission
            # could have finished, instead of sending again.
            hold = max(exc.retry_after or 0.0, self.submit_timeout, 5.0)
            await self.jobs.extend_lease(job.id, now + timedelta(seconds=hold))
            log.warning("job %s: no clear answer from the provider (%s); will check", job.id, exc.reason)
            return
        failures = await self.jobs.provider_failures(job.id)
        due = self.retry.provider_backoff(failures, exc.retry_after, now)
        if self._paused_until is None or now >= self._paused_until:
            self._trouble += 1  # one more failed probe; failures of the same burst count once
        pause = self.retry.provider_backoff(self._trouble, exc.retry_after, now)
        self._paused_until = max(self._paused_until or pause, pause)
        await self.jobs.transition(
            job.id, JobState.QUEUED, reason=f"{exc.reason}; trying again shortly", now=now, due_at=due
        )
        log.warning("job %s: %s; next try at %s", job.id, exc.reason, due.isoformat(timespec="seconds"))

    async def reconcile(self) -> None:
        """Settle every submission whose answer was lost: find it at the provider, or queue it again."""
        async with self._reconciling:  # one pass at a time, or two could settle the same job
            for job in await self.jobs.stale_submissions(self.clock()):
                if job.id in self._submitting:
                    continue  # our own POST is still under way; its answer will settle it
                if self.only is not None and job.id not in self.only:
                    continue  # not this command's fax: `serve` settles it
                await self._reconcile_guarded(job)

    async def _reconcile_guarded(self, job: Job) -> None:
        with about_job(job.id):
            await self._reconcile_logged(job)

    async def _reconcile_logged(self, job: Job) -> None:
        failures, retry_after, level = 5, None, logging.WARNING
        try:
            await self._reconcile_one(job)
            return
        except InvalidTransition:
            # It moved on meanwhile (its own POST was answered after all): nothing to settle.
            log.info("job %s settled meanwhile; nothing to reconcile", job.id)
            return
        except StoreUnavailable:
            raise
        except ProviderTransient as exc:
            why, failures, retry_after = exc.reason, 2, exc.retry_after
        except ProviderPermanent as exc:
            # Cannot look (no ReadMessages permission, login refused): never guess; the operator must act.
            why, level = exc.reason, logging.ERROR
        except FateUnclear as exc:
            why = exc.reason
        except Exception as exc:
            # A bug here keeps this one job waiting; it must never stop the queue.
            log.exception("job %s: reconciliation failed unexpectedly", job.id)
            why = f"internal error ({type(exc).__name__})"
        with contextlib.suppress(InvalidTransition):  # settled meanwhile after all
            await self._unclear(job, why, failures=failures, retry_after=retry_after, level=level)

    async def _unclear(
        self, job: Job, why: str, *, failures: int, retry_after: float | None, level: int
    ) -> None:
        """Ask again later; past the limit, fail the job saying so, which frees its number."""
        now = self.clock()
        deadline = (job.submit_started_at or job.updated) + self.unknown_after
        if now >= deadline:
            await self.jobs.transition(
                job.id, JobState.FAILED, reason=UNKNOWN_FATE, now=now, expect=JobState.SUBMITTING
            )
            log.error(
                "job %s: RingCentral could not tell whether it was sent (%s); failed - settle it with"
                " `faxbridge resolve %s --sent` or `--not-sent`",
                job.id,
                why,
                job.id,
            )
            return
        again = min(self.retry.provider_backoff(failures, retry_after, now), deadline)
        await self.jobs.extend_lease(job.id, again)
        log.log(
            level,
            "job %s: cannot tell yet whether RingCentral got it (%s); asking again at %s",
            job.id,
            why,
            again.isoformat(timespec="seconds"),
        )

    async def _reconcile_one(self, job: Job) -> None:
        # This attempt's POST began at submit_started_at; the provider allows for its own clock.
        since = job.submit_started_at or job.updated
        found = await self.provider.find_submission(job.to, since)
        candidates = [
            fax
            for fax in found
            if _pages_match(job, fax) and not await self.jobs.provider_id_taken(fax.provider_id)
        ]
        if len(candidates) > 1:
            ids = ", ".join(fax.provider_id for fax in candidates)
            raise FateUnclear(f"{len(candidates)} faxes to that number could be this one ({ids})")
        if candidates:
            (mine,) = candidates
            await self.jobs.transition(
                job.id,
                JobState.SUBMITTED,
                reason=f"found at RingCentral as message {mine.provider_id} after an interrupted submission",
                provider_id=mine.provider_id,
                now=self.clock(),
                expect=JobState.SUBMITTING,
            )
            log.info("job %s reconciled: provider has it as %s", job.id, mine.provider_id)
            return
        now = self.clock()
        await self.jobs.transition(
            job.id,
            JobState.QUEUED,
            reason="the interrupted submission never reached RingCentral; sending again",
            now=now,
            due_at=now,
            expect=JobState.SUBMITTING,
        )
        log.info("job %s reconciled: provider never got it; queued again", job.id)

    async def _until_due(self, _failures: int) -> float:
        """Seconds until the next job (or the end of a pause) is due; at most IDLE_WAIT."""
        due = await self.jobs.next_due()
        if self._paused_until is not None and (due is None or due < self._paused_until):
            due = self._paused_until
        wait = IDLE_WAIT if due is None else max(0.0, (due - self.clock()).total_seconds())
        return min(wait, IDLE_WAIT) + 0.01


def _pages_match(job: Job, fax: ProviderStatus) -> bool:
    """Whether a fax's page count fits this job; RingCentral counts pages only once it has rendered them."""
    if fax.pages <= 0:
        return True
    # A RingCentral cover template adds a page of its own, which its count may include.
    extra = 1 if job.envelope.cover_index else 0
    return job.pages <= fax.pages <= job.pages + extra
