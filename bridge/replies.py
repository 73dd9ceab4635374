"""Status notices: a durable outbox drained into each origin's Replier, retried until delivered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta

from bridge.errors import JobNotFound, StoreUnavailable
from bridge.metrics import Metrics
from bridge.model import Channel, Job
from bridge.ports import JobStore, PendingReply, Replier, ReplyKind
from bridge.service import Clock
from bridge.wording import contents, left_out, outcome

log = logging.getLogger("faxbridge.replies")
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
        store: JobStore,
        repliers: Mapping[Channel, Replier],
        *,
        clock: Clock,
        retry_seconds: float = 30.0,
        fallback: Replier | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.repliers = repliers
        self.clock = clock
        self.retry_seconds = retry_seconds
        self.fallback = fallback or LogReplier()
        self.metrics = metrics or Metrics()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except StoreUnavailable as exc:
                log.warning("replies waiting for the store: %s", exc.reason)
            except Exception:
                log.exception("reply pass failed unexpectedly; trying again")
                await asyncio.sleep(IDLE_WAIT)
            await self._sleep()

    async def deliver_due(self) -> int:
        """Deliver every notice that is due; return how many jobs were told something."""
        pending = await self.store.pending_replies(self.clock(), limit=200)
        by_job: dict[str, list[PendingReply]] = {}
        for reply in pending:
            by_job.setdefault(reply.job_id, []).append(reply)
        for job_id, replies in by_job.items():
            await self._deliver(job_id, replies)
        return len(by_job)

    async def _deliver(self, job_id: str, replies: list[PendingReply]) -> None:
        ids = [r.id for r in replies]
        try:
            job = await self.store.get(job_id)
        except JobNotFound:
            await self.store.reply_done(ids, now=self.clock())
            return
        replier = self.repliers.get(job.origin.channel, self.fallback)
        kinds = {r.kind for r in replies}
        try:
            if ReplyKind.ACKNOWLEDGE in kinds:
                await replier.acknowledge(job)
            if ReplyKind.REPORT in kinds:
                await replier.report(job)
            elif ReplyKind.UPDATE in kinds:
                # One update with the newest state stands for the whole burst.
                await replier.update(job)
        except Exception as exc:
            attempts = max(r.attempts for r in replies) + 1
            wait = min(MAX_BACKOFF, self.retry_seconds * 2 ** (attempts - 1))
            await self.store.reply_failed(
                ids, retry_at=self.clock() + timedelta(seconds=wait), error=f"{type(exc).__name__}: {exc}"
            )
            log.warning(
                "job %s: status reply failed (try %d), again in %.0fs: %s", job_id, attempts, wait, exc
            )
            return
        await self.store.reply_done(ids, now=self.clock())

    async def _sleep(self) -> None:
        due = await self.store.next_reply_due()
        wait = IDLE_WAIT if due is None else max(0.0, (due - self.clock()).total_seconds())
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=min(wait, IDLE_WAIT) + 0.01)
