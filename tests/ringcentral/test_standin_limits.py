"""Rate-limit groups and scripted faults of the stand-in, driven in-process and over its admin API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.ringcentral.standin import RunningStandin, Standin, StandinConfig, start_standin
from tests.helpers.standin import (
    FAX_PATH,
    STORE_PATH,
    TOKEN_PATH,
    ManualClock,
    bearer,
    checked_client,
    envelope_files,
    load_schemas,
    login,
)

SCHEMAS = Path(__file__).parents[1] / "data" / "ringcentral" / "openapi-fax-subset.yaml"
RATE_EXCEEDED = {
    "errorCode": "CMN-301",
    "message": "Request rate exceeded",
    "errors": [{"errorCode": "CMN-301", "message": "Request rate exceeded"}],
}


@pytest.fixture
async def server() -> AsyncIterator[RunningStandin]:
    async with await start_standin(config=StandinConfig(delay_seconds=0.05, hang_seconds=10)) as running:
        yield running


@pytest.fixture
async def client(server: RunningStandin) -> AsyncIterator[httpx.AsyncClient]:
    async with checked_client(server.url, load_schemas(SCHEMAS), timeout=5) as http:
        yield http


@pytest.fixture
async def token(client: httpx.AsyncClient) -> dict[str, Any]:
    return await login(client)


def fax_files() -> list[Any]:
    return envelope_files(["+12025550123"], [("a.txt", b"hello", "text/plain")])


async def test_heavy_group_allows_ten_then_429() -> None:
    """Ten fax sends a minute pass with a falling X-Rate-Limit-Remaining; the eleventh gets 429 CMN-301."""
    clock = ManualClock()
    async with (
        await start_standin(standin=Standin(clock=clock)) as running,
        checked_client(running.url, load_schemas(SCHEMAS)) as client,
    ):
        token = await login(client)
        remaining = []
        for _ in range(10):
            response = await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))
            assert response.status_code == 200
            assert response.headers["X-Rate-Limit-Group"] == "heavy"
            assert response.headers["X-Rate-Limit-Limit"] == "10"
            assert response.headers["X-Rate-Limit-Window"] == "60"
            remaining.append(int(response.headers["X-Rate-Limit-Remaining"]))
        refused = await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))
        light = await client.get(STORE_PATH, headers=bearer(token))
    assert remaining == list(range(9, -1, -1))
    assert refused.status_code == 429
    assert refused.json() == RATE_EXCEEDED
    load_schemas(SCHEMAS).check_response("TooManyRequests", refused.json())
    assert refused.headers["Retry-After"] == "60"
    assert refused.headers["X-Rate-Limit-Remaining"] == "0"
    assert light.status_code == 200, "other groups keep their own budget"
    assert len(running.standin.messages) == 10


async def test_each_request_during_the_penalty_restarts_it() -> None:
    """A request sent during the penalty is refused and pushes the end of the penalty back."""
    clock = ManualClock()
    config = StandinConfig(light_limit=2, penalty_seconds=60)
    async with (
        await start_standin(standin=Standin(config, clock=clock)) as running,
        checked_client(running.url, load_schemas(SCHEMAS)) as client,
    ):
        token = await login(client)

        async def status() -> int:
            return (await client.get(STORE_PATH, headers=bearer(token))).status_code

        assert [await status(), await status(), await status()] == [200, 200, 429]
        clock.advance(50)
        assert await status() == 429  # during the penalty: refused, and the penalty starts again
        clock.advance(50)
        assert await status() == 429  # 100 s after the first refusal, but only 50 s after the last
        clock.advance(61)
        assert await status() == 200


async def test_auth_group_limits_token_requests(client: httpx.AsyncClient) -> None:
    """The token endpoint is in the Auth group: five a minute, then 429."""
    statuses = [
        (await client.post(TOKEN_PATH, data={"grant_type": "password"}, auth=("a", "b"))).status_code
        for _ in range(6)
    ]
    assert statuses == [400, 400, 400, 400, 400, 429]


@pytest.mark.parametrize(("kind", "status", "code"), [("500", 500, "CMN-203"), ("503", 503, "CMN-201")])
async def test_server_error_faults(
    client: httpx.AsyncClient,
    token: dict[str, Any],
    server: RunningStandin,
    kind: str,
    status: int,
    code: str,
) -> None:
    """A scripted 500 or 503 answers once with RingCentral's error body, then the path works again."""
    server.standin.faults.push(r"/fax$", kind)
    failed = await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))
    assert (failed.status_code, failed.json()["errorCode"]) == (status, code)
    load_schemas(SCHEMAS).check_response(
        "InternalError" if status == 500 else "ServiceNotAvailable", failed.json()
    )
    assert server.standin.messages == []
    assert (await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))).status_code == 200


async def test_forbidden_fault_is_a_permanent_refusal(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """A scripted 403 answers with MSG-341, creates no fax, and the next send works."""
    server.standin.faults.push(r"/fax$", "403")
    refused = await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))
    assert (refused.status_code, refused.json()["errorCode"]) == (403, "MSG-341")
    assert server.standin.messages == []
    assert (await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))).status_code == 200


async def test_scripted_429_carries_retry_after(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """A scripted 429 answers CMN-301 with the Retry-After it was given."""
    server.standin.faults.push(r"/message-store", "429", retry_after=7, method="GET")
    response = await client.get(STORE_PATH, headers=bearer(token))
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert response.json() == RATE_EXCEEDED


async def test_hang_keeps_the_client_waiting_and_does_nothing(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """A `hang` fault never answers: the client times out and no fax is created."""
    server.standin.faults.push(r"/fax$", "hang")
    with pytest.raises(httpx.ReadTimeout):
        await client.post(FAX_PATH, files=fax_files(), headers=bearer(token), timeout=0.3)
    assert server.standin.messages == []


async def test_hang_after_creates_the_fax_but_never_answers(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """A `hang_after` fault does the work first: the client times out, yet the fax exists."""
    server.standin.faults.push(r"/fax$", "hang_after")
    with pytest.raises(httpx.ReadTimeout):
        await client.post(FAX_PATH, files=fax_files(), headers=bearer(token), timeout=0.3)
    assert len(server.standin.messages) == 1


@pytest.mark.parametrize(("kind", "created"), [("reset", 0), ("reset_after", 1)])
async def test_reset_drops_the_connection(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin, kind: str, created: int
) -> None:
    """A `reset` fault aborts the connection (before or after the work), and the client sees a transport error."""
    server.standin.faults.push(r"/fax$", kind)
    with pytest.raises(httpx.TransportError):
        await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))
    assert len(server.standin.messages) == created
    assert (await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))).status_code == 200


async def test_expire_tokens_fault_answers_401_then_refresh_works(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """`expire_tokens` makes the current access token expired; a refresh grant recovers."""
    server.standin.faults.push(r"/message-store", "expire_tokens")
    expired = await client.get(STORE_PATH, headers=bearer(token))
    assert (expired.status_code, expired.json()["errorCode"]) == (401, "OAU-128")
    fresh = await client.post(
        TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("a", "b"),
    )
    assert (await client.get(STORE_PATH, headers=bearer(fresh.json()))).status_code == 200


async def test_refuse_refresh_fault_forces_a_new_login(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """`refuse_refresh` answers invalid_grant to the next refresh, while a JWT grant still works."""
    server.standin.faults.push(r"/oauth/token", "refuse_refresh")
    refused = await client.post(
        TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("a", "b"),
    )
    assert refused.status_code == 400
    load_schemas(SCHEMAS).check_response("OauthInvalidRequest", refused.json())
    assert refused.json()["error"] == "invalid_grant"
    assert (await login(client))["access_token"]


async def test_faults_can_repeat_and_be_cleared(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """A fault with times=None keeps firing until cleared; other paths are untouched."""
    server.standin.faults.push(r"/fax$", "503", times=None)
    for _ in range(3):
        assert (await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))).status_code == 503
    assert (await client.get(STORE_PATH, headers=bearer(token))).status_code == 200
    server.standin.faults.clear()
    assert (await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))).status_code == 200


async def test_admin_api_drives_faults_and_lists_faxes(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """Another process can script faults and read every fax (parts, status, pages) over /_standin/."""
    pushed = await client.post("/_standin/faults", json={"path": "/fax$", "kind": "503", "times": 1})
    assert pushed.status_code == 201
    assert (await client.get("/_standin/faults")).json()["records"][0]["kind"] == "503"
    assert (await client.post(FAX_PATH, files=fax_files(), headers=bearer(token))).status_code == 503
    files = envelope_files(["+12025550102"], [("note.txt", b"hello", "text/plain")], coverPageText="Hi")
    sent = (await client.post(FAX_PATH, files=files, headers=bearer(token))).json()
    await asyncio.sleep(0.15)
    (record,) = (await client.get("/_standin/messages")).json()["records"]
    assert record["id"] == sent["id"]
    assert record["to"] == ["+12025550102"]
    assert record["messageStatus"] == "SendingFailed"
    assert record["recipients"][0]["faxErrorCode"] == "NoAnswer"
    assert record["faxPageCount"] == 2
    assert record["coverPageText"] == "Hi"
    assert [(p["name"], p["filename"], p["contentType"], p["size"]) for p in record["parts"]] == [
        ("attachment", "note.txt", "text/plain", 5)
    ]
    log = (await client.get("/_standin/requests")).json()["records"]
    assert [(r["path"], r["status"], r["fault"]) for r in log if r["path"] == FAX_PATH] == [
        (FAX_PATH, 503, "503"),
        (FAX_PATH, 200, None),
    ]
    assert (await client.post("/_standin/tokens/expire")).status_code == 204
    assert (await client.get(STORE_PATH, headers=bearer(token))).status_code == 401
    assert (await client.post("/_standin/reset")).status_code == 204
    assert (await client.get("/_standin/messages")).json()["records"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"path": "(", "kind": "503"},
        {"path": "/fax", "kind": "explode"},
        {"path": "/fax", "kind": "503", "times": 0},
    ],
)
async def test_admin_refuses_bad_faults(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """A fault with a broken regex, an unknown kind or a silly count is refused with 400."""
    response = await client.post("/_standin/faults", json=body)
    assert response.status_code == 400
