"""Received faxes: what the provider lists, what the bridge keeps, and each delivery of one to a destination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, kw_only=True)
class IncomingFax:
    """A fax the provider says it received, as listed: enough to fetch its document and to route it.

    `location` is the provider's own handle on the document (RingCentral: the attachment uri);
    the core hands it back to the provider untouched.
    """

    provider_id: str
    from_number: str
    to_number: str
    received: datetime
    pages: int
    content_type: str
    location: str


class DeliveryState(StrEnum):
    PENDING = "pending"  # not yet taken by its destination (first try, or waiting for another)
    DONE = "done"  # the destination has it
    FAILED = "failed"  # given up: the destination refused it for good


class DestinationKind(StrEnum):
    SLACK = "slack"  # a Slack channel id
    EMAIL = "email"  # a mail address
    THREAD = "thread"  # the thread of a job whose sender this fax answers: its id


@dataclass(frozen=True, kw_only=True)
class Destination:
    """Where one copy of a received fax goes: `slack:C0123ABCD`, `email:desk@example.org`, `thread:JOB_ID`."""

    kind: DestinationKind
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"

    @classmethod
    def parse(cls, text: str) -> Destination:
        """The destination a stored string names; ValueError when it names none."""
        kind, _, target = text.strip().partition(":")
        if not target.strip():
            raise ValueError(f"{text!r} names no destination (slack:CHANNEL_ID or email:ADDRESS)")
        try:
            return cls(kind=DestinationKind(kind.strip().lower()), target=target.strip())
        except ValueError:
            raise ValueError(f"{text!r}: a destination is slack:CHANNEL_ID or email:ADDRESS") from None


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One destination's copy of a received fax, kept in the store until the destination has it.

    `progress` is the destination's own durable note of a step taken (a Slack file id): after a
    crash it lets the adapter tell whether the destination already has the fax.
    """

    id: int
    fax_id: str
    destination: Destination
    state: DeliveryState
    attempts: int
    due_at: datetime
    updated: datetime
    reason: str | None = None
    progress: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReceivedFax:
    """A fax the bridge received and keeps: its document in the spool, and where it goes.

    `note` says what routing had to say (no route matched; several people faxed the sender).
    """

    id: str
    provider_id: str
    from_number: str
    to_number: str
    received: datetime
    stored: datetime
    pages: int
    size: int
    note: str | None = None
    purged: bool = False
    deliveries: tuple[Delivery, ...] = ()
