"""The RingCentral fax provider: multipart send, message-store status and crash reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import IO, Any

import httpx

from adapters.ringcentral.api import DEFAULT_TIMEOUT, RingCentralApi
from adapters.ringcentral.limiter import Sleep
from adapters.ringcentral.records import iso, multi_records, parse_time, same_number, to_status
from bridge.clock import Monotonic
from bridge.errors import ProviderPermanent, ProviderTransient
from bridge.metrics import Metrics
from bridge.ports import OutboundFax, ProviderStatus

EXTENSION = "/restapi/v1.0/account/~/extension/~"
FAX_PATH = f"{EXTENSION}/fax"
MESSAGES_PATH = f"{EXTENSION}/message-store"
BATCH = 30  # ids per bulk read; RingCentral caps bulk requests (CMN-106)
PER_PAGE = 1000  # RingCentral's largest page: a whole window usually fits in one read
MAX_PAGES = 50  # a guard against a paging answer that never ends
MULTI_JSON = "application/vnd.ringcentral.multipart+json"

FilePart = tuple[str, tuple[str, IO[bytes] | bytes, str]]


class RingCentralProvider:
    """Sends faxes through the RingCentral Fax API and reads their fate from the message store.

    Implements `bridge.ports.FaxProvider`. Build one per process and `close()` it at shutdown.
    """

    def __init__(
        self,
        server_url: str,
        client_id: str,
        client_secret: str,
        jwt: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock_skew: float = 30.0,
        metrics: Metrics,
    ) -> None:
        self.api = RingCentralApi(
            server_url,
            client_id,
            client_secret,
            jwt,
            transport=transport,
            clock=clock,
            sleep=sleep,
            timeout=timeout,
            metrics=metrics,
        )
        self._skew = timedelta(seconds=clock_skew)

    def __repr__(self) -> str:
        return f"<RingCentralProvider {self.api.http.base_url}>"

    async def submit(self, fax: OutboundFax) -> ProviderStatus:
        """POST the fax as multipart/form-data: the JSON envelope first, then each document, streamed."""
        with contextlib.ExitStack() as files:
            parts: list[FilePart] = [("json", ("request.json", _envelope(fax), "application/json"))]
            for doc in fax.documents:
                handle = files.enter_context(fax.open(doc))
                parts.append(("attachment", (doc.name, handle, doc.content_type)))
            response = await self.api.request("POST", FAX_PATH, group="heavy", sends=True, files=parts)
        try:
            body = response.json()
            return to_status(body, like=fax.to)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # The fax was most likely accepted; let the core settle it from the message store.
            raise ProviderTransient(
                "RingCentral's answer to the fax was unreadable", may_have_sent=True
            ) from exc

    async def status(self, provider_ids: Sequence[str]) -> list[ProviderStatus]:
        """The current status of each fax, read in bulk; unknown ids are left out."""
        found: list[ProviderStatus] = []
        ids = list(dict.fromkeys(str(i) for i in provider_ids))
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            found.extend(to_status(record) for record in await self._read(chunk))
        return found

    async def _read(self, ids: list[str]) -> list[dict[str, Any]]:
        headers = {"Accept": MULTI_JSON} if len(ids) > 1 else {}
        try:
            response = await self.api.request(
                "GET", f"{MESSAGES_PATH}/{','.join(ids)}", group="light", headers=headers
            )
        except ProviderPermanent as exc:
            if exc.code == "CMN-102":  # none of them exists (any more)
                return []
            raise
        if response.status_code == 207 or len(ids) > 1:
            return multi_records(response)
        return [response.json()]

    async def find_submission(self, to: str, since: datetime) -> list[ProviderStatus]:
        """Outbound faxes to `to` created at or after `since`, newest first, with their page counts.

        `since` is widened by `clock_skew` seconds: RingCentral stamps records with its own clock.
        A listing that cannot be read to its end raises: a partial list never means "not there".
        """
        earliest = since - self._skew
        found: list[ProviderStatus] = []
        for record in await self._list_outbound(earliest):
            created = parse_time(record.get("creationTime"))
            numbers = [str(r.get("phoneNumber") or "") for r in record.get("to") or [] if isinstance(r, dict)]
            if created is not None and created < earliest:
                continue
            if any(same_number(n, to) for n in numbers):
                found.append(to_status(record, like=to))
        return found

    async def _list_outbound(self, since: datetime) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "messageType": "Fax",
            "direction": "Outbound",
            "dateFrom": iso(since),
            "perPage": PER_PAGE,
        }
        records: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            response = await self.api.request(
                "GET", MESSAGES_PATH, group="light", params={**params, "page": page}
            )
            try:
                body = response.json()
                batch = [r for r in body.get("records") or [] if isinstance(r, dict)]
            except (ValueError, AttributeError) as exc:
                raise ProviderTransient("RingCentral's list of sent faxes was unreadable") from exc
            records.extend(batch)
            if not batch or not has_next(body, page):
                return records
        raise ProviderTransient(f"RingCentral's list of sent faxes did not end after {MAX_PAGES} pages")

    async def check(self) -> frozenset[str]:
        """Log in now, to prove the credentials work (for `faxbridge check`); return the granted permissions."""
        await self.api.auth.token()
        return self.api.auth.scope

    async def close(self) -> None:
        """End the RingCentral session and close connections."""
        await self.api.close()


def _envelope(fax: OutboundFax) -> bytes:
    envelope: dict[str, Any] = {
        "to": [{"phoneNumber": fax.to}],
        "faxResolution": fax.envelope.resolution,
    }
    if fax.envelope.cover_index is not None:
        envelope["coverIndex"] = fax.envelope.cover_index
    if fax.envelope.cover_page_text is not None:
        envelope["coverPageText"] = fax.envelope.cover_page_text
    return json.dumps(envelope, ensure_ascii=False).encode("utf-8")


def has_next(body: dict[str, Any], page: int) -> bool:
    navigation = body.get("navigation") or {}
    if isinstance(navigation, dict) and navigation.get("nextPage"):
        return True
    paging = body.get("paging") or {}
    total = paging.get("totalPages") if isinstance(paging, dict) else None
    return isinstance(total, int) and page < total
