"""The webhook: subscription create/renew/cancel, the Validation-Token handshake, verified notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.ringcentral import RingCentralProvider, WebhookSubscriber
from adapters.ringcentral.webhook import EVENT_FILTER, INBOUND_FILTER
from bridge.errors import ProviderPermanent
from bridge.testing import sample_pdf
from tests.helpers.standin_client import SUBSCRIPTION, StandinRingCentral, needs_spec, schema_errors

HOOK = "/ringcentral/webhook"


class Wakeups:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def wakeups() -> Wakeups:
    return Wakeups()


class Hooks:
    """The bridge's webhook routes on a loopback port: the stand-in's handshake and notices reach them."""

    def __init__(self) -> None:
        self.served: dict[str, WebhookSubscriber] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        return await self.served[request.path].handler(request)


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
async def client(hooks: Hooks) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app.router.add_post("/{hook:.*}", hooks.handle)
    async with TestClient(TestServer(app)) as client:
        yield client


def served(
    hooks: Hooks,
    client: TestClient[web.Request, web.Application],
    provider: RingCentralProvider,
    on_change: Callable[[], None],
    *,
    path: str = HOOK,
    **options: Any,
) -> WebhookSubscriber:
    """A subscriber whose webhook URL is its own route on the loopback server."""
    subscriber = WebhookSubscriber(provider.api, str(client.make_url(path)), on_change, **options)
    hooks.served[path] = subscriber
    return subscriber


@pytest.fixture
async def subscriber(
    hooks: Hooks,
    client: TestClient[web.Request, web.Application],
    provider: RingCentralProvider,
    wakeups: Wakeups,
) -> AsyncIterator[WebhookSubscriber]:
    subscriber = served(hooks, client, provider, wakeups, sleep=never)
    yield subscriber
    await subscriber.close()


async def never(seconds: float) -> None:
    await asyncio.Event().wait()


def notification(subscription_id: str) -> dict[str, object]:
    return {
        "uuid": "8c7bd2b1-3b6a-4e3c-b4c5-5d1e2f0a9b11",
        "event": "/restapi/v1.0/account/401/extension/402/message-store?type=Fax&direction=Outbound",
        "timestamp": "2026-03-02T09:01:12.345Z",
        "subscriptionId": subscription_id,
        "ownerId": "402",
        "body": {
            "extensionId": "402",
            "lastUpdated": "2026-03-02T09:01:12.120Z",
            "changes": [{"type": "Fax", "newCount": 0, "updatedCount": 1}],
            "ownerId": "402",
        },
    }


async def test_start_subscribes_to_outbound_fax_changes(
    subscriber: WebhookSubscriber,
    fake: StandinRingCentral,
    client: TestClient[web.Request, web.Application],
) -> None:
    """start() creates a WebHook subscription on the message store for outbound faxes, with a secret token."""
    await subscriber.start()
    (wanted,) = fake.subscription_requests
    assert wanted["eventFilters"] == [EVENT_FILTER]
    assert EVENT_FILTER.startswith("/restapi/v1.0/account/~/extension/~/message-store")
    mode = wanted["deliveryMode"]
    assert (mode["transportType"], mode["address"]) == ("WebHook", str(client.make_url(HOOK)))
    assert len(mode["verificationToken"]) >= 24
    assert subscriber.subscription_id in fake.subscriptions


@needs_spec
async def test_subscription_request_matches_the_schema(
    subscriber: WebhookSubscriber, fake: StandinRingCentral
) -> None:
    """The subscription request validates against CreateSubscriptionRequest."""
    await subscriber.start()
    assert schema_errors("CreateSubscriptionRequest", fake.subscription_requests[0], write=True) == []


async def test_each_subscription_gets_its_own_random_token(
    provider: RingCentralProvider,
    fake: StandinRingCentral,
    hooks: Hooks,
    client: TestClient[web.Request, web.Application],
) -> None:
    """Two subscriptions never share a verification token."""
    first = served(hooks, client, provider, lambda: None, sleep=never)
    second = served(hooks, client, provider, lambda: None, path=HOOK + "2", sleep=never)
    await first.start()
    await second.start()
    tokens = {r["deliveryMode"]["verificationToken"] for r in fake.subscription_requests}
    assert len(tokens) == 2
    await first.close()
    await second.close()


async def test_start_drops_subscriptions_a_previous_run_left_on_our_address(
    subscriber: WebhookSubscriber,
    fake: StandinRingCentral,
    client: TestClient[web.Request, web.Application],
) -> None:
    """Old subscriptions to our URL are cancelled (30 per user at most); others are left alone."""
    stale = fake.new_subscription(str(client.make_url(HOOK)), [EVENT_FILTER], 604800)
    other = fake.new_subscription("http://127.0.0.1:9/elsewhere", [EVENT_FILTER], 604800)
    await subscriber.start()
    assert stale not in fake.subscriptions
    assert other in fake.subscriptions
    assert len(fake.subscriptions) == 2


async def test_close_cancels_the_subscription(
    subscriber: WebhookSubscriber, fake: StandinRingCentral
) -> None:
    """close() deletes the subscription so restarts do not pile them up."""
    await subscriber.start()
    await subscriber.close()
    assert fake.subscriptions == {}
    assert [s.method for s in fake.requests_to(SUBSCRIPTION)][-1] == "DELETE"


async def test_validation_request_is_echoed_with_a_tiny_body(
    subscriber: WebhookSubscriber, client: TestClient[web.Request, web.Application]
) -> None:
    """A Validation-Token request gets 200 with the same header and an empty JSON-typed body."""
    answer = await client.post(HOOK, headers={"Validation-Token": "d2c1a7f0-token"})
    assert answer.status == 200
    assert answer.headers["Validation-Token"] == "d2c1a7f0-token"
    assert answer.content_type == "application/json"
    assert len(await answer.read()) <= 1024


async def test_notification_with_our_token_wakes_the_tracker(
    subscriber: WebhookSubscriber,
    fake: StandinRingCentral,
    client: TestClient[web.Request, web.Application],
    wakeups: Wakeups,
) -> None:
    """A notification carrying our Verification-Token is answered 200 and calls on_change once."""
    await subscriber.start()
    token = fake.subscription_requests[0]["deliveryMode"]["verificationToken"]
    body = notification(str(subscriber.subscription_id))
    answer = await client.post(HOOK, json=body, headers={"Verification-Token": token})
    assert answer.status == 200
    assert wakeups.count == 1


@needs_spec
def test_sample_notification_is_a_message_event() -> None:
    """The notification the tests send is a valid MessageEvent."""
    assert schema_errors("MessageEvent", notification("95fecfc9")) == []


@pytest.mark.parametrize("token", [None, "", "forged-token"])
async def test_notification_without_our_token_is_forbidden(
    subscriber: WebhookSubscriber,
    client: TestClient[web.Request, web.Application],
    wakeups: Wakeups,
    token: str | None,
) -> None:
    """A notification with a missing or wrong Verification-Token gets 403 and wakes nobody."""
    await subscriber.start()
    headers = {} if token is None else {"Verification-Token": token}
    answer = await client.post(HOOK, json=notification("x"), headers=headers)
    assert answer.status == 403
    assert wakeups.count == 0


async def test_notification_before_start_is_forbidden(
    subscriber: WebhookSubscriber, client: TestClient[web.Request, web.Application], wakeups: Wakeups
) -> None:
    """Without a subscription there is no token to match, so nothing is accepted."""
    answer = await client.post(HOOK, json=notification("x"), headers={"Verification-Token": ""})
    assert answer.status == 403
    assert wakeups.count == 0


async def test_failing_callback_still_answers_200(
    provider: RingCentralProvider,
    fake: StandinRingCentral,
    hooks: Hooks,
    client: TestClient[web.Request, web.Application],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in the callback is logged, but RingCentral still gets 200 and keeps the subscription."""

    def broken() -> None:
        raise RuntimeError("tracker is down")

    subscriber = served(hooks, client, provider, broken, sleep=never)
    await subscriber.start()
    token = fake.subscription_requests[0]["deliveryMode"]["verificationToken"]
    answer = await client.post(HOOK, json={}, headers={"Verification-Token": token})
    assert answer.status == 200
    assert subscriber.subscription_id in fake.subscriptions
    assert "callback failed" in caplog.text
    await subscriber.close()


async def test_subscription_is_made_through_the_real_handshake(
    provider: RingCentralProvider, fake: StandinRingCentral, wakeups: Wakeups
) -> None:
    """With the handler served, RingCentral's validation call during subscribing succeeds."""
    served: list[WebhookSubscriber] = []
    app = web.Application()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await served[0].handler(request)

    app.router.add_post(HOOK, handler)
    async with TestClient(TestServer(app)) as client:
        subscriber = WebhookSubscriber(provider.api, str(client.make_url(HOOK)), wakeups, sleep=never)
        served.append(subscriber)
        await subscriber.start()
        assert subscriber.subscription_id in fake.subscriptions
        await subscriber.close()


async def test_subscribing_fails_when_the_address_does_not_validate(
    provider: RingCentralProvider, fake: StandinRingCentral
) -> None:
    """If the handshake fails (SUB-525), start() raises a permanent error naming the webhook URL."""
    app = web.Application()

    async def accept(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200)

    app.router.add_post(HOOK, accept)
    async with TestClient(TestServer(app)) as client:
        subscriber = WebhookSubscriber(provider.api, str(client.make_url(HOOK)), lambda: None)
        with pytest.raises(ProviderPermanent) as caught:
            await subscriber.start()
    assert caught.value.code == "SUB-525"
    assert "webhook URL" in caught.value.reason


async def test_renew_extends_the_same_subscription(
    subscriber: WebhookSubscriber, fake: StandinRingCentral
) -> None:
    """renew() posts to /subscription/{id}/renew and keeps the id."""
    await subscriber.start()
    first = subscriber.subscription_id
    await subscriber.renew()
    assert subscriber.subscription_id == first
    assert fake.requests_to(f"{SUBSCRIPTION}/{first}/renew", "POST")


async def test_renew_of_a_lost_subscription_subscribes_again(
    subscriber: WebhookSubscriber, fake: StandinRingCentral
) -> None:
    """If RingCentral no longer knows the subscription, renew() creates a new one with a new token."""
    await subscriber.start()
    lost = subscriber.subscription_id
    fake.drop_subscriptions()
    await subscriber.renew()
    assert subscriber.subscription_id not in (None, lost)
    assert subscriber.subscription_id in fake.subscriptions
    tokens = [r["deliveryMode"]["verificationToken"] for r in fake.subscription_requests]
    assert len(set(tokens)) == 2


async def test_subscription_is_renewed_before_it_expires(
    provider: RingCentralProvider,
    fake: StandinRingCentral,
    hooks: Hooks,
    client: TestClient[web.Request, web.Application],
) -> None:
    """The background task sleeps 80% of the subscription's life, then renews it."""
    slept: list[float] = []
    renewed = asyncio.Event()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 1:
            renewed.set()
            await asyncio.Event().wait()

    subscriber = served(hooks, client, provider, lambda: None, expires_in=10_000, sleep=sleep)
    await subscriber.start()
    await asyncio.wait_for(renewed.wait(), timeout=5)
    (renewal,) = fake.requests_to(f"{SUBSCRIPTION}/{subscriber.subscription_id}/renew", "POST")
    assert slept == [8000.0, 0.8 * renewal.json()["expiresIn"]]  # 80% of the life each answer gives
    await subscriber.close()
    assert fake.subscriptions == {}


@needs_spec
async def test_previous_token_is_honoured_while_a_new_subscription_replaces_it(
    subscriber: WebhookSubscriber,
    fake: StandinRingCentral,
    client: TestClient[web.Request, web.Application],
    wakeups: Wakeups,
) -> None:
    """Notices of the old subscription still count right after re-subscribing; two subscriptions later they do not."""
    await subscriber.start()
    old = fake.subscription_requests[0]["deliveryMode"]["verificationToken"]
    fake.drop_subscriptions()
    await subscriber.renew()
    body = notification(str(subscriber.subscription_id))
    assert (await client.post(HOOK, json=body, headers={"Verification-Token": old})).status == 200
    fake.drop_subscriptions()
    await subscriber.renew()
    assert (await client.post(HOOK, json=body, headers={"Verification-Token": old})).status == 403
    assert wakeups.count == 1


async def test_a_receiving_bridge_subscribes_to_the_inbound_fax_filter_too(
    hooks: Hooks,
    client: TestClient[web.Request, web.Application],
    provider: RingCentralProvider,
    fake: StandinRingCentral,
    wakeups: Wakeups,
) -> None:
    """With both filters, the stand-in's inbound fax event reaches the hook with our token and wakes the bridge."""
    subscriber = served(
        hooks, client, provider, wakeups, sleep=never, event_filters=(EVENT_FILTER, INBOUND_FILTER)
    )
    await subscriber.start()
    assert fake.subscription_requests[0]["eventFilters"] == [EVENT_FILTER, INBOUND_FILTER]
    fake.standin.receive(sample_pdf(1), from_number="+13125550123", to_number=None, pages=1)
    fake.standin.notifier.kick()
    for _ in range(200):
        if wakeups.count:
            break
        await asyncio.sleep(0.02)
    assert wakeups.count >= 1
    await subscriber.close()


async def test_a_forged_inbound_event_only_wakes_and_is_never_read(
    subscriber: WebhookSubscriber,
    fake: StandinRingCentral,
    client: TestClient[web.Request, web.Application],
    wakeups: Wakeups,
) -> None:
    """A fax event whose record points elsewhere is answered and wakes the bridge; no request follows its uri.

    What is fetched comes from RingCentral's own list, which the bridge then reads with its token.
    """
    await subscriber.start()
    token = fake.subscription_requests[0]["deliveryMode"]["verificationToken"]
    before = len(fake.seen)
    forged = {
        "uuid": "x",
        "event": INBOUND_FILTER,
        "subscriptionId": str(subscriber.subscription_id),
        "body": {
            "id": 1,
            "type": "Fax",
            "direction": "Inbound",
            "attachments": [{"uri": "http://198.51.100.7/x"}],
        },
    }
    answer = await client.post(HOOK, json=forged, headers={"Verification-Token": token})
    assert answer.status == 200 and wakeups.count == 1
    assert len(fake.seen) == before
    refused = await client.post(HOOK, json=forged, headers={"Verification-Token": "guess"})
    assert refused.status == 403 and wakeups.count == 1
