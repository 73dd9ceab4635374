"""`/_standin/...`: inspect and drive a stand-in from another process (no auth, no rate limits).

GET    /_standin                  summary: mailbox, config, counts
GET    /_standin/messages         every fax received: to, status, outcome, pages, parts
GET    /_standin/messages/{id}    one fax
GET    /_standin/requests         the last 1000 requests answered (method, path, status, group, fault)
GET    /_standin/notifications    webhook notifications sent, with the receiver's status
GET    /_standin/faults           scripted faults still pending
POST   /_standin/faults           {"path": regex, "kind": ..., "method"?, "times"?, "retryAfter"?}
POST   /_standin/inbound?from=NUMBER[&to=NUMBER]   body: a PDF or TIFF; a fax arrives from NUMBER
                                  (to the mailbox's fax number unless `to` says otherwise)
GET    /_standin/inbound          every fax received
DELETE /_standin/faults           drop every pending fault
POST   /_standin/tokens/expire    expire every access token now
POST   /_standin/reset            forget faxes, subscriptions, faults, counters and logs
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from typing import Any

from aiohttp import web

from adapters.ringcentral.standin.api import read_body
from adapters.ringcentral.standin.errors import StandinError, invalid, json_response, not_found
from adapters.ringcentral.standin.fax import FaxMessage, iso
from adapters.ringcentral.standin.inbound import InboundFax
from adapters.ringcentral.standin.limits import FaultKind
from adapters.ringcentral.standin.pages import count_pages
from adapters.ringcentral.standin.world import Standin


def add_routes(app: web.Application, standin: Standin) -> None:
    admin = _Admin(standin)
    add = app.router.add_route
    add("GET", "/_standin", admin.summary)
    add("GET", "/_standin/messages", admin.messages)
    add("GET", "/_standin/messages/{id}", admin.message)
    add("GET", "/_standin/requests", admin.requests)
    add("GET", "/_standin/notifications", admin.notifications)
    add("GET", "/_standin/faults", admin.faults)
    add("POST", "/_standin/faults", admin.push_fault)
    add("DELETE", "/_standin/faults", admin.clear_faults)
    add("POST", "/_standin/inbound", admin.receive)
    add("GET", "/_standin/inbound", admin.received)
    add("POST", "/_standin/tokens/expire", admin.expire_tokens)
    add("POST", "/_standin/reset", admin.reset)


def describe(message: FaxMessage, now: float) -> dict[str, Any]:
    """Everything the stand-in knows about one fax, for tests and operators."""
    return {
        "id": message.id,
        "to": message.to,
        "messageStatus": str(message.status(now)),
        "recipients": [
            {
                "phoneNumber": recipient.phone_number,
                "name": recipient.name,
                "messageStatus": str(message.recipient_status(recipient, now)),
                "faxErrorCode": recipient.fax_error,
            }
            for recipient in message.recipients
        ],
        "faxPageCount": message.page_count,
        "coverIndex": message.cover_index,
        "coverPageText": message.cover_page_text,
        "faxResolution": message.fax_resolution,
        "style": message.style,
        "resentFrom": message.resent_from,
        "creationTime": iso(message.created),
        "parts": message.parts,
    }


class _Admin:
    def __init__(self, standin: Standin) -> None:
        self.standin = standin

    async def summary(self, request: web.Request) -> web.Response:
        standin = self.standin
        config = {
            key: str(value) if value is not None and not isinstance(value, int | float) else value
            for key, value in dataclasses.asdict(standin.config).items()
            if key not in ("client_secret", "jwt")
        }
        return json_response(
            {
                "mailbox": dataclasses.asdict(standin.mailbox),
                "config": config,
                "messages": len(standin.messages),
                "subscriptions": len(standin.subscriptions.live()),
                "pendingFaults": len(standin.faults.pending),
            }
        )

    async def messages(self, request: web.Request) -> web.Response:
        now = self.standin.clock()
        return json_response({"records": [describe(message, now) for message in self.standin.messages]})

    async def message(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        message = self.standin.message(int(raw)) if raw.isdigit() else None
        if message is None:
            raise not_found("messageId")
        return json_response(describe(message, self.standin.clock()))

    async def requests(self, request: web.Request) -> web.Response:
        records = [dataclasses.asdict(record) for record in self.standin.requests]
        return json_response({"records": records})

    async def notifications(self, request: web.Request) -> web.Response:
        records = [dataclasses.asdict(item) for item in self.standin.notifier.deliveries]
        return json_response({"records": records})

    async def faults(self, request: web.Request) -> web.Response:
        return json_response({"records": [fault.describe() for fault in self.standin.faults.pending]})

    async def push_fault(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise StandinError(400, "CMN-103", "JSON can't be parsed") from None
        if not isinstance(body, dict) or not isinstance(body.get("path"), str):
            raise invalid("path")
        if body.get("kind") not in {str(kind) for kind in FaultKind}:
            raise invalid("kind")
        times = body.get("times", 1)
        if times is not None and (not isinstance(times, int) or times < 1):
            raise invalid("times")
        try:
            fault = self.standin.faults.push(
                body["path"],
                body["kind"],
                method=body.get("method"),
                times=times,
                retry_after=int(body.get("retryAfter", 60)),
            )
        except re.error:
            raise invalid("path") from None
        return json_response(fault.describe(), status=201)

    async def receive(self, request: web.Request) -> web.Response:
        """Make a fax arrive: it is then in the message store, announced by webhook, downloadable."""
        data = await read_body(request)
        if not data:
            raise StandinError(400, "MSG-347", "Attachment body is empty")
        pages = await asyncio.to_thread(count_pages, data)
        fax = self.standin.receive(
            data, from_number=request.query.get("from"), to_number=request.query.get("to"), pages=pages
        )
        return json_response(fax.record(self.standin.base_url, self.standin.mailbox), status=201)

    async def received(self, request: web.Request) -> web.Response:
        return json_response({"records": [_describe_received(fax) for fax in self.standin.received]})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.standin.faults.clear()
        return web.Response(status=204)

    async def expire_tokens(self, request: web.Request) -> web.Response:
        self.standin.expire_tokens()
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        self.standin.reset()
        return web.Response(status=204)


def _describe_received(fax: InboundFax) -> dict[str, Any]:
    return {
        "id": fax.id,
        "from": fax.from_number,
        "to": fax.to_number,
        "contentType": fax.content_type,
        "size": fax.size,
        "faxPageCount": fax.page_count,
        "creationTime": iso(fax.created),
        "documentKept": fax.data is not None,
    }
