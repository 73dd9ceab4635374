"""Received faxes fetched once each: the provider's list read from where it left off, each new fax kept and routed.

Each new fax's document is downloaded, made a PDF (a TIFF is converted in a worker) and kept
with its deliveries in one commit: the routes of its receiving number, and back to the one
person who faxed its sender. The provider's list is the only source: a webhook only says "look
now", so a push, a poll and a restart all meet the same dedupe, by the provider's message id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from bridge.clock import Clock
from bridge.errors import ProviderError, ProviderTransient, StoreUnavailable
from bridge.faxpdf import NotAFax, as_pdf
from bridge.loop import WorkerLoop, backoff
from bridge.metrics import Metrics
from bridge.ports import FaxReceiver, ReceivedFaxes
from bridge.received import Destination, DestinationKind, IncomingFax, ReceivedFax
from bridge.routing import Routes, reply_home
from bridge.spooling import Scratch
from bridge.wording import display_number
from bridge.workers import Workers, WorkFailed

log = logging.getLogger("faxbridge.inbound")

# The provider's list is read again from a little before the newest fax kept: a record that
# appears late (RingCentral's clock, a slow index) is still found; the dedupe drops the rest.
OVERLAP = timedelta(minutes=10)
CONVERT_SECONDS = 120.0  # a 200-page TIFF drawn into a PDF, in a worker
MOST_BETWEEN_LOOKS = 600.0  # however long the provider has been unreachable, look again this often


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
        every: float = 10.0,
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
        self.every = every  # seconds between looks when nothing wakes it
        self.on_new = on_new
        self.worker = WorkerLoop(
            "receiving",
            (self.fetch_new,),
            wait=self._until_next,
            log=log,
            expected=(StoreUnavailable, ProviderError),
        )

    def wake(self) -> None:
        """A webhook said a fax may have arrived: look at the provider's list now."""
        self.worker.wake()

    async def run(self) -> None:
        await self.worker.run()

    async def _until_next(self, failures: int) -> float:
        """The interval between looks, doubled for each failed look in a row."""
        return backoff(failures + 1, first=self.every, most=max(self.every, MOST_BETWEEN_LOOKS))

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
