"""Optional persistence: a JSON file that lets a restarted stand-in remember earlier faxes.

Only what the message store shows is kept (recipients, outcome, pages, cover, times and
the parts' names and sizes; for received faxes the numbers, pages and type), never document
bytes. Status stays lazy, so a fax sent before a restart keeps progressing after it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from adapters.ringcentral.standin.fax import FaxMessage, Recipient
from adapters.ringcentral.standin.inbound import InboundFax
from adapters.ringcentral.standin.multipart import Document

VERSION = 1


class StateFile:
    """Reads and atomically rewrites the state file; with no path it does nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> list[FaxMessage]:
        return [_message(item) for item in self._read().get("messages", [])]

    def load_received(self) -> list[InboundFax]:
        return [_received(item) for item in self._read().get("received", [])]

    def _read(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and data.get("version") == VERSION else {}

    def save(self, messages: list[FaxMessage], received: list[InboundFax] | None = None) -> None:
        if self.path is None:
            return
        payload = {
            "version": VERSION,
            "messages": [_dump(message) for message in messages],
            "received": [_dump_received(fax) for fax in received or []],
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        os.replace(temporary, self.path)


def _dump(message: FaxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "created": message.created,
        "start": message.start,
        "delay": message.delay,
        "recipients": [
            {
                "phoneNumber": r.phone_number,
                "name": r.name,
                "recipientId": r.recipient_id,
                "faxErrorCode": r.fax_error,
            }
            for r in message.recipients
        ],
        "parts": message.parts,
        "pageCount": message.page_count,
        "coverIndex": message.cover_index,
        "coverPageText": message.cover_page_text,
        "faxResolution": message.fax_resolution,
        "style": message.style,
        "resentFrom": message.resent_from,
    }


def _message(item: dict[str, Any]) -> FaxMessage:
    recipients = tuple(
        Recipient(
            phone_number=r["phoneNumber"],
            name=r["name"],
            recipient_id=r["recipientId"],
            fax_error=r["faxErrorCode"],
        )
        for r in item["recipients"]
    )
    documents: tuple[Document, ...] = ()
    return FaxMessage(
        id=item["id"],
        created=item["created"],
        start=item["start"],
        delay=item["delay"],
        recipients=recipients,
        documents=documents,
        parts=item["parts"],
        page_count=item["pageCount"],
        cover_index=item["coverIndex"],
        cover_page_text=item["coverPageText"],
        fax_resolution=item["faxResolution"],
        style=item["style"],
        resent_from=item["resentFrom"],
    )


def _dump_received(fax: InboundFax) -> dict[str, Any]:
    return {
        "id": fax.id,
        "created": fax.created,
        "from": fax.from_number,
        "to": fax.to_number,
        "contentType": fax.content_type,
        "size": fax.size,
        "pageCount": fax.page_count,
    }


def _received(item: dict[str, Any]) -> InboundFax:
    return InboundFax(
        id=item["id"],
        created=item["created"],
        from_number=item["from"],
        to_number=item["to"],
        content_type=item["contentType"],
        data=None,  # bytes are never written to the state file
        size=item["size"],
        page_count=item["pageCount"],
    )
