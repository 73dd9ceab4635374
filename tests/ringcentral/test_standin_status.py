"""How faxes progress in the stand-in, and how the message store shows them (single, bulk, list)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.ringcentral.standin import RunningStandin, Standin, StandinConfig, start_standin
from tests.helpers.standin import (
    FAX_PATH,
    STORE_PATH,
    ManualClock,
    bearer,
    checked_client,
    envelope_files,
    load_schemas,
    login,
    wait_for_status,
)

SCHEMAS = Path(__file__).parents[1] / "data" / "ringcentral" / "openapi-fax-subset.yaml"
READ_OPERATION = "/restapi/v1.0/account/{accountId}/extension/{extensionId}/message-store/{messageId}"
LIST_OPERATION = "/restapi/v1.0/account/{accountId}/extension/{extensionId}/message-store"
DELAY = 0.05


@pytest.fixture
async def server() -> AsyncIterator[RunningStandin]:
    config = StandinConfig(delay_seconds=DELAY, heavy_limit=100, light_limit=1000)
    async with await start_standin(config=config) as running:
        yield running


@pytest.fixture
async def client(server: RunningStandin) -> AsyncIterator[httpx.AsyncClient]:
    async with checked_client(server.url, load_schemas(SCHEMAS)) as http:
        yield http


@pytest.fixture
async def token(client: httpx.AsyncClient) -> dict[str, Any]:
    return await login(client)


async def send(client: httpx.AsyncClient, token: dict[str, Any], *numbers: str) -> int:
    files = envelope_files(list(numbers), [("a.txt", b"hello", "text/plain")], coverIndex=0)
    response = await client.post(FAX_PATH, files=files, headers=bearer(token))
    assert response.status_code == 200, response.text
    message_id: int = response.json()["id"]
    return message_id


async def read(client: httpx.AsyncClient, token: dict[str, Any], message_id: int) -> dict[str, Any]:
    response = await client.get(f"{STORE_PATH}/{message_id}", headers=bearer(token))
    assert response.status_code == 200
    record: dict[str, Any] = response.json()
    # readMessage's 200 schema (GetSingleMessageInfoResponse) also demands voicemail-only
    # vmSideRecipients; a fax record is the GetMessageInfoResponse it extends.
    load_schemas(SCHEMAS).check("GetMessageInfoResponse", record)
    return record


async def test_normal_number_goes_queued_sent_delivered() -> None:
    """Any other valid number is Queued, then Sent after the delay, then Delivered after another."""
    clock = ManualClock()
    standin = Standin(StandinConfig(delay_seconds=2.0), clock=clock)
    async with (
        await start_standin(standin=standin) as running,
        checked_client(running.url, load_schemas(SCHEMAS)) as client,
    ):
        token = await login(client)
        message_id = await send(client, token, "+12025550123")
        timeline = []
        for _ in range(3):
            record = await read(client, token, message_id)
            timeline.append(
                (
                    record["messageStatus"],
                    record["to"][0]["messageStatus"],
                    record["faxPageCount"],
                    record["lastModifiedTime"],
                )
            )
            clock.now += 2.0
    assert timeline == [
        ("Queued", "Queued", 0, "2027-01-15T08:00:00.000Z"),
        ("Sent", "Sent", 1, "2027-01-15T08:00:02.000Z"),
        ("Delivered", "Delivered", 1, "2027-01-15T08:00:04.000Z"),
    ]


async def test_normal_number_is_delivered_in_real_time(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """With a 0.05 s delay a fax to an ordinary number is Delivered within a fraction of a second."""
    message_id = await send(client, token, "+12025550123")
    record = await wait_for_status(client, token, message_id, ["Delivered"], timeout=2)
    assert record["messageStatus"] == "Delivered"
    assert "faxErrorCode" not in record["to"][0]


@pytest.mark.parametrize(
    ("number", "fax_error"),
    [("+12025550101", "LineBusy"), ("+13125550102", "NoAnswer"), ("+14155550103", "NoFaxMachine")],
)
async def test_scripted_numbers_fail_with_their_fax_error(
    client: httpx.AsyncClient, token: dict[str, Any], number: str, fax_error: str
) -> None:
    """555-0101, 0102 and 0103 end in SendingFailed with LineBusy, NoAnswer and NoFaxMachine."""
    message_id = await send(client, token, number)
    record = await wait_for_status(client, token, message_id, ["SendingFailed", "Sent", "Delivered"])
    assert record["messageStatus"] == "SendingFailed"
    assert record["to"][0]["messageStatus"] == "SendingFailed"
    assert record["to"][0]["faxErrorCode"] == fax_error
    await asyncio.sleep(3 * DELAY)
    assert (await read(client, token, message_id))["messageStatus"] == "SendingFailed"


async def test_busy_once_number_fails_first_then_delivers(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """555-0104 is busy the first time it is faxed and delivered every later time."""
    first = await send(client, token, "+12025550104")
    assert (await wait_for_status(client, token, first, ["SendingFailed", "Delivered"]))["to"][0][
        "faxErrorCode"
    ] == "LineBusy"
    second = await send(client, token, "+12025550104")
    assert (await wait_for_status(client, token, second, ["SendingFailed", "Delivered"]))[
        "messageStatus"
    ] == ("Delivered")


async def test_one_failing_recipient_makes_the_fax_fail(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """With several recipients the fax is SendingFailed when any one fails, as RingCentral aggregates."""
    message_id = await send(client, token, "+12025550123", "+12025550103")
    await asyncio.sleep(3 * DELAY)
    record = await read(client, token, message_id)
    assert record["messageStatus"] == "SendingFailed"
    assert [to["messageStatus"] for to in record["to"]] == ["Delivered", "SendingFailed"]


async def test_bulk_read_answers_207_multipart_json(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """Comma-separated ids answer 207 application/vnd.ringcentral.multipart+json, one entry per id."""
    first = await send(client, token, "+12025550123")
    second = await send(client, token, "+12025550101")
    response = await client.get(f"{STORE_PATH}/{first},{second},42", headers=bearer(token))
    assert response.status_code == 207
    assert response.headers["Content-Type"].startswith("application/vnd.ringcentral.multipart+json")
    entries = response.json()
    load_schemas(SCHEMAS).check_operation(
        READ_OPERATION, "get", 207, entries, "application/vnd.ringcentral.multipart+json"
    )
    assert [(entry["resourceId"], entry["status"]) for entry in entries] == [
        (str(first), 200),
        (str(second), 200),
        ("42", 404),
    ]
    assert entries[0]["body"]["id"] == first
    assert entries[2]["body"]["errorCode"] == "CMN-102"


async def test_bulk_read_is_limited_to_30_ids(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """More than 30 ids in one bulk read answer 400 CMN-106."""
    ids = ",".join(str(1_000_000_001 + i) for i in range(31))
    response = await client.get(f"{STORE_PATH}/{ids}", headers=bearer(token))
    assert (response.status_code, response.json()["errorCode"]) == (400, "CMN-106")


async def test_unknown_message_is_not_found(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """An id the store does not hold answers 404 CMN-102 naming messageId."""
    response = await client.get(f"{STORE_PATH}/123456", headers=bearer(token))
    assert response.status_code == 404
    body = response.json()
    load_schemas(SCHEMAS).check_response("NotFound", body)
    assert body["errorCode"] == "CMN-102"
    assert body["message"] == "Resource for parameter [messageId] is not found"


async def test_list_honours_date_from_and_filters(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """The list defaults to the last 24 hours, honours dateFrom, type, direction and phoneNumber."""
    old = await send(client, token, "+12025550123")
    recent = await send(client, token, "+13125550199")
    old_message = server.standin.message(old)
    assert old_message is not None
    old_message.created -= 2 * 24 * 3600
    default = (await client.get(STORE_PATH, headers=bearer(token))).json()
    load_schemas(SCHEMAS).check_operation(LIST_OPERATION, "get", 200, default)
    assert [record["id"] for record in default["records"]] == [recent]
    since = (datetime.now(UTC) - timedelta(days=3)).isoformat().replace("+00:00", "Z")
    params: dict[str, str | list[str]] = {"dateFrom": since, "messageType": "Fax", "direction": "Outbound"}
    wide = (await client.get(STORE_PATH, params=params, headers=bearer(token))).json()
    assert [record["id"] for record in wide["records"]] == [recent, old]
    by_number = await client.get(
        STORE_PATH, params={**params, "phoneNumber": "+12025550123"}, headers=bearer(token)
    )
    assert [record["id"] for record in by_number.json()["records"]] == [old]
    inbound = await client.get(STORE_PATH, params={**params, "direction": "Inbound"}, headers=bearer(token))
    assert inbound.json()["records"] == []


async def test_list_pages_with_navigation(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """perPage splits the list into pages, with paging numbers and navigation links."""
    ids = [await send(client, token, "+12025550123") for _ in range(5)]
    response = await client.get(STORE_PATH, params={"perPage": "2", "page": "2"}, headers=bearer(token))
    body = response.json()
    load_schemas(SCHEMAS).check_operation(LIST_OPERATION, "get", 200, body)
    assert response.headers["X-Rate-Limit-Group"] == "light"
    assert [record["id"] for record in body["records"]] == list(reversed(ids))[2:4]
    assert body["paging"] == {
        "page": 2,
        "perPage": 2,
        "pageStart": 2,
        "pageEnd": 3,
        "totalPages": 3,
        "totalElements": 5,
    }
    assert set(body["navigation"]) == {"firstPage", "previousPage", "nextPage", "lastPage"}
    assert "page=3" in body["navigation"]["nextPage"]["uri"]


@pytest.mark.parametrize("query", [{"dateFrom": "last tuesday"}, {"page": "0"}, {"perPage": "x"}])
async def test_list_refuses_bad_parameters(
    client: httpx.AsyncClient, token: dict[str, Any], query: dict[str, str]
) -> None:
    """A malformed list parameter answers 400 CMN-101 naming it."""
    response = await client.get(STORE_PATH, params=query, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["parameterName"] == next(iter(query))


async def test_future_send_time_holds_the_fax_in_the_queue() -> None:
    """A fax with a future sendTime stays Queued until that time, then progresses as usual."""
    clock = ManualClock()
    standin = Standin(StandinConfig(delay_seconds=2.0), clock=clock)
    async with (
        await start_standin(standin=standin) as running,
        checked_client(running.url, load_schemas(SCHEMAS)) as client,
    ):
        token = await login(client)
        files = envelope_files(["+12025550123"], [("a.txt", b"x", None)], sendTime="2027-01-15T08:01:00Z")
        message_id = (await client.post(FAX_PATH, files=files, headers=bearer(token))).json()["id"]
        clock.advance(59)
        assert (await read(client, token, message_id))["messageStatus"] == "Queued"
        clock.advance(60 - 59 + 4)
        assert (await read(client, token, message_id))["messageStatus"] == "Delivered"
