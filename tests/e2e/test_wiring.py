"""The composition root wires each part by construction: one metrics registry for all, and the retention sweep."""

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest

from adapters.cli.wiring import build_bridge
from adapters.http.server import build_http_app
from adapters.ringcentral.api import RingCentralApi
from adapters.ringcentral.client import RingCentralProvider
from bridge.errors import JobNotFound
from bridge.model import Channel, FaxRequest, Origin
from bridge.received import DestinationKind
from bridge.replies import ReplyPump
from bridge.retention import purge_expired
from bridge.routing import Routes
from bridge.service import FaxService
from bridge.settings import Settings
from bridge.testing import FakeFaxSource, FakeProvider, RecordingForwarder, attached, sample_pdf
from tests.conftest import Clock


@pytest.mark.parametrize(
    "component", [FaxService, ReplyPump, RingCentralProvider, RingCentralApi, build_http_app]
)
def test_no_component_can_be_built_without_metrics(component: type) -> None:
    """`metrics` is a required parameter of each counting component, so none can count into a registry nobody reads."""
    parameter = inspect.signature(component).parameters["metrics"]
    assert parameter.default is inspect.Parameter.empty
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


async def test_every_part_counts_into_the_served_registry(settings: Settings) -> None:
    """The service, the reply pump and the RingCentral client of a built bridge share the registry /metrics renders.

    Mutation caught: build_bridge giving the reply pump a registry of its own (faxbridge_replies_total never served).
    """
    bridge = await build_bridge(settings)
    try:
        assert bridge.service.metrics is bridge.metrics
        assert bridge.pump.metrics is bridge.metrics
        assert isinstance(bridge.provider, RingCentralProvider)
        assert bridge.provider.api.metrics is bridge.metrics
    finally:
        await bridge.close()


async def test_the_retention_sweep_removes_documents_then_records(settings: Settings, clock: Clock) -> None:
    """A sweep after the retention period deletes a finished request's documents and then its record."""
    bridge = await build_bridge(settings, provider=FakeProvider(clock=clock), clock=clock)
    try:
        request = FaxRequest(
            to=("+12025550123",),
            origin=Origin(channel=Channel.CLI, sender="ann"),
            attachments=(attached("a.pdf", sample_pdf(1)),),
        )
        (job,) = (await bridge.service.accept(request)).jobs
        await bridge.service.cancel(job.id)
        assert await purge_expired(
            bridge.store, bridge.store, retention_days=settings.core.retention_days, now=clock()
        ) == (0, 0)
        later = clock() + timedelta(days=settings.core.retention_days, seconds=1)
        # One file: the PDF. The cover of a fax never sent was never drawn, so it has no bytes to remove.
        assert await purge_expired(
            bridge.store, bridge.store, retention_days=settings.core.retention_days, now=later
        ) == (1, 1)
        with pytest.raises(JobNotFound):
            await bridge.store.get(job.id)
    finally:
        await bridge.close()


async def test_a_built_bridge_receives_through_the_same_metrics_and_store(
    settings: Settings, clock: Clock
) -> None:
    """Receiving and delivering count into the served registry and keep faxes in the bridge's own store."""
    source = FakeFaxSource()
    mail = RecordingForwarder()
    routed = settings.replace(inbound_routes=Routes.parse("+12025550199=email:desk@example.org"))
    bridge = await build_bridge(
        routed,
        provider=FakeProvider(clock=clock),
        clock=clock,
        source=source,
        forwarders={DestinationKind.EMAIL: mail},
    )
    try:
        assert bridge.receiving is not None and bridge.receiving.metrics is bridge.metrics
        assert bridge.delivering.metrics is bridge.metrics
        await bridge.receiving.fetch_new()
        clock.advance(1)
        document = sample_pdf(1)
        source.arrive(document, sender="+13125550123", to="+12025550199", at=clock())
        assert await bridge.receiving.fetch_new() == 1
        assert await bridge.delivering.deliver_due() == 1
        (fax,) = await bridge.received.list_received()
        assert mail.forwarded == [(fax.id, "email:desk@example.org", document)]
        later = clock() + timedelta(days=settings.core.retention_days, seconds=1)
        await purge_expired(
            bridge.store,
            bridge.store,
            retention_days=settings.core.retention_days,
            now=later,
            received=bridge.received,
        )
        assert (await bridge.received.received_fax(fax.id)).purged
    finally:
        await bridge.close()
