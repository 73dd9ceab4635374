"""Faxes the stand-in receives: made to arrive by its admin API, then shown the way RingCentral shows them.

A received fax is a message-store record (`type: Fax`, `direction: Inbound`, `messageStatus:
Received`) with one `RenderedDocument` attachment whose `uri` serves the bytes (PDF, or TIFF as
some accounts deliver), and an event on the inbound fax filter that carries the whole record.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from adapters.ringcentral.standin.errors import StandinError, invalid
from adapters.ringcentral.standin.fax import Mailbox, _normalise_number, iso, message_uri

# What a received document may be: RingCentral renders faxes as PDF, or TIFF on some accounts.
CONTENT_TYPES = {b"%PDF": "application/pdf", b"II*\x00": "image/tiff", b"MM\x00*": "image/tiff"}
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
INBOUND_FILTER = re.compile(r"/restapi/v1\.0/account/([^/]+)/extension/([^/?]+)/fax\?direction=Inbound")


@dataclass(kw_only=True)
class InboundFax:
    """One fax received on the mailbox's number. `data` is kept until the stand-in drops old bytes."""

    id: int
    created: float
    from_number: str
    to_number: str
    content_type: str
    data: bytes | None
    size: int
    page_count: int
    from_name: str = ""

    @property
    def to(self) -> list[str]:
        return [self.to_number]

    def record(self, base_url: str, mailbox: Mailbox) -> dict[str, Any]:
        """The `GetMessageInfoResponse` body of this fax, as the message store and the fax event show it."""
        uri = message_uri(base_url, mailbox, self.id)
        sender: dict[str, Any] = {"phoneNumber": self.from_number}
        if self.from_name:
            sender["name"] = self.from_name
        return {
            "id": self.id,
            "uri": uri,
            "extensionId": mailbox.extension_id,
            "type": "Fax",
            "direction": "Inbound",
            "availability": "Alive",
            "messageStatus": "Received",
            "readStatus": "Unread",
            "priority": "Normal",
            "creationTime": iso(self.created),
            "lastModifiedTime": iso(self.created),
            "from": sender,
            "to": [{"phoneNumber": self.to_number, "name": "faxbridge stand-in"}],
            "faxPageCount": self.page_count,
            "faxResolution": "High",
            "attachments": [
                {
                    "id": self.id,
                    "uri": f"{uri}/content/{self.id}",
                    "type": "RenderedDocument",
                    "contentType": self.content_type,
                    "size": self.size,
                }
            ],
        }


def document_type(data: bytes) -> str:
    """The content type of a document to receive, judged by its bytes; only PDF and TIFF are faxes."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise StandinError(400, "MSG-337", "Attachment size limit exceeded")
    for magic, content_type in CONTENT_TYPES.items():
        if data.startswith(magic):
            return content_type
    raise StandinError(415, "MSG-348", "Unsupported attachment media type: a received fax is PDF or TIFF")


def sender_number(value: str | None) -> str:
    """The caller's number in E.164; CMN-101 on `from` otherwise."""
    if not value:
        raise invalid("from")
    try:
        return _normalise_number(value)
    except StandinError:
        raise invalid("from") from None


def wants_inbound_faxes(event_filter: str, mailbox: Mailbox) -> bool:
    """Whether a subscription filter is RingCentral's inbound fax event filter for this mailbox."""
    match = INBOUND_FILTER.fullmatch(event_filter)
    if match is None:
        return False
    return match.group(1) in ("~", mailbox.account_id) and match.group(2) in ("~", mailbox.extension_id)


def fax_event(
    fax: InboundFax, subscription_id: str, base_url: str, mailbox: Mailbox, now: float
) -> dict[str, Any]:
    """The notification of the inbound fax filter: the envelope, and the whole record as its body."""
    return {
        "uuid": str(uuid.uuid4()),
        "event": f"/restapi/v1.0/account/{mailbox.account_id}/extension/{mailbox.extension_id}/fax?direction=Inbound",
        "timestamp": iso(now),
        "subscriptionId": subscription_id,
        "ownerId": mailbox.extension_id,
        "body": fax.record(base_url, mailbox),
    }
