"""A fake RingCentral for httpx.MockTransport (shared by the client tests), checked against the spec."""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import functools
import inspect
import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import yaml

from adapters.ringcentral import RingCentralProvider
from bridge.metrics import Metrics
from bridge.model import DocumentRole, Envelope, StoredDocument
from bridge.ports import OutboundFax

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret-XYZ"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNlY3JldA"
SERVER = "https://platform.example.test"
WALL_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLOCK_START = 1000.0
MULTI_JSON = "application/vnd.ringcentral.multipart+json"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

SPEC_PLACES = (Path(__file__).resolve().parents[1] / "data" / "ringcentral" / "openapi-fax-subset.yaml",)


@functools.cache
def spec() -> dict[str, Any] | None:
    """RingCentral's OpenAPI subset, if a copy is at hand."""
    for place in SPEC_PLACES:
        if place.exists():
            loaded: dict[str, Any] = yaml.safe_load(place.read_text(encoding="utf-8"))
            return loaded
    return None


def schema_errors(name_or_schema: str | dict[str, Any], instance: Any, *, write: bool = False) -> list[str]:
    """Why `instance` breaks a schema of the spec (a components/schemas name or an inline schema)."""
    from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker

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


class FakeClock:
    """A monotonic clock whose sleep advances time instead of waiting."""

    def __init__(self, start: float = CLOCK_START) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    def wall(self) -> datetime:
        return WALL_START + timedelta(seconds=self.now - CLOCK_START)


class TrackedFile(io.BufferedReader):
    """A document file that remembers how it was read."""

    def __init__(self, path: Path) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self.reads: list[int | None] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.reads.append(size)
        return super().read(size)


class FakeStore:
    """Just enough of a JobStore for OutboundFax: documents on disk, opened through open_document."""

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


@dataclass
class Seen:
    """One request as the fake received it."""

    at: float
    method: str
    path: str
    request: httpx.Request
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Upload:
    """One part of a received fax request."""

    name: str | None
    filename: str | None
    content_type: str
    headers: dict[str, str]
    data: bytes


Fault = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]

GROUPS = {"heavy": 10, "medium": 40, "light": 50, "auth": 5}


@dataclass
class FakeRingCentral:
    """RingCentral as far as the bridge uses it: tokens, fax send, message store, subscriptions, limits."""

    clock: FakeClock
    expires_in: int = 3600
    refuse_refresh: bool = False
    max_per_page: int = 1000
    mixed_multi: bool = False
    validate_webhooks: bool = False
    seen: list[Seen] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)
    faxes: list[list[Upload]] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscription_requests: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    penalty_violations: int = 0
    _faults: list[tuple[str, Fault]] = field(default_factory=list)
    _tokens: dict[str, float] = field(default_factory=dict)
    _refresh: set[str] = field(default_factory=set)
    _sent: dict[str, list[float]] = field(default_factory=dict)
    _penalty_until: float = float("-inf")
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _msg_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(3_000_000_001))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def inject(self, path_part: str, fault: Fault, *, times: int = 1) -> None:
        """Answer the next `times` requests whose path contains `path_part` with `fault`."""
        self._faults.extend([(path_part, fault)] * times)

    def requests_to(self, path_part: str, method: str | None = None) -> list[Seen]:
        return [s for s in self.seen if path_part in s.path and (method is None or s.method == method)]

    # Message store helpers for tests.
    def add_message(
        self, to: str, *, status: str = "Queued", at: datetime | None = None, **extra: Any
    ) -> str:
        message_id = next(self._msg_ids)
        when = _iso(at or self.clock.wall())
        recipient: dict[str, Any] = {"phoneNumber": to, "messageStatus": status, "location": "Washington, DC"}
        self.messages[str(message_id)] = {
            "uri": f"{SERVER}/restapi/v1.0/account/401/extension/402/message-store/{message_id}",
            "id": message_id,
            "extensionId": "402",
            "to": [recipient],
            "from": {"phoneNumber": "+16505550100", "name": "Front Desk"},
            "type": "Fax",
            "creationTime": when,
            "readStatus": "Read",
            "priority": "Normal",
            "attachments": [
                {
                    "id": message_id,
                    "uri": f"{SERVER}/restapi/v1.0/account/401/extension/402/message-store/{message_id}/content/1",
                    "type": "RenderedDocument",
                    "contentType": "application/pdf",
                }
            ],
            "direction": "Outbound",
            "availability": "Alive",
            "messageStatus": status,
            "faxResolution": "High",
            "faxPageCount": 0,
            "lastModifiedTime": when,
            **extra,
        }
        return str(message_id)

    def set_status(self, message_id: str, status: str, fax_error: str | None = None, pages: int = 2) -> None:
        record = self.messages[message_id]
        record["messageStatus"] = record["to"][0]["messageStatus"] = status
        record["faxPageCount"] = pages
        if fax_error:
            record["to"][0]["faxErrorCode"] = fax_error

    async def handle(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        for _ in range(3):  # a little network latency: let other tasks run, as a real server would
            await asyncio.sleep(0)
        now = self.clock()
        self.seen.append(Seen(now, request.method, request.url.path, request, body))
        if now < self._penalty_until:
            # Like the real server: a request during the penalty restarts it.
            self.penalty_violations += 1
            self._penalty_until = now + 60
            return rate_limited()
        for index, (part, fault) in enumerate(self._faults):
            if part in request.url.path:
                del self._faults[index]
                return self._fault(fault, request)
        group = _group(request)
        window = [t for t in self._sent.get(group, []) if t > now - 60]
        if len(window) >= GROUPS[group]:
            self._penalty_until = now + 60
            return rate_limited()
        self._sent[group] = [*window, now]
        response = await self._route(request, body)
        response.headers.update(
            {
                "X-Rate-Limit-Group": group,
                "X-Rate-Limit-Limit": str(GROUPS[group]),
                "X-Rate-Limit-Remaining": str(GROUPS[group] - len(window) - 1),
                "X-Rate-Limit-Window": "60",
            }
        )
        return response

    def _fault(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        if isinstance(fault, Exception):
            raise fault
        response = fault if isinstance(fault, httpx.Response) else fault(request)
        if response.status_code == 429:
            self._penalty_until = self.clock() + float(response.headers.get("Retry-After", "60"))
        return response

    async def _route(self, request: httpx.Request, body: bytes) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/restapi/oauth/token" and method == "POST":
            return self._token(request, body)
        if path == "/restapi/oauth/revoke" and method == "POST":
            self.revoked.append(parse_qs(body.decode())["token"][0])
            return httpx.Response(200)
        refused = self._check_bearer(request)
        if refused is not None:
            return refused
        extension = "/restapi/v1.0/account/~/extension/~"
        if path == f"{extension}/fax" and method == "POST":
            return self._fax(request, body)
        if path == f"{extension}/message-store" and method == "GET":
            return self._list(request)
        if path.startswith(f"{extension}/message-store/") and method == "GET":
            return self._read(request, path.rsplit("/", 1)[1])
        if path.startswith("/restapi/v1.0/subscription"):
            return await self._subscription(request, body)
        return error_response(404, "CMN-120", "Invalid URI")

    def _token(self, request: httpx.Request, body: bytes) -> httpx.Response:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return httpx.Response(
                401,
                json={
                    "error": "invalid_client",
                    "error_description": "Client authentication is required",
                    "errors": [{"errorCode": "OAU-123", "message": "Client authentication is required"}],
                },
            )
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant == JWT_GRANT and form.get("assertion") == JWT:
            return self._issue()
        if (
            grant == "refresh_token"
            and form.get("refresh_token") in self._refresh
            and not self.refuse_refresh
        ):
            self._refresh.discard(form["refresh_token"])
            return self._issue()
        return httpx.Response(
            400,
            json={
                "error": "invalid_grant",
                "error_description": "Token is revoked or expired",
                "errors": [{"errorCode": "OAU-211", "message": "Token is revoked or expired"}],
            },
        )

    def _issue(self) -> httpx.Response:
        n = next(self._ids)
        access, refresh = f"access-{n}-TOKEN", f"refresh-{n}-TOKEN"
        self._tokens[access] = self.clock() + self.expires_in
        self._refresh.add(refresh)
        return httpx.Response(
            200,
            json={
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "refresh_token": refresh,
                "refresh_token_expires_in": 604800,
                "scope": "Faxes ReadMessages SubscriptionWebhook",
                "owner_id": "402",
                "endpoint_id": "ep-1",
                "session_id": "session-1",
            },
        )

    def _check_bearer(self, request: httpx.Request) -> httpx.Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self._tokens:
            return error_response(401, "OAU-149", "Unparsable access token")
        if self.clock() >= self._tokens[token]:
            return error_response(401, "OAU-128", "Access token expired")
        return None

    def _fax(self, request: httpx.Request, body: bytes) -> httpx.Response:
        head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        parts = [
            Upload(
                name=part.get_param("name", header="content-disposition"),  # type: ignore[arg-type]
                filename=part.get_filename(),
                content_type=part.get_content_type(),
                headers={k.lower(): str(v) for k, v in part.items()},
                data=part.get_payload(decode=True),  # type: ignore[arg-type]
            )
            for part in message.iter_parts()
        ]
        self.faxes.append(parts)
        if not parts or parts[0].content_type != "application/json":
            return error_response(400, "MSG-349", "Unable to parse fax envelope")
        if any(not p.filename for p in parts[1:]):
            return error_response(400, "MSG-351", "No file name in content disposition")
        envelope = json.loads(parts[0].data)
        number = envelope["to"][0]["phoneNumber"]
        extra = {k: envelope[k] for k in ("coverIndex", "coverPageText") if k in envelope}
        message_id = self.add_message(number, faxResolution=envelope.get("faxResolution", "High"), **extra)
        record = self.messages[message_id]
        answer = {k: v for k, v in record.items() if k not in ("from", "extensionId")}
        answer["to"] = [{"phoneNumber": number, "messageStatus": "Queued", "location": "Washington, DC"}]
        return httpx.Response(200, json=answer)

    def _read(self, request: httpx.Request, ids_text: str) -> httpx.Response:
        ids = ids_text.split(",")
        if len(ids) == 1:
            if ids[0] in self.messages:
                return httpx.Response(200, json=self.messages[ids[0]])
            return error_response(
                404, "CMN-102", "Resource for parameter [messageId] is not found", parameter="messageId"
            )
        if self.mixed_multi:
            return self._mixed(ids)
        entries = []
        for message_id in ids:
            if message_id in self.messages:
                entries.append({"resourceId": message_id, "status": 200, "body": self.messages[message_id]})
            else:
                missing = error_response(
                    404, "CMN-102", "Resource for parameter [messageId] is not found", parameter="messageId"
                )
                entries.append({"resourceId": message_id, "status": 404, "body": missing.json()})
        return httpx.Response(207, content=json.dumps(entries).encode(), headers={"Content-Type": MULTI_JSON})

    def _mixed(self, ids: list[str]) -> httpx.Response:
        boundary = "Boundary_20_32057915_1351669531796"
        statuses = [
            {
                "href": f"{SERVER}/restapi/v1.0/account/401/extension/402/message-store/{i}",
                "status": 200 if i in self.messages else 404,
            }
            for i in ids
        ]
        chunks = [json.dumps({"response": statuses})]
        for message_id in ids:
            if message_id in self.messages:
                chunks.append(json.dumps(self.messages[message_id]))
            else:
                chunks.append(
                    json.dumps(
                        {"errorCode": "CMN-102", "message": "Resource for parameter [messageId] is not found"}
                    )
                )
        text = (
            "".join(f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{c}\r\n" for c in chunks)
            + f"--{boundary}--\r\n"
        )
        return httpx.Response(
            207, content=text.encode(), headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
        )

    def _list(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params
        since = (
            datetime.fromisoformat(query["dateFrom"].replace("Z", "+00:00"))
            if "dateFrom" in query
            else self.clock.wall() - timedelta(days=1)
        )
        records = [
            r
            for r in self.messages.values()
            if r["type"] == query.get("messageType", r["type"])
            and r["direction"] == query.get("direction", r["direction"])
            and datetime.fromisoformat(r["creationTime"].replace("Z", "+00:00")) >= since
        ]
        records.sort(key=lambda r: r["creationTime"], reverse=True)
        per_page = min(int(query.get("perPage", "100")), self.max_per_page)
        page = int(query.get("page", "1"))
        total_pages = max(1, -(-len(records) // per_page))
        chosen = records[(page - 1) * per_page : page * per_page]
        base = f"{SERVER}/restapi/v1.0/account/401/extension/402/message-store?perPage={per_page}"
        navigation: dict[str, Any] = {
            "firstPage": {"uri": f"{base}&page=1"},
            "lastPage": {"uri": f"{base}&page={total_pages}"},
        }
        if page < total_pages:
            navigation["nextPage"] = {"uri": f"{base}&page={page + 1}"}
        paging = {"page": page, "perPage": per_page, "totalPages": total_pages, "totalElements": len(records)}
        if chosen:
            paging.update(pageStart=(page - 1) * per_page, pageEnd=(page - 1) * per_page + len(chosen) - 1)
        return httpx.Response(
            200, json={"uri": base, "records": chosen, "paging": paging, "navigation": navigation}
        )

    async def _subscription(self, request: httpx.Request, body: bytes) -> httpx.Response:
        parts = request.url.path.removeprefix("/restapi/v1.0/subscription").strip("/").split("/")
        if parts == [""] and request.method == "GET":
            return httpx.Response(
                200,
                json={
                    "uri": f"{SERVER}/restapi/v1.0/subscription",
                    "records": list(self.subscriptions.values()),
                },
            )
        if parts == [""] and request.method == "POST":
            wanted = json.loads(body)
            self.subscription_requests.append(wanted)
            mode = wanted["deliveryMode"]
            if self.validate_webhooks and not await self._handshake(mode["address"]):
                return error_response(400, "SUB-525", "WebHook responds with incorrect HTTP status or header")
            return httpx.Response(
                200,
                json=self.new_subscription(
                    mode["address"], wanted["eventFilters"], wanted.get("expiresIn", 604800)
                ),
            )
        subscription = self.subscriptions.get(parts[0])
        if subscription is None:
            return error_response(
                404,
                "CMN-102",
                "Resource for parameter [subscriptionId] is not found",
                parameter="subscriptionId",
            )
        if request.method == "DELETE":
            del self.subscriptions[parts[0]]
            return httpx.Response(204)
        if parts[1:] == ["renew"] and request.method == "POST":
            subscription["expirationTime"] = _iso(
                self.clock.wall() + timedelta(seconds=subscription["expiresIn"])
            )
            return httpx.Response(200, json=subscription)
        return error_response(404, "CMN-120", "Invalid URI")

    def new_subscription(self, address: str, filters: list[str], expires_in: int) -> dict[str, Any]:
        subscription_id = f"95fecfc9-9cdc-4e94-a78a-{next(self._ids):012d}"
        info = {
            "uri": f"{SERVER}/restapi/v1.0/subscription/{subscription_id}",
            "id": subscription_id,
            "creationTime": _iso(self.clock.wall()),
            "status": "Active",
            "eventFilters": [f.replace("~", "401", 1).replace("/~", "/402") for f in filters],
            "expirationTime": _iso(self.clock.wall() + timedelta(seconds=expires_in)),
            "expiresIn": expires_in,
            "deliveryMode": {"transportType": "WebHook", "encryption": False, "address": address},
        }
        self.subscriptions[subscription_id] = info
        return info

    async def _handshake(self, address: str) -> bool:
        token = "validation-0123456789"
        async with httpx.AsyncClient() as client:
            answer = await client.post(address, headers={"Validation-Token": token})
        return (
            answer.status_code == 200
            and answer.headers.get("Validation-Token") == token
            and len(answer.content) <= 1024
        )


def _group(request: httpx.Request) -> str:
    path, method = request.url.path, request.method
    if path.startswith("/restapi/oauth/"):
        return "auth"
    if path.endswith("/fax"):
        return "heavy"
    if (
        path.startswith("/restapi/v1.0/subscription")
        and method in ("POST", "PUT", "DELETE")
        and not path.endswith("/renew")
    ):
        return "medium"
    return "light"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The fake itself: what it answers must match RingCentral's published schemas.


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


@pytest.fixture
def fake() -> FakeRingCentral:
    return FakeRingCentral(FakeClock())


async def _call(fake: FakeRingCentral, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=fake.transport(), base_url=SERVER) as client:
        token = await client.post(
            "/restapi/oauth/token",
            data={"grant_type": JWT_GRANT, "assertion": JWT},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", **kwargs.pop("headers", {})}
        return await client.request(method, path, headers=headers, **kwargs)


@needs_spec
async def test_fake_token_answer_matches_token_info(fake: FakeRingCentral) -> None:
    """The fake's token answer is a valid TokenInfo."""
    async with httpx.AsyncClient(transport=fake.transport(), base_url=SERVER) as client:
        answer = await client.post(
            "/restapi/oauth/token",
            data={"grant_type": JWT_GRANT, "assertion": JWT},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
    assert answer.status_code == 200
    assert schema_errors("TokenInfo", answer.json()) == []


@needs_spec
async def test_fake_fax_answer_matches_fax_response(fake: FakeRingCentral) -> None:
    """The fake answers a fax POST with a valid FaxResponse."""
    files = [
        ("json", ("request.json", b'{"to":[{"phoneNumber":"+12025550123"}]}', "application/json")),
        ("attachment", ("a.pdf", b"%PDF-1.4", "application/pdf")),
    ]
    answer = await _call(fake, "POST", "/restapi/v1.0/account/~/extension/~/fax", files=files)
    assert answer.status_code == 200
    assert schema_errors("FaxResponse", answer.json()) == []


@needs_spec
async def test_fake_message_reads_match_schemas(fake: FakeRingCentral) -> None:
    """Single reads, 207 bulk reads and list pages of the fake match their schemas."""
    first = fake.add_message("+12025550123")
    fake.set_status(fake.add_message("+12025550124"), "SendingFailed", "LineBusy")
    store = "/restapi/v1.0/account/~/extension/~/message-store"
    single = await _call(fake, "GET", f"{store}/{first}")
    bulk = await _call(fake, "GET", f"{store}/{first},999", headers={"Accept": MULTI_JSON})
    listing = await _call(fake, "GET", store, params={"messageType": "Fax", "direction": "Outbound"})
    assert schema_errors("GetMessageInfoResponse", single.json()) == []
    assert bulk.status_code == 207
    assert schema_errors("GetMessageMultiResponse", [e for e in bulk.json() if e["status"] == 200]) == []
    assert schema_errors("ApiErrorResponseModel", bulk.json()[1]["body"]) == []
    assert schema_errors("GetMessageList", listing.json()) == []
    assert len(listing.json()["records"]) == 2


@needs_spec
async def test_fake_subscription_answer_matches_subscription_info(fake: FakeRingCentral) -> None:
    """The fake's subscription answer is a valid SubscriptionInfo."""
    body = {
        "eventFilters": ["/restapi/v1.0/account/~/extension/~/message-store"],
        "deliveryMode": {
            "transportType": "WebHook",
            "address": "https://bridge.example.test/ringcentral/webhook",
        },
    }
    answer = await _call(fake, "POST", "/restapi/v1.0/subscription", json=body)
    assert schema_errors("SubscriptionInfo", answer.json()) == []


@needs_spec
def test_fake_error_bodies_match_the_error_model() -> None:
    """The fake's error bodies are valid ParameterizedErrorResponseModel documents."""
    body = error_response(400, "CMN-101", "Parameter [to] value is invalid", parameter="to").json()
    assert schema_errors("ParameterizedErrorResponseModel", body) == []
    assert schema_errors("ApiErrorResponseModel", rate_limited().json()) == []


@needs_spec
def test_schema_check_catches_a_wrong_document() -> None:
    """The schema check used by these tests does reject a document that breaks the spec."""
    assert schema_errors("FaxResponse", {"id": "not-a-number", "messageStatus": "Lost"})
    assert schema_errors(fax_form_schema(), {"to": [{"phoneNumber": "+1"}], "faxResolution": "Medium"})


def provider_on(
    fake: FakeRingCentral,
    clock: FakeClock,
    *,
    client_id: str = CLIENT_ID,
    secret: str = CLIENT_SECRET,
    jwt: str = JWT,
    fake_sleep: bool = True,
) -> RingCentralProvider:
    """A RingCentralProvider on the fake server and clock (sleeping on it unless `fake_sleep` is off),
    with a metrics registry of its own."""
    return RingCentralProvider(
        SERVER,
        client_id,
        secret,
        jwt,
        transport=fake.transport(),
        clock=clock,
        sleep=clock.sleep if fake_sleep else asyncio.sleep,
        metrics=Metrics(),
    )
