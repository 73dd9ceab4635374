"""The downloaded bytes are the document: a retry sends them again and never fetches the link again."""

from __future__ import annotations

from bridge.model import Channel, FaxRequest, Origin
from bridge.spooling import Scratch
from bridge.states import JobState
from bridge.testing import sample_pdf
from tests.conftest import Clock
from tests.core.test_engine import BUSY, OK, Engine
from tests.helpers.links import LinkServer, Make


async def test_a_retry_sends_the_spooled_bytes_not_the_link_again(
    server: LinkServer, make_fetcher: Make, scratch: Scratch, clock: Clock
) -> None:
    """A busy line retried faxes the bytes checked at intake, though the link now serves others.

    Mutation caught: keeping the link in the job and downloading it at each attempt.
    """
    engine = Engine(clock)
    fetcher = make_fetcher(allowed=(server.listed,), workers=engine.workers)
    checked = server.documents["a.pdf"]
    (document,) = await fetcher.fetch_all([server.url("/doc/a.pdf")], scratch)
    request = FaxRequest(
        to=("+12025550104",),
        origin=Origin(channel=Channel.CLI, sender="ann"),
        attachments=(document,),
        strict=True,
    )
    engine.provider.outcomes["+12025550104"] = [BUSY, OK]
    (job,) = (await engine.service.accept(request)).jobs
    server.documents["a.pdf"] = sample_pdf(3, "changed after it was checked")
    await engine.step()
    clock.advance(61)
    await engine.step()
    assert (await engine.store.get(job.id)).state is JobState.DELIVERED
    # Each attempt's last document is the one from the link (a generated cover may come first).
    assert [blobs[-1] for _, blobs in engine.provider.sent] == [checked, checked]
    assert server.hits["/doc/a.pdf"] == 1
