"""The ports: what the core needs from the outside world, as small Protocols.

Adapters implement them; `bridge/testing.py` has in-memory fakes of each.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import BinaryIO, Protocol

from bridge.model import Channel, Envelope, Job, Origin, PreparedFax, StoredDocument
from bridge.received import Delivery, Destination, IncomingFax, ReceivedFax
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


# Opens one stored document's bytes to stream from; raises DocumentMissing when they are gone.
DocumentOpener = Callable[[StoredDocument], BinaryIO]


@dataclass(frozen=True, kw_only=True)
class OutboundFax:
    """One fax as handed to the provider: number, envelope, and documents with the one way to open them."""

    job_id: str
    to: str
    envelope: Envelope
    documents: Sequence[StoredDocument]
    open: DocumentOpener


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
        """Faxes to `to` created at or after `since`, with their page counts, to settle a submission
        whose answer was lost. Raise ProviderError when the list cannot be read in full: a partial
        list must never pass for "it was not sent"."""
        ...


@dataclass(frozen=True, kw_only=True)
class Acceptance:
    """The jobs one request became."""

    jobs: tuple[Job, ...]
    duplicate: bool = False


class Jobs(Protocol):
    """Durable jobs and their history, and the claims that hand them to the provider one at a time.

    Every write is committed before it returns. Claiming is safe for several processes
    sharing one store. Every state change follows `bridge.transitions.plan`, and owes the
    sender the notice it names.
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

    async def ids_starting(self, prefix: str, *, limit: int) -> list[str]:
        """Up to `limit` ids of jobs whose id begins with `prefix`, sorted: ids typed short."""
        ...

    async def list_jobs(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first."""
        ...

    async def jobs_for_key(self, idempotency_key: str) -> list[Job]:
        """The jobs a request with this idempotency key became, if it was stored."""
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
        expect_started: datetime | None = None,
        durable: bool = True,
        settle: bool = False,
    ) -> Job:
        """Move a job to a new state, checked by the state machine, and record why.

        `expect_started` guards a settlement of a lost submission: the submission that began then
        must still be the job's open one (another process may have settled it and claimed the job
        again meanwhile, and a new submission must never be taken for the lost one).
        `durable=False` is for changes that can be learned again after a machine crash (what the
        provider reports): they survive the process dying but skip the fsync. `settle=True` ends
        the story of a `sent` fax nobody will follow further: it is marked settled and its sender
        gets the final report.
        """
        ...

    async def claim_due(
        self, now: datetime, *, lease_until: datetime, only: Collection[str] | None = None
    ) -> Job | None:
        """Take the next due queued job and move it to `submitting`, recording a new attempt.

        A job whose number already has a submission open waits: reconciliation after a crash
        can then only ever match one open submission per number. `only` limits the claim to
        those job ids (a `send --wait` sending its own faxes and nobody else's).
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
        """Whether some job already owns this provider message, from any of its attempts."""
        ...

    async def counts(self) -> dict[str, int]:
        """Jobs per state."""
        ...

    async def oldest_queued(self) -> datetime | None:
        """When the longest-waiting queued job was accepted, if any."""
        ...

    async def mark_settled(self, job_id: str, *, now: datetime) -> None:
        """Stop following a `sent` job whose confirmation never came."""
        ...

    async def purge_records(self, before: datetime) -> int:
        """Delete what is kept about requests that ended before `before`; return how many jobs went.

        Jobs whose documents are already purged go with their history, attempts, notices and
        status messages; delivered notices and one-time keys older than `before` go too.
        """
        ...


class ReplyOutbox(Protocol):
    """The notices owed to senders, kept until each origin's replier has delivered them."""

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

    async def reply_troubles(self, job_id: str) -> list[ReplyTrouble]:
        """This job's notices that failed at least once and are still waiting to go out."""
        ...

    async def failing_replies(self) -> int:
        """How many notices, of all jobs, failed at least once and are still waiting to go out."""
        ...


class SeenKeys(Protocol):
    """One-time keys (a Slack event id): what was seen, so a retried delivery is done once."""

    async def remember(self, key: str, *, now: datetime) -> bool:
        """Record a one-time key; False when it was seen before."""
        ...


class Documents(Protocol):
    """The bytes of the documents jobs send: opened to send, covers kept once drawn, purged when done."""

    def open_document(self, document: StoredDocument) -> BinaryIO:
        """The bytes of a stored document, as a file to stream from; raise DocumentMissing."""
        ...

    async def keep_cover(self, job_id: str, document_id: int, data: bytes) -> Job:
        """Keep the rendered bytes of a job's cover (drawn when the fax is sent); return the job."""
        ...

    async def purge_documents(self, before: datetime) -> int:
        """Delete the bytes of documents whose jobs all ended before `before`."""
        ...


class StatusMessages(Protocol):
    """Which message of a channel shows which job's status (Slack: its channel and ts), across restarts."""

    async def message_of(self, job_id: str) -> tuple[str, str] | None:
        """Where the job's status message is: (channel, message id), if one was posted."""
        ...

    async def keep_message(self, job_id: str, channel: str, message: str) -> None:
        """Remember where the job's status message is now."""
        ...


class Health(Protocol):
    """Whether the store answers, and its end."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...

    async def close(self) -> None: ...


class JobStore(Jobs, ReplyOutbox, SeenKeys, Documents, StatusMessages, Health, Protocol):
    """Every port one store offers; only what wires the parts together (and the contract tests) holds it.

    A component takes the ports it uses, never this.
    """


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


@dataclass(frozen=True, kw_only=True)
class ReplyTrouble:
    """A notice that failed and waits for another try: what the operator needs to see why."""

    kind: ReplyKind
    attempts: int
    retry_at: datetime
    error: str


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


@dataclass(frozen=True, kw_only=True)
class InboxItem:
    """A request as it arrived, kept until a worker has finished it."""

    id: int
    channel: Channel
    payload: str  # the adapter's own encoding of the request (JSON)
    received: datetime
    attempts: int  # how many times a worker has begun it (a request that keeps killing the process stops)
    answer: str | None  # what the person is still to be told, once the request has been decided


class RequestInbox(Protocol):
    """Requests stored before the sender is answered, then finished exactly once by a worker.

    A way in whose work is slow (downloads) admits the request here, acknowledges it, and
    lets a worker turn it into jobs; after a crash or a restart the worker finds it again.
    """

    async def admit(
        self, *, channel: Channel, keys: Sequence[str], payload: str, now: datetime
    ) -> int | None:
        """Store a request and its one-time keys in one commit; None, storing nothing, if any key was seen."""
        ...

    async def due(self, channel: Channel, now: datetime, limit: int = 50) -> list[InboxItem]:
        """Unfinished requests of a channel whose time has come, oldest first."""
        ...

    async def begin(self, item_id: int) -> int:
        """Count one more attempt at a request, durably; return how many there have been."""
        ...

    async def decide(self, item_id: int, answer: str) -> None:
        """Keep what the person is to be told, so that a restart tells it without redoing the work."""
        ...

    async def postpone(self, item_id: int, until: datetime) -> None:
        """Leave a request alone until `until` (a store or channel outage)."""
        ...

    async def finish(self, item_id: int, *, now: datetime) -> None:
        """The request is done: never due again, and its payload is forgotten."""
        ...

    async def purge_finished(self, before: datetime) -> int:
        """Delete the records of requests finished before `before`."""
        ...


# -- received faxes --------------------------------------------------------------------------


class FaxReceiver(Protocol):
    """The provider's side of receiving: which faxes arrived, and each one's document."""

    async def received_since(self, since: datetime) -> list[IncomingFax]:
        """Faxes received at or after `since`, oldest first; raise ProviderError when the list
        cannot be read to its end."""
        ...

    async def fetch(self, fax: IncomingFax, into: BinaryIO) -> None:
        """Write the fax's document into `into`; raise ProviderTransient or ProviderPermanent."""
        ...


class ReceivedFaxes(Protocol):
    """Received faxes, their documents, and the outbox of their deliveries: one row per destination.

    A fax is stored once per provider id, with its document synced into the spool and its
    deliveries, in one commit. A delivery is done at most once it is marked done; until then it
    is due again after a crash, so each destination's adapter must recognise its own earlier try
    (`Delivery.progress`).
    """

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
        """Keep a received fax: take the file at `document` (a PDF) into the spool, synced, and commit
        the fax with one pending delivery per destination. `document` None keeps a fax whose document
        could not be had (its note says why). None, keeping nothing, when a fax with this provider id
        is already kept."""
        ...

    async def known(self, provider_ids: Sequence[str]) -> set[str]:
        """Which of these provider ids are already kept."""
        ...

    async def received_cursor(self) -> datetime | None:
        """The time the provider's list of received faxes is read from, if it was ever set."""
        ...

    async def set_received_cursor(self, moment: datetime) -> None:
        """Read the provider's list from `moment` on next time."""
        ...

    async def received_fax(self, fax_id: str) -> ReceivedFax:
        """One received fax with its deliveries; raise ReceivedFaxNotFound."""
        ...

    async def list_received(self, *, limit: int = 100) -> list[ReceivedFax]:
        """Received faxes with their deliveries, newest first."""
        ...

    def open_received(self, fax: ReceivedFax) -> BinaryIO:
        """The received fax's PDF; raise DocumentMissing once it has been purged (or was never had)."""
        ...

    async def due_deliveries(self, now: datetime, *, limit: int = 20) -> list[tuple[ReceivedFax, Delivery]]:
        """Pending deliveries whose time has come, oldest first, with their faxes."""
        ...

    async def next_delivery_due(self) -> datetime | None:
        """When the next pending delivery is due, if any."""
        ...

    async def delivery_progress(self, delivery_id: int, progress: str) -> None:
        """Note, durably, a step a destination has taken for this delivery (before its effect)."""
        ...

    async def delivery_done(self, delivery_id: int, *, now: datetime) -> None:
        """The destination has the fax: never due again."""
        ...

    async def delivery_failed(
        self, delivery_id: int, *, now: datetime, reason: str, retry_at: datetime | None
    ) -> None:
        """Count a failed try and keep why; due again at `retry_at`, or given up when it is None."""
        ...

    async def faxed_to(self, number: str, since: datetime) -> list[Job]:
        """Jobs to `number` created at or after `since`, except those refused at intake."""
        ...

    async def purge_received(self, before: datetime) -> int:
        """Delete the documents of received faxes whose every delivery ended before `before`."""
        ...


@dataclass(frozen=True, kw_only=True)
class Parcel:
    """One received fax on its way to one destination.

    `answers` is, for a delivery to a thread, the job whose sender this fax answers. `attach` is
    False when the document must not leave the bridge (a notice says how to fetch it).
    `note_progress` keeps a step taken, durably, before its effect is asked for. `preview`, when
    previews are on, draws page 1 as a PNG (None when it cannot be drawn).
    """

    fax: ReceivedFax
    delivery: Delivery
    open: Callable[[], BinaryIO]
    attach: bool
    answers: Job | None = None
    note_progress: Callable[[str], Awaitable[None]]
    preview: Callable[[], Awaitable[bytes | None]] | None = None


class Forwarder(Protocol):
    """Delivers received faxes to one kind of destination (a Slack channel, a mailbox)."""

    async def forward(self, parcel: Parcel) -> None:
        """Hand the fax over; raise DeliveryTransient (try again later) or DeliveryRefused (give up)."""
        ...
