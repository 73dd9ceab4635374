"""`/healthz` and `/metrics` on the real HTTP server of a running bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.cli.serve import health, metrics_page
from adapters.cli.wiring import Bridge, running
from adapters.http.server import HttpServer, build_http_app
from bridge.errors import RequestRejected
from bridge.model import Channel, FaxRequest, Origin
from bridge.settings import Settings
from bridge.testing import FakeProvider, InMemoryJobStore, attached, sample_pdf


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Bridge, str]]:
    async with running(settings, provider=FakeProvider()) as bridge:
        http = HttpServer(
            build_http_app(health=lambda: health(bridge), metrics=lambda: metrics_page(bridge)),
            "127.0.0.1",
            0,
        )
        await http.start()
        yield bridge, http.url
        await http.close()


async def test_healthz_reports_each_part(served: tuple[Bridge, str]) -> None:
    """A healthy bridge answers 200 with the store and every worker 'ok'."""
    _, url = served
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/healthz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["parts"] == {
        "store": "ok",
        "dispatcher": "ok",
        "tracker": "ok",
        "replies": "ok",
        "retention": "ok",
        "deliveries": "ok",
    }


async def test_healthz_is_503_when_the_store_fails(settings: Settings) -> None:
    """When the store cannot answer, /healthz says so with 503."""
    store = InMemoryJobStore()
    async with running(settings, provider=FakeProvider()) as bridge:
        bridge.store = store
        store.broken = True
        http = HttpServer(
            build_http_app(health=lambda: health(bridge), metrics=lambda: metrics_page(bridge)),
            "127.0.0.1",
            0,
        )
        await http.start()
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{http.url}/healthz")
        await http.close()
    assert response.status_code == 503
    assert response.json()["parts"]["store"].startswith("unavailable")


async def test_metrics_names_and_labels(served: tuple[Bridge, str]) -> None:
    """/metrics is Prometheus text with jobs by state, intake by channel and reason, replies and queue gauges."""
    bridge, url = served
    request = FaxRequest(
        to=("+12025550123",),
        origin=Origin(channel=Channel.CLI, sender="ann"),
        attachments=(attached("a.pdf", sample_pdf(1)),),
    )
    await bridge.service.accept(request)
    with pytest.raises(RequestRejected):
        await bridge.service.accept(
            FaxRequest(to=("+19005550123",), origin=request.origin, attachments=request.attachments)
        )
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert (
        samples[("faxbridge_intake_total", (("channel", "cli"), ("outcome", "accepted"), ("reason", "")))]
        == 1
    )
    assert (
        samples[
            ("faxbridge_intake_total", (("channel", "cli"), ("outcome", "refused"), ("reason", "number")))
        ]
        == 1
    )
    assert samples[("faxbridge_jobs", (("state", "rejected"),))] == 1
    names = {name for name, _ in samples}
    assert {
        "faxbridge_queue_depth",
        "faxbridge_oldest_queued_age_seconds",
        "faxbridge_provider_rate_limited_total",
        "faxbridge_provider_rate_limit_wait_seconds_total",
        "faxbridge_provider_token_refreshes_total",
    } <= names
