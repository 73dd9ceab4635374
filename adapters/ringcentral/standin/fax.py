"""Faxes held by the stand-in: what was asked, how each one fares, and how RingCentral shows it.

Status is computed from the clock, never stored: a fax is `Queued` until `delay` after
its start, then `Sent` (or `SendingFailed`), and `Delivered` another `delay` later. The
outcome is fixed at creation by the destination number, in the fictional range
`+1 NPA 555-01XX`: 0101 line busy, 0102 no answer, 0103 not a fax machine, 0104 busy the
first time that number is faxed; every other number is delivered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import phonenumbers

from adapters.ringcentral.standin.errors import invalid
from adapters.ringcentral.standin.multipart import Document

MAX_PAGES = 200
MAX_COVER_TEXT = 1024
_SCRIPTED_FAILURES = {"5550101": "LineBusy", "5550102": "NoAnswer", "5550103": "NoFaxMachine"}
_BUSY_ONCE = "5550104"


class Status(StrEnum):
    QUEUED = "Queued"
    SENT = "Sent"
    DELIVERED = "Delivered"
    SENDING_FAILED = "SendingFailed"


@dataclass(frozen=True, kw_only=True)
class Mailbox:
    """The one account and extension the stand-in serves, and its outbound fax number."""

    account_id: str
    extension_id: str
    fax_number: str


@dataclass(frozen=True, kw_only=True)
class Recipient:
    phone_number: str
    name: str
    recipient_id: str
    fax_error: str | None = None


@dataclass(frozen=True, kw_only=True)
class FaxOrder:
    """The envelope of a fax request, checked: E.164 recipients and cover settings."""

    to: tuple[tuple[str, str], ...]
    cover_index: int | None = None
    cover_page_text: str | None = None
    fax_resolution: str = "Low"
    send_time: float | None = None


@dataclass(kw_only=True)
class FaxMessage:
    """One outbound fax. `documents` keep their bytes until the stand-in drops old ones."""

    id: int
    created: float
    start: float
    delay: float
    recipients: tuple[Recipient, ...]
    documents: tuple[Document, ...]
    parts: list[dict[str, Any]]
    page_count: int
    cover_index: int | None
    cover_page_text: str | None
    fax_resolution: str
    style: str
    resent_from: int | None = None

    @property
    def to(self) -> list[str]:
        return [recipient.phone_number for recipient in self.recipients]

    def recipient_status(self, recipient: Recipient, now: float) -> Status:
        if now < self.start + self.delay:
            return Status.QUEUED
        if recipient.fax_error:
            return Status.SENDING_FAILED
        return Status.SENT if now < self.start + 2 * self.delay else Status.DELIVERED

    def status(self, now: float) -> Status:
        """RingCentral's aggregate: any Queued, else any SendingFailed, else Sent (Delivered when all are)."""
        statuses = {self.recipient_status(recipient, now) for recipient in self.recipients}
        for status in (Status.QUEUED, Status.SENDING_FAILED, Status.SENT):
            if status in statuses:
                return status
        return Status.DELIVERED

    def is_final(self, now: float) -> bool:
        return self.next_change(now) is None

    def next_change(self, now: float) -> float | None:
        """When the status will next change, or None once it never will."""
        return next((moment for moment in self._transitions() if moment > now), None)

    def last_modified(self, now: float) -> float:
        return max([self.created, *(moment for moment in self._transitions() if moment <= now)])

    def _transitions(self) -> list[float]:
        moments = [self.start + self.delay]
        if any(recipient.fax_error is None for recipient in self.recipients):
            moments.append(self.start + 2 * self.delay)
        return moments


def read_order(envelope: dict[str, Any], *, require_to: bool = True) -> FaxOrder:
    """Check the envelope fields of a fax request; CMN-101 names the first bad one."""
    region = str(envelope.get("isoCode") or "US").upper()
    raw_to = envelope.get("to")
    to = tuple(_recipient(item, region) for item in _as_list(raw_to))
    if require_to and not to:
        raise invalid("to")
    text = envelope.get("coverPageText")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_COVER_TEXT):
        raise invalid("coverPageText")
    resolution = envelope.get("faxResolution") or "Low"
    if resolution not in ("High", "Low"):
        raise invalid("faxResolution")
    return FaxOrder(
        to=to,
        cover_index=_cover_index(envelope.get("coverIndex")),
        cover_page_text=text,
        fax_resolution=resolution,
        send_time=_send_time(envelope.get("sendTime")),
    )


def scripted_failure(phone_number: str, faxed_before: bool) -> str | None:
    """The `faxErrorCode` this number is scripted to fail with, if any."""
    tail = _national_tail(phone_number)
    if tail == _BUSY_ONCE:
        return None if faxed_before else "LineBusy"
    return _SCRIPTED_FAILURES.get(tail or "")


def _national_tail(phone_number: str) -> str | None:
    """The last seven digits of a North American number (`5550101` in +1 202 555 0101)."""
    digits = phone_number.lstrip("+")
    return digits[4:] if digits.startswith("1") and len(digits) == 11 else None


def describe_parts(documents: tuple[Document, ...]) -> list[dict[str, Any]]:
    """What the admin API and the state file show of each document: never its bytes."""
    return [
        {
            "name": document.name,
            "filename": document.filename,
            "contentType": document.content_type,
            "size": document.size,
            "sha256": hashlib.sha256(document.data).hexdigest(),
        }
        for document in documents
    ]


def fax_response(message: FaxMessage, now: float, base_url: str, mailbox: Mailbox) -> dict[str, Any]:
    """The `FaxResponse` body of a send (its `to` entries carry no `faxErrorCode`)."""
    body = _common(message, now, base_url, mailbox)
    body["to"] = [_to_entry(message, recipient, now, with_error=False) for recipient in message.recipients]
    return body


def message_record(message: FaxMessage, now: float, base_url: str, mailbox: Mailbox) -> dict[str, Any]:
    """The `GetMessageInfoResponse` body of the message store."""
    body = _common(message, now, base_url, mailbox)
    body["extensionId"] = mailbox.extension_id
    body["from"] = {"phoneNumber": mailbox.fax_number, "name": "faxbridge stand-in"}
    body["to"] = [_to_entry(message, recipient, now, with_error=True) for recipient in message.recipients]
    return body


def message_uri(base_url: str, mailbox: Mailbox, message_id: int) -> str:
    return (
        f"{base_url}/restapi/v1.0/account/{mailbox.account_id}"
        f"/extension/{mailbox.extension_id}/message-store/{message_id}"
    )


def iso(moment: float) -> str:
    """`2016-03-10T18:07:52.534Z`, the way RingCentral writes times."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> float:
    """Seconds since the epoch of an ISO 8601 time; a time without zone is UTC."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _common(message: FaxMessage, now: float, base_url: str, mailbox: Mailbox) -> dict[str, Any]:
    uri = message_uri(base_url, mailbox, message.id)
    status = message.status(now)
    body: dict[str, Any] = {
        "id": message.id,
        "uri": uri,
        "type": "Fax",
        "creationTime": iso(message.created),
        "readStatus": "Unread",
        "priority": "Normal",
        "attachments": [
            {
                "id": message.id,
                "uri": f"{uri}/content/{message.id}",
                "type": "RenderedDocument",
                "contentType": "application/pdf",
            }
        ],
        "direction": "Outbound",
        "availability": "Alive",
        "messageStatus": str(status),
        "faxResolution": message.fax_resolution,
        "faxPageCount": 0 if status is Status.QUEUED else message.page_count,
        "lastModifiedTime": iso(message.last_modified(now)),
    }
    if message.cover_index is not None:
        body["coverIndex"] = message.cover_index
    if message.cover_page_text is not None:
        body["coverPageText"] = message.cover_page_text
    return body


def _to_entry(message: FaxMessage, recipient: Recipient, now: float, *, with_error: bool) -> dict[str, Any]:
    status = message.recipient_status(recipient, now)
    entry: dict[str, Any] = {
        "recipientId": recipient.recipient_id,
        "phoneNumber": recipient.phone_number,
        "messageStatus": str(status),
    }
    if recipient.name:
        entry["name"] = recipient.name
    if with_error and status is Status.SENDING_FAILED and recipient.fax_error:
        entry["faxErrorCode"] = recipient.fax_error
    return entry


def _as_list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [value]


def _recipient(item: object, region: str) -> tuple[str, str]:
    if isinstance(item, dict):
        number, name = item.get("phoneNumber"), item.get("name") or ""
    else:
        number, name = item, ""
    if not isinstance(number, str) or not isinstance(name, str):
        raise invalid("to")
    return _normalise_number(number, region), name


def _normalise_number(number: str, region: str = "US") -> str:
    """E.164 form of a plausible phone number; CMN-101 on `to` otherwise."""
    try:
        parsed = phonenumbers.parse(number, region if len(region) == 2 else "US")
    except phonenumbers.NumberParseException:
        raise invalid("to") from None
    if not phonenumbers.is_possible_number(parsed):
        raise invalid("to")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _cover_index(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        index = int(str(value))
    except ValueError:
        raise invalid("coverIndex") from None
    if not 0 <= index <= 28:
        raise invalid("coverIndex")
    return index


def _send_time(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        return parse_time(str(value))
    except ValueError:
        raise invalid("sendTime") from None
