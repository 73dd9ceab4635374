"""The RingCentral REST routes of the stand-in: token, fax, message store, subscriptions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from adapters.ringcentral.standin.auth import Session
from adapters.ringcentral.standin.errors import (
    OAuthError,
    StandinError,
    invalid,
    json_response,
    not_found,
)
from adapters.ringcentral.standin.fax import (
    MAX_PAGES,
    FaxMessage,
    FaxOrder,
    Recipient,
    describe_parts,
    fax_response,
    message_record,
    read_order,
    scripted_failure,
)
from adapters.ringcentral.standin.limits import FaultKind, Group
from adapters.ringcentral.standin.listing import list_messages
from adapters.ringcentral.standin.multipart import MAX_BODY_BYTES, Document, parse_fax_body
from adapters.ringcentral.standin.pages import count_all
from adapters.ringcentral.standin.webhooks import read_subscription_request, validate_webhook
from adapters.ringcentral.standin.world import Standin

MAILBOX = "/restapi/v1.0/account/{account}/extension/{extension}"
MAX_BATCH = 30
RATE_GROUP = web.RequestKey("standin_rate_group", str)
FAULT = web.RequestKey("standin_fault", str)
_GROUPS = {
    "oauth.token": Group.AUTH,
    "oauth.revoke": Group.AUTH,
    "fax.send": Group.HEAVY,
    "message.get": Group.LIGHT,
    "message.list": Group.LIGHT,
    "message.content": Group.MEDIUM,
    "subscription.list": Group.LIGHT,
    "subscription.create": Group.MEDIUM,
    "subscription.get": Group.LIGHT,
    "subscription.update": Group.MEDIUM,
    "subscription.delete": Group.MEDIUM,
    "subscription.renew": Group.LIGHT,
}
_REFUSE_REFRESH = frozenset({FaultKind.REFUSE_REFRESH})


def rate_group(request: web.Request) -> Group | None:
    """The rate-limit group of the route a request matched, if it has one."""
    return _GROUPS.get(request.match_info.route.name or "")


def add_routes(app: web.Application, standin: Standin) -> None:
    api = _Api(standin)
    add = app.router.add_route
    add("POST", "/restapi/oauth/token", api.token, name="oauth.token")
    add("POST", "/restapi/oauth/revoke", api.revoke, name="oauth.revoke")
    add("POST", f"{MAILBOX}/fax", api.send_fax, name="fax.send")
    add("GET", f"{MAILBOX}/message-store", api.list_messages, name="message.list")
    add("GET", f"{MAILBOX}/message-store/{{ids}}", api.get_messages, name="message.get")
    add(
        "GET",
        f"{MAILBOX}/message-store/{{id}}/content/{{attachment}}",
        api.read_content,
        name="message.content",
    )
    add("GET", "/restapi/v1.0/subscription", api.list_subscriptions, name="subscription.list")
    add("POST", "/restapi/v1.0/subscription", api.create_subscription, name="subscription.create")
    add("GET", "/restapi/v1.0/subscription/{id}", api.get_subscription, name="subscription.get")
    add("PUT", "/restapi/v1.0/subscription/{id}", api.update_subscription, name="subscription.update")
    add("DELETE", "/restapi/v1.0/subscription/{id}", api.delete_subscription, name="subscription.delete")
    add("POST", "/restapi/v1.0/subscription/{id}/renew", api.renew_subscription, name="subscription.renew")


class _Api:
    def __init__(self, standin: Standin) -> None:
        self.standin = standin

    # OAuth ----------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        form = await _form(request)
        authorization = request.headers.get("Authorization")
        tokens = self.standin.tokens
        if form.get("grant_type") == "refresh_token" and self.standin.faults.take(
            request.method, request.path, _REFUSE_REFRESH
        ):
            request[FAULT] = str(FaultKind.REFUSE_REFRESH)
            tokens.authenticate_client(authorization, form)
            tokens.spend_refresh(form.get("refresh_token", ""))
            raise OAuthError(400, "invalid_grant", "OAU-211", "Token revoked")
        return json_response(tokens.grant(authorization, form))

    async def revoke(self, request: web.Request) -> web.Response:
        form = {**request.query, **await _form(request)}
        self.standin.tokens.revoke(request.headers.get("Authorization"), form)
        return web.Response(status=200)

    # Fax ------------------------------------------------------------------------------

    async def send_fax(self, request: web.Request) -> web.Response:
        self._authorize(request)
        body = await read_body(request)
        parsed = parse_fax_body(request.headers.get("Content-Type", ""), body)
        if parsed.style == "json":
            message = self._resend(parsed.envelope)
        else:
            order = read_order(parsed.envelope)
            if not parsed.documents and order.cover_index == 0:
                raise invalid("attachment")
            pages = await asyncio.to_thread(count_all, [document.data for document in parsed.documents])
            cover_pages = 0 if order.cover_index == 0 else 1  # no coverIndex: the default cover page
            message = self._create(order, parsed.documents, pages + cover_pages, parsed.style)
        standin = self.standin
        return json_response(fax_response(message, standin.clock(), _base_url(request), standin.mailbox))

    def _create(
        self,
        order: FaxOrder,
        documents: tuple[Document, ...],
        pages: int,
        style: str,
        resent_from: int | None = None,
    ) -> FaxMessage:
        standin = self.standin
        now = standin.clock()
        message_id = standin.next_message_id()
        faxed_before = {number for message in standin.messages for number in message.to}
        recipients = tuple(
            Recipient(
                phone_number=number,
                name=name,
                recipient_id=str(message_id * 100 + index),
                fax_error="TooManyPages"
                if pages > MAX_PAGES
                else scripted_failure(number, number in faxed_before),
            )
            for index, (number, name) in enumerate(order.to, start=1)
        )
        message = FaxMessage(
            id=message_id,
            created=now,
            start=max(now, order.send_time or now),
            delay=standin.config.delay_seconds,
            recipients=recipients,
            documents=documents,
            parts=describe_parts(documents),
            page_count=pages,
            cover_index=order.cover_index,
            cover_page_text=order.cover_page_text,
            fax_resolution=order.fax_resolution,
            style=style,
            resent_from=resent_from,
        )
        standin.add_message(message)
        return message

    def _resend(self, envelope: dict[str, Any]) -> FaxMessage:
        original = self.standin.message(_message_id(envelope.get("originalMessageId"), "originalMessageId"))
        if original is None:
            raise invalid("originalMessageId")
        if not original.is_final(self.standin.clock()):
            raise StandinError(406, "MSG-343", "Fax resend is not allowed for message in current state")
        order = read_order(envelope, require_to=False)
        order = FaxOrder(
            to=order.to or tuple((r.phone_number, r.name) for r in original.recipients),
            cover_index=original.cover_index,
            cover_page_text=original.cover_page_text,
            fax_resolution=original.fax_resolution,
            send_time=order.send_time,
        )
        return self._create(order, original.documents, original.page_count, "json", resent_from=original.id)

    # Message store --------------------------------------------------------------------

    async def get_messages(self, request: web.Request) -> web.Response:
        self._authorize(request)
        ids = [item for item in request.match_info["ids"].split(",") if item]
        if len(ids) > MAX_BATCH:
            raise StandinError(400, "CMN-106", f"Batch request is limited to {MAX_BATCH} entries")
        if len(ids) == 1:
            return json_response(self._record(request, ids[0]))
        entries: list[dict[str, Any]] = []
        for item in ids:
            try:
                entries.append({"resourceId": item, "status": 200, "body": self._record(request, item)})
            except StandinError as exc:
                entries.append({"resourceId": item, "status": exc.status, "body": exc.body()})
        return json_response(entries, status=207, content_type="application/vnd.ringcentral.multipart+json")

    def _record(self, request: web.Request, raw_id: str) -> dict[str, Any]:
        standin = self.standin
        message_id = _message_id(raw_id, "messageId")
        received = standin.received_fax(message_id)
        if received is not None:
            return received.record(_base_url(request), standin.mailbox)
        message = standin.message(message_id)
        if message is None:
            raise not_found("messageId")
        return message_record(message, standin.clock(), _base_url(request), standin.mailbox)

    async def read_content(self, request: web.Request) -> web.Response:
        """`readMessageContent`: the bytes of a received fax's rendered document (Medium group)."""
        self._authorize(request)
        fax = self.standin.received_fax(_message_id(request.match_info["id"], "messageId"))
        if fax is None or request.match_info["attachment"] != str(fax.id):
            raise not_found("attachmentId")
        if fax.data is None:  # dropped from memory, or the stand-in restarted since
            raise not_found("attachmentId")
        disposition = (
            f'attachment; filename="fax-{fax.id}.{"pdf" if fax.content_type.endswith("pdf") else "tif"}"'
        )
        return web.Response(
            body=fax.data,
            content_type=fax.content_type,
            headers={"Content-Disposition": disposition},
        )

    async def list_messages(self, request: web.Request) -> web.Response:
        self._authorize(request)
        standin = self.standin
        body = list_messages(
            standin.messages,
            request.url,
            standin.clock(),
            _base_url(request),
            standin.mailbox,
            max_per_page=standin.config.max_per_page,
            received=standin.received,
        )
        return json_response(body)

    # Subscriptions --------------------------------------------------------------------

    async def list_subscriptions(self, request: web.Request) -> web.Response:
        self._authorize(request)
        base, now = _base_url(request), self.standin.clock()
        records = [item.render(base, now) for item in self.standin.subscriptions.live()]
        return json_response({"uri": f"{base}/restapi/v1.0/subscription", "records": records})

    async def create_subscription(self, request: web.Request) -> web.Response:
        self._authorize(request)
        checked = read_subscription_request(await _json(request), creating=True)
        if self.standin.http is None:
            raise StandinError(503, "CMN-201", "Service Temporary Unavailable")
        await validate_webhook(self.standin.http, checked["address"], self.standin.config.webhook_timeout)
        item = self.standin.subscriptions.create(checked)
        self.standin.notifier.kick()
        return json_response(item.render(_base_url(request), self.standin.clock()))

    async def get_subscription(self, request: web.Request) -> web.Response:
        self._authorize(request)
        item = self.standin.subscriptions.get(request.match_info["id"])
        return json_response(item.render(_base_url(request), self.standin.clock()))

    async def update_subscription(self, request: web.Request) -> web.Response:
        self._authorize(request)
        raw = await request.read()
        checked = read_subscription_request(_json_bytes(raw), creating=False) if raw.strip() else None
        item = self.standin.subscriptions.update(request.match_info["id"], checked)
        return json_response(item.render(_base_url(request), self.standin.clock()))

    async def renew_subscription(self, request: web.Request) -> web.Response:
        self._authorize(request)
        item = self.standin.subscriptions.update(request.match_info["id"], None)
        return json_response(item.render(_base_url(request), self.standin.clock()))

    async def delete_subscription(self, request: web.Request) -> web.Response:
        self._authorize(request)
        self.standin.subscriptions.delete(request.match_info["id"])
        return web.Response(status=204)

    # Shared ---------------------------------------------------------------------------

    def _authorize(self, request: web.Request) -> Session:
        session = self.standin.tokens.check_bearer(
            request.headers.get("Authorization"), request.query.get("access_token")
        )
        mailbox = self.standin.mailbox
        for key, own in (("account", mailbox.account_id), ("extension", mailbox.extension_id)):
            value = request.match_info.get(key)
            if value is not None and value not in ("~", own):
                raise not_found(f"{key}Id")
        return session


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _message_id(value: object, parameter: str) -> int:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise invalid(parameter)
    return int(text)


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}
    return {key: value for key, value in (await request.post()).items() if isinstance(value, str)}


async def _json(request: web.Request) -> dict[str, Any]:
    return _json_bytes(await request.read())


def _json_bytes(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise StandinError(400, "CMN-103", "JSON can't be parsed") from None
    if not isinstance(value, dict):
        raise StandinError(400, "CMN-103", "JSON can't be parsed")
    return value


async def read_body(request: web.Request) -> bytes:
    """The request body, refused past RingCentral's 55 MB ceiling (read to the end, up to twice that)."""
    too_large = StandinError(413, "MSG-338", "Message size limit exceeded")
    if (request.content_length or 0) > 2 * MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > 2 * MAX_BODY_BYTES:
            raise too_large
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
    if size > MAX_BODY_BYTES:
        raise too_large
    return b"".join(chunks)
