"""WebHook subscriptions on the stand-in: the Validation-Token handshake and fax notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.ringcentral.standin import RunningStandin, Standin, StandinConfig, start_standin
from tests.helpers.standin import (
    FAX_PATH,
    SUBSCRIPTION_PATH,
    ManualClock,
    bearer,
    checked_client,
    envelope_files,
    load_schemas,
    login,
)

SCHEMAS = Path(__file__).parents[1] / "data" / "ringcentral" / "openapi-fax-subset.yaml"
FAX_EVENTS = "/restapi/v1.0/account/~/extension/~/message-store?type=Fax"


@dataclass
class Receiver:
    """A tiny webhook endpoint: answers the handshake (or not) and records notifications."""

    url: str = ""
    echo: bool = True
    handshakes: list[str] = field(default_factory=list)
    notifications: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        token = request.headers.get("Validation-Token")
        if token is not None:
            self.handshakes.append(token)
            return web.Response(headers={"Validation-Token": token} if self.echo else {})
        self.notifications.append((dict(request.headers), await request.json()))
        self.arrived.set()
        return web.Response()

    async def next_notification(self, count: int) -> None:
        while len(self.notifications) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield hook
    await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[RunningStandin]:
    async with await start_standin(config=StandinConfig(delay_seconds=0.05)) as running:
        yield running


@pytest.fixture
async def client(server: RunningStandin) -> AsyncIterator[httpx.AsyncClient]:
    async with checked_client(server.url, load_schemas(SCHEMAS)) as http:
        yield http


@pytest.fixture
async def token(client: httpx.AsyncClient) -> dict[str, Any]:
    return await login(client)


async def subscribe(
    client: httpx.AsyncClient, token: dict[str, Any], address: str, **mode: str
) -> httpx.Response:
    body = {
        "eventFilters": [FAX_EVENTS],
        "deliveryMode": {"transportType": "WebHook", "address": address, **mode},
        "expiresIn": 3600,
    }
    return await client.post(SUBSCRIPTION_PATH, json=body, headers=bearer(token))


async def test_handshake_with_echo_creates_the_subscription(
    client: httpx.AsyncClient, token: dict[str, Any], receiver: Receiver
) -> None:
    """A receiver echoing Validation-Token gets an Active subscription, readable back by id."""
    response = await subscribe(client, token, receiver.url)
    assert response.status_code == 200
    info = response.json()
    load_schemas(SCHEMAS).check_operation(SUBSCRIPTION_PATH, "post", 200, info)
    assert len(receiver.handshakes) == 1
    assert (info["status"], info["deliveryMode"]["address"], info["deliveryMode"]["encryption"]) == (
        "Active",
        receiver.url,
        False,
    )
    assert info["eventFilters"] == [FAX_EVENTS]
    assert response.headers["X-Rate-Limit-Group"] == "medium"
    again = await client.get(f"{SUBSCRIPTION_PATH}/{info['id']}", headers=bearer(token))
    assert again.json()["id"] == info["id"]


async def test_handshake_without_echo_is_refused(
    client: httpx.AsyncClient, token: dict[str, Any], receiver: Receiver, server: RunningStandin
) -> None:
    """A receiver that does not echo the token fails creation with 400 SUB-525 and nothing is stored."""
    receiver.echo = False
    response = await subscribe(client, token, receiver.url)
    assert response.status_code == 400
    load_schemas(SCHEMAS).check_operation(SUBSCRIPTION_PATH, "post", 400, response.json())
    assert response.json()["errorCode"] == "SUB-525"
    assert response.json()["message"] == "WebHook server response is invalid"
    assert receiver.handshakes
    assert server.standin.subscriptions.live() == []


async def test_unreachable_webhook_is_refused(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """An address nobody answers at fails the handshake with SUB-525."""
    response = await subscribe(client, token, "http://127.0.0.1:9/hook")
    assert (response.status_code, response.json()["errorCode"]) == (400, "SUB-525")


async def test_fax_changes_are_notified_with_verification_token(receiver: Receiver) -> None:
    """Each fax status change is POSTed as a message-store event carrying the Verification-Token."""
    clock = ManualClock()
    standin = Standin(StandinConfig(delay_seconds=2.0), clock=clock)
    async with (
        await start_standin(standin=standin) as running,
        checked_client(running.url, load_schemas(SCHEMAS)) as client,
    ):
        token = await login(client)
        created = await subscribe(client, token, receiver.url, verificationToken="shared-secret")
        subscription_id = created.json()["id"]
        files = envelope_files(["+12025550123"], [("a.txt", b"hi", "text/plain")])
        message_id = (await client.post(FAX_PATH, files=files, headers=bearer(token))).json()["id"]
        await receiver.next_notification(1)  # the new fax
        for count in (2, 3):  # Sent, then Delivered
            clock.advance(2.0)
            standin.notifier.kick()
            await receiver.next_notification(count)
    for headers, event in receiver.notifications:
        load_schemas(SCHEMAS).check("MessageEvent", event)
        assert headers["Verification-Token"] == "shared-secret"
        assert event["subscriptionId"] == subscription_id
        assert event["event"] == "/restapi/v1.0/account/~/extension/400100002/message-store"
        assert event["ownerId"] == event["body"]["extensionId"] == "400100002"
    changes = [event["body"]["changes"][0] for _, event in receiver.notifications]
    assert changes == [
        {"type": "Fax", "newCount": 1, "updatedCount": 0, "newMessageIds": [message_id]},
        {"type": "Fax", "newCount": 0, "updatedCount": 1},
        {"type": "Fax", "newCount": 0, "updatedCount": 1},
    ]
    lasts = [event["body"]["lastUpdated"] for _, event in receiver.notifications]
    assert lasts == ["2027-01-15T08:00:00.000Z", "2027-01-15T08:00:02.000Z", "2027-01-15T08:00:04.000Z"]
    assert [delivery.status for delivery in standin.notifier.deliveries] == [200, 200, 200]


async def test_notifications_arrive_in_real_time(
    client: httpx.AsyncClient, token: dict[str, Any], receiver: Receiver
) -> None:
    """Without anyone polling, a fax sent with a 0.05 s delay is announced as new and then as updated."""
    await subscribe(client, token, receiver.url)
    files = envelope_files(["+12025550101"], [("a.txt", b"hi", "text/plain")])
    await client.post(FAX_PATH, files=files, headers=bearer(token))
    await receiver.next_notification(2)
    changes = [event["body"]["changes"][0] for _, event in receiver.notifications]
    assert (changes[0]["newCount"], changes[1]["updatedCount"]) == (1, 1)
    assert "Verification-Token" not in receiver.notifications[0][0]


async def test_subscription_for_other_events_gets_no_fax_notifications(
    client: httpx.AsyncClient, token: dict[str, Any], receiver: Receiver, server: RunningStandin
) -> None:
    """A subscription to presence events is stored but never told about faxes."""
    body = {
        "eventFilters": ["/restapi/v1.0/account/~/extension/~/presence"],
        "deliveryMode": {"transportType": "WebHook", "address": receiver.url},
    }
    assert (await client.post(SUBSCRIPTION_PATH, json=body, headers=bearer(token))).status_code == 200
    files = envelope_files(["+12025550123"], [("a.txt", b"hi", "text/plain")])
    await client.post(FAX_PATH, files=files, headers=bearer(token))
    await asyncio.sleep(0.2)
    assert receiver.notifications == []
    assert server.standin.notifier.deliveries == []


async def test_list_renew_update_and_delete(
    client: httpx.AsyncClient, token: dict[str, Any], receiver: Receiver
) -> None:
    """Subscriptions can be listed, renewed, updated and deleted, each answer schema-valid."""
    info = (await subscribe(client, token, receiver.url)).json()
    path = f"{SUBSCRIPTION_PATH}/{info['id']}"
    listing = (await client.get(SUBSCRIPTION_PATH, headers=bearer(token))).json()
    load_schemas(SCHEMAS).check_operation(SUBSCRIPTION_PATH, "get", 200, listing)
    assert [record["id"] for record in listing["records"]] == [info["id"]]
    renewed = await client.post(f"{path}/renew", headers=bearer(token))
    load_schemas(SCHEMAS).check_operation(
        f"{SUBSCRIPTION_PATH}/{{subscriptionId}}/renew", "post", 200, renewed.json()
    )
    assert renewed.json()["expiresIn"] > info["expiresIn"]
    updated = await client.put(
        path,
        json={"eventFilters": [FAX_EVENTS, "/restapi/v1.0/account/~/extension/~/presence"]},
        headers=bearer(token),
    )
    load_schemas(SCHEMAS).check_operation(
        f"{SUBSCRIPTION_PATH}/{{subscriptionId}}", "put", 200, updated.json()
    )
    assert len(updated.json()["eventFilters"]) == 2
    assert (await client.delete(path, headers=bearer(token))).status_code == 204
    missing = await client.get(path, headers=bearer(token))
    assert missing.status_code == 404
    load_schemas(SCHEMAS).check_operation(
        f"{SUBSCRIPTION_PATH}/{{subscriptionId}}", "get", 404, missing.json()
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"deliveryMode": {"transportType": "WebHook", "address": "http://x"}}, "CMN-101"),
        (
            {
                "eventFilters": ["presence"],
                "deliveryMode": {"transportType": "WebHook", "address": "http://x"},
            },
            "SUB-508",
        ),
        ({"eventFilters": [FAX_EVENTS], "deliveryMode": {"transportType": "PubNub"}}, "CMN-101"),
        (
            {
                "eventFilters": [FAX_EVENTS],
                "deliveryMode": {"transportType": "WebHook", "address": "ftp://x"},
            },
            "CMN-101",
        ),
    ],
)
async def test_bad_subscription_requests_are_refused(
    client: httpx.AsyncClient, token: dict[str, Any], body: dict[str, Any], code: str
) -> None:
    """Missing filters, filters outside /restapi, non-WebHook transports and odd addresses answer 400."""
    response = await client.post(SUBSCRIPTION_PATH, json=body, headers=bearer(token))
    assert response.status_code == 400
    load_schemas(SCHEMAS).check_response("InvalidRequest", response.json())
    assert response.json()["errorCode"] == code
