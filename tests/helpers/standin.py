"""Helpers for tests that talk to the stand-in: a manual clock, log in, send a fax, wait for a status,
check answers against RingCentral's OpenAPI schemas."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_schema_validator import OAS30ReadValidator

from adapters.ringcentral.standin.auth import JWT_GRANT

TOKEN_PATH = "/restapi/oauth/token"
FAX_PATH = "/restapi/v1.0/account/~/extension/~/fax"
STORE_PATH = "/restapi/v1.0/account/~/extension/~/message-store"
SUBSCRIPTION_PATH = "/restapi/v1.0/subscription"


class ManualClock:
    """A clock a test moves by hand, for `Standin(config, clock=...)` and a client's `clock`/`sleep`:
    seconds since the epoch, 2027-01-15T08:00:00Z unless told. Its `sleep` moves it instead of waiting."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    def wall(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


async def login(
    client: httpx.AsyncClient, *, client_id: str = "faxbridge", secret: str = "secret", jwt: str = "a.b.c"
) -> dict[str, Any]:
    """A JWT-bearer grant; returns the `TokenInfo` body (raises on a refusal)."""
    response = await client.post(
        TOKEN_PATH, data={"grant_type": JWT_GRANT, "assertion": jwt}, auth=(client_id, secret)
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


def envelope_files(
    to: Sequence[str], documents: Iterable[tuple[str, bytes, str | None]], **fields: Any
) -> list[tuple[str, tuple[str, bytes, str] | tuple[str, bytes]]]:
    """httpx `files=` for the SDK style: a `json` envelope part first, then `attachment` parts."""
    envelope = json.dumps({"to": [{"phoneNumber": number} for number in to], **fields}).encode()
    files: list[tuple[str, tuple[str, bytes, str] | tuple[str, bytes]]] = [
        ("json", ("request.json", envelope, "application/json"))
    ]
    for filename, data, content_type in documents:
        files.append(("attachment", (filename, data, content_type) if content_type else (filename, data)))
    return files


async def wait_for_status(
    client: httpx.AsyncClient,
    token: dict[str, Any],
    message_id: int,
    statuses: Iterable[str],
    *,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Poll the message store until the fax reaches one of `statuses`; return that record."""
    wanted = set(statuses)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await client.get(f"{STORE_PATH}/{message_id}", headers=bearer(token))
        response.raise_for_status()
        record: dict[str, Any] = response.json()
        if record["messageStatus"] in wanted or loop.time() > deadline:
            return record
        await asyncio.sleep(0.02)


_MAILBOX = r"/restapi/v1\.0/account/[^/]+/extension/[^/]+"
# readMessage's documented 200 schema (GetSingleMessageInfoResponse) also requires the
# voicemail-only `vmSideRecipients`; a fax record is the GetMessageInfoResponse it extends.
_SUCCESS_SCHEMAS = {
    ("POST", "/restapi/oauth/token"): "TokenInfo",
    ("POST", f"{_MAILBOX}/fax"): "FaxResponse",
    ("GET", f"{_MAILBOX}/message-store"): "GetMessageList",
    ("GET", f"{_MAILBOX}/message-store/[^/]+"): "GetMessageInfoResponse",
    ("GET", r"/restapi/v1\.0/subscription"): "SubscriptionListResource",
    ("POST", r"/restapi/v1\.0/subscription"): "SubscriptionInfo",
    ("GET", r"/restapi/v1\.0/subscription/[^/]+"): "SubscriptionInfo",
    ("PUT", r"/restapi/v1\.0/subscription/[^/]+"): "SubscriptionInfo",
    ("POST", r"/restapi/v1\.0/subscription/[^/]+/renew"): "SubscriptionInfo",
}


@functools.cache
def load_schemas(path: Path) -> OpenApiSchemas:
    """One parsed copy of a spec file per process."""
    return OpenApiSchemas(path)


def checked_client(base_url: str, schemas: OpenApiSchemas, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client for the stand-in that asserts every answer against RingCentral's schemas."""
    return httpx.AsyncClient(base_url=base_url, event_hooks={"response": [schemas.response_hook()]}, **kwargs)


class OpenApiSchemas:
    """Validates bodies against RingCentral's OpenAPI schemas (formats such as date-time included)."""

    def __init__(self, path: Path) -> None:
        self._validator_class = OAS30ReadValidator
        self.spec: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))

    def check(self, name: str, body: object) -> None:
        """Assert `body` is a valid `components/schemas/<name>`."""
        self._check({"$ref": f"#/components/schemas/{name}"}, body, name)

    def check_response(self, name: str, body: object) -> None:
        """Assert `body` matches the JSON schema of `components/responses/<name>` (e.g. InvalidRequest)."""
        schema = self.spec["components"]["responses"][name]["content"]["application/json"]["schema"]
        self._check(schema, body, name)

    def check_operation(
        self, path: str, method: str, status: int, body: object, content_type: str = "application/json"
    ) -> None:
        """Assert `body` matches what the spec says `method path` answers with `status`."""
        response = self.spec["paths"][path][method.lower()]["responses"][str(status)]
        if "$ref" in response:
            response = self.spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        self._check(response["content"][content_type]["schema"], body, f"{method} {path} {status}")

    def check_answer(self, method: str, path: str, status: int, body: object) -> None:
        """Assert any stand-in answer matches the schema RingCentral documents for that call and status."""
        if status >= 400:
            oauth = path.startswith("/restapi/oauth/") and status != 429
            self.check_response("OauthInvalidRequest" if oauth else "InvalidRequest", body)
            return
        for (verb, pattern), name in _SUCCESS_SCHEMAS.items():
            if verb == method.upper() and re.fullmatch(pattern, path):
                self.check(name if status != 207 else "GetMessageMultiResponse", body)
                return
        raise AssertionError(f"no schema known for {method} {path} {status}")

    def response_hook(self) -> Callable[[httpx.Response], Awaitable[None]]:
        """An httpx response hook checking every RingCentral JSON answer (`/_standin` ones are skipped)."""

        async def check(response: httpx.Response) -> None:
            await response.aread()
            path = response.request.url.path
            if path.startswith("/_standin") or not response.content:
                return
            if response.is_success and "json" not in response.headers.get("Content-Type", ""):
                return  # a document's bytes (readMessageContent), not a JSON answer
            self.check_answer(response.request.method, path, response.status_code, response.json())

        return check

    def _check(self, schema: dict[str, Any], body: object, label: str) -> None:
        root = {**schema, "components": self.spec["components"]}
        validator = self._validator_class(root, format_checker=self._validator_class.FORMAT_CHECKER)
        problems = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)
        ]
        if problems:
            raise AssertionError(f"{label} does not match the schema:\n" + "\n".join(problems))
