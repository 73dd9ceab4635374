"""Faxes the stand-in receives: the admin route, message-store records, the fax event, the download."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.ringcentral.standin import RunningStandin, StandinConfig, start_standin
from tests.helpers.documents import pdf, tiff
from tests.helpers.standin import (
    STORE_PATH,
    SUBSCRIPTION_PATH,
    bearer,
    checked_client,
    load_schemas,
    login,
)

SCHEMAS = Path(__file__).parents[1] / "data" / "ringcentral" / "openapi-fax-subset.yaml"
INBOUND_FILTER = "/restapi/v1.0/account/~/extension/~/fax?direction=Inbound"
CALLER = "+12025550123"


@pytest.fixture
async def server() -> AsyncIterator[RunningStandin]:
    async with await start_standin(config=StandinConfig(delay_seconds=0.05, medium_limit=3)) as running:
        yield running


@pytest.fixture
async def client(server: RunningStandin) -> AsyncIterator[httpx.AsyncClient]:
    async with checked_client(server.url, load_schemas(SCHEMAS), timeout=30) as http:
        yield http


@pytest.fixture
async def token(client: httpx.AsyncClient) -> dict[str, Any]:
    return await login(client)


async def receive(client: httpx.AsyncClient, data: bytes, **query: str) -> httpx.Response:
    return await client.post("/_standin/inbound", params={"from": CALLER, **query}, content=data)


async def test_a_received_fax_is_listed_as_an_inbound_fax_record(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """A fax made to arrive is in the message store as RingCentral shows one: Fax, Inbound, Received."""
    made = await receive(client, pdf(3))
    assert made.status_code == 201
    listed = await client.get(
        STORE_PATH, params={"messageType": "Fax", "direction": "Inbound"}, headers=bearer(token)
    )
    (record,) = listed.json()["records"]
    assert record["id"] == made.json()["id"]
    assert (record["type"], record["direction"], record["messageStatus"]) == ("Fax", "Inbound", "Received")
    assert record["from"]["phoneNumber"] == CALLER
    assert record["to"][0]["phoneNumber"] == server.standin.mailbox.fax_number
    assert record["faxPageCount"] == 3
    (attachment,) = record["attachments"]
    assert (attachment["type"], attachment["contentType"]) == ("RenderedDocument", "application/pdf")
    load_schemas(SCHEMAS).check("GetMessageInfoResponse", record)
    outbound = await client.get(STORE_PATH, params={"direction": "Outbound"}, headers=bearer(token))
    assert outbound.json()["records"] == []


async def test_a_received_fax_is_read_by_id_and_its_document_downloaded(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """The record's attachment uri serves the very bytes received, in the Medium group."""
    document = pdf(2)
    made = (await receive(client, document, to="+16505550199")).json()
    record = (await client.get(f"{STORE_PATH}/{made['id']}", headers=bearer(token))).json()
    assert record["to"][0]["phoneNumber"] == "+16505550199"
    download = await client.get(record["attachments"][0]["uri"], headers=bearer(token))
    assert download.status_code == 200
    assert download.content == document
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["X-Rate-Limit-Group"] == "medium"


async def test_a_tiff_fax_is_offered_as_tiff(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """A TIFF received keeps its type and frame count, as accounts that deliver TIFF show it."""
    made = (await receive(client, tiff(2))).json()
    assert made["attachments"][0]["contentType"] == "image/tiff"
    assert made["faxPageCount"] == 2
    download = await client.get(made["attachments"][0]["uri"], headers=bearer(token))
    assert download.content.startswith(b"II*\x00")


async def test_downloads_past_the_medium_limit_get_429_with_retry_after(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """The fourth download in a window of three is refused with 429 and Retry-After (CMN-301)."""
    uri = (await receive(client, pdf(1))).json()["attachments"][0]["uri"]
    for _ in range(3):
        assert (await client.get(uri, headers=bearer(token))).status_code == 200
    refused = await client.get(uri, headers=bearer(token))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.json()["errorCode"] == "CMN-301"


async def test_a_download_needs_a_token(client: httpx.AsyncClient) -> None:
    """The document is served to a bearer of a valid token only."""
    uri = (await receive(client, pdf(1))).json()["attachments"][0]["uri"]
    assert (await client.get(uri)).status_code == 401


async def test_an_unknown_attachment_is_not_found(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """A content uri naming another attachment id answers 404, not some other fax's bytes."""
    made = (await receive(client, pdf(1))).json()
    wrong = f"{STORE_PATH}/{made['id']}/content/{made['id'] + 1}"
    assert (await client.get(wrong, headers=bearer(token))).status_code == 404


@pytest.mark.parametrize(
    ("query", "data", "status"),
    [
        ({"from": "not a number"}, pdf(1), 400),
        ({"from": ""}, pdf(1), 400),
        ({"to": "12"}, pdf(1), 400),
        ({}, b"", 400),
        ({}, b"<html>not a fax</html>", 415),
        ({}, b"\x89PNG\r\n\x1a\n", 415),
    ],
)
async def test_hostile_receive_requests_are_refused(
    client: httpx.AsyncClient, server: RunningStandin, query: dict[str, str], data: bytes, status: int
) -> None:
    """Bad numbers, an empty body or a non-fax document get a RingCentral error, and nothing arrives."""
    answer = await receive(client, data, **query)
    assert answer.status_code == status
    assert answer.json()["errors"]
    assert server.standin.received == []


async def test_the_inbound_fax_filter_gets_an_event_with_the_whole_record(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """A subscription on the inbound fax filter is told of a received fax with its full record."""
    events: list[dict[str, Any]] = []
    arrived = web.Application()

    async def hook(request: web.Request) -> web.Response:
        token_header = request.headers.get("Validation-Token")
        if token_header is not None:
            return web.Response(headers={"Validation-Token": token_header})
        events.append(await request.json())
        return web.Response()

    arrived.router.add_post("/hook", hook)
    runner = web.AppRunner(arrived)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        address = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        body = {
            "eventFilters": [INBOUND_FILTER],
            "deliveryMode": {"transportType": "WebHook", "address": address},
        }
        assert (await client.post(SUBSCRIPTION_PATH, json=body, headers=bearer(token))).status_code == 200
        made = (await receive(client, pdf(1))).json()
        for _ in range(200):
            if events:
                break
            await _tick()
        (event,) = events
        assert event["event"].endswith("/fax?direction=Inbound")
        assert event["body"]["id"] == made["id"]
        assert event["body"]["attachments"][0]["uri"] == made["attachments"][0]["uri"]
        load_schemas(SCHEMAS).check("GetMessageInfoResponse", event["body"])
    finally:
        await runner.cleanup()


async def test_received_faxes_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    """With a state file, a restarted stand-in still lists a fax it received (without its bytes)."""
    config = StandinConfig(state_file=tmp_path / "state.json")
    async with await start_standin(config=config) as first, httpx.AsyncClient(base_url=first.url) as http:
        made = (await receive(http, pdf(1))).json()
    async with await start_standin(config=config) as second, httpx.AsyncClient(base_url=second.url) as http:
        token = await login(http)
        record = (await http.get(f"{STORE_PATH}/{made['id']}", headers=bearer(token))).json()
        assert record["direction"] == "Inbound"
        gone = await http.get(f"{STORE_PATH}/{made['id']}/content/{made['id']}", headers=bearer(token))
        assert gone.status_code == 404


async def _tick() -> None:
    await asyncio.sleep(0.02)
