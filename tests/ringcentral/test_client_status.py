"""RingCentralProvider.status and find_submission: single and bulk reads, outcomes, reconciliation."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from adapters.ringcentral import RingCentralProvider
from bridge.errors import ProviderPermanent, ProviderTransient
from bridge.ports import FailureCause, FaxOutcome
from tests.helpers.standin import ManualClock
from tests.helpers.standin_client import MULTI_JSON, STORE, StandinRingCentral, error_response


async def test_status_of_one_fax_reads_its_message(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """One id is read with a plain GET of its message-store record."""
    message_id = fake.add_message("+12025550123")
    fake.set_status(message_id, "Sent", pages=3)
    (status,) = await provider.status([message_id])

    (read,) = fake.requests_to(STORE)
    assert read.path == f"{STORE}/{message_id}"
    assert (status.provider_id, status.outcome, status.pages) == (message_id, FaxOutcome.SENT, 3)
    assert status.to == "+12025550123"
    assert status.created == clock.wall()
    assert status.cause is None


@pytest.mark.parametrize(
    ("message_status", "outcome"),
    [
        ("Queued", FaxOutcome.QUEUED),
        ("Sent", FaxOutcome.SENT),
        ("Delivered", FaxOutcome.DELIVERED),
        ("SendingFailed", FaxOutcome.FAILED),
        ("DeliveryFailed", FaxOutcome.FAILED),
    ],
)
async def test_message_status_maps_to_outcome(
    provider: RingCentralProvider, fake: StandinRingCentral, message_status: str, outcome: FaxOutcome
) -> None:
    """Each RingCentral messageStatus becomes the agreed outcome."""
    message_id = fake.add_message("+12025550123")
    if message_status in ("Queued", "Sent", "Delivered"):
        fake.set_status(message_id, message_status)
    else:  # a failure as RingCentral may show it, with or without a faxErrorCode
        record = fake.record(message_id)
        record["messageStatus"] = record["to"][0]["messageStatus"] = message_status
        fake.inject(STORE, httpx.Response(200, json=record))
    (status,) = await provider.status([message_id])
    assert status.outcome is outcome
    assert status.detail == message_status or status.outcome is FaxOutcome.FAILED


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        ("LineBusy", FailureCause.LINE_BUSY),
        ("NoAnswer", FailureCause.NO_ANSWER),
        ("NoFaxMachine", FailureCause.NO_FAX_MACHINE),
        ("InvalidNumber", FailureCause.INVALID_NUMBER),
        ("RenderingFailed", FailureCause.DOCUMENT),
        ("NotEnoughCredits", FailureCause.REFUSED),
    ],
)
async def test_failed_fax_carries_cause_and_code(
    provider: RingCentralProvider, fake: StandinRingCentral, code: str, cause: FailureCause
) -> None:
    """A failed fax gets the cause of its recipient's faxErrorCode, and the code in detail."""
    message_id = fake.add_message("+12025550123")
    fake.set_status(message_id, "SendingFailed", code)
    (status,) = await provider.status([message_id])
    assert status.outcome is FaxOutcome.FAILED
    assert status.cause is cause
    assert code in status.detail


async def test_failed_fax_without_a_code_is_unknown(
    provider: RingCentralProvider, fake: StandinRingCentral
) -> None:
    """A failure RingCentral gives no faxErrorCode for has cause UNKNOWN."""
    message_id = fake.add_message("+12025550123")
    record = fake.record(message_id)
    record["messageStatus"] = record["to"][0]["messageStatus"] = "SendingFailed"
    assert "faxErrorCode" not in record["to"][0]
    fake.inject(STORE, httpx.Response(200, json=record))
    (status,) = await provider.status([message_id])
    assert status.cause is FailureCause.UNKNOWN


async def test_unknown_single_id_is_left_out(provider: RingCentralProvider, fake: StandinRingCentral) -> None:
    """A 404 CMN-102 for the only id asked about gives an empty list, not an error."""
    assert await provider.status(["424242"]) == []
    assert len(fake.requests_to(STORE)) == 1


async def test_several_ids_are_read_in_one_bulk_request(
    provider: RingCentralProvider, fake: StandinRingCentral
) -> None:
    """Several ids go comma-separated in one GET; the 207 answer's found records come back, 404s left out."""
    first, second = fake.add_message("+12025550123"), fake.add_message("+12025550199")
    fake.set_status(second, "SendingFailed", "NoAnswer")
    statuses = await provider.status([first, "999", second])

    (read,) = fake.requests_to(STORE)
    assert read.path == f"{STORE}/{first},999,{second}"
    assert read.request.headers["Accept"] == MULTI_JSON
    assert [(s.provider_id, s.outcome) for s in statuses] == [
        (first, FaxOutcome.QUEUED),
        (second, FaxOutcome.FAILED),
    ]
    assert statuses[1].cause is FailureCause.NO_ANSWER
    assert statuses[1].to == "+12025550199"


async def test_multipart_mixed_bulk_answer_is_understood(
    provider: RingCentralProvider, fake: StandinRingCentral
) -> None:
    """The older multipart/mixed 207 form (status list part, then one part per record) is read too."""
    first, second = fake.add_message("+12025550123"), fake.add_message("+12025550124")
    fake.set_status(first, "Delivered")
    fake.inject(STORE, mixed_answer(fake, [first, "999", second]))
    statuses = await provider.status([first, "999", second])
    assert {(s.provider_id, s.outcome) for s in statuses} == {
        (first, FaxOutcome.DELIVERED),
        (second, FaxOutcome.QUEUED),
    }


def mixed_answer(fake: StandinRingCentral, ids: list[str]) -> httpx.Response:
    """The stand-in's records in the older multipart/mixed form of a 207 answer."""
    boundary = "Boundary_20_32057915_1351669531796"
    known = set(fake.messages)
    statuses = [{"href": f"{fake.url}{STORE}/{i}", "status": 200 if i in known else 404} for i in ids]
    missing = {"errorCode": "CMN-102", "message": "Resource for parameter [messageId] is not found"}
    chunks = [json.dumps({"response": statuses})]
    chunks += [json.dumps(fake.record(i) if i in known else missing) for i in ids]
    text = (
        "".join(f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{c}\r\n" for c in chunks)
        + f"--{boundary}--\r\n"
    )
    return httpx.Response(
        207, content=text.encode(), headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
    )


async def test_many_ids_are_batched(provider: RingCentralProvider, fake: StandinRingCentral) -> None:
    """Seventy ids take three bulk reads of at most thirty, and duplicates are read once."""
    ids = [fake.add_message(f"+1202555{i:04d}") for i in range(70)]
    statuses = await provider.status(ids + ids[:5])
    reads = fake.requests_to(STORE)
    assert [len(r.path.rsplit("/", 1)[1].split(",")) for r in reads] == [30, 30, 10]
    assert sorted(s.provider_id for s in statuses) == sorted(ids)


async def test_read_failure_on_the_server_is_transient_without_may_have_sent(
    provider: RingCentralProvider, fake: StandinRingCentral
) -> None:
    """A 5xx on a status read is transient; reading has no effects to worry about."""
    fake.inject(STORE, httpx.Response(502, text="bad gateway"))
    with pytest.raises(ProviderTransient) as caught:
        await provider.status(["1", "2"])
    assert caught.value.may_have_sent is False


async def test_other_refusals_of_a_read_are_raised(
    provider: RingCentralProvider, fake: StandinRingCentral
) -> None:
    """A read refused for lack of permission is an error, not an empty answer."""
    fake.inject(STORE, error_response(403, "CMN-401", "[ReadMessages] permission required"))
    with pytest.raises(ProviderPermanent) as caught:
        await provider.status(["1"])
    assert caught.value.code == "CMN-401"


async def test_find_submission_filters_by_number_and_date(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """Only outbound faxes to that number created since the given time come back, newest first."""
    since = clock.wall()
    fake.add_message("+12025550123", at=since - timedelta(hours=2))  # an earlier job to the same number
    fake.add_message("+12025550123", at=since - timedelta(minutes=10))
    fake.add_message("+12025550199", at=since + timedelta(seconds=5))  # another number
    landed = fake.add_message("12025550123", at=since + timedelta(seconds=3))  # written without '+'
    later = fake.add_message("+1 (202) 555-0123", at=since + timedelta(seconds=30))
    clock.advance(60)  # they are all in the store by the time it is asked

    found = await provider.find_submission("+12025550123", since)

    assert [s.provider_id for s in found] == [later, landed]
    assert all(s.to == "+12025550123" for s in found)
    (listing,) = fake.requests_to(STORE)
    assert listing.request.url.params["messageType"] == "Fax"
    assert listing.request.url.params["direction"] == "Outbound"
    assert listing.request.url.params["dateFrom"] == "2026-03-02T08:59:30.000Z"  # since less 30 s of skew


async def test_find_submission_tolerates_a_small_clock_difference(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """A fax RingCentral stamped a few seconds before our `since` (its clock is behind) still counts."""
    since = clock.wall()
    early = fake.add_message("+12025550123", at=since - timedelta(seconds=4))
    assert [s.provider_id for s in await provider.find_submission("+12025550123", since)] == [early]


async def test_find_submission_follows_paging(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """When the answer spans pages, every page is read until the last one."""
    fake.limit_pages(2)
    since = clock.wall()
    mine = [fake.add_message("+12025550123", at=since + timedelta(seconds=i)) for i in (1, 4)]
    for i in (2, 3, 5):
        fake.add_message("+12025550111", at=since + timedelta(seconds=i))
    clock.advance(60)

    found = await provider.find_submission("+12025550123", since)

    assert [s.provider_id for s in found] == mine[::-1]
    assert [r.request.url.params["page"] for r in fake.requests_to(STORE)] == ["1", "2", "3"]


async def test_find_submission_with_nothing_found_is_empty(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """No fax since the time asked about means an empty list after one read."""
    assert await provider.find_submission("+12025550123", clock.wall()) == []
    assert len(fake.requests_to(STORE)) == 1
