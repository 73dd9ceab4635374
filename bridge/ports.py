"""The ports: what the core needs from the outside world, as small Protocols.

Adapters implement them; `bridge/testing.py` has in-memory fakes of each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import BinaryIO, Protocol

from bridge.model import Envelope, Job, Origin, PreparedFax, StoredDocument
from bridge.states import JobState


class FaxOutcome(StrEnum):
    """The provider's view of a fax, reduced to what the core acts on."""

    QUEUED = "queued"  # accepted, not yet transmitted
    SENT = "sent"  # transmitted
    DELIVERED = "delivered"  # the far end confirmed
    FAILED = "failed"  # gave up; see cause


class FailureCause(StrEnum):
    """Why a fax failed, in provider-neutral terms; the core's retry policy keys on this."""

    LINE_BUSY = "line_busy"
    NO_ANSWER = "no_answer"
    NO_FAX_MACHINE = "no_fax_machine"
    INVALID_NUMBER = "invalid_number"
    REFUSED = "refused"  # the provider or the line refused (permissions, blocked, credits)
    DOCUMENT = "document"  # rendering failed, too many pages
    CALL_FAILED = "call_failed"  # the call dropped or failed for a transient reason
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True)
class OutboundFax:
    """One fax as handed to the provider: number, envelope, and documents with a way to open each."""

    job_id: str
    to: str
    envelope: Envelope
    documents: Sequence[StoredDocument]
    open: Callable[[StoredDocument], BinaryIO]


@dataclass(frozen=True, kw_only=True)
class ProviderStatus:
    """What the provider says about one fax."""

    provider_id: str
    outcome: FaxOutcome
    to: str = ""
    created: datetime | None = None
    pages: int = 0
    cause: FailureCause | None = None
    detail: str = ""  # the provider's own words or code, for the record


class FaxProvider(Protocol):
    """Sends faxes and reports on them."""

    async def submit(self, fax: OutboundFax) -> ProviderStatus:
        """Send one fax; raise ProviderTransient or ProviderPermanent on trouble."""
        ...

    async def status(self, provider_ids: Sequence[str]) -> list[ProviderStatus]:
        """The current status of each fax; unknown ids are left out."""
        ...

    async def find_submission(self, to: str, since: datetime) -> list[ProviderStatus]:
        """Faxes to `to` created at or after `since`, to settle a submission a crash left open."""
        ...


@dataclass(frozen=True, kw_only=True)
class Acceptance:
    """The jobs one request became."""

    jobs: tuple[Job, ...]
    duplicate: bool = False


class JobStore(Protocol):
    """Durable jobs, their documents and their history.

    Every write is committed before it returns. Claiming is safe for several processes
    sharing one store.
    """

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
        """Store the documents once and one queued job per number, atomically.

        The store takes the documents' files (it links them into its own keeping, synced, before
        the jobs are committed); the caller may remove its copies afterwards. A job made with the
        same idempotency key and number at or after `key_since` is returned instead of a new one.
        """
        ...

    async def create_rejected(self, *, number: str, origin: Origin, reason: str, now: datetime) -> Job:
        """Record a request that was refused at intake."""
        ...

    async def get(self, job_id: str) -> Job:
        """One job with its documents and history; raise JobNotFound."""
        ...

    async def list_jobs(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first."""
        ...

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
        """Move a job to a new state, checked by the state machine, and record why.

        `durable=False` is for changes that can be learned again after a machine crash (what the
        provider reports): they survive the process dying but skip the fsync.
        """
        ...

    async def claim_due(self, now: datetime, *, lease_until: datetime) -> Job | None:
        """Take the next due queued job and move it to `submitting`, counting the attempt.

        A job whose number already has a submission open waits: reconciliation after a crash
        can then only ever match one open submission per number.
        """
        ...

    async def stale_submissions(self, now: datetime) -> list[Job]:
        """Jobs left in `submitting` whose lease has run out (a crash or an unanswered POST)."""
        ...

    async def in_flight(self) -> list[Job]:
        """Jobs the provider has and that are not yet settled."""
        ...

    async def next_due(self) -> datetime | None:
        """When the next queued job (or submission lease) is due, if any."""
        ...

    async def extend_lease(self, job_id: str, until: datetime) -> None:
        """Leave a `submitting` job alone until `until`, then treat it as stale."""
        ...

    async def provider_failures(self, job_id: str) -> int:
        """How many claims of this job ended without reaching the provider."""
        ...

    async def provider_id_taken(self, provider_id: str) -> bool:
        """Whether some job already owns this provider message."""
        ...

    async def counts(self) -> dict[str, int]:
        """Jobs per state."""
        ...

    async def oldest_queued(self) -> datetime | None:
        """When the longest-waiting queued job was accepted, if any."""
        ...

    def open_document(self, document: StoredDocument) -> BinaryIO:
        """The bytes of a stored document, as a file to stream from."""
        ...

    async def keep_cover(self, job_id: str, document_id: int, data: bytes) -> Job:
        """Keep the rendered bytes of a job's cover (drawn when the fax is sent); return the job."""
        ...

    async def mark_settled(self, job_id: str, *, now: datetime) -> None:
        """Stop following a `sent` job whose confirmation never came."""
        ...

    async def pending_replies(self, now: datetime, limit: int = 50) -> list[PendingReply]:
        """Status notices waiting to go out to the senders."""
        ...

    async def reply_done(self, reply_ids: Sequence[int], *, now: datetime) -> None:
        """Mark notices as delivered."""
        ...

    async def reply_failed(self, reply_ids: Sequence[int], *, retry_at: datetime, error: str) -> None:
        """Keep notices for another try."""
        ...

    async def next_reply_due(self) -> datetime | None:
        """When the next waiting notice is due, if any."""
        ...

    async def remember(self, key: str, *, now: datetime) -> bool:
        """Record a one-time key (a Slack event id); False when it was seen before."""
        ...

    async def purge_documents(self, before: datetime) -> int:
        """Delete the bytes of documents whose jobs all ended before `before`."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...

    async def close(self) -> None: ...


class ReplyKind(StrEnum):
    ACKNOWLEDGE = "acknowledge"  # the job was accepted
    UPDATE = "update"  # the job changed state
    REPORT = "report"  # the job reached its end


@dataclass(frozen=True, kw_only=True)
class PendingReply:
    """A status notice the store holds until the origin's replier has delivered it."""

    id: int
    job_id: str
    kind: ReplyKind
    attempts: int


class Replier(Protocol):
    """Tells the person who asked how their fax is doing, on the channel they used."""

    async def acknowledge(self, job: Job) -> None:
        """The fax was accepted: say what will be faxed and what was left out."""
        ...

    async def update(self, job: Job) -> None:
        """The fax changed state."""
        ...

    async def report(self, job: Job) -> None:
        """The fax reached its end: say how it ended, in plain words."""
        ...
