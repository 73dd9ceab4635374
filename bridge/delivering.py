"""Received faxes delivered once per destination: the outbox worked off, done only once the destination has it.

Trouble is tried again with backoff (never sooner than the destination's own Retry-After), a
refusal is kept with its reason; `faxbridge inbox` shows both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta

from bridge.clock import Clock
from bridge.errors import DeliveryRefused, DeliveryTransient, DocumentMissing, JobNotFound
from bridge.faxpdf import NotAFax, first_page_png
from bridge.loop import WorkerLoop, backoff
from bridge.metrics import Metrics
from bridge.model import Channel, Job
from bridge.ports import Forwarder, JobStore, Parcel, ReceivedFaxes
from bridge.received import Delivery, DestinationKind, ReceivedFax
from bridge.workers import Workers, WorkFailed

log = logging.getLogger("faxbridge.inbound")

PREVIEW_SECONDS = 30.0
MAX_PREVIEW_BYTES = 20 * 1024 * 1024  # a larger fax goes without its picture
DELIVERIES_AT_ONCE = 4
DELIVERY_RETRY_FIRST = 30.0
DELIVERY_RETRY_MOST = 3600.0
IDLE = 3600.0  # nothing due: a new fax wakes the loop anyway


class Delivering:
    """Hands pending deliveries to their destinations until each has the fax, exactly once."""

    def __init__(
        self,
        faxes: ReceivedFaxes,
        jobs: JobStore,
        forwarders: Mapping[DestinationKind, Forwarder],
        *,
        attach: bool,
        clock: Clock,
        metrics: Metrics,
        workers: Workers | None = None,
        preview: bool = False,
        retry_first: float = DELIVERY_RETRY_FIRST,
        retry_most: float = DELIVERY_RETRY_MOST,
    ) -> None:
        self.faxes = faxes
        self.jobs = jobs
        self.forwarders = dict(forwarders)
        self.attach = attach
        self.workers = workers
        self.preview = preview and attach and workers is not None
        self.clock = clock
        self.metrics = metrics
        self.retry_first = retry_first
        self.retry_most = retry_most
        self.worker = WorkerLoop("deliveries", (self.deliver_due,), wait=self._until_due, log=log)

    def wake(self) -> None:
        """A new fax was kept: its deliveries are due now."""
        self.worker.wake()

    async def run(self) -> None:
        await self.worker.run()

    async def _until_due(self, failures: int) -> float:
        if failures:  # the store could not be read: look again soon, then less often
            return backoff(failures, first=1.0, most=60.0)
        due = await self.seconds_until_due()
        return IDLE if due is None else due

    async def deliver_due(self) -> int:
        """Try every delivery whose time has come, several at once; return how many reached their destination.

        At once, so that a slow destination (a Slack upload, a relay that holds a mail) does not keep
        the others waiting; each delivery is still tried once per pass.
        """
        due = await self.faxes.due_deliveries(self.clock())
        gate = asyncio.Semaphore(DELIVERIES_AT_ONCE)

        async def one(fax: ReceivedFax, delivery: Delivery) -> int:
            async with gate:
                return await self._deliver(fax, delivery)

        return sum(await asyncio.gather(*(one(fax, delivery) for fax, delivery in due)))

    async def seconds_until_due(self) -> float | None:
        """Seconds until the next pending delivery is due (0 when one is due now), None when none waits."""
        due = await self.faxes.next_delivery_due()
        return None if due is None else max(0.0, (due - self.clock()).total_seconds())

    async def _deliver(self, fax: ReceivedFax, delivery: Delivery) -> int:
        kind = delivery.destination.kind
        label = kind.value
        try:
            answers = await self._answers(delivery)
            forwarder = self._forwarder(delivery, answers)
            label = _label(delivery, answers)

            async def note(progress: str) -> None:
                await self.faxes.delivery_progress(delivery.id, progress)

            await forwarder.forward(
                Parcel(
                    fax=fax,
                    delivery=delivery,
                    open=lambda: self.faxes.open_received(fax),
                    attach=self.attach,
                    answers=answers,
                    note_progress=note,
                    preview=(lambda: self._preview(fax)) if self.preview else None,
                )
            )
        except DeliveryRefused as exc:
            await self._give_up(fax, delivery, label, exc.reason)
            return 0
        except DocumentMissing as exc:  # its document was purged meanwhile
            await self._give_up(fax, delivery, label, exc.reason)
            return 0
        except DeliveryTransient as exc:
            await self._later(fax, delivery, label, exc.reason, exc.retry_after)
            return 0
        except Exception as exc:  # a bug in a forwarder must not stop every other delivery
            log.exception("received fax %s: delivery to %s failed unexpectedly", fax.id, delivery.destination)
            await self._later(fax, delivery, label, f"unexpected {type(exc).__name__}", None)
            return 0
        await self.faxes.delivery_done(delivery.id, now=self.clock())
        self.metrics.received_deliveries.labels(destination=label, outcome="delivered").inc()
        log.info("received fax %s: delivered to %s", fax.id, delivery.destination)
        return 1

    async def _preview(self, fax: ReceivedFax) -> bytes | None:
        """Page 1 as a PNG, drawn in a worker (the PDF came from outside); None when it cannot be."""
        if self.workers is None or fax.size > MAX_PREVIEW_BYTES:
            return None

        def read() -> bytes:
            with self.faxes.open_received(fax) as document:
                return document.read()

        try:
            data = await asyncio.to_thread(read)
            png: bytes = await self.workers.run(first_page_png, data, timeout=PREVIEW_SECONDS)
        except (NotAFax, WorkFailed, DocumentMissing) as exc:
            log.warning("received fax %s: no preview (%s)", fax.id, exc)
            return None
        return png

    async def _answers(self, delivery: Delivery) -> Job | None:
        if delivery.destination.kind is not DestinationKind.THREAD:
            return None
        try:
            return await self.jobs.get(delivery.destination.target)
        except JobNotFound:
            raise DeliveryRefused("the fax it answers is no longer kept") from None

    def _forwarder(self, delivery: Delivery, answers: Job | None) -> Forwarder:
        kind = delivery.destination.kind
        if answers is not None:
            kind = {Channel.SLACK: DestinationKind.SLACK, Channel.EMAIL: DestinationKind.EMAIL}.get(
                answers.origin.channel, DestinationKind.THREAD
            )
        forwarder = self.forwarders.get(kind)
        if forwarder is None:
            raise DeliveryRefused(f"{kind.value} is not set up on this bridge")
        return forwarder

    async def _later(
        self, fax: ReceivedFax, delivery: Delivery, label: str, reason: str, retry_after: float | None
    ) -> None:
        wait = max(
            retry_after or 0.0, backoff(delivery.attempts + 1, first=self.retry_first, most=self.retry_most)
        )
        now = self.clock()
        await self.faxes.delivery_failed(
            delivery.id, now=now, reason=reason, retry_at=now + timedelta(seconds=wait)
        )
        self.metrics.received_deliveries.labels(destination=label, outcome="retried").inc()
        log.warning(
            "received fax %s: delivery to %s failed (%s); trying again in %.0f s",
            fax.id,
            delivery.destination,
            reason,
            wait,
        )

    async def _give_up(self, fax: ReceivedFax, delivery: Delivery, label: str, reason: str) -> None:
        await self.faxes.delivery_failed(delivery.id, now=self.clock(), reason=reason, retry_at=None)
        self.metrics.received_deliveries.labels(destination=label, outcome="failed").inc()
        log.error("received fax %s: delivery to %s given up: %s", fax.id, delivery.destination, reason)


def _label(delivery: Delivery, answers: Job | None) -> str:
    """A bounded metrics label: slack, email, or the thread's channel (thread_slack, thread_email)."""
    if answers is None:
        return delivery.destination.kind.value
    return f"thread_{answers.origin.channel.value}"
