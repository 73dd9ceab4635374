"""The common fax request every adapter produces, and the job the core keeps for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from bridge.spooling import Spooled
from bridge.states import JobState


class Channel(StrEnum):
    """Which way the request came in, and so where the answers go."""

    EMAIL = "email"
    SLACK = "slack"
    CLI = "cli"


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


def _frozen_sheets() -> Mapping[str, CoverSheet]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Origin:
    """Who asked, and where to answer.

    `reply` holds the adapter's own routing data (a mail's Message-ID and subject, a Slack
    channel and thread); the core stores it and hands it back untouched.
    """

    channel: Channel
    sender: str
    sender_name: str = ""
    reply: Mapping[str, str] = field(default_factory=_frozen)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reply", _frozen(self.reply))


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The judgement on one file's bytes: a type and a page count, or a refusal saying why.

    `error` names the exception behind a refusal no parser foresaw, for the log.
    """

    content_type: str = ""
    pages: int = 0
    refusal: str = ""
    error: str = ""

    @property
    def faxable(self) -> bool:
        return not self.refusal


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """A file as the adapter received it, kept on disk.

    `verdict` is the core's judgement when the adapter already had it made (a mail's parts are
    judged in the same worker task that decoded them); otherwise the core judges the file.
    """

    name: str
    content: Spooled
    declared_type: str = ""
    verdict: Verdict | None = None


@dataclass(frozen=True, kw_only=True)
class LeftOut:
    """A part that will not be faxed, and why, in words for the sender.

    `attachment` marks a file the sender attached to be faxed (a damaged winmail.dat, an empty
    file), as opposed to a part that never was a document (a signature logo, an invitation).
    """

    name: str
    reason: str
    attachment: bool = False


@dataclass(frozen=True, kw_only=True)
class Cover:
    """What goes on the cover page."""

    sender: str = ""
    recipient: str = ""
    subject: str = ""
    note: str = ""

    @property
    def has_text(self) -> bool:
        return bool(self.subject.strip() or self.note.strip())


@dataclass(frozen=True, kw_only=True)
class FaxRequest:
    """One request to fax documents to one or more numbers, whatever the way in.

    `to` holds numbers as the person wrote them; the core parses them. With `strict`, one
    unfaxable attachment refuses the whole request (the person chose each file); without
    it, such parts are left out and listed (a mail's signature logo, say).
    `idempotency_key` makes a repeated request (an MTA's re-delivery, a Slack retry)
    return the jobs it already made instead of new ones.
    """

    to: tuple[str, ...]
    origin: Origin
    attachments: tuple[Attachment, ...] = ()
    cover: Cover = field(default_factory=Cover)
    left_out: tuple[LeftOut, ...] = ()
    strict: bool = False
    idempotency_key: str | None = None


class DocumentRole(StrEnum):
    COVER = "cover"
    DOCUMENT = "document"


@dataclass(frozen=True, kw_only=True)
class Document:
    """A checked document, ready to store and send: clean name, type judged from its bytes."""

    name: str
    content_type: str
    pages: int
    content: Spooled
    role: DocumentRole = DocumentRole.DOCUMENT


@dataclass(frozen=True, kw_only=True)
class CoverSheet:
    """What our cover page for one number says; it is rendered when the fax is sent.

    `to` is the number as people read it, `pages` the whole fax counting the cover, `when` the
    time printed on it (the moment the request was accepted).
    """

    cover: Cover
    to: str
    pages: int
    when: datetime


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """The JSON part of the RingCentral request, apart from the number."""

    cover_index: int | None = None
    cover_page_text: str | None = None
    resolution: str = "High"


@dataclass(frozen=True, kw_only=True)
class PreparedFax:
    """The ordered result of the pipeline: envelope, cover, documents, and what was left out.

    The documents are shared by every destination; a generated cover names its one
    destination, so there is one cover sheet per number, rendered when that fax is sent.
    """

    envelope: Envelope
    documents: tuple[Document, ...]
    covers: Mapping[str, CoverSheet] = field(default_factory=_frozen_sheets)
    left_out: tuple[LeftOut, ...] = ()

    def pages_for(self, number: str) -> int:
        """Pages sent to `number`: its cover (one page) and the documents."""
        return (1 if number in self.covers else 0) + sum(d.pages for d in self.documents)


@dataclass(frozen=True, kw_only=True)
class Destination:
    """A number the policy allows, in E.164."""

    e164: str
    region: str
    display: str


@dataclass(frozen=True, kw_only=True)
class StoredDocument:
    """A document as the store keeps it; its bytes are reached through the JobStore.

    A generated cover not rendered yet has its words in `sheet` and no bytes (size 0).
    """

    id: int
    name: str
    content_type: str
    pages: int
    size: int
    role: DocumentRole
    sheet: CoverSheet | None = None

    @property
    def unrendered(self) -> bool:
        return self.sheet is not None and self.size == 0


@dataclass(frozen=True, kw_only=True)
class Transition:
    """One recorded state change."""

    state: JobState
    at: datetime
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class Job:
    """One fax to one number, as the store knows it."""

    id: str
    state: JobState
    to: str
    origin: Origin
    created: datetime
    updated: datetime
    due_at: datetime
    attempts: int
    provider_id: str | None
    reason: str | None
    envelope: Envelope
    documents: tuple[StoredDocument, ...]
    left_out: tuple[LeftOut, ...]
    history: tuple[Transition, ...] = ()
    batch_id: str = ""
    submit_started_at: datetime | None = None
    settled: bool = False

    @property
    def pages(self) -> int:
        return sum(d.pages for d in self.documents)

    @property
    def retries(self) -> int:
        """How many times the fax was tried again after a failed call."""
        return max(0, self.attempts - 1)
