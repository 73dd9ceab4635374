"""Receiving and delivering faxes in the core, on the in-memory fakes: once per fax, once per destination."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.delivering import Delivering
from bridge.errors import DeliveryRefused, DeliveryTransient, ProviderPermanent, ProviderTransient
from bridge.metrics import Metrics
from bridge.model import Channel, Envelope, Origin, PreparedFax
from bridge.ports import Parcel
from bridge.received import DeliveryState, DestinationKind
from bridge.receiving import OVERLAP, Receiving
from bridge.routing import Routes
from bridge.testing import (
    FakeFaxSource,
    InMemoryJobStore,
    InMemoryReceivedFaxes,
    RecordingForwarder,
)
from bridge.workers import ThreadWorkers
from tests.conftest import Clock
from tests.helpers.documents import pdf, tiff

HOME = "+12025550199"
CALLER = "+13125550123"
ROUTES = Routes.parse(f"{HOME}=slack:C0123ABCD,email:desk@example.org")


@pytest.fixture
async def workers() -> AsyncIterator[ThreadWorkers]:
    pool = ThreadWorkers()
    yield pool
    await pool.close()


class World:
    def __init__(self, tmp_path: Path, clock: Clock, workers: ThreadWorkers, routes: Routes = ROUTES) -> None:
        self.clock = clock
        self.jobs = InMemoryJobStore()
        self.faxes = InMemoryReceivedFaxes(self.jobs)
        self.source = FakeFaxSource()
        self.metrics = Metrics()
        self.slack = RecordingForwarder()
        self.mail = RecordingForwarder()
        self.receiving = Receiving(
            self.faxes,
            self.source,
            routes=routes,
            reply_days=14,
            workers=workers,
            scratch_root=tmp_path / "scratch",
            clock=clock,
            metrics=self.metrics,
        )
        self.delivering = Delivering(
            self.faxes,
            self.jobs,
            {DestinationKind.SLACK: self.slack, DestinationKind.EMAIL: self.mail},
            attach=True,
            clock=clock,
            metrics=self.metrics,
        )

    async def start(self) -> None:
        await self.receiving.fetch_new()  # the first look sets where the list is read from
        self.clock.advance(1)

    def arrive(self, data: bytes | None = None, *, sender: str = CALLER, to: str = HOME, **kw: object) -> str:
        fax = self.source.arrive(data or pdf(2), sender=sender, to=to, at=self.clock(), **kw)  # type: ignore[arg-type]
        return fax.provider_id

    async def faxed(self, number: str, way: Channel, sender: str, **reply: str) -> str:
        acceptance = await self.jobs.create_jobs(
            numbers=[number],
            prepared=PreparedFax(envelope=Envelope(), documents=()),
            origin=Origin(channel=way, sender=sender, reply=reply),
            idempotency_key=None,
            now=self.clock(),
        )
        return acceptance.jobs[0].id

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def world(tmp_path: Path, clock: Clock, workers: ThreadWorkers) -> World:
    made = World(tmp_path, clock, workers)
    await made.start()
    return made


async def test_a_new_fax_is_kept_once_with_a_delivery_per_routed_destination(world: World) -> None:
    """The fax's PDF is kept and each destination of its number's route gets one pending delivery."""
    document = pdf(2)
    world.arrive(document)
    assert await world.receiving.fetch_new() == 1
    (fax,) = await world.faxes.list_received()
    assert (fax.from_number, fax.to_number, fax.pages) == (CALLER, HOME, 2)
    assert world.faxes.documents[fax.id] == document
    assert [str(d.destination) for d in fax.deliveries] == ["slack:C0123ABCD", "email:desk@example.org"]
    assert {d.state for d in fax.deliveries} == {DeliveryState.PENDING}
    assert world.count("faxbridge_received_faxes_total") == 1


async def test_racing_looks_keep_a_fax_once(world: World) -> None:
    """A webhook's wake-up and a poll looking at once: one fax kept, one delivery per destination."""
    world.arrive()
    counts = await asyncio.gather(world.receiving.fetch_new(), world.receiving.fetch_new())
    assert sum(counts) == 1
    assert await world.receiving.fetch_new() == 0
    (fax,) = await world.faxes.list_received()
    assert len(fax.deliveries) == 2


async def test_a_tiff_is_kept_as_a_pdf(world: World) -> None:
    """A TIFF received is converted; what is kept and delivered is a PDF of as many pages."""
    world.arrive(tiff(3), content_type="image/tiff")
    await world.receiving.fetch_new()
    (fax,) = await world.faxes.list_received()
    assert world.faxes.documents[fax.id].startswith(b"%PDF-")
    assert fax.pages == 3


async def test_an_unrouted_fax_is_kept_listed_and_warned_about(
    tmp_path: Path, clock: Clock, workers: ThreadWorkers, caplog: pytest.LogCaptureFixture
) -> None:
    """No route and no `*`: the fax is kept with a note and no delivery, and a WARNING says so."""
    world = World(tmp_path, clock, workers, routes=Routes.parse(f"{HOME}=slack:C0123ABCD"))
    await world.start()
    world.arrive(to="+16505550100")
    with caplog.at_level(logging.WARNING, logger="faxbridge.inbound"):
        await world.receiving.fetch_new()
    (fax,) = await world.faxes.list_received()
    assert fax.deliveries == ()
    assert fax.note == "no route for +1 650-555-0100: kept, not delivered"
    assert any("no route" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


async def test_a_fax_from_a_number_one_person_faxed_also_goes_to_their_thread(world: World) -> None:
    """The caller was faxed by one Slack user: a thread delivery to that job joins the routes."""
    job_id = await world.faxed(CALLER, Channel.SLACK, "U0ALICE", channel="C0SALES", thread_ts="1.2")
    world.clock.advance(60)
    world.arrive()
    await world.receiving.fetch_new()
    (fax,) = await world.faxes.list_received()
    assert [str(d.destination) for d in fax.deliveries][-1] == f"thread:{job_id}"
    assert fax.note is None


async def test_two_senders_means_routes_only_and_a_note(world: World) -> None:
    """Two people faxed the caller: no thread delivery, and the note says why (mutation: take the newest)."""
    await world.faxed(CALLER, Channel.SLACK, "U0ALICE", channel="C0SALES")
    await world.faxed(
        CALLER, Channel.EMAIL, "bob@example.org", reply_to="bob@example.org", message_id="<b@x>"
    )
    world.arrive()
    await world.receiving.fetch_new()
    (fax,) = await world.faxes.list_received()
    assert [d.destination.kind for d in fax.deliveries] == [DestinationKind.SLACK, DestinationKind.EMAIL]
    assert fax.note is not None and "2 people faxed" in fax.note


async def test_replies_come_home_only_within_the_window(world: World) -> None:
    """A fax sent longer ago than FAXBRIDGE_INBOUND_REPLY_DAYS brings no thread delivery."""
    await world.faxed(CALLER, Channel.SLACK, "U0ALICE", channel="C0SALES")
    world.clock.advance(15 * 86400)
    world.arrive()
    await world.receiving.fetch_new()
    (fax,) = await world.faxes.list_received()
    assert all(d.destination.kind is not DestinationKind.THREAD for d in fax.deliveries)


async def test_a_download_that_fails_for_now_is_fetched_on_the_next_look(world: World) -> None:
    """A 429 on the download keeps nothing and holds the list's start, so the next look gets the fax."""
    world.arrive()
    world.source.fail_next_fetch.append(ProviderTransient("rate limited", retry_after=30))
    assert await world.receiving.fetch_new() == 0
    assert world.faxes.faxes == {}
    world.clock.advance(3600)  # long after: the list is still read from the fax's time
    assert await world.receiving.fetch_new() == 1
    assert world.count("faxbridge_received_download_failures_total", kind="transient") == 1


async def test_a_document_that_can_never_be_had_is_kept_without_it_and_said_why(world: World) -> None:
    """A permanent download failure keeps the fax visible (no deliveries, a note), never a silent drop."""
    world.arrive()
    world.source.fail_next_fetch.append(ProviderPermanent("gone"))
    assert await world.receiving.fetch_new() == 1
    (fax,) = await world.faxes.list_received()
    assert fax.purged and fax.deliveries == ()
    assert fax.note is not None and "could not be fetched" in fax.note
    assert await world.receiving.fetch_new() == 0  # not fetched again


async def test_a_document_that_is_not_a_fax_is_kept_without_it(world: World) -> None:
    """HTML where a PDF was promised: kept with a note, nothing delivered."""
    world.arrive(b"<html>oops</html>")
    await world.receiving.fetch_new()
    (fax,) = await world.faxes.list_received()
    assert fax.purged and fax.note is not None and "could not be read" in fax.note


async def test_the_first_look_starts_from_now(tmp_path: Path, clock: Clock, workers: ThreadWorkers) -> None:
    """Faxes received before the bridge first looked are not its to deliver."""
    world = World(tmp_path, clock, workers)
    world.source.arrive(pdf(1), sender=CALLER, to=HOME, at=clock() - OVERLAP - timedelta(minutes=1))
    assert await world.receiving.fetch_new() == 0


async def test_each_destination_gets_the_fax_once(world: World) -> None:
    """Deliveries are done after one forward each; another pass forwards nothing again."""
    document = pdf(2)
    world.arrive(document)
    await world.receiving.fetch_new()
    assert await world.delivering.deliver_due() == 2
    assert await world.delivering.deliver_due() == 0
    (fax,) = await world.faxes.list_received()
    assert world.slack.forwarded == [(fax.id, "slack:C0123ABCD", document)]
    assert world.mail.forwarded == [(fax.id, "email:desk@example.org", document)]
    assert {d.state for d in fax.deliveries} == {DeliveryState.DONE}
    assert world.count("faxbridge_received_deliveries_total", destination="slack", outcome="delivered") == 1


async def test_trouble_is_tried_again_after_the_backoff_and_retry_after(world: World) -> None:
    """A transient failure keeps the delivery pending, due no sooner than Retry-After, then it goes once."""
    world.arrive()
    await world.receiving.fetch_new()
    world.slack.fail_next.append(DeliveryTransient("429", retry_after=120))
    assert await world.delivering.deliver_due() == 1  # the mail went; Slack waits
    (fax,) = await world.faxes.list_received()
    slack = fax.deliveries[0]
    assert (slack.state, slack.attempts, slack.reason) == (DeliveryState.PENDING, 1, "429")
    assert slack.due_at == world.clock() + timedelta(seconds=120)
    assert await world.delivering.seconds_until_due() == 120
    world.clock.advance(120)
    assert await world.delivering.deliver_due() == 1
    assert len(world.slack.forwarded) == 1
    assert world.count("faxbridge_received_deliveries_total", destination="slack", outcome="retried") == 1


async def test_a_refusal_is_given_up_and_kept_with_its_reason(world: World) -> None:
    """DeliveryRefused ends the delivery as failed with the reason, never tried again."""
    world.arrive()
    await world.receiving.fetch_new()
    world.slack.fail_next.append(DeliveryRefused("Slack refused it: channel_not_found"))
    await world.delivering.deliver_due()
    world.clock.advance(86400)
    await world.delivering.deliver_due()
    (fax,) = await world.faxes.list_received()
    assert fax.deliveries[0].state is DeliveryState.FAILED
    assert fax.deliveries[0].reason == "Slack refused it: channel_not_found"
    assert world.slack.forwarded == []


async def test_a_destination_that_is_not_set_up_fails_visibly(world: World) -> None:
    """A Slack route with no Slack configured: failed, saying so."""
    del world.delivering.forwarders[DestinationKind.SLACK]
    world.arrive()
    await world.receiving.fetch_new()
    await world.delivering.deliver_due()
    (fax,) = await world.faxes.list_received()
    assert fax.deliveries[0].state is DeliveryState.FAILED
    assert fax.deliveries[0].reason == "slack is not set up on this bridge"


async def test_a_thread_delivery_goes_through_the_forwarder_of_the_jobs_channel(world: World) -> None:
    """A fax answering a mailed fax is handed to the mail forwarder with that job."""
    job_id = await world.faxed(
        CALLER, Channel.EMAIL, "ann@example.org", reply_to="ann@example.org", message_id="<a@x>"
    )
    world.arrive()
    await world.receiving.fetch_new()
    await world.delivering.deliver_due()
    assert [dest for _, dest, _ in world.mail.forwarded] == ["email:desk@example.org", f"thread:{job_id}"]


async def test_a_failing_forwarder_bug_does_not_stop_the_others(world: World) -> None:
    """An unexpected exception in one forwarder is retried later; the other destination still gets it."""
    world.arrive()
    await world.receiving.fetch_new()
    world.slack.fail_next.append(RuntimeError("bug"))
    assert await world.delivering.deliver_due() == 1
    (fax,) = await world.faxes.list_received()
    assert fax.deliveries[0].state is DeliveryState.PENDING
    assert fax.deliveries[1].state is DeliveryState.DONE


async def test_with_previews_on_the_forwarder_gets_page_one_as_a_png(
    world: World, workers: ThreadWorkers
) -> None:
    """FAXBRIDGE_INBOUND_PREVIEW: the parcel's preview draws page 1 of the kept PDF (in a worker)."""
    world.delivering.workers = workers
    world.delivering.preview = True
    world.arrive(pdf(2))
    await world.receiving.fetch_new()
    await world.delivering.deliver_due()
    assert world.slack.previews and all(
        p is not None and p.startswith(b"\x89PNG") for p in world.slack.previews
    )


async def test_without_the_document_there_is_no_preview(world: World, workers: ThreadWorkers) -> None:
    """FAXBRIDGE_INBOUND_ATTACH=none wins over previews: no picture of the fax leaves either."""
    delivering = Delivering(
        world.faxes,
        world.jobs,
        {DestinationKind.SLACK: world.slack, DestinationKind.EMAIL: world.mail},
        attach=False,
        clock=world.clock,
        metrics=world.metrics,
        workers=workers,
        preview=True,
    )
    world.arrive()
    await world.receiving.fetch_new()
    await delivering.deliver_due()
    assert world.slack.previews == [None]


async def test_a_slow_destination_does_not_hold_the_others(world: World) -> None:
    """While Slack takes its time, the mail is delivered (mutation: deliver one after another)."""
    release = asyncio.Event()
    mailed = asyncio.Event()
    slow_slack, mail = world.slack, world.mail

    class Slow:
        async def forward(self, parcel: Parcel) -> None:
            await release.wait()
            await slow_slack.forward(parcel)

    class Telling:
        async def forward(self, parcel: Parcel) -> None:
            await mail.forward(parcel)
            mailed.set()

    world.delivering.forwarders = {DestinationKind.SLACK: Slow(), DestinationKind.EMAIL: Telling()}
    world.arrive()
    await world.receiving.fetch_new()
    passing = asyncio.create_task(world.delivering.deliver_due())
    await asyncio.wait_for(mailed.wait(), 5)
    assert len(world.mail.forwarded) == 1 and world.slack.forwarded == []
    release.set()
    assert await passing == 2
