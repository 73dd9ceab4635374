"""Status notices: a durable outbox drained into each origin's Replier, retried until delivered."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from bridge.clock import Clock
from bridge.errors import JobNotFound
from bridge.logs import about_job
from bridge.loop import WorkerLoop, backoff
from bridge.metrics import Metrics
from bridge.model import Channel, Job
from bridge.ports import Jobs, PendingReply, Replier, ReplyKind, ReplyOutbox
from bridge.wording import contents, left_out, outcome

log = logging.getLogger("faxbridge.replies")
GATHER_SECONDS = 0.05
IDLE_WAIT = 1.0
MAX_BACKOFF = 3600.0


class LogReplier:
    """Tells the story in the log: the replier for the CLI, and for any channel with nowhere else to say it."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("faxbridge.reply")

    async def acknowledge(self, job: Job) -> None:
        faxed = "; ".join(contents(job)) or "nothing"
        skipped = "; ".join(left_out(job))
        self.log.info(
            "job %s accepted for %s: %s%s",
            job.id,
            job.to,
            faxed,
            f" (left out: {skipped})" if skipped else "",
        )

    async def update(self, job: Job) -> None:
        self.log.info("job %s is %s", job.id, job.state)

    async def report(self, job: Job) -> None:
        self.log.info("job %s to %s: %s", job.id, job.to, outcome(job))


class ReplyPump:
    """Delivers pending notices, oldest first, coalescing a burst of updates for one job into one call.

    A notice is marked done only after its replier returned, so a relay that is down, or a
    crash, means a later retry, never a lost notice.
    """

    def __init__(
        self,
        outbox: ReplyOutbox,
        repliers: Mapping[Channel, Replier],
        *,
        jobs: Jobs,
        clock: Clock,
        retry_seconds: float = 30.0,
        fallback: Replier | None = None,
        metrics: Metrics,
    ) -> None:
        self.outbox = outbox
        self.jobs = jobs
        self.repliers = repliers
        self.clock = clock
        self.retry_seconds = retry_seconds
        self.fallback = fallback or LogReplier()
        self.metrics = metrics
        # Woken by new work, it lets a burst gather, so one pass tells many instead of one each.
        self.worker = WorkerLoop(
            "replies", (self.deliver_due,), wait=self._until_due, log=log, gather=GATHER_SECONDS
        )

    def wake(self) -> None:
        self.worker.wake()

    async def run(self) -> None:
        """Deliver until cancelled; no single failure stops it."""
        await self.worker.run()

    async def deliver_due(self) -> int:
        """Deliver every notice that is due; return how many jobs were told something."""
        pending = await self.outbox.pending_replies(self.clock(), limit=200)
        by_job: dict[str, list[PendingReply]] = {}
        for reply in pending:
            by_job.setdefault(reply.job_id, []).append(reply)
        for job_id, replies in by_job.items():
            with about_job(job_id):
                await self._deliver(job_id, replies)
        return len(by_job)

    async def _deliver(self, job_id: str, replies: list[PendingReply]) -> None:
        try:
            job = await self.jobs.get(job_id)
        except JobNotFound:
            await self.outbox.reply_done([r.id for r in replies], now=self.clock())
            return
        replier = self.repliers.get(job.origin.channel, self.fallback)
        by_kind: dict[ReplyKind, list[PendingReply]] = {}
        for reply in replies:
            by_kind.setdefault(reply.kind, []).append(reply)
        # A report supersedes the updates before it: one call with the newest state covers the burst.
        if ReplyKind.REPORT in by_kind and ReplyKind.UPDATE in by_kind:
            by_kind[ReplyKind.REPORT] += by_kind.pop(ReplyKind.UPDATE)
        calls = {
            ReplyKind.ACKNOWLEDGE: replier.acknowledge,
            ReplyKind.UPDATE: replier.update,
            ReplyKind.REPORT: replier.report,
        }
        order = [k for k in (ReplyKind.ACKNOWLEDGE, ReplyKind.UPDATE, ReplyKind.REPORT) if k in by_kind]
        for position, kind in enumerate(order):
            # Each kind is settled on its own: a failed report never makes the receipt go out twice.
            retry_at = await self._call(job, kind, calls[kind], by_kind[kind])
            if retry_at is not None:
                # Keep the order: what comes after a failed notice waits with it.
                later = [r.id for k in order[position + 1 :] for r in by_kind[k]]
                if later:
                    await self.outbox.reply_failed(later, retry_at=retry_at, error=f"waiting for the {kind}")
                return

    async def _call(
        self, job: Job, kind: ReplyKind, call: Callable[[Job], Awaitable[None]], pending: list[PendingReply]
    ) -> datetime | None:
        """Deliver one kind of notice; None when done, else when to try again."""
        ids = [r.id for r in pending]
        channel = job.origin.channel.value
        try:
            await call(job)
        except Exception as exc:
            attempts = max(r.attempts for r in pending) + 1
            wait = backoff(attempts, first=self.retry_seconds, most=MAX_BACKOFF)
            retry_at = self.clock() + timedelta(seconds=wait)
            await self.outbox.reply_failed(ids, retry_at=retry_at, error=f"{type(exc).__name__}: {exc}")
            self.metrics.replies.labels(channel=channel, outcome="failed").inc()
            log.warning(
                "job %s: status %s failed (try %d), again in %.0fs: %s", job.id, kind, attempts, wait, exc
            )
            return retry_at
        await self.outbox.reply_done(ids, now=self.clock())
        self.metrics.replies.labels(channel=channel, outcome="sent").inc()
        return None

    async def _until_due(self, _failures: int) -> float:
        """Seconds until the next notice is due; at most IDLE_WAIT."""
        due = await self.outbox.next_reply_due()
        wait = IDLE_WAIT if due is None else max(0.0, (due - self.clock()).total_seconds())
        return min(wait, IDLE_WAIT) + 0.01
