"""Received faxes by mail through a real relay: subject, the PDF or a notice, Auto-Submitted, threading."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.email.received import MailForwarder
from bridge.errors import DeliveryRefused, DeliveryTransient
from bridge.model import Channel, Envelope, Job, Origin
from bridge.ports import Parcel
from bridge.received import Delivery, DeliveryState, Destination, ReceivedFax
from bridge.states import JobState
from tests.email.conftest import email_settings
from tests.helpers.documents import pdf
from tests.helpers.ports import free_port
from tests.helpers.relays import CaptureRelay, relay_settings

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


async def _noted(progress: str) -> None:
    return None


def parcel(
    destination: str = "email:desk@example.org", *, attach: bool = True, answers: Job | None = None
) -> Parcel:
    delivery = Delivery(
        id=7,
        fax_id=FAX.id,
        destination=Destination.parse(destination),
        state=DeliveryState.PENDING,
        attempts=0,
        due_at=NOW,
        updated=NOW,
    )
    return Parcel(
        fax=FAX,
        delivery=delivery,
        open=lambda: io.BytesIO(DOCUMENT),
        attach=attach,
        answers=answers,
        note_progress=_noted,
    )


def forwarder(tmp_path: Path, port: int) -> MailForwarder:
    return MailForwarder(email_settings(tmp_path, **relay_settings(port)).relay, clock=lambda: NOW)


def mailed_job(**reply: str) -> Job:
    return Job(
        id="job-1",
        state=JobState.DELIVERED,
        to="+12025550123",
        origin=Origin(channel=Channel.EMAIL, sender="alice@example.org", sender_name="Alice", reply=reply),
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


async def test_a_routed_fax_is_mailed_with_the_pdf(tmp_path: Path, relay: CaptureRelay) -> None:
    """Subject `Fax from +1 202-555-0123 (3 pages)`, the PDF attached, marked auto-generated."""
    await forwarder(tmp_path, relay.port).forward(parcel())
    (mail,) = relay.mails
    message = mail.message
    assert mail.rcpts == ["desk@example.org"]
    assert message["Subject"] == "Fax from +1 202-555-0123 (3 pages)"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] == "<faxbridge.received.rx-1.7@fax.localhost>"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == DOCUMENT
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "+1 202-555-0199" in body.get_content()


async def test_without_the_document_the_mail_says_how_to_fetch_it(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    """FAXBRIDGE_INBOUND_ATTACH=none: no attachment, and the body names `faxbridge inbox get`."""
    await forwarder(tmp_path, relay.port).forward(parcel(attach=False))
    (mail,) = relay.mails
    assert list(mail.message.iter_attachments()) == []
    assert b"%PDF" not in mail.message.as_bytes()
    assert "faxbridge inbox get rx-1" in mail.message.get_content()


async def test_a_reply_to_a_mailed_fax_is_threaded_to_the_original(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    """A thread delivery goes to the sender, In-Reply-To their mail, References extended."""
    job = mailed_job(
        reply_to="alice@example.org", message_id="<orig@example.org>", references="<earlier@example.org>"
    )
    await forwarder(tmp_path, relay.port).forward(parcel("thread:job-1", answers=job))
    (mail,) = relay.mails
    assert mail.rcpts == ["alice@example.org"]
    assert mail.message["In-Reply-To"] == "<orig@example.org>"
    assert mail.message["References"] == "<earlier@example.org> <orig@example.org>"


async def test_a_thread_delivery_of_a_fax_not_asked_for_by_mail_is_refused(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    """No mail to answer: refused, nothing sent to anyone."""
    job = Job(**{**mailed_job().__dict__, "origin": Origin(channel=Channel.SLACK, sender="U0ALICE")})
    with pytest.raises(DeliveryRefused):
        await forwarder(tmp_path, relay.port).forward(parcel("thread:job-1", answers=job))
    assert relay.mails == []


async def test_a_relay_that_is_down_is_transient(tmp_path: Path) -> None:
    """Nobody listening on the relay port: try again later."""
    with pytest.raises(DeliveryTransient):
        await forwarder(tmp_path, free_port()).forward(parcel())


async def test_an_address_the_relay_refuses_for_good_is_given_up(tmp_path: Path, relay: CaptureRelay) -> None:
    """A 550 for the recipient is a refusal with its code, not an endless retry."""
    relay.handler.refuse_rcpt = True
    with pytest.raises(DeliveryRefused, match="550"):
        await forwarder(tmp_path, relay.port).forward(parcel())


async def test_without_a_relay_the_delivery_is_refused_with_the_setting_named(tmp_path: Path) -> None:
    """No FAXBRIDGE_SMTP_RELAY_HOST: the delivery fails visibly, naming the setting."""
    with pytest.raises(DeliveryRefused, match="FAXBRIDGE_SMTP_RELAY_HOST"):
        await MailForwarder(email_settings(tmp_path).relay).forward(parcel())
