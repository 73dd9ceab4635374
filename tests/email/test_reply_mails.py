"""Status mails: a receipt and a final report, threaded to the original, through a real relay on loopback."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from adapters.email.replies import EmailReplier, compose_receipt, compose_report, message_id
from bridge.model import Channel, Origin
from bridge.ports import FailureCause, FaxOutcome
from bridge.states import JobState
from bridge.testing import sample_pdf
from tests.conftest import Clock
from tests.email.conftest import SENDER, Harness, corpus, mail
from tests.helpers.ports import free_port
from tests.helpers.relays import CaptureRelay, relay_settings

GMAIL_ID = "<CAFx8k3r+Zq9YhU0oLw=3vX4tq1@mail.gmail.com>"


async def test_receipt_and_report_are_threaded_replies(make_harness: Any, relay: CaptureRelay) -> None:
    """The sender gets a receipt then a delivered report, both In-Reply-To the original and marked auto-replied."""
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    answer = await harness.send(corpus("gmail_inline_image"), sender="anna.schmidt@gmail.com")
    await harness.run()
    assert [m.rcpts for m in relay.mails] == [["anna.schmidt@gmail.com"], ["anna.schmidt@gmail.com"]]
    receipt, report = (m.message for m in relay.mails)
    for message in (receipt, report):
        assert message["In-Reply-To"] == GMAIL_ID
        assert message["References"] == GMAIL_ID
        assert message["Auto-Submitted"] == "auto-replied"
        assert message["From"] == "faxbridge <fax@fax.localhost>"
        assert message["To"] == "Anna Schmidt <anna.schmidt@gmail.com>"
    assert receipt["Subject"] == "Fax to +1 202-555-0123: accepted (Re: Invoice March)"
    assert report["Subject"] == "Fax to +1 202-555-0123: delivered (Re: Invoice March)"
    (job_id,) = answer.job_ids
    assert receipt["Message-ID"] == f"<faxbridge.{job_id}.receipt@fax.localhost>"
    assert report["Message-ID"] != receipt["Message-ID"]


async def test_receipt_lists_exactly_what_will_be_faxed_and_what_was_left_out(
    make_harness: Any, relay: CaptureRelay
) -> None:
    """The receipt names the cover and each document with its pages, in order, and each left-out part with why."""
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    await harness.send(corpus("outlook_calendar_invite"), sender="robert.baker@corp.example.com")
    await harness.bridge.pump.deliver_due()
    body = relay.mails[0].message.get_content().replace("\r\n", "\n")
    assert "   1. cover page (1 page)\n   2. Agenda.pdf (1 page)\n   Total: 2 pages" in body
    assert "Left out (not faxed):" in body
    assert "   - invite.ics: calendar invitations are not faxed" in body
    assert "   - calendar invitation: calendar invitations are not faxed" in body


async def test_report_of_a_failure_says_why_and_how_often_it_was_tried(
    make_harness: Any, relay: CaptureRelay, clock: Clock
) -> None:
    """A fax that stays busy ends with a report saying it failed, why, the tries and what happened."""
    harness: Harness = await make_harness(
        email_replies=True, retry_attempts="1", **relay_settings(relay.port)
    )
    harness.provider.outcomes["+12025550101"] = [(FaxOutcome.FAILED, FailureCause.LINE_BUSY)]
    await harness.send(
        mail(attachments=[("a.pdf", sample_pdf(2), "application/pdf")]), rcpts=["12025550101@fax.localhost"]
    )
    await harness.run()
    clock.advance(61)
    await harness.run()
    report = relay.mails[-1].message
    body = report.get_content().replace("\r\n", "\n")
    assert report["Subject"] == "Fax to +1 202-555-0101: failed (Re: Test)"
    assert body.startswith("Failed: ")
    assert "line busy" in body
    assert "Tries: 2" in body
    assert "What happened:" in body and "queued" in body
    assert "Time taken: 1 minute 1 second" in body


async def test_state_changes_between_receipt_and_report_are_not_mailed(
    make_harness: Any, relay: CaptureRelay
) -> None:
    """Submitting and dialling send no mail: email gets the receipt and the final report only."""
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    await harness.send(mail())
    await harness.bridge.pump.deliver_due()
    assert len(relay.mails) == 1
    await harness.bridge.dispatcher.run_until_idle()
    await harness.bridge.pump.deliver_due()
    assert len(relay.mails) == 1  # submitting, submitted: nothing
    await harness.bridge.tracker.check()
    await harness.bridge.pump.deliver_due()
    assert [m.message["Subject"].split(":")[1].strip().split()[0] for m in relay.mails] == [
        "accepted",
        "delivered",
    ]


@pytest.mark.parametrize("name", ["auto_reply", "mailing_list"])
async def test_no_reply_to_automatic_mail(make_harness: Any, relay: CaptureRelay, name: str) -> None:
    """Mail that is itself auto-submitted, bulk or from a list is faxed but never answered (no loops)."""
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    answer = await harness.send(corpus(name))
    assert answer.code == 250
    await harness.run()
    assert relay.mails == []
    assert (await harness.job(answer.job_ids[0])).state is JobState.DELIVERED


async def test_no_reply_to_the_null_sender(make_harness: Any, relay: CaptureRelay) -> None:
    """A mail with MAIL FROM:<> (a bounce) is never answered."""
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    answer = await harness.send(mail(), sender="")
    assert answer.code == 250
    await harness.run()
    assert relay.mails == []


async def test_no_reply_to_an_address_at_the_fax_domain(make_harness: Any, relay: CaptureRelay) -> None:
    """A sender at the fax domain itself would make a loop; it gets no reply."""
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    await harness.send(mail(), sender="12025550199@fax.localhost")
    await harness.run()
    assert relay.mails == []


async def test_reply_waits_while_the_relay_is_down_and_arrives_once_it_is_back(
    make_harness: Any, clock: Clock
) -> None:
    """With the relay down the receipt stays in the outbox; once it is up, the receipt arrives exactly once."""
    relay = CaptureRelay(port=free_port())  # not started: connections are refused
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    await harness.send(mail())
    pump, store = harness.bridge.pump, harness.bridge.store
    await pump.deliver_due()
    pending = await store.pending_replies(clock() + timedelta(hours=1))
    assert [r.attempts for r in pending] == [1]
    await relay.start()
    try:
        await pump.deliver_due()  # not due yet: the outbox waits before trying again
        assert relay.mails == []
        clock.advance(11)
        await pump.deliver_due()
        await pump.deliver_due()
        assert len(relay.mails) == 1
        assert relay.mails[0].message["Subject"].startswith("Fax to +1 202-555-0123: accepted")
        assert await store.pending_replies(clock() + timedelta(hours=1)) == []
    finally:
        await relay.stop()


async def test_recipient_refused_for_good_is_logged_not_retried_forever(
    make_harness: Any, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    """A relay that answers 550 for the sender's address gets an error in the log, not endless retries."""
    relay.handler.refuse_rcpt = True
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    await harness.send(mail())
    with caplog.at_level(logging.ERROR, logger="faxbridge.email.replies"):
        await harness.bridge.pump.deliver_due()
    assert "refused the receipt's recipient for good" in caplog.text
    assert (
        await harness.bridge.store.pending_replies(harness.bridge.service.clock() + timedelta(hours=1)) == []
    )


async def test_without_a_relay_replies_are_logged_without_the_mails_words(
    harness: Harness, caplog: pytest.LogCaptureFixture, clock: Clock, tmp_path: Any
) -> None:
    """No relay set: receipt and report go to the log, with ids, numbers and sizes but not the body or subject."""
    from tests.email.conftest import email_settings

    settings = email_settings(tmp_path)
    replier = EmailReplier(settings, clock=clock)
    answer = await harness.send(mail("Confidential diagnosis text.", subject="Patient Smith"))
    job = await harness.job(answer.job_ids[0])
    with caplog.at_level(logging.INFO, logger="faxbridge.email.replies"):
        await replier.acknowledge(job)
        await replier.report(job)
    assert f"job {job.id}: email receipt to the sender, not mailed (no relay set)" in caplog.text
    assert f"job {job.id}: email report" in caplog.text
    assert "+12025550123" in caplog.text
    assert "Confidential" not in caplog.text and "Patient" not in caplog.text


async def test_hostile_subject_cannot_inject_headers(make_harness: Any, relay: CaptureRelay) -> None:
    """A subject carrying CR LF and a Bcc line stays one subject; the reply goes to the sender only."""
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    answer = await harness.send(mail())
    job = await harness.job(answer.job_ids[0])
    hostile = Origin(
        channel=Channel.EMAIL,
        sender=SENDER,
        sender_name="Ann\r\nBcc: victim@example.net",
        reply={
            "message_id": "<a@b>\r\nBcc: victim@example.net",
            "subject": "Hello\r\nBcc: victim@example.net\r\n\r\nInjected body",
            "references": "",
            "reply_to": SENDER,
        },
    )
    replier = EmailReplier(harness.settings, clock=harness.bridge.service.clock)
    from dataclasses import replace

    await replier.acknowledge(replace(job, origin=hostile))
    (captured,) = relay.mails
    assert captured.rcpts == [SENDER]
    assert captured.message["Bcc"] is None
    assert "\n" not in captured.message["Subject"]
    assert "Injected body" not in captured.message.get_content()
    assert captured.message["In-Reply-To"] == "<a@b>"


async def test_message_id_is_the_same_for_a_retried_notice(harness: Harness) -> None:
    """Composing the same notice twice gives the same Message-ID, so a retried send can be recognised."""
    answer = await harness.send(mail())
    job = await harness.job(answer.job_ids[0])
    settings = harness.settings
    now = harness.bridge.service.clock()
    first = compose_receipt(job, settings, now=now)
    again = compose_receipt(job, settings, now=now + timedelta(minutes=5))
    assert first is not None and again is not None
    assert first["Message-ID"] == again["Message-ID"] == message_id(job, "receipt", "fax.localhost")
    report = compose_report(job, settings, now=now)
    assert report is not None and report["Message-ID"] != first["Message-ID"]


async def test_references_keep_the_earlier_thread(make_harness: Any, relay: CaptureRelay) -> None:
    """A reply to a mail that was itself a reply carries the whole References chain plus the original."""
    harness: Harness = await make_harness(email_replies=True, **relay_settings(relay.port))
    await harness.send(corpus("outlook_reply_quote"), sender="robert.baker@corp.example.com")
    await harness.bridge.pump.deliver_due()
    message = relay.mails[0].message
    original = "<DM6PR11MB4107RE0002@DM6PR11MB4107.namprd11.prod.outlook.com>"
    assert message["References"] == f"<earlier-0@example.com> <earlier-1@example.com> {original}"
    assert message["In-Reply-To"] == original


async def test_update_is_a_no_op(harness: Harness, clock: Clock) -> None:
    """`update` sends nothing and needs no relay."""
    answer = await harness.send(mail())
    job = await harness.job(answer.job_ids[0])
    sent: list[Any] = []

    async def record(message: Any) -> None:
        sent.append(message)

    replier = EmailReplier(harness.settings.replace(smtp_relay_host="127.0.0.1"), clock=clock, send=record)
    await replier.update(job)
    assert sent == []
    await replier.acknowledge(job)
    assert len(sent) == 1 and sent[0]["Subject"] == "Fax to +1 202-555-0123: accepted (Re: Test)"


async def test_relay_login_is_used_when_configured(make_harness: Any) -> None:
    """With FAXBRIDGE_SMTP_RELAY_USERNAME/_PASSWORD set, the replier logs in to the relay before sending."""
    relay = CaptureRelay(login=("bridge", "relay-secret"))
    await relay.start()
    try:
        harness: Harness = await make_harness(
            email_replies=True,
            smtp_relay_username="bridge",
            smtp_relay_password="relay-secret",
            **relay_settings(relay.port),
        )
        await harness.send(mail())
        await harness.bridge.pump.deliver_due()
        assert relay.logins == [b"bridge"]
        assert len(relay.mails) == 1
    finally:
        await relay.stop()


async def test_required_starttls_is_never_skipped(make_harness: Any, relay: CaptureRelay) -> None:
    """A relay that offers no STARTTLS while STARTTLS is required gets nothing in clear; the receipt waits."""
    settings = {**relay_settings(relay.port), "smtp_relay_starttls": "true"}
    harness: Harness = await make_harness(email_replies=True, **settings)
    await harness.send(mail())
    await harness.bridge.pump.deliver_due()
    assert relay.mails == []
    pending = await harness.bridge.store.pending_replies(harness.bridge.service.clock() + timedelta(hours=1))
    assert [r.attempts for r in pending] == [1]
