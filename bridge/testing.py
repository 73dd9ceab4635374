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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from bridge.errors import InvalidTransition, JobNotFound, ProviderTransient, StoreUnavailable
from bridge.model import (
    Attachment,
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
    OutboundFax,
    PendingReply,
    ProviderStatus,
    ReplyKind,
)
from bridge.spooling import Scratch, Spooled
from bridge.states import FINAL_STATES, JobState, check_transition


@dataclass
class _Row:
    job: Job
    claims: int = 0
    key: str | None = None


class InMemoryJobStore:
    """The JobStore port in a dict. Set `broken = True` to make every call fail like a full disk."""

    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}
        self.blobs: dict[int, bytes] = {}
        self.replies: dict[int, tuple[PendingReply, datetime, datetime | None]] = {}
        self.seen: set[str] = set()
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

    async def list_jobs(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        self._check()
        jobs = [r.job for r in self.rows.values() if state is None or r.job.state is state]
        return sorted(jobs, key=lambda j: j.created, reverse=True)[:limit]

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
        durable: bool = True,
    ) -> Job:
        job = await self.get(job_id)
        if expect is not None and job.state is not expect:
            raise InvalidTransition(f"job {job_id} is {job.state}, not {expect}")
        check_transition(job.state, new)
        job = replace(
            job,
            state=new,
            reason=reason,
            updated=now,
            due_at=due_at or job.due_at,
            provider_id=provider_id or job.provider_id,
            attempts=job.attempts + (1 if new is JobState.SUBMITTED else 0),
            settled=False if new is JobState.QUEUED else job.settled,
            history=(*job.history, Transition(state=new, at=now, reason=reason)),
        )
        self.rows[job_id].job = job
        self._reply(job_id, ReplyKind.REPORT if new.is_final else ReplyKind.UPDATE, now)
        return job

    async def claim_due(self, now: datetime, *, lease_until: datetime) -> Job | None:
        self._check()
        busy = {r.job.to for r in self.rows.values() if r.job.state is JobState.SUBMITTING}
        due = sorted(
            (
                r
                for r in self.rows.values()
                if r.job.state is JobState.QUEUED and r.job.due_at <= now and r.job.to not in busy
            ),
            key=lambda r: r.job.due_at,
        )
        if not due:
            return None
        row = due[0]
        row.claims += 1
        job = await self.transition(row.job.id, JobState.SUBMITTING, reason=None, now=now, due_at=lease_until)
        row.job = job = replace(job, submit_started_at=now)
        return job

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
        return any(r.job.provider_id == provider_id for r in self.rows.values())

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
            raise JobNotFound(f"the bytes of {document.name} are no longer kept")
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

    async def next_reply_due(self) -> datetime | None:
        return min((at for _, at, done in self.replies.values() if done is None), default=None)

    async def remember(self, key: str, *, now: datetime) -> bool:
        self._check()
        if key in self.seen:
            return False
        self.seen.add(key)
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

    async def ping(self) -> None:
        self._check()

    async def close(self) -> None:
        return None


class FakeProvider:
    """A FaxProvider that records what it was sent and follows a script of outcomes per number.

    `outcomes[number]` is a list of (FaxOutcome, FailureCause | None) consumed one per
    submission; unknown numbers are delivered. `fail_next` raises the given exceptions on the
    next submits, to inject provider trouble.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[OutboundFax, list[bytes]]] = []
        self.statuses: dict[str, ProviderStatus] = {}
        self.outcomes: dict[str, list[tuple[FaxOutcome, FailureCause | None]]] = {}
        self.fail_next: list[Exception] = []
        self.lose_answer_next = False
        self._ids = itertools.count(1000)

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
            provider_id=provider_id, outcome=outcome, to=fax.to, cause=cause, created=None
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
        return [s for s in self.statuses.values() if s.to == to]


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
