"""RingCentralFaxInbox: received faxes listed from the message store and their documents downloaded."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import httpx
import pytest

from adapters.ringcentral import RingCentralProvider
from adapters.ringcentral.receiving import RingCentralFaxInbox
from bridge.errors import ProviderPermanent, ProviderTransient
from bridge.received import IncomingFax
from tests.helpers.documents import pdf, tiff
from tests.helpers.standin import ManualClock
from tests.helpers.standin_client import STORE, StandinRingCentral

CALLER = "+12025550123"


@pytest.fixture
def inbox(provider: RingCentralProvider) -> RingCentralFaxInbox:
    return RingCentralFaxInbox(provider.api)


def arrive(fake: StandinRingCentral, data: bytes, *, sender: str = CALLER, pages: int = 1) -> int:
    return fake.standin.receive(data, from_number=sender, to_number=None, pages=pages).id


async def test_received_faxes_are_listed_from_the_inbound_message_store(
    inbox: RingCentralFaxInbox, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """Only received faxes are listed, from the time asked, with E.164 numbers, pages and the document's address."""
    fake.add_message("+13125550100")  # a fax sent: not a received one
    first = arrive(fake, pdf(2), pages=2)
    clock.advance(5)
    second = arrive(fake, tiff(1), sender="+442071838750")
    listed = await inbox.received_since(clock.wall() - timedelta(seconds=10))
    assert [fax.provider_id for fax in listed] == [str(first), str(second)]  # oldest first
    one = listed[0]
    assert (one.from_number, one.to_number, one.pages) == (CALLER, fake.standin.mailbox.fax_number, 2)
    assert one.content_type == "application/pdf"
    assert one.location.startswith(fake.url) and one.location.endswith(f"/content/{first}")
    assert listed[1].content_type == "image/tiff"
    (request,) = fake.requests_to(STORE)
    query = request.request.url.params
    assert (query["messageType"], query["direction"]) == ("Fax", "Inbound")
    assert request.headers["X-Rate-Limit-Group"] == "light"


async def test_the_listing_starts_at_the_time_asked(
    inbox: RingCentralFaxInbox, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """A fax received before `since` is not listed again."""
    arrive(fake, pdf(1))
    clock.advance(60)
    later = arrive(fake, pdf(1))
    listed = await inbox.received_since(clock.wall() - timedelta(seconds=1))
    assert [fax.provider_id for fax in listed] == [str(later)]


async def test_a_document_is_streamed_into_the_file_given(
    inbox: RingCentralFaxInbox, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """The download writes the very bytes received, asked in the Medium group."""
    document = pdf(3)
    arrive(fake, document, pages=3)
    (fax,) = await inbox.received_since(clock.wall() - timedelta(seconds=1))
    target = io.BytesIO()
    await inbox.fetch(fax, target)
    assert target.getvalue() == document
    (download,) = fake.requests_to("/content/")
    assert download.headers["X-Rate-Limit-Group"] == "medium"


async def test_downloads_wait_for_the_medium_window_instead_of_meeting_429(clock: ManualClock) -> None:
    """Past the Medium group's limit the client waits for the window; the server never has to refuse."""
    ringcentral = await StandinRingCentral(clock, medium_limit=2).start()
    provider = ringcentral.provider()
    try:
        inbox = RingCentralFaxInbox(provider.api)
        for _ in range(3):
            arrive(ringcentral, pdf(1))
        faxes = await inbox.received_since(clock.wall() - timedelta(seconds=1))
        for fax in faxes:
            await inbox.fetch(fax, io.BytesIO())
        statuses = [seen.status for seen in ringcentral.requests_to("/content/")]
        assert statuses == [200, 200, 200]
        assert max(clock.sleeps, default=0) > 30  # the third waited for the 60 s window to move
    finally:
        await provider.close()
        await ringcentral.close()


async def test_a_429_on_a_download_is_transient_and_its_retry_after_kept(
    inbox: RingCentralFaxInbox, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """A download refused with 429 raises ProviderTransient carrying Retry-After, and the next call waits it out."""
    arrive(fake, pdf(1))
    (fax,) = await inbox.received_since(clock.wall() - timedelta(seconds=1))
    fake.standin.faults.push(r".*/content/.*", "429", retry_after=45)
    with pytest.raises(ProviderTransient) as raised:
        await inbox.fetch(fax, io.BytesIO())
    assert raised.value.retry_after == 45
    before = clock.now
    await inbox.fetch(fax, io.BytesIO())
    assert clock.now - before >= 45


async def test_the_token_never_goes_to_a_host_that_is_not_ringcentral(
    inbox: RingCentralFaxInbox, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """A document address on another host is refused before any request (mutation: drop the host check)."""
    arrive(fake, pdf(1))
    (fax,) = await inbox.received_since(clock.wall() - timedelta(seconds=1))
    elsewhere = IncomingFax(**{**fax.__dict__, "location": "http://198.51.100.7/restapi/v1.0/x/content/1"})
    before = len(fake.seen)
    with pytest.raises(ProviderPermanent):
        await inbox.fetch(elsewhere, io.BytesIO())
    other_path = IncomingFax(**{**fax.__dict__, "location": fake.url + "/_standin/inbound"})
    with pytest.raises(ProviderPermanent):
        await inbox.fetch(other_path, io.BytesIO())
    assert len(fake.seen) == before


async def test_a_missing_document_is_a_permanent_failure(
    inbox: RingCentralFaxInbox, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """A record whose content is gone (404) fails the download for good rather than looping on it."""
    message_id = arrive(fake, pdf(1))
    (fax,) = await inbox.received_since(clock.wall() - timedelta(seconds=1))
    fake.standin.received_fax(message_id).data = None  # type: ignore[union-attr]
    with pytest.raises(ProviderPermanent):
        await inbox.fetch(fax, io.BytesIO())


@pytest.mark.parametrize(
    "record",
    [
        {"id": 1, "type": "Fax", "direction": "Inbound", "creationTime": "2026-03-02T09:00:00Z"},
        {
            "id": 2,
            "type": "Fax",
            "direction": "Inbound",
            "attachments": [{"uri": "x", "type": "RenderedDocument"}],
        },
        {"id": 3, "type": "SMS", "direction": "Inbound", "creationTime": "2026-03-02T09:00:00Z"},
        {"type": "Fax", "direction": "Inbound", "creationTime": "2026-03-02T09:00:00Z"},
        {
            "id": 5,
            "type": "Fax",
            "direction": "Inbound",
            "creationTime": "2026-03-02T09:00:00Z",
            "attachments": [{"uri": 7, "type": "RenderedDocument"}],
        },
        "not a record",
    ],
)
async def test_records_that_are_not_received_faxes_with_a_document_are_left_out(
    inbox: RingCentralFaxInbox, fake: StandinRingCentral, clock: ManualClock, record: object
) -> None:
    """A listed record without an id, a time or a document address is skipped, never a crash."""
    body = {"records": [record], "paging": {"page": 1, "totalPages": 1}, "navigation": {}}
    fake.inject(STORE, httpx.Response(200, json=json.loads(json.dumps(body))))
    assert await inbox.received_since(clock.wall()) == []


async def test_an_unreadable_listing_is_transient(
    inbox: RingCentralFaxInbox, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """A listing that is not JSON raises ProviderTransient: a partial list never passes for an empty one."""
    fake.inject(STORE, httpx.Response(200, content=b"<html>proxy</html>"))
    with pytest.raises(ProviderTransient):
        await inbox.received_since(clock.wall())
