"""In-memory fakes of every port, for tests of the core and of adapters: they keep state you can assert on."""

from __future__ import annotations

import asyncio
import atexit
import functools
import io
import itertools
import secrets
import shutil
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from bridge import transitions
from bridge.clock import Clock, utcnow
from bridge.errors import (
    DocumentMissing,
    JobNotFound,
    ProviderTransient,
    ReceivedFaxNotFound,
    StoreUnavailable,
)
from bridge.model import (
    Attachment,
    Channel,
    CoverSheet,
    Document,
    DocumentRole,
    Envelope,
    Job,
    Origin,
    PreparedFax,
    StoredDocument,
    Transition,
)
from bridge.ports import (
    Acceptance,
    FailureCause,
    FaxOutcome,
    InboxItem,
    JobStore,
    OutboundFax,
    Parcel,
    PendingReply,
    ProviderStatus,
    ReplyKind,
    ReplyTrouble,
)
from bridge.received import Delivery, DeliveryState, Destination, IncomingFax, ReceivedFax
from bridge.spooling import Scratch, Spooled
from bridge.states import FINAL_STATES, JobState
from bridge.transitions import StateChange


@dataclass
class _Row:
    job: Job
    claims: int = 0
    key: str | None = None
    provider_ids: list[str] = field(default_factory=list)  # one per attempt that got one


class InMemoryJobStore:
    """Every store port (jobs, outbox, seen keys, documents, status messages, health) in dicts.

    Set `broken = True` to make every call fail like a full disk.
    """

    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}
        self.blobs: dict[int, bytes] = {}
        self.replies: dict[int, tuple[PendingReply, datetime, datetime | None]] = {}
        self.reply_errors: dict[int, str] = {}
        self.seen: dict[str, datetime] = {}
        self.messages: dict[str, tuple[str, str]] = {}
        self.broken = False
        self._ids = itertools.count(1)

    def _check(self) -> None:
        if self.broken:
            raise StoreUnavailable("the in-memory store is broken on purpose")

    def _stored(self, doc: Document) -> StoredDocument:
        doc_id = next(self._ids)
        self.blobs[doc_id] = doc.content.read()
        return StoredDocument(
            id=doc_id,
            name=doc.name,
            content_type=doc.content_type,
            pages=doc.pages,
            size=doc.content.size,
            role=doc.role,
        )

    def _cover(self, sheet: CoverSheet) -> StoredDocument:
        return StoredDocument(
            id=next(self._ids),
            name="cover.pdf",
            content_type="application/pdf",
            pages=1,
            size=0,
            role=DocumentRole.COVER,
            sheet=sheet,
        )

    async def create_jobs(
        self,
        *,
        numbers: Sequence[str],
        prepared: PreparedFax,
        origin: Origin,
        idempotency_key: str | None,
        now: datetime,
        key_since: datetime | None = None,
    ) -> Acceptance:
        self._check()
        existing = {
            r.job.to: r.job
            for r in self.rows.values()
            if idempotency_key
            and r.key == idempotency_key
            and (key_since is None or r.job.created >= key_since)
        }
        if all(n in existing for n in numbers):
            return Acceptance(jobs=tuple(existing[n] for n in numbers), duplicate=True)
        shared = [self._stored(d) for d in prepared.documents]
        batch = secrets.token_hex(8)
        jobs = []
        for number in numbers:
            if number in existing:
                jobs.append(existing[number])
                continue
            cover = [self._cover(prepared.covers[number])] if number in prepared.covers else []
            job = Job(
                id=secrets.token_hex(6),
                state=JobState.QUEUED,
                to=number,
                origin=origin,
                created=now,
                updated=now,
                due_at=now,
                attempts=0,
                provider_id=None,
                reason="accepted",
                envelope=prepared.envelope,
                documents=(*cover, *shared),
                left_out=prepared.left_out,
                history=(
                    Transition(state=JobState.RECEIVED, at=now, reason=None),
                    Transition(state=JobState.QUEUED, at=now, reason="accepted"),
                ),
                batch_id=batch,
            )
            self.rows[job.id] = _Row(job=job, key=idempotency_key)
            self._reply(job.id, ReplyKind.ACKNOWLEDGE, now)
            jobs.append(job)
        return Acceptance(jobs=tuple(jobs))

    async def create_rejected(self, *, number: str, origin: Origin, reason: str, now: datetime) -> Job:
        self._check()
        job = Job(
            id=secrets.token_hex(6),
            state=JobState.REJECTED,
            to=number,
            origin=origin,
            created=now,
            updated=now,
            due_at=now,
            attempts=0,
            provider_id=None,
            reason=reason,
            envelope=Envelope(),
            documents=(),
            left_out=(),
            history=(Transition(state=JobState.REJECTED, at=now, reason=reason),),
        )
        self.rows[job.id] = _Row(job=job)
        return job

    async def get(self, job_id: str) -> Job:
        self._check()
        if job_id not in self.rows:
            raise JobNotFound(f"no job {job_id}")
        return self.rows[job_id].job

    async def ids_starting(self, prefix: str, *, limit: int) -> list[str]:
        self._check()
        return sorted(job_id for job_id in self.rows if job_id.startswith(prefix))[:limit]

    async def list_jobs(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        self._check()
        jobs = [r.job for r in self.rows.values() if state is None or r.job.state is state]
        return sorted(jobs, key=lambda j: j.created, reverse=True)[:limit]

    async def jobs_for_key(self, idempotency_key: str) -> list[Job]:
        self._check()
        return [r.job for r in self.rows.values() if r.key == idempotency_key]

    async def transition(
        self,
        job_id: str,
        new: JobState,
        *,
        reason: str | None,
        now: datetime,
        due_at: datetime | None = None,
        provider_id: str | None = None,
        expect: JobState | None = None,
        expect_started: datetime | None = None,
        durable: bool = True,
        settle: bool = False,
    ) -> Job:
        job = await self.get(job_id)
        step = transitions.plan(
            job_id,
            job.state,
            new,
            reason=reason,
            now=now,
            due_at=due_at,
            provider_id=provider_id,
            expect=expect,
            started=job.submit_started_at,
            expect_started=expect_started,
            settle=settle,
        )
        return self._apply(self.rows[job_id], step)

    def _apply(self, row: _Row, step: StateChange) -> Job:
        """Write one state change as the core's rule says, with its history line and its notice."""
        job = row.job
        row.job = replace(
            job,
            state=step.state,
            reason=job.reason if step.keeps_reason else step.reason,
            updated=step.updated,
            due_at=step.due_at or job.due_at,
            provider_id=step.provider_id or job.provider_id,
            attempts=job.attempts + step.attempts_added,
            submit_started_at=step.submit_started_at or job.submit_started_at,
            settled=job.settled if step.settled is None else step.settled,
            history=(*job.history, Transition(state=step.state, at=step.updated, reason=step.reason)),
        )
        row.claims += step.claims_added
        if step.provider_id is not None:
            row.provider_ids.append(step.provider_id)
        self._reply(job.id, step.reply, step.updated)
        return row.job

    async def claim_due(
        self, now: datetime, *, lease_until: datetime, only: Collection[str] | None = None
    ) -> Job | None:
        self._check()
        busy = {r.job.to for r in self.rows.values() if r.job.state is JobState.SUBMITTING}
        due = sorted(
            (
                r
                for r in self.rows.values()
                if r.job.state is JobState.QUEUED
                and r.job.due_at <= now
                and r.job.to not in busy
                and (only is None or r.job.id in only)
            ),
            key=lambda r: r.job.due_at,
        )
        if not due:
            return None
        row = due[0]
        return self._apply(
            row, transitions.claim(row.job.id, row.job.state, now=now, lease_until=lease_until)
        )

    async def stale_submissions(self, now: datetime) -> list[Job]:
        self._check()
        return [
            r.job for r in self.rows.values() if r.job.state is JobState.SUBMITTING and r.job.due_at <= now
        ]

    async def in_flight(self) -> list[Job]:
        self._check()
        return [r.job for r in self.rows.values() if r.job.state.in_flight and not r.job.settled]

    async def next_due(self) -> datetime | None:
        self._check()
        waiting = [
            r.job.due_at for r in self.rows.values() if r.job.state in (JobState.QUEUED, JobState.SUBMITTING)
        ]
        return min(waiting, default=None)

    async def extend_lease(self, job_id: str, until: datetime) -> None:
        row = self.rows[job_id]
        if row.job.state is JobState.SUBMITTING:
            row.job = replace(row.job, due_at=until)

    async def provider_failures(self, job_id: str) -> int:
        row = self.rows[job_id]
        return row.claims - row.job.attempts

    async def provider_id_taken(self, provider_id: str) -> bool:
        return any(provider_id in r.provider_ids for r in self.rows.values())

    async def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.job.state.value] = counts.get(row.job.state.value, 0) + 1
        return counts

    async def oldest_queued(self) -> datetime | None:
        return min(
            (r.job.created for r in self.rows.values() if r.job.state is JobState.QUEUED), default=None
        )

    def open_document(self, document: StoredDocument) -> BinaryIO:
        if document.id not in self.blobs:
            raise DocumentMissing(f"the bytes of {document.name} are no longer kept")
        return io.BytesIO(self.blobs[document.id])

    async def keep_cover(self, job_id: str, document_id: int, data: bytes) -> Job:
        row = self.rows[job_id]
        self.blobs[document_id] = data
        documents = tuple(replace(d, size=len(data)) if d.id == document_id else d for d in row.job.documents)
        row.job = replace(row.job, documents=documents)
        return row.job

    async def mark_settled(self, job_id: str, *, now: datetime) -> None:
        row = self.rows[job_id]
        row.job = replace(row.job, settled=True, updated=now)
        self._reply(job_id, ReplyKind.REPORT, now)

    def _reply(self, job_id: str, kind: ReplyKind, now: datetime) -> None:
        reply_id = next(self._ids)
        self.replies[reply_id] = (PendingReply(id=reply_id, job_id=job_id, kind=kind, attempts=0), now, None)

    async def pending_replies(self, now: datetime, limit: int = 50) -> list[PendingReply]:
        self._check()
        due = [r for r, at, done in self.replies.values() if done is None and at <= now]
        return sorted(due, key=lambda r: r.id)[:limit]

    async def reply_done(self, reply_ids: Sequence[int], *, now: datetime) -> None:
        for reply_id in reply_ids:
            reply, at, _ = self.replies[reply_id]
            self.replies[reply_id] = (reply, at, now)

    async def reply_failed(self, reply_ids: Sequence[int], *, retry_at: datetime, error: str) -> None:
        for reply_id in reply_ids:
            reply, _, done = self.replies[reply_id]
            self.replies[reply_id] = (replace(reply, attempts=reply.attempts + 1), retry_at, done)
            self.reply_errors[reply_id] = error[:500]

    async def next_reply_due(self) -> datetime | None:
        return min((at for _, at, done in self.replies.values() if done is None), default=None)

    async def reply_troubles(self, job_id: str) -> list[ReplyTrouble]:
        return [
            ReplyTrouble(kind=r.kind, attempts=r.attempts, retry_at=at, error=self.reply_errors.get(r.id, ""))
            for r, at, done in sorted(self.replies.values(), key=lambda item: item[0].id)
            if r.job_id == job_id and done is None and r.attempts > 0
        ]

    async def failing_replies(self) -> int:
        return sum(1 for r, _, done in self.replies.values() if done is None and r.attempts > 0)

    async def remember(self, key: str, *, now: datetime) -> bool:
        self._check()
        if key in self.seen:
            return False
        self.seen[key] = now
        return True

    async def purge_documents(self, before: datetime) -> int:
        purged = 0
        batches: dict[str, list[Job]] = {}
        for row in self.rows.values():
            batches.setdefault(row.job.batch_id, []).append(row.job)
        for jobs in batches.values():
            ended = [j.state in FINAL_STATES or (j.state is JobState.SENT and j.settled) for j in jobs]
            if all(ended) and all(j.updated < before for j in jobs):
                for doc in {d.id for j in jobs for d in j.documents}:
                    purged += self.blobs.pop(doc, None) is not None
        return purged

    async def purge_records(self, before: datetime) -> int:
        batches: dict[str, list[Job]] = {}
        for row in self.rows.values():
            batches.setdefault(row.job.batch_id, []).append(row.job)
        gone = set()
        for jobs in batches.values():
            ended = [j.state in FINAL_STATES or (j.state is JobState.SENT and j.settled) for j in jobs]
            kept = any(d.id in self.blobs for j in jobs for d in j.documents)
            if all(ended) and all(j.updated < before for j in jobs) and not kept:
                gone |= {j.id for j in jobs}
        for job_id in gone:
            del self.rows[job_id]
        for reply_id, (reply, _, done) in list(self.replies.items()):
            if reply.job_id in gone or (done is not None and done < before):
                del self.replies[reply_id]
        self.seen = {key: at for key, at in self.seen.items() if at >= before}
        self.messages = {job: where for job, where in self.messages.items() if job in self.rows}
        return len(gone)

    async def message_of(self, job_id: str) -> tuple[str, str] | None:
        self._check()
        return self.messages.get(job_id)

    async def keep_message(self, job_id: str, channel: str, message: str) -> None:
        self._check()
        self.messages[job_id] = (channel, message)

    async def ping(self) -> None:
        self._check()

    async def close(self) -> None:
        return None


@dataclass
class _Request:
    item: InboxItem
    due_at: datetime
    finished: datetime | None = None


class InMemoryInbox:
    """The RequestInbox port in a dict. Set `broken = True` to make every call fail like a full disk."""

    def __init__(self) -> None:
        self.requests: dict[int, _Request] = {}
        self.seen: set[str] = set()
        self.broken = False
        self._ids = itertools.count(1)

    def _check(self) -> None:
        if self.broken:
            raise StoreUnavailable("the in-memory inbox is broken on purpose")

    async def admit(
        self, *, channel: Channel, keys: Sequence[str], payload: str, now: datetime
    ) -> int | None:
        self._check()
        fresh = [key not in self.seen for key in keys]
        self.seen.update(keys)
        if not all(fresh):
            return None
        item = InboxItem(
            id=next(self._ids), channel=channel, payload=payload, received=now, attempts=0, answer=None
        )
        self.requests[item.id] = _Request(item=item, due_at=now)
        return item.id

    async def due(self, channel: Channel, now: datetime, limit: int = 50) -> list[InboxItem]:
        self._check()
        waiting = [
            r.item
            for r in self.requests.values()
            if r.item.channel is channel and r.finished is None and r.due_at <= now
        ]
        return sorted(waiting, key=lambda i: i.id)[:limit]

    async def begin(self, item_id: int) -> int:
        self._check()
        request = self.requests[item_id]
        request.item = replace(request.item, attempts=request.item.attempts + 1)
        return request.item.attempts

    async def decide(self, item_id: int, answer: str) -> None:
        self._check()
        request = self.requests[item_id]
        request.item = replace(request.item, answer=answer)

    async def postpone(self, item_id: int, until: datetime) -> None:
        self._check()
        self.requests[item_id].due_at = until

    async def finish(self, item_id: int, *, now: datetime) -> None:
        self._check()
        request = self.requests[item_id]
        request.item = replace(request.item, payload="", answer=None)
        request.finished = now

    async def purge_finished(self, before: datetime) -> int:
        self._check()
        old = [i for i, r in self.requests.items() if r.finished is not None and r.finished < before]
        for item_id in old:
            del self.requests[item_id]
        return len(old)


class FakeProvider:
    """A FaxProvider that records what it was sent and follows a script of outcomes per number.

    `outcomes[number]` is a list of (FaxOutcome, FailureCause | None) consumed one per
    submission; unknown numbers are delivered. `fail_next` raises the given exceptions on the
    next submits, to inject provider trouble; `listing_error`, when set, is raised by every
    `find_submission` (a message store that cannot be read). Each fax is stamped with `clock`
    and its page count, and `find_submission` honours `since` as RingCentral's listing does;
    `foreign` adds a fax sent outside the bridge (from the RingCentral app, say).
    """

    def __init__(self, *, clock: Clock = utcnow) -> None:
        self.clock = clock
        self.sent: list[tuple[OutboundFax, list[bytes]]] = []
        self.statuses: dict[str, ProviderStatus] = {}
        self.outcomes: dict[str, list[tuple[FaxOutcome, FailureCause | None]]] = {}
        self.fail_next: list[Exception] = []
        self.listing_error: Exception | None = None
        self.lose_answer_next = False
        self._ids = itertools.count(1000)

    def foreign(self, to: str, *, pages: int, created: datetime | None = None) -> str:
        """A fax to `to` that no job sent; return its provider id."""
        provider_id = str(next(self._ids))
        self.statuses[provider_id] = ProviderStatus(
            provider_id=provider_id,
            outcome=FaxOutcome.DELIVERED,
            to=to,
            created=created or self.clock(),
            pages=pages,
        )
        return provider_id

    async def submit(self, fax: OutboundFax) -> ProviderStatus:
        if self.fail_next:
            raise self.fail_next.pop(0)
        blobs = []
        for doc in fax.documents:
            with fax.open(doc) as handle:
                blobs.append(handle.read())
        provider_id = str(next(self._ids))
        self.sent.append((fax, blobs))
        script = self.outcomes.get(fax.to) or [(FaxOutcome.DELIVERED, None)]
        outcome, cause = script.pop(0) if len(script) > 1 else script[0]
        self.statuses[provider_id] = ProviderStatus(
            provider_id=provider_id,
            outcome=outcome,
            to=fax.to,
            cause=cause,
            created=self.clock(),
            pages=sum(doc.pages for doc in fax.documents),
        )
        if self.lose_answer_next:
            # The fax went out, but the answer is lost on the way back (a crash, a reset).
            self.lose_answer_next = False
            raise ProviderTransient("the connection was reset", may_have_sent=True)
        return ProviderStatus(provider_id=provider_id, outcome=FaxOutcome.QUEUED, to=fax.to)

    async def status(self, provider_ids: Sequence[str]) -> list[ProviderStatus]:
        return [self.statuses[i] for i in provider_ids if i in self.statuses]

    async def find_submission(self, to: str, since: datetime) -> list[ProviderStatus]:
        await asyncio.sleep(0)  # a real provider call lets other tasks run meanwhile
        if self.listing_error is not None:
            raise self.listing_error
        found = [s for s in self.statuses.values() if s.to == to and s.created and s.created >= since]
        return sorted(found, key=lambda s: s.created or since, reverse=True)


@dataclass
class RecordingReplier:
    """A Replier that keeps what it was asked to say. Set `failures` to fail that many calls first."""

    calls: list[tuple[str, Job]] = field(default_factory=list)
    failures: int = 0

    async def _record(self, kind: str, job: Job) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the channel is down on purpose")
        self.calls.append((kind, job))

    async def acknowledge(self, job: Job) -> None:
        await self._record("acknowledge", job)

    async def update(self, job: Job) -> None:
        await self._record("update", job)

    async def report(self, job: Job) -> None:
        await self._record("report", job)

    def kinds(self, job_id: str) -> list[str]:
        return [kind for kind, job in self.calls if job.id == job_id]


@functools.cache
def _scratch() -> Scratch:
    root = Path(tempfile.mkdtemp(prefix="faxbridge-test-"))
    atexit.register(shutil.rmtree, root, True)
    return Scratch.create(root)


def kept(data: bytes) -> Spooled:
    """`data` in a temporary file, as an intake keeps what it receives."""
    return _scratch().keep(data)


def attached(name: str, data: bytes, declared_type: str = "") -> Attachment:
    """An Attachment holding `data`, kept in a temporary file as an intake would keep it."""
    return Attachment(name=name, content=kept(data), declared_type=declared_type)


def sample_pdf(pages: int = 1, text: str = "faxbridge test page") -> bytes:
    """A small valid PDF with `pages` pages, for tests and demos."""
    from fpdf import FPDF

    pdf = FPDF(format="letter")
    pdf.set_font("helvetica", size=14)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(text=f"{text} - page {number} of {pages}")
    return bytes(pdf.output())


def sample_image(kind: str = "PNG", frames: int = 1) -> bytes:
    """A small image (PNG, JPEG, GIF, BMP, or a TIFF with `frames` pages)."""
    from PIL import Image

    images = [Image.new("L", (200, 100), color=255 - 40 * i) for i in range(frames)]
    out = io.BytesIO()
    if frames > 1:
        images[0].save(out, format=kind, save_all=True, append_images=images[1:])
    else:
        images[0].save(out, format=kind)
    return out.getvalue()


# -- received faxes ------------------------------------------------------------------------------


class InMemoryReceivedFaxes:
    """The ReceivedFaxes port in memory; `faxed_to` reads the jobs of the store it is given."""

    def __init__(self, jobs: JobStore | None = None) -> None:
        self.jobs = jobs
        self.faxes: dict[str, ReceivedFax] = {}
        self.documents: dict[str, bytes] = {}
        self.deliveries: dict[int, Delivery] = {}
        self.cursor: datetime | None = None
        self.broken = False
        self._ids = itertools.count(1)

    def _check(self) -> None:
        if self.broken:
            raise StoreUnavailable("the in-memory store is broken on purpose")

    async def receive(
        self,
        *,
        fax: IncomingFax,
        document: str | None,
        pages: int,
        destinations: Sequence[Destination],
        note: str | None,
        now: datetime,
    ) -> ReceivedFax | None:
        self._check()
        data = await asyncio.to_thread(Path(document).read_bytes) if document else b""
        # Checked after the last await, so the check and the insert are one step, as a unique key makes them.
        if any(kept.provider_id == fax.provider_id for kept in self.faxes.values()):
            return None
        fax_id = f"rx-{next(self._ids)}"
        for destination in destinations:
            delivery_id = next(self._ids)
            self.deliveries[delivery_id] = Delivery(
                id=delivery_id,
                fax_id=fax_id,
                destination=destination,
                state=DeliveryState.PENDING,
                attempts=0,
                due_at=now,
                updated=now,
            )
        self.faxes[fax_id] = ReceivedFax(
            id=fax_id,
            provider_id=fax.provider_id,
            from_number=fax.from_number,
            to_number=fax.to_number,
            received=fax.received,
            stored=now,
            pages=pages,
            size=len(data),
            note=note,
            purged=document is None,
        )
        if document:
            self.documents[fax_id] = data
        return await self.received_fax(fax_id)

    async def known(self, provider_ids: Sequence[str]) -> set[str]:
        self._check()
        kept = {fax.provider_id for fax in self.faxes.values()}
        return {provider_id for provider_id in provider_ids if provider_id in kept}

    async def received_cursor(self) -> datetime | None:
        self._check()
        return self.cursor

    async def set_received_cursor(self, moment: datetime) -> None:
        self._check()
        self.cursor = moment

    async def received_fax(self, fax_id: str) -> ReceivedFax:
        self._check()
        fax = self.faxes.get(fax_id)
        if fax is None:
            raise ReceivedFaxNotFound(f"no received fax {fax_id}")
        own = tuple(sorted((d for d in self.deliveries.values() if d.fax_id == fax_id), key=lambda d: d.id))
        return replace(fax, deliveries=own)

    async def list_received(self, *, limit: int = 100) -> list[ReceivedFax]:
        newest = sorted(self.faxes.values(), key=lambda fax: (fax.stored, fax.id), reverse=True)
        return [await self.received_fax(fax.id) for fax in newest[:limit]]

    def open_received(self, fax: ReceivedFax) -> BinaryIO:
        if fax.id not in self.documents:
            raise DocumentMissing(f"the document of received fax {fax.id} is no longer kept")
        return io.BytesIO(self.documents[fax.id])

    async def due_deliveries(self, now: datetime, *, limit: int = 20) -> list[tuple[ReceivedFax, Delivery]]:
        self._check()
        due = sorted(
            (d for d in self.deliveries.values() if d.state is DeliveryState.PENDING and d.due_at <= now),
            key=lambda d: (d.due_at, d.id),
        )[:limit]
        return [(await self.received_fax(d.fax_id), d) for d in due]

    async def next_delivery_due(self) -> datetime | None:
        self._check()
        return min(
            (d.due_at for d in self.deliveries.values() if d.state is DeliveryState.PENDING), default=None
        )

    async def delivery_progress(self, delivery_id: int, progress: str) -> None:
        self._check()
        self.deliveries[delivery_id] = replace(self.deliveries[delivery_id], progress=progress)

    async def delivery_done(self, delivery_id: int, *, now: datetime) -> None:
        self._check()
        delivery = self.deliveries[delivery_id]
        self.deliveries[delivery_id] = replace(
            delivery, state=DeliveryState.DONE, attempts=delivery.attempts + 1, updated=now, reason=None
        )

    async def delivery_failed(
        self, delivery_id: int, *, now: datetime, reason: str, retry_at: datetime | None
    ) -> None:
        self._check()
        delivery = self.deliveries[delivery_id]
        self.deliveries[delivery_id] = replace(
            delivery,
            state=DeliveryState.PENDING if retry_at is not None else DeliveryState.FAILED,
            attempts=delivery.attempts + 1,
            updated=now,
            due_at=retry_at or delivery.due_at,
            reason=reason,
        )

    async def faxed_to(self, number: str, since: datetime) -> list[Job]:
        self._check()
        if self.jobs is None:
            return []
        jobs = await self.jobs.list_jobs(limit=1_000_000)
        return [j for j in jobs if j.to == number and j.created >= since and j.state is not JobState.REJECTED]

    async def purge_received(self, before: datetime) -> int:
        self._check()
        purged = 0
        for fax_id, fax in list(self.faxes.items()):
            own = [d for d in self.deliveries.values() if d.fax_id == fax_id]
            ended = all(d.state is not DeliveryState.PENDING and d.updated < before for d in own)
            if fax_id in self.documents and ended and (own or fax.stored < before):
                del self.documents[fax_id]
                self.faxes[fax_id] = replace(fax, purged=True)
                purged += 1
        return purged


class FakeFaxSource:
    """The FaxReceiver port: faxes a test makes arrive, their documents, and failures put in."""

    def __init__(self) -> None:
        self.faxes: list[IncomingFax] = []
        self.documents: dict[str, bytes] = {}
        self.listings = 0
        self.fetches: list[str] = []
        self.fail_next_fetch: list[Exception] = []
        self.listing_error: Exception | None = None
        self._ids = itertools.count(5000)

    def arrive(
        self,
        data: bytes,
        *,
        sender: str,
        to: str,
        at: datetime,
        pages: int = 1,
        content_type: str = "application/pdf",
    ) -> IncomingFax:
        provider_id = str(next(self._ids))
        fax = IncomingFax(
            provider_id=provider_id,
            from_number=sender,
            to_number=to,
            received=at,
            pages=pages,
            content_type=content_type,
            location=f"fake://{provider_id}",
        )
        self.faxes.append(fax)
        self.documents[provider_id] = data
        return fax

    async def received_since(self, since: datetime) -> list[IncomingFax]:
        self.listings += 1
        if self.listing_error is not None:
            raise self.listing_error
        return sorted(
            (f for f in self.faxes if f.received >= since), key=lambda f: (f.received, f.provider_id)
        )

    async def fetch(self, fax: IncomingFax, into: BinaryIO) -> None:
        self.fetches.append(fax.provider_id)
        if self.fail_next_fetch:
            raise self.fail_next_fetch.pop(0)
        into.write(self.documents[fax.provider_id])


class RecordingForwarder:
    """A Forwarder that keeps what it was handed (the fax, where, the bytes) or fails as told."""

    def __init__(self) -> None:
        self.forwarded: list[tuple[str, str, bytes | None]] = []  # (fax id, destination, bytes)
        self.previews: list[bytes | None] = []  # page 1 as the parcel drew it, for each forward
        self.fail_next: list[Exception] = []

    async def forward(self, parcel: Parcel) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)
        data = None
        if parcel.attach:
            with parcel.open() as document:
                data = document.read()
        self.previews.append(await parcel.preview() if parcel.preview is not None else None)
        self.forwarded.append((parcel.fax.id, str(parcel.delivery.destination), data))
