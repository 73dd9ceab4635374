"""The ReceivedFaxes contract, run against every registered store (tests/core/stores.py): SQLite and the fake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.errors import DocumentMissing, ReceivedFaxNotFound
from bridge.model import Channel, Envelope, Origin, PreparedFax
from bridge.ports import JobStore, ReceivedFaxes
from bridge.received import DeliveryState, Destination, IncomingFax
from bridge.states import JobState
from tests.core import stores
from tests.helpers.documents import pdf

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
ROUTED = (Destination.parse("slack:C0123ABCD"), Destination.parse("email:desk@example.org"))


received = stores.received  # every registered store of received faxes (tests/core/stores.py)


@pytest.fixture
def faxes(received: tuple[ReceivedFaxes, JobStore]) -> ReceivedFaxes:
    return received[0]


def incoming(provider_id: str = "1001", *, sender: str = "+13125550123") -> IncomingFax:
    return IncomingFax(
        provider_id=provider_id,
        from_number=sender,
        to_number="+12025550199",
        received=NOW - timedelta(minutes=1),
        pages=2,
        content_type="application/pdf",
        location="x",
    )


def document(tmp_path: Path, data: bytes | None = None) -> str:
    path = tmp_path / f"doc-{len(list(tmp_path.iterdir()))}.pdf"
    path.write_bytes(data or pdf(2))
    return str(path)


async def test_a_fax_is_kept_with_its_document_and_a_pending_delivery_per_destination(
    faxes: ReceivedFaxes, tmp_path: Path
) -> None:
    """What was received, its bytes, and one pending delivery per destination, in order."""
    data = pdf(2)
    kept = await faxes.receive(
        fax=incoming(), document=document(tmp_path, data), pages=2, destinations=ROUTED, note=None, now=NOW
    )
    assert kept is not None
    again = await faxes.received_fax(kept.id)
    assert (again.provider_id, again.from_number, again.pages, again.size) == (
        "1001",
        "+13125550123",
        2,
        len(data),
    )
    assert again.received == NOW - timedelta(minutes=1) and again.stored == NOW
    assert [str(d.destination) for d in again.deliveries] == ["slack:C0123ABCD", "email:desk@example.org"]
    assert all(d.state is DeliveryState.PENDING and d.attempts == 0 for d in again.deliveries)
    with faxes.open_received(again) as handle:
        assert handle.read() == data


async def test_the_same_provider_id_is_kept_once_even_when_two_looks_race(
    faxes: ReceivedFaxes, tmp_path: Path
) -> None:
    """Two keeps of one provider message at once: one fax, the other gets None (mutation: drop the unique key)."""
    results = await asyncio.gather(
        *(
            faxes.receive(
                fax=incoming(), document=document(tmp_path), pages=2, destinations=ROUTED, note=None, now=NOW
            )
            for _ in range(2)
        )
    )
    assert sum(result is not None for result in results) == 1
    (fax,) = await faxes.list_received()
    assert len(fax.deliveries) == 2
    assert await faxes.known(["1001", "999"]) == {"1001"}


async def test_a_fax_without_a_document_is_kept_as_purged(faxes: ReceivedFaxes) -> None:
    """A fax whose document could not be had is listed, with its note, and opening it says it is gone."""
    kept = await faxes.receive(fax=incoming(), document=None, pages=2, destinations=(), note="gone", now=NOW)
    assert kept is not None and kept.purged and kept.note == "gone"
    with pytest.raises(DocumentMissing):
        faxes.open_received(kept)


async def test_deliveries_move_from_due_to_done_or_failed(faxes: ReceivedFaxes, tmp_path: Path) -> None:
    """Due deliveries are listed; done ones never again; a retry waits; a refusal ends; progress is kept."""
    kept = await faxes.receive(
        fax=incoming(), document=document(tmp_path), pages=2, destinations=ROUTED, note=None, now=NOW
    )
    assert kept is not None
    slack, mail = kept.deliveries
    due = await faxes.due_deliveries(NOW)
    assert [d.id for _, d in due] == [slack.id, mail.id]
    await faxes.delivery_progress(slack.id, "F0UP0001")
    await faxes.delivery_failed(slack.id, now=NOW, reason="429", retry_at=NOW + timedelta(seconds=60))
    await faxes.delivery_done(mail.id, now=NOW)
    assert await faxes.due_deliveries(NOW) == []
    assert await faxes.next_delivery_due() == NOW + timedelta(seconds=60)
    ((_, again),) = await faxes.due_deliveries(NOW + timedelta(seconds=60))
    assert (again.progress, again.attempts, again.reason) == ("F0UP0001", 1, "429")
    await faxes.delivery_failed(slack.id, now=NOW, reason="channel_not_found", retry_at=None)
    fax = await faxes.received_fax(kept.id)
    assert [d.state for d in fax.deliveries] == [DeliveryState.FAILED, DeliveryState.DONE]
    assert await faxes.next_delivery_due() is None


async def test_the_cursor_is_kept(faxes: ReceivedFaxes) -> None:
    """Where the provider's list is read from starts unset and keeps what it is set to."""
    assert await faxes.received_cursor() is None
    await faxes.set_received_cursor(NOW)
    await faxes.set_received_cursor(NOW + timedelta(seconds=5))
    assert await faxes.received_cursor() == NOW + timedelta(seconds=5)


async def test_faxed_to_lists_jobs_to_the_number_in_the_window_except_refused_ones(
    received: tuple[ReceivedFaxes, JobStore],
) -> None:
    """Jobs to the number since the time given; other numbers, older jobs and rejected requests are not."""
    faxes, jobs = received
    origin = Origin(channel=Channel.SLACK, sender="U0ALICE")
    empty = PreparedFax(envelope=Envelope(), documents=())
    old = await jobs.create_jobs(
        numbers=["+13125550123"],
        prepared=empty,
        origin=origin,
        idempotency_key=None,
        now=NOW - timedelta(days=20),
    )
    new = await jobs.create_jobs(
        numbers=["+13125550123"], prepared=empty, origin=origin, idempotency_key=None, now=NOW
    )
    await jobs.create_jobs(
        numbers=["+14155550100"], prepared=empty, origin=origin, idempotency_key=None, now=NOW
    )
    await jobs.create_rejected(number="+13125550123", origin=origin, reason="no", now=NOW)
    found = await faxes.faxed_to("+13125550123", NOW - timedelta(days=14))
    assert [job.id for job in found] == [new.jobs[0].id]
    assert old.jobs[0].id not in [job.id for job in found]
    assert all(job.state is not JobState.REJECTED for job in found)


async def test_documents_are_purged_once_every_delivery_ended_before_the_cutoff(
    faxes: ReceivedFaxes, tmp_path: Path
) -> None:
    """A pending delivery keeps the document; once all ended before the cutoff it goes, the record stays."""
    kept = await faxes.receive(
        fax=incoming(), document=document(tmp_path), pages=2, destinations=ROUTED, note=None, now=NOW
    )
    assert kept is not None
    slack, mail = kept.deliveries
    await faxes.delivery_done(slack.id, now=NOW)
    assert await faxes.purge_received(NOW + timedelta(days=8)) == 0  # the mail is still pending
    await faxes.delivery_failed(mail.id, now=NOW, reason="refused", retry_at=None)
    assert await faxes.purge_received(NOW) == 0  # ended, but not before the cutoff
    assert await faxes.purge_received(NOW + timedelta(days=8)) == 1
    fax = await faxes.received_fax(kept.id)
    assert fax.purged and len(fax.deliveries) == 2
    with pytest.raises(DocumentMissing):
        faxes.open_received(fax)


async def test_an_unknown_id_is_not_found(faxes: ReceivedFaxes) -> None:
    """Asking for a received fax that was never kept raises ReceivedFaxNotFound."""
    with pytest.raises(ReceivedFaxNotFound):
        await faxes.received_fax("rx-nope")
