"""Received faxes into Slack through the current upload flow, once, in the channel or the fax's thread."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.slack.app import web_client
from adapters.slack.received import SlackForwarder
from bridge.errors import DeliveryRefused, DeliveryTransient
from bridge.model import Channel, Envelope, Job, Origin
from bridge.ports import Parcel
from bridge.received import Delivery, DeliveryState, Destination, DestinationKind, ReceivedFax
from bridge.settings import Settings
from bridge.states import JobState
from tests.helpers.documents import pdf
from tests.slack.slack_fakes import BOT_TOKEN, FakeSlack

NOW = datetime(2026, 12, 2, 10, 5, tzinfo=UTC)
DOCUMENT = pdf(3)
FAX = ReceivedFax(
    id="rx-1",
    provider_id="1000000007",
    from_number="+12025550123",
    to_number="+12025550199",
    received=NOW,
    stored=NOW,
    pages=3,
    size=len(DOCUMENT),
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    yield slack
    await slack.close()


class Book:
    """Status messages by job, as the Slack replier keeps them."""

    def __init__(self) -> None:
        self.at: dict[str, tuple[str, str]] = {}

    async def message_of(self, job_id: str) -> tuple[str, str] | None:
        return self.at.get(job_id)

    async def keep_message(self, job_id: str, channel: str, message: str) -> None:
        self.at[job_id] = (channel, message)


def forwarder(fake: FakeSlack, book: Book | None = None, *, hosts: tuple[str, ...] = ()) -> SlackForwarder:
    client = web_client(Settings.from_mapping({"slack_api_url": fake.api_url}).slack, BOT_TOKEN)
    return SlackForwarder(client, book or Book(), upload_hosts=hosts or (fake.host,))


class Notes:
    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.notes: list[
            tuple[str, int]
        ] = []  # what was noted, and how many completes had been asked by then

    async def __call__(self, progress: str) -> None:
        self.notes.append((progress, len(self.fake.called("files.completeUploadExternal"))))


def parcel(
    notes: Notes,
    destination: str = "slack:C0123ABCD",
    *,
    progress: str | None = None,
    attach: bool = True,
    answers: Job | None = None,
) -> Parcel:
    delivery = Delivery(
        id=1,
        fax_id=FAX.id,
        destination=Destination.parse(destination),
        state=DeliveryState.PENDING,
        attempts=0,
        due_at=NOW,
        updated=NOW,
        progress=progress,
    )
    return Parcel(
        fax=FAX,
        delivery=delivery,
        open=lambda: io.BytesIO(DOCUMENT),
        attach=attach,
        answers=answers,
        note_progress=notes,
    )


def slack_job(**reply: str) -> Job:
    return Job(
        id="job-1",
        state=JobState.DELIVERED,
        to="+12025550123",
        origin=Origin(channel=Channel.SLACK, sender="U0ALICE", reply=reply),
        created=NOW,
        updated=NOW,
        due_at=NOW,
        attempts=1,
        provider_id="1",
        reason=None,
        envelope=Envelope(),
        documents=(),
        left_out=(),
    )


async def test_the_pdf_is_uploaded_with_the_current_flow_into_the_channel(fake: FakeSlack) -> None:
    """URL asked, bytes posted, upload completed into the channel with the one line; no files.upload."""
    notes = Notes(fake)
    await forwarder(fake).forward(parcel(notes))
    (shared,) = fake.shared("C0123ABCD")
    assert shared.data == DOCUMENT
    assert shared.thread_ts is None
    assert (
        shared.comment
        == "Fax from +1 202-555-0123 to +1 202-555-0199, 3 pages, received 2026-12-02 10:05 UTC"
    )
    assert [c.method for c in fake.calls] == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    # The file id was kept before the upload was completed: a crash after it cannot post twice.
    assert notes.notes == [(shared.file_id, 0)]


async def test_a_fax_that_answers_a_slack_fax_lands_in_its_thread(fake: FakeSlack) -> None:
    """A reply to a fax asked for in a thread goes to that thread."""
    book = Book()
    job = slack_job(channel="C0SALES", thread_ts="1764158400.000900", user="U0ALICE")
    book.at[job.id] = ("C0SALES", "1764158401.000100")
    await forwarder(fake, book).forward(parcel(Notes(fake), "thread:job-1", answers=job))
    (shared,) = fake.shared("C0SALES")
    assert shared.thread_ts == "1764158400.000900"


async def test_a_fax_asked_for_outside_a_thread_is_answered_under_its_status_message(fake: FakeSlack) -> None:
    """A /fax from a channel (no thread): the reply goes in the thread under the fax's status message."""
    book = Book()
    job = slack_job(channel="C0SALES", thread_ts="", user="U0ALICE")
    book.at[job.id] = ("C0SALES", "1764158401.000100")
    await forwarder(fake, book).forward(parcel(Notes(fake), "thread:job-1", answers=job))
    (shared,) = fake.shared("C0SALES")
    assert shared.thread_ts == "1764158401.000100"


async def test_a_retry_after_a_completed_upload_does_not_post_it_again(fake: FakeSlack) -> None:
    """The noted file is already shared in the channel: done, nothing uploaded (mutation: skip files.info)."""
    notes = Notes(fake)
    await forwarder(fake).forward(parcel(notes))
    (file_id, _), *_ = notes.notes
    await forwarder(fake).forward(parcel(notes, progress=file_id))
    assert len(fake.shared("C0123ABCD")) == 1
    assert fake.upload_posts == 1


async def test_a_retry_after_an_unfinished_upload_uploads_once(fake: FakeSlack) -> None:
    """The noted file never reached the channel (a crash before completing): it is uploaded now, once."""
    notes = Notes(fake)
    fake.refusing["files.completeUploadExternal"] = "internal_error"
    with pytest.raises(DeliveryTransient):
        await forwarder(fake).forward(parcel(notes))
    del fake.refusing["files.completeUploadExternal"]
    (file_id, _), *_ = notes.notes
    await forwarder(fake).forward(parcel(notes, progress=file_id))
    assert len(fake.shared("C0123ABCD")) == 1


async def test_without_the_document_a_notice_says_how_to_fetch_it(fake: FakeSlack) -> None:
    """FAXBRIDGE_INBOUND_ATTACH=none: one message with the line and the fetch command; no file leaves."""
    await forwarder(fake).forward(parcel(Notes(fake), attach=False))
    assert fake.uploads == {}
    (post,) = fake.posts()
    assert "faxbridge inbox get rx-1" in post.args["text"]
    assert post.args["channel"] == "C0123ABCD"


async def test_a_channel_the_bot_is_not_in_is_a_refusal(fake: FakeSlack) -> None:
    """not_in_channel is given up on with Slack's reason, not retried forever."""
    fake.not_in_channel.add("C0123ABCD")
    with pytest.raises(DeliveryRefused, match="not_in_channel"):
        await forwarder(fake).forward(parcel(Notes(fake)))


async def test_an_outage_is_transient(fake: FakeSlack) -> None:
    """A Slack answering 503 means try again later."""
    fake.outage = True
    with pytest.raises(DeliveryTransient):
        await forwarder(fake).forward(parcel(Notes(fake)))


async def test_the_bytes_go_to_slacks_file_hosts_only(fake: FakeSlack) -> None:
    """An upload URL outside FAXBRIDGE_SLACK_FILE_HOSTS is refused before any byte is posted."""
    with pytest.raises(DeliveryRefused, match="file hosts"):
        await forwarder(fake, hosts=("files.slack.com",)).forward(parcel(Notes(fake)))
    assert fake.upload_posts == 0


async def test_a_thread_delivery_for_a_job_not_from_slack_is_refused(fake: FakeSlack) -> None:
    """A thread destination whose job did not come from Slack is a refusal, not a post somewhere else."""
    job = Job(**{**slack_job().__dict__, "origin": Origin(channel=Channel.EMAIL, sender="a@example.org")})
    with pytest.raises(DeliveryRefused):
        await forwarder(fake).forward(parcel(Notes(fake), "thread:job-1", answers=job))
    assert fake.calls == []


def test_destination_kinds_are_the_documented_three() -> None:
    """Deliveries name slack:, email: and thread: destinations."""
    assert {kind.value for kind in DestinationKind} == {"slack", "email", "thread"}


async def test_a_preview_of_page_one_is_uploaded_beside_the_pdf(fake: FakeSlack) -> None:
    """With a preview, the PNG goes in the same completed upload as the PDF, into the same channel."""
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100

    async def preview() -> bytes | None:
        return png

    notes = Notes(fake)
    base = parcel(notes)
    await forwarder(fake).forward(Parcel(**{**base.__dict__, "preview": preview}))
    shared = fake.shared("C0123ABCD")
    assert [u.filename.rsplit(".", 1)[1] for u in shared] == ["pdf", "png"]
    assert shared[1].data == png
    assert len(fake.called("files.completeUploadExternal")) == 1
    assert notes.notes == [(shared[0].file_id, 0)]


async def test_a_preview_that_cannot_be_drawn_leaves_the_pdf_alone(fake: FakeSlack) -> None:
    """No picture (page 1 could not be drawn): the PDF still goes, alone."""

    async def preview() -> bytes | None:
        return None

    base = parcel(Notes(fake))
    await forwarder(fake).forward(Parcel(**{**base.__dict__, "preview": preview}))
    assert [u.filename.rsplit(".", 1)[1] for u in fake.shared("C0123ABCD")] == ["pdf"]
