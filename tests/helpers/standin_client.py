"""The RingCentral client under test against the stand-in in this process, on a loopback port.

Tokens, rate limits and their penalty, the fax send, the message store and subscriptions are
the stand-in's own. The transport between them records every request and its answer, and can
put in a rare failure the stand-in does not make by itself (a dropped connection, a proxy's
HTML page, an error code RingCentral seldom sends) in place of the next matching answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.parser
import email.policy
import functools
import inspect
import io
import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import yaml
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker

from adapters.ringcentral import RingCentralProvider
from adapters.ringcentral.standin import RunningStandin, Standin, StandinConfig, start_standin
from adapters.ringcentral.standin.fax import FaxMessage, Recipient, message_record
from adapters.ringcentral.standin.limits import FaultKind
from adapters.ringcentral.standin.webhooks import Subscription, read_subscription_request
from bridge.metrics import Metrics
from bridge.model import DocumentRole, Envelope, StoredDocument
from bridge.ports import OutboundFax
from tests.helpers.standin import ManualClock

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret-XYZ"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNlY3JldA"
START = 1_772_442_000.0  # 2026-03-02T09:00:00Z
MULTI_JSON = "application/vnd.ringcentral.multipart+json"
TOKEN_PATH = "/restapi/oauth/token"
REVOKE_PATH = "/restapi/oauth/revoke"
FAX_PATH = "/restapi/v1.0/account/~/extension/~/fax"
STORE = "/restapi/v1.0/account/~/extension/~/message-store"
SUBSCRIPTION = "/restapi/v1.0/subscription"
SPEC = Path(__file__).resolve().parents[1] / "data" / "ringcentral" / "openapi-fax-subset.yaml"
# Far enough that a test moving the clock by hours never sees a fax change state on its own.
_FOREVER = 10.0**7


@dataclass
class Seen:
    """One request the client made, with the answer it got (none when a failure was put in)."""

    at: float
    method: str
    path: str
    request: httpx.Request
    body: bytes
    status: int = 0
    answer: bytes = b""
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    injected: bool = False

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def json(self) -> Any:
        return json.loads(self.answer)


@dataclass
class Upload:
    """One part of a fax request as the client sent it."""

    name: str | None
    filename: str | None
    content_type: str
    headers: dict[str, str]
    data: bytes


Failure = httpx.Response | Exception


class RecordingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that records each exchange and answers with a put-in failure when told."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self._inner = httpx.AsyncHTTPTransport()
        self._failures: list[tuple[str, Failure]] = []
        self.seen: list[Seen] = []

    def fail(self, path_part: str, failure: Failure, *, times: int = 1) -> None:
        """Answer the next `times` requests whose path contains `path_part` with `failure`."""
        self._failures.extend([(path_part, failure)] * times)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        seen = Seen(self._clock(), request.method, request.url.path, request, body)
        self.seen.append(seen)
        for index, (part, failure) in enumerate(self._failures):
            if part in request.url.path:
                del self._failures[index]
                seen.injected = True
                if isinstance(failure, Exception):
                    raise failure
                seen.status, seen.answer, seen.headers = failure.status_code, failure.content, failure.headers
                return httpx.Response(failure.status_code, headers=failure.headers, content=failure.content)
        headers = [
            (k, v)
            for k, v in request.headers.multi_items()
            if k.lower() not in ("content-length", "transfer-encoding")
        ]
        forward = httpx.Request(request.method, request.url, headers=headers, content=body)
        response = await self._inner.handle_async_request(forward)
        try:
            answer = await response.aread()
        finally:
            await response.aclose()
        kept = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        ]
        seen.status, seen.answer, seen.headers = response.status_code, answer, httpx.Headers(kept)
        return httpx.Response(response.status_code, headers=kept, content=answer)

    async def aclose(self) -> None:
        """Shared by every provider of a test: closed once, by the harness."""

    async def shut(self) -> None:
        await self._inner.aclose()


class StandinRingCentral:
    """The stand-in on a loopback port, the clock both sides read, and what the client sent it."""

    def __init__(self, clock: ManualClock, **config: Any) -> None:
        self.clock = clock
        settings = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "jwt": JWT, **config}
        self.standin = Standin(StandinConfig(**settings), clock=clock)
        self.transport = RecordingTransport(clock)
        self._running: RunningStandin | None = None

    async def start(self) -> StandinRingCentral:
        self._running = await start_standin(standin=self.standin)
        return self

    async def close(self) -> None:
        await self.transport.shut()
        if self._running is not None:
            await self._running.close()

    @property
    def url(self) -> str:
        assert self._running is not None, "start() the stand-in first"
        return self._running.url

    def provider(
        self,
        *,
        client_id: str = CLIENT_ID,
        secret: str = CLIENT_SECRET,
        jwt: str = JWT,
        fake_sleep: bool = True,
    ) -> RingCentralProvider:
        """A RingCentralProvider on the stand-in and the clock (sleeping on it unless `fake_sleep` is
        off), with a metrics registry of its own."""
        return RingCentralProvider(
            self.url,
            client_id,
            secret,
            jwt,
            transport=self.transport,
            clock=self.clock,
            sleep=self.clock.sleep if fake_sleep else asyncio.sleep,
            metrics=Metrics(),
        )

    # What the client sent, and what it got back.

    @property
    def seen(self) -> list[Seen]:
        return self.transport.seen

    def inject(self, path_part: str, failure: Failure, *, times: int = 1) -> None:
        self.transport.fail(path_part, failure, times=times)

    def requests_to(self, path_part: str, method: str | None = None) -> list[Seen]:
        return [s for s in self.seen if path_part in s.path and (method is None or s.method == method)]

    @property
    def grants(self) -> list[str]:
        """The grant type of each token request the stand-in took up (the app's credentials passed)."""
        return [
            s.form.get("grant_type", "")
            for s in self.requests_to(TOKEN_PATH)
            if not s.injected and s.json().get("error") != "invalid_client"
        ]

    @property
    def tokens(self) -> list[str]:
        """Each access token issued, in order."""
        return [s.json()["access_token"] for s in self.requests_to(TOKEN_PATH) if s.status == 200]

    @property
    def refresh_tokens(self) -> list[str]:
        return [s.json()["refresh_token"] for s in self.requests_to(TOKEN_PATH) if s.status == 200]

    @property
    def revoked(self) -> list[str]:
        return [s.form["token"] for s in self.requests_to(REVOKE_PATH) if s.status == 200]

    @property
    def faxes(self) -> list[list[Upload]]:
        """The parts of each fax request, as sent."""
        return [uploads(s) for s in self.requests_to(FAX_PATH, "POST")]

    @property
    def subscription_requests(self) -> list[dict[str, Any]]:
        """The body of each subscription the client asked for."""
        wanted: list[dict[str, Any]] = [
            json.loads(s.body) for s in self.requests_to(SUBSCRIPTION, "POST") if s.path == SUBSCRIPTION
        ]
        return wanted

    def penalty_violations(self) -> int:
        """Requests made while a 429's Retry-After (60 s without one) was running; each restarts it."""
        until, violations = float("-inf"), 0
        for seen in self.seen:
            if seen.at < until:
                violations += 1
                until = seen.at + 60
            elif seen.status == 429:
                until = seen.at + float(seen.headers.get("Retry-After", "60"))
        return violations

    # The stand-in's state, set up by tests.

    @property
    def messages(self) -> list[str]:
        return [str(message.id) for message in self.standin.messages]

    def add_message(
        self,
        to: str,
        *,
        status: str = "Queued",
        at: datetime | None = None,
        fax_error: str | None = None,
        pages: int = 2,
    ) -> str:
        """A fax already in the stand-in's message store, showing `status` from now on."""
        created = at.timestamp() if at is not None else self.clock()
        message_id = self.standin.next_message_id()
        self.standin.add_message(
            FaxMessage(
                id=message_id,
                created=created,
                start=created,
                delay=_FOREVER,
                recipients=(Recipient(phone_number=to, name="", recipient_id=f"{message_id}01"),),
                documents=(),
                parts=[],
                page_count=pages,
                cover_index=None,
                cover_page_text=None,
                fax_resolution="High",
                style="json",
            )
        )
        self.set_status(str(message_id), status, fax_error, pages=pages)
        return str(message_id)

    def set_status(self, message_id: str, status: str, fax_error: str | None = None, pages: int = 2) -> None:
        """Make a fax show `status` now (SendingFailed with `fax_error`) and `pages` once it has left."""
        message = self.standin.message(int(message_id))
        assert message is not None, message_id
        steps = {"Queued": 0, "Sent": 1, "SendingFailed": 1, "Delivered": 2}[status]
        assert (status == "SendingFailed") == (fax_error is not None), "a failed fax has a faxErrorCode"
        message.start = self.clock() - steps * _FOREVER
        message.page_count = pages
        error = fax_error
        message.recipients = tuple(
            Recipient(phone_number=r.phone_number, name=r.name, recipient_id=r.recipient_id, fax_error=error)
            for r in message.recipients
        )

    def record(self, message_id: str) -> dict[str, Any]:
        """The message-store record of a fax, as the stand-in answers it now."""
        message = self.standin.message(int(message_id))
        assert message is not None, message_id
        return message_record(message, self.clock(), self.url, self.standin.mailbox)

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        return {item.id: item for item in self.standin.subscriptions.live()}

    def drop_subscriptions(self) -> None:
        """Forget every subscription, as RingCentral does with ones it lost."""
        self.standin.subscriptions.clear()

    def new_subscription(self, address: str, filters: list[str], expires_in: int) -> str:
        """A subscription made earlier (by a previous run, or another app): no handshake now."""
        mode = {"transportType": "WebHook", "address": address}
        body = {"eventFilters": filters, "expiresIn": expires_in, "deliveryMode": mode}
        return self.standin.subscriptions.create(read_subscription_request(body, creating=True)).id

    def limit_pages(self, per_page: int) -> None:
        """From now on a message-store page holds at most `per_page` records."""
        self.standin.config = dataclasses.replace(self.standin.config, max_per_page=per_page)

    def refuse_refresh(self) -> None:
        """From now on the stand-in refuses every refresh grant (invalid_grant)."""
        self.standin.faults.push(TOKEN_PATH, FaultKind.REFUSE_REFRESH, times=None)


def uploads(seen: Seen) -> list[Upload]:
    """The parts of a multipart/form-data request body."""
    head = f"Content-Type: {seen.request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + seen.body)
    return [
        Upload(
            name=part.get_param("name", header="content-disposition"),  # type: ignore[arg-type]
            filename=part.get_filename(),
            content_type=part.get_content_type(),
            headers={k.lower(): str(v) for k, v in part.items()},
            data=part.get_payload(decode=True),  # type: ignore[arg-type]
        )
        for part in message.iter_parts()
    ]


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    parameter: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """An error the way RingCentral writes it: errorCode and message on top and in errors[]."""
    entry: dict[str, Any] = {"errorCode": code, "message": message}
    body: dict[str, Any] = {"errorCode": code, "message": message, "errors": [entry]}
    if parameter:
        entry["parameterName"] = body["parameterName"] = parameter
    return httpx.Response(status, json=body, headers=headers)


def rate_limited(retry_after: str | None = "60") -> httpx.Response:
    headers = {"X-Rate-Limit-Group": "heavy", "X-Rate-Limit-Limit": "10", "X-Rate-Limit-Remaining": "0"}
    headers["X-Rate-Limit-Window"] = "60"
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return error_response(429, "CMN-301", "Request rate exceeded", headers=headers)


# Documents for OutboundFax, read from files the way the provider reads the store's.


class TrackedFile(io.BufferedReader):
    """A document file that remembers how it was read."""

    def __init__(self, path: Path) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self.reads: list[int | None] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.reads.append(size)
        return super().read(size)


class FakeStore:
    """Documents on disk, opened through open_document: the DocumentOpener an OutboundFax carries."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.opened: list[TrackedFile] = []
        self._ids = itertools.count(1)

    def add(self, name: str, content_type: str, data: bytes) -> StoredDocument:
        doc_id = next(self._ids)
        (self.root / f"doc-{doc_id}").write_bytes(data)
        return StoredDocument(
            id=doc_id,
            name=name,
            content_type=content_type,
            pages=1,
            size=len(data),
            role=DocumentRole.DOCUMENT,
        )

    def open_document(self, document: StoredDocument) -> TrackedFile:
        handle = TrackedFile(self.root / f"doc-{document.id}")
        self.opened.append(handle)
        return handle


def make_fax(
    store: FakeStore, *docs: StoredDocument, to: str = "+12025550123", envelope: Envelope | None = None
) -> OutboundFax:
    return OutboundFax(
        job_id="job-1",
        to=to,
        envelope=envelope or Envelope(cover_index=0),
        documents=docs,
        open=store.open_document,
    )


# RingCentral's published schemas, for what the client sends and the samples tests use.


@functools.cache
def spec() -> dict[str, Any] | None:
    """RingCentral's OpenAPI subset, if the copy is at hand."""
    if not SPEC.exists():
        return None
    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return loaded


def schema_errors(name_or_schema: str | dict[str, Any], instance: Any, *, write: bool = False) -> list[str]:
    """Why `instance` breaks a schema of the spec (a components/schemas name or an inline schema)."""
    loaded = spec()
    if loaded is None:
        return []
    target = (
        {"$ref": f"#/components/schemas/{name_or_schema}"}
        if isinstance(name_or_schema, str)
        else name_or_schema
    )
    schema = {"components": loaded["components"], **target}
    validator = (OAS30WriteValidator if write else OAS30ReadValidator)(
        schema, format_checker=oas30_format_checker
    )
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def fax_form_schema() -> dict[str, Any]:
    """The multipart/form-data schema of createFaxMessage, as it applies to the JSON envelope part."""
    loaded = spec()
    assert loaded is not None
    post = loaded["paths"]["/restapi/v1.0/account/{accountId}/extension/{extensionId}/fax"]["post"]
    form = dict(post["requestBody"]["content"]["multipart/form-data"]["schema"])
    properties = {k: v for k, v in form["properties"].items() if k != "attachment"}
    return {**form, "properties": properties, "required": ["to"], "additionalProperties": False}


def needs_spec(test: Any) -> Any:
    """Mark a test that checks against RingCentral's schemas; a missing schema file fails it, never skips it."""

    missing = "tests/data/ringcentral/openapi-fax-subset.yaml is missing"
    if inspect.iscoroutinefunction(test):

        @functools.wraps(test)
        async def checked_async(*args: Any, **kwargs: Any) -> Any:
            assert spec() is not None, missing
            return await test(*args, **kwargs)

        return checked_async

    @functools.wraps(test)
    def checked(*args: Any, **kwargs: Any) -> Any:
        assert spec() is not None, missing
        return test(*args, **kwargs)

    return checked
