"""Received faxes from RingCentral: listed from the message store, their documents downloaded.

Listing is in the Light group, a download in the Medium group: each has its own bucket in the
shared limiter, and a 429 pauses them as it pauses every call. The document's address comes
from RingCentral's own listing (never from a webhook body) and the bearer token only ever goes
to RingCentral's API or media host.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from adapters.ringcentral.api import RingCentralApi
from adapters.ringcentral.client import MAX_PAGES, MESSAGES_PATH, PER_PAGE, has_next
from adapters.ringcentral.records import e164, iso, parse_time
from bridge.errors import ProviderPermanent, ProviderTransient
from bridge.received import IncomingFax

# The most a received fax's document may weigh: RingCentral's 50 MB, and a margin.
MAX_DOCUMENT_BYTES = 60 * 1024 * 1024
DOCUMENT_TYPES = ("application/pdf", "image/tiff")


class RingCentralFaxInbox:
    """Implements `bridge.ports.FaxReceiver` on the RingCentral API shared with the provider."""

    def __init__(self, api: RingCentralApi, *, fax_number: str = "") -> None:
        self.api = api
        self._fax_number = fax_number  # whose country fills in for numbers written without one
        base = urlsplit(str(api.http.base_url))
        self._scheme = base.scheme
        host = (base.hostname or "").lower()
        # RingCentral serves content from its media host beside the API host (media.ringcentral.com).
        domain = host.split(".", 1)[1] if host.count(".") >= 2 else host
        self._hosts = frozenset({host, f"media.{domain}"})

    async def received_since(self, since: datetime) -> list[IncomingFax]:
        """Faxes received at or after `since`, oldest first. Raise ProviderError when the list cannot be read to its end."""
        params: dict[str, Any] = {
            "messageType": "Fax",
            "direction": "Inbound",
            "dateFrom": iso(since),
            "perPage": PER_PAGE,
        }
        found: list[IncomingFax] = []
        for page in range(1, MAX_PAGES + 1):
            response = await self.api.request(
                "GET", MESSAGES_PATH, group="light", params={**params, "page": page}
            )
            try:
                body = response.json()
                records = [r for r in body.get("records") or [] if isinstance(r, dict)]
            except (ValueError, AttributeError) as exc:
                raise ProviderTransient("RingCentral's list of received faxes was unreadable") from exc
            found.extend(fax for fax in map(self._incoming, records) if fax is not None)
            if not records or not has_next(body, page):
                return sorted(found, key=lambda fax: (fax.received, fax.provider_id))
        raise ProviderTransient(f"RingCentral's list of received faxes did not end after {MAX_PAGES} pages")

    async def fetch(self, fax: IncomingFax, into: BinaryIO) -> None:
        """Stream the fax's document into `into` (Medium group); raise ProviderError on trouble."""
        parts = urlsplit(fax.location)
        if parts.scheme != self._scheme or (parts.hostname or "").lower() not in self._hosts:
            # The address came from RingCentral's answer, but the token must never leave RingCentral.
            raise ProviderPermanent(f"fax {fax.provider_id}: its document is not on RingCentral's hosts")
        if not parts.path.startswith("/restapi/"):
            raise ProviderPermanent(f"fax {fax.provider_id}: its document address is not RingCentral's API")
        await self.api.request(
            "GET", fax.location, group="medium", into=_Capped(into), headers={"Accept": "*/*"}
        )

    def _incoming(self, record: dict[str, Any]) -> IncomingFax | None:
        """A listed record as an IncomingFax; None for anything that is not a received fax with a document."""
        if record.get("type") != "Fax" or record.get("direction") != "Inbound" or record.get("id") is None:
            return None
        received = parse_time(record.get("creationTime"))
        document = next(
            (
                a
                for a in record.get("attachments") or []
                if isinstance(a, dict)
                and isinstance(a.get("uri"), str)
                and a.get("type") == "RenderedDocument"
            ),
            None,
        )
        if received is None or document is None:
            return None
        sender = record.get("from")
        sender = sender if isinstance(sender, dict) else {}
        recipients = [r for r in record.get("to") or [] if isinstance(r, dict)]
        to_number = str(recipients[0].get("phoneNumber") or "") if recipients else ""
        pages = record.get("faxPageCount")
        return IncomingFax(
            provider_id=str(record["id"]),
            from_number=e164(str(sender.get("phoneNumber") or ""), like=self._fax_number or to_number),
            to_number=e164(to_number, like=self._fax_number),
            received=received,
            pages=pages if isinstance(pages, int) and not isinstance(pages, bool) and pages > 0 else 0,
            content_type=str(document.get("contentType") or "application/pdf").lower(),
            location=document["uri"],
        )


class _Capped:
    """A file that refuses to grow past MAX_DOCUMENT_BYTES: a download never fills the disk."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self._written = 0

    def write(self, chunk: bytes) -> int:
        self._written += len(chunk)
        if self._written > MAX_DOCUMENT_BYTES:
            raise ProviderPermanent(f"a received fax's document is larger than {MAX_DOCUMENT_BYTES} bytes")
        return self._target.write(chunk)
