"""The retention sweeper: the documents, then the records, of requests that ended before the retention period."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bridge.clock import Clock
from bridge.loop import WorkerLoop
from bridge.ports import Documents, Jobs, ReceivedFaxes

log = logging.getLogger("faxbridge")
PURGE_EVERY = 3600.0


async def purge_expired(
    jobs: Jobs,
    documents: Documents,
    *,
    retention_days: float,
    now: datetime,
    received: ReceivedFaxes | None = None,
) -> tuple[int, int]:
    """One retention sweep; return how many documents and how many jobs went.

    With `received`, the documents of received faxes whose every delivery ended before the
    retention period go too (their records stay, for `faxbridge inbox`).
    """
    before = now - timedelta(days=retention_days)
    if received is not None:
        faxes = await received.purge_received(before)
        if faxes:
            log.info("retention: removed the documents of %d received faxes", faxes)
    # Documents first: a job's record goes only once its bytes are gone.
    removed = await documents.purge_documents(before)
    gone = await jobs.purge_records(before)
    if removed or gone:
        log.info(
            "retention: removed %d documents and %d jobs that ended over %s days ago",
            removed,
            gone,
            retention_days,
        )
    return removed, gone


class RetentionSweeper:
    """Sweeps once at start, then every PURGE_EVERY seconds, until cancelled."""

    def __init__(
        self,
        jobs: Jobs,
        documents: Documents,
        *,
        retention_days: float,
        clock: Clock,
        received: ReceivedFaxes | None = None,
    ) -> None:
        self.jobs = jobs
        self.documents = documents
        self.received = received
        self.retention_days = retention_days
        self.clock = clock
        self.worker = WorkerLoop("retention sweep", (self.sweep,), wait=self._until_next, log=log)

    async def sweep(self) -> tuple[int, int]:
        return await purge_expired(
            self.jobs,
            self.documents,
            retention_days=self.retention_days,
            now=self.clock(),
            received=self.received,
        )

    async def run(self) -> None:
        await self.worker.run()

    async def _until_next(self, _failures: int) -> float:
        return PURGE_EVERY
