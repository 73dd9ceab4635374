"""RingCentralProvider.find_submission for reconciliation: page counts, and never a partial list passed off as complete."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from adapters.ringcentral import RingCentralProvider
from adapters.ringcentral.client import MAX_PAGES
from bridge.errors import ProviderPermanent, ProviderTransient
from tests.helpers.standin import ManualClock
from tests.helpers.standin_client import STORE, StandinRingCentral, error_response

NUMBER = "+12025550123"


async def test_found_faxes_carry_their_page_counts(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """Each fax found comes with RingCentral's faxPageCount (0 while it is still queued)."""
    since = clock.wall()
    queued = fake.add_message(NUMBER, at=since + timedelta(seconds=1))
    sent = fake.add_message(NUMBER, at=since + timedelta(seconds=2))
    fake.set_status(sent, "Sent", pages=4)
    clock.advance(60)
    found = {s.provider_id: s.pages for s in await provider.find_submission(NUMBER, since)}
    assert found == {queued: 0, sent: 4}


async def test_a_listing_that_never_ends_is_an_error_not_a_short_answer(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """When the pages run past the cap, find_submission raises instead of answering with what it read.

    Mutation caught: returning the records of the first MAX_PAGES pages as if they were all
    (the lost fax, on a later page, would then count as never sent).
    """
    fake.limit_pages(1)
    since = clock.wall()
    for second in range(MAX_PAGES + 1):
        fake.add_message(NUMBER, at=since + timedelta(seconds=second))
    clock.advance(MAX_PAGES + 60)
    with pytest.raises(ProviderTransient, match="did not end"):
        await provider.find_submission(NUMBER, since)
    assert len(fake.requests_to(STORE)) == MAX_PAGES


async def test_an_unreadable_listing_is_transient(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """A 200 whose body is not a message list raises ProviderTransient, never an empty answer."""
    fake.inject(STORE, httpx.Response(200, content=b"<html>maintenance</html>"))
    with pytest.raises(ProviderTransient, match="unreadable"):
        await provider.find_submission(NUMBER, clock.wall())


async def test_a_listing_without_permission_is_raised(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """Without the ReadMessages permission the listing raises ProviderPermanent (the core then waits)."""
    fake.inject(STORE, error_response(403, "CMN-401", "[ReadMessages] permission required"))
    with pytest.raises(ProviderPermanent):
        await provider.find_submission(NUMBER, clock.wall())
