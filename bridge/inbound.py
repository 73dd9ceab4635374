"""Received faxes, fetched once and delivered once per destination.

`Receiving` reads the provider's list of received faxes from where it left off, keeps each new
one (document synced into the spool, the fax and its deliveries committed together) and decides
where it goes: the routes of its receiving number, and back to the one person who faxed its
sender. The provider's list is the only source: a webhook only says "look now", so a push, a
poll and a restart all meet the same dedupe, by the provider's message id.

`Delivering` hands each pending delivery to its destination's forwarder and marks it done only
once the destination has it; trouble is tried again with the core's backoff, a refusal is kept
with its reason, both shown by `faxbridge inbox`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from bridge.errors import (
    DeliveryRefused,
    DeliveryTransient,
    JobNotFound,
    ProviderError,
    ProviderTransient,
    ReceivedFaxNotFound,
)
from bridge.faxpdf import NotAFax, as_pdf, first_page_png
from bridge.metrics import Metrics
from bridge.model import Channel, Job
from bridge.ports import FaxReceiver, Forwarder, JobStore, Parcel, ReceivedFaxes
from bridge.received import Delivery, Destination, DestinationKind, IncomingFax, ReceivedFax
from bridge.routing import Routes, reply_home
from bridge.spooling import Scratch
from bridge.wording import display_number
from bridge.workers import Workers, WorkFailed

log = logging.getLogger("faxbridge.inbound")
Clock = Callable[[], datetime]

# The provider's list is read again from a little before the newest fax kept: a record that
# appears late (RingCentral's clock, a slow index) is still found; the dedupe drops the rest.
OVERLAP = timedelta(minutes=10)
CONVERT_SECONDS = 120.0  # a 200-page TIFF drawn into a PDF, in a worker
PREVIEW_SECONDS = 30.0
DELIVERIES_AT_ONCE = 4
MAX_PREVIEW_BYTES = 20 * 1024 * 1024  # a larger fax goes without its picture
DELIVERY_RETRY_FIRST = 30.0
DELIVERY_RETRY_MOST = 3600.0


def backoff(failures: int, *, first: float, most: float) -> float:
    """Seconds to wait after `failures` failures in a row: `first`, doubled each time, at most `most`."""
    return min(most, first * 2.0 ** min(max(0, failures - 1), 62))


class Receiving:
    """Fetches new received faxes from the provider, keeps each one once, and routes it."""

    def __init__(
        self,
        faxes: ReceivedFaxes,
        source: FaxReceiver,
        *,
        routes: Routes,
        reply_days: float,
        workers: Workers,
        scratch_root: Path,
        clock: Clock,
        metrics: Metrics,
        on_new: Callable[[], None] = lambda: None,
    ) -> None:
        self.faxes = faxes
        self.source = source
        self.routes = routes
        self.reply_days = reply_days
        self.workers = workers
        self.scratch_root = scratch_root
        self.clock = clock
        self.metrics = metrics
        self.on_new = on_new

    async def fetch_new(self) -> int:
        """One look at the provider's list; keep what is new. Returns how many faxes were kept.

        A fax whose download fails for now holds the list's starting point at its time, so the
        next look finds it again; one that can never be had is kept without its document.
        """
        now = self.clock()
        cursor = await self.faxes.received_cursor()
        if cursor is None:
            # The first look ever: from now on. Faxes from before the bridge was set up are not its.
            cursor = now
            await self.faxes.set_received_cursor(cursor)
        listed = await self.source.received_since(cursor - OVERLAP)
        known = await self.faxes.known([fax.provider_id for fax in listed])
        kept = 0
        held: datetime | None = None
        for fax in listed:
            if fax.provider_id in known:
                continue
            try:
                kept += await self._keep(fax)
            except ProviderTransient as exc:
                self.metrics.received_downloads_failed.labels(kind="transient").inc()
                log.warning(
                    "received fax %s: download failed, trying again later (%s)", fax.provider_id, exc.reason
                )
                held = fax.received if held is None else min(held, fax.received)
                if exc.retry_after:
                    break  # the provider asked for a pause: the rest waits for the next look
        newest = max((fax.received for fax in listed), default=cursor)
        moved = min(held, newest) if held is not None else newest
        if moved > cursor:
            await self.faxes.set_received_cursor(moved)
        if kept:
            self.on_new()
        return kept

    async def _keep(self, fax: IncomingFax) -> int:
        scratch = Scratch.create(self.scratch_root)
        try:
            document, pages, problem = await self._document(fax, scratch)
            destinations, note = await self._destinations(fax)
            if problem:
                note, destinations = problem, ()
            stored = await self.faxes.receive(
                fax=fax,
                document=document,
                pages=pages,
                destinations=destinations,
                note=note,
                now=self.clock(),
            )
        finally:
            await asyncio.to_thread(scratch.remove)
        if stored is None:
            return 0  # kept meanwhile by another look (a webhook's wake-up and a poll, racing)
        self.metrics.received.inc()
        self._log(stored, destinations)
        return 1

    async def _document(self, fax: IncomingFax, scratch: Scratch) -> tuple[str | None, int, str | None]:
        """The fax's document as a PDF in the scratch folder, its pages, or why there is none."""
        downloaded = scratch.name("received")
        try:
            with open(downloaded, "wb") as target:  # noqa: ASYNC230 - a new local file, written as it streams in
                await self.source.fetch(fax, target)
            converted = scratch.name("pdf")
            pages, made = await self.workers.run(
                as_pdf, str(downloaded), str(converted), timeout=CONVERT_SECONDS
            )
        except ProviderTransient:
            raise
        except ProviderError as exc:
            self.metrics.received_downloads_failed.labels(kind="permanent").inc()
            log.error("received fax %s: its document cannot be fetched (%s)", fax.provider_id, exc.reason)
            return None, fax.pages, f"its document could not be fetched from the provider: {exc.reason}"
        except (NotAFax, WorkFailed) as exc:
            self.metrics.received_downloads_failed.labels(kind="permanent").inc()
            log.error("received fax %s: its document cannot be read (%s)", fax.provider_id, exc)
            return None, fax.pages, f"its document could not be read: {exc}"
        return str(converted if made else downloaded), pages, None

    async def _destinations(self, fax: IncomingFax) -> tuple[tuple[Destination, ...], str | None]:
        destinations = list(self.routes.destinations(fax.to_number))
        notes: list[str] = []
        if self.reply_days > 0:
            since = self.clock() - timedelta(days=self.reply_days)
            verdict = reply_home(
                fax.from_number, await self.faxes.faxed_to(fax.from_number, since), days=self.reply_days
            )
            if verdict.job is not None:
                destinations.append(Destination(kind=DestinationKind.THREAD, target=verdict.job.id))
            if verdict.note:
                notes.append(verdict.note)
        if not destinations:
            notes.insert(0, f"no route for {display_number(fax.to_number)}: kept, not delivered")
        return tuple(dict.fromkeys(destinations)), "; ".join(notes) or None

    def _log(self, fax: ReceivedFax, destinations: tuple[Destination, ...]) -> None:
        line = f"received fax {fax.id} from {fax.from_number} to {fax.to_number}, {fax.pages} pages"
        if fax.note:
            log.warning("%s: %s", line, fax.note)
        if destinations:
            log.info("%s: delivering to %s", line, ", ".join(map(str, destinations)))


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
        except ReceivedFaxNotFound as exc:  # its document was purged meanwhile
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
        except (NotAFax, WorkFailed, ReceivedFaxNotFound) as exc:
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
