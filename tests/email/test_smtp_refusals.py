"""Refusing early, in the SMTP conversation, with the codes of docs/email.md; never by bounce."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from adapters.email import start_smtp
from bridge.errors import StoreUnavailable
from bridge.metrics import Metrics
from bridge.service import FaxService
from bridge.states import JobState
from bridge.testing import InMemoryJobStore, sample_pdf
from tests.conftest import Clock
from tests.data.hostile import generate as hostile
from tests.email.conftest import Harness, email_settings, mail, smtplib_send


async def test_recipient_outside_the_fax_domain_is_not_relayed(harness: Harness) -> None:
    """A recipient at any other domain gets 550 5.7.1 relay not permitted: never an open relay."""
    answer = await harness.send(mail(), rcpts=["bob@example.com"])
    assert answer.rcpts == [(550, "5.7.1 relay not permitted")]
    assert answer.data is None


async def test_subdomain_of_the_fax_domain_is_not_the_fax_domain(harness: Harness) -> None:
    """`12025550123@evil.fax.localhost` is another domain and is refused as relaying."""
    answer = await harness.send(mail(), rcpts=["12025550123@evil.fax.localhost"])
    assert answer.rcpts[0][0] == 550 and "relay not permitted" in answer.rcpts[0][1]


async def test_unparsable_number_is_refused_with_the_reason(harness: Harness) -> None:
    """A local part that is not a number gets 550 5.1.1 saying so."""
    answer = await harness.send(mail(), rcpts=["sales@fax.localhost"])
    code, text = answer.rcpts[0]
    assert code == 550
    assert text.startswith("5.1.1 ") and "not a fax number" in text


async def test_premium_number_is_refused_saying_why(harness: Harness) -> None:
    """The destination policy's own words reach the sender: premium-rate numbers are not allowed."""
    answer = await harness.send(mail(), rcpts=["19005550123@fax.localhost"])
    assert answer.rcpts == [(550, "5.1.1 +1 900-555-0123: premium-rate numbers are not allowed")]


async def test_country_outside_the_allowed_list_is_refused(harness: Harness) -> None:
    """A number in a country that may not be dialled is refused at RCPT with the allowed list."""
    answer = await harness.send(mail(), rcpts=["+442071234567@fax.localhost"])
    code, text = answer.rcpts[0]
    assert code == 550 and "United Kingdom" in text and "allowed: US" in text


@pytest.mark.parametrize(
    "local", ["12025550123", "+12025550123", "+1-202-555-0123", "2025550123", "FAX=+12025550123"]
)
async def test_numbers_are_read_in_every_documented_form(harness: Harness, local: str) -> None:
    """E.164 with or without +, national, punctuated and RFC 3192 FAX= forms all reach +12025550123."""
    answer = await harness.send(mail(), rcpts=[f"{local}@FAX.localhost"])
    assert answer.code == 250, answer
    assert (await harness.job(answer.job_ids[0])).to == "+12025550123"


async def test_sender_outside_the_allowlist_is_refused_before_data(make_harness: Any) -> None:
    """With FAXBRIDGE_ALLOWED_SENDERS set, an unknown sender gets 550 5.7.1 at MAIL and sends no data."""
    harness: Harness = await make_harness(allowed_senders="boss@example.com,@corp.example.com")
    answer = await harness.send(mail(sender="mallory@evil.example"), sender="mallory@evil.example")
    assert answer.mail[0] == 550
    assert answer.mail[1].startswith("5.7.1 ") and "not allowed" in answer.mail[1]
    assert answer.data is None
    assert await harness.jobs() == []


async def test_allowlist_matches_addresses_and_domains_normalised(make_harness: Any) -> None:
    """Exact addresses match whatever their case, and `@domain` entries match every address there."""
    harness: Harness = await make_harness(allowed_senders="Boss@Example.com,@corp.example.com")
    for sender in ("boss@EXAMPLE.COM", "anyone@corp.example.com"):
        answer = await harness.send(mail(sender=sender, message_id=f"<{sender}>"), sender=sender)
        assert answer.code == 250, answer


async def test_null_sender_is_refused_when_an_allowlist_is_set(make_harness: Any) -> None:
    """A bounce (MAIL FROM:<>) cannot send a fax when senders are restricted."""
    harness: Harness = await make_harness(allowed_senders="@corp.example.com")
    answer = await harness.send(mail(), sender="")
    assert answer.mail[0] == 550 and "null sender" in answer.mail[1]


async def test_declared_size_over_the_limit_is_refused_at_mail(make_harness: Any) -> None:
    """MAIL FROM with SIZE= over FAXBRIDGE_MAX_MESSAGE_BYTES gets 552 5.3.4 before any data."""
    harness: Harness = await make_harness(max_message_bytes="20000")
    answer = await harness.send(mail(), mail_options=["SIZE=50000"])
    assert answer.mail[0] == 552 and answer.mail[1].startswith("5.3.4 ")


async def test_data_over_the_limit_is_refused(make_harness: Any) -> None:
    """A mail that turns out larger than the limit gets 552 5.3.4 and stores nothing."""
    harness: Harness = await make_harness(max_message_bytes="20000")
    big = mail(attachments=[("big.pdf", sample_pdf(1) + b"%" * 30000, "application/pdf")])
    answer = await harness.send(big)
    assert answer.code == 552 and answer.text.startswith("5.3.4 ")
    assert await harness.jobs() == []


async def test_over_the_providers_limits_is_refused_as_too_big(harness: Harness) -> None:
    """A fax over RingCentral's 200 pages is refused with 552 5.3.4 and the reason."""
    answer = await harness.send(mail(attachments=[("long.pdf", sample_pdf(205), "application/pdf")]))
    assert answer.code == 552
    assert answer.text.startswith("5.3.4 ") and "200" in answer.text


async def test_mail_with_nothing_to_fax_is_refused(harness: Harness) -> None:
    """No text and nothing faxable gets 554 5.6.0, listing what was left out."""
    raw = mail(body="", subject="", attachments=[("card.vcf", b"BEGIN:VCARD\r\nEND:VCARD\r\n", "text/vcard")])
    answer = await harness.send(raw)
    assert answer.code == 554
    assert answer.text.startswith("5.6.0 nothing to fax") and "card.vcf" in answer.text
    assert await harness.jobs(JobState.QUEUED) == []


async def test_refused_mail_gets_no_reply_mail(harness: Harness) -> None:
    """A refused mail leaves no notice in the outbox: no backscatter."""
    await harness.send(mail(body="", subject=""))
    await harness.send(mail(), rcpts=["19005550123@fax.localhost"])
    assert await harness.bridge.store.pending_replies(harness.bridge.service.clock()) == []


async def test_too_many_recipients_are_deferred(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the recipient limit the server answers 452 4.5.3, so the client sends the rest in another mail."""
    monkeypatch.setattr("adapters.email.intake.MAX_RECIPIENTS", 3)
    rcpts = [f"+1202555{n:04d}@fax.localhost" for n in range(200, 204)]
    answer = await harness.send(mail(), rcpts=rcpts)
    assert [code for code, _ in answer.rcpts[:3]] == [250] * 3
    assert answer.rcpts[3][0] == 452 and answer.rcpts[3][1].startswith("4.5.3")
    assert len(answer.job_ids) == 3


async def test_store_failure_answers_451_and_stores_nothing(tmp_path: Any, clock: Clock) -> None:
    """When the store cannot commit, the answer is 451 4.3.0 so the sending MTA tries again later."""
    settings = email_settings(tmp_path)
    store = InMemoryJobStore()
    store.broken = True
    server = await start_smtp(FaxService(settings, store, clock=clock, metrics=Metrics()), settings, port=0)
    try:
        answer = await asyncio.to_thread(smtplib_send, server.port, mail())
    finally:
        await server.close()
    assert answer.code == 451 and answer.text.startswith("4.3.0 ")
    assert store.rows == {}


async def test_unexpected_error_answers_451_without_a_traceback(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any surprise inside the core becomes 451 4.3.0; the client never sees the error's words."""

    async def explode(request: Any) -> Any:
        raise RuntimeError("secret internals /var/lib/faxbridge")

    monkeypatch.setattr(harness.bridge.service, "accept", explode)
    answer = await harness.send(mail())
    assert answer.code == 451
    assert (
        "secret" not in answer.text and "Traceback" not in answer.text and "RuntimeError" not in answer.text
    )


async def test_store_unavailable_during_accept_is_transient(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """StoreUnavailable raised by the core (a full disk, a locked database) is 451, never 250."""

    async def unavailable(request: Any) -> Any:
        raise StoreUnavailable("disk full")

    monkeypatch.setattr(harness.bridge.service, "accept", unavailable)
    answer = await harness.send(mail())
    assert answer.code == 451


async def test_reply_text_is_one_ascii_line(harness: Harness) -> None:
    """A reason with non-ASCII words or line breaks still reaches the client as one plain line."""
    raw = mail(
        body="",
        subject="",
        attachments=[("Bücher\r\nBcc: x.vcf", b"BEGIN:VCARD\r\nEND:VCARD\r\n", "text/vcard")],
    )
    answer = await harness.send(raw)
    assert answer.code == 554
    assert answer.text.isascii() and "\n" not in answer.text and "Bucher" in answer.text


def test_queued_reply_stays_within_the_smtp_line_limit() -> None:
    """Fifty job ids do not make a reply line longer than SMTP allows; the rest are counted."""
    from adapters.email.intake import queued_line

    ids = [f"{n:012x}" for n in range(50)]
    line = queued_line(ids)
    assert len(line) <= 510
    assert line.startswith("250 2.0.0 queued as 000000000000 ")
    shown = line.split("queued as ")[1].split(" and ")[0].split()
    assert line.endswith(f" and {50 - len(shown)} more")
    assert queued_line(ids[:3], duplicate=True) == "250 2.0.0 already queued as " + " ".join(ids[:3])


async def test_mail_whose_only_attachment_is_left_out_is_refused_whatever_its_subject(
    harness: Harness,
) -> None:
    """A password-protected PDF with a subject and text is refused with the reason, not faxed as a cover."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(sample_pdf(1))))
    writer.encrypt(user_password="secret", owner_password="owner")
    locked = io.BytesIO()
    writer.write(locked)
    raw = mail(
        "Please fax the contract.",
        subject="Contract",
        attachments=[("contract.pdf", locked.getvalue(), "application/pdf")],
    )
    answer = await harness.send(raw)
    assert answer.code == 554
    assert answer.text.startswith("5.6.0 nothing to fax (contract.pdf: the PDF is protected by a password")
    assert await harness.jobs(JobState.QUEUED) == []


async def test_binary_is_never_faxed_as_text(harness: Harness) -> None:
    """3,000 random bytes named .txt (or .bin) are refused, not faxed as a text file."""
    noise = hostile.random_bytes(7)
    for name in ("rand.txt", "rand.bin"):
        answer = await harness.send(
            mail(
                subject="noise",
                message_id=f"<{name}@example.com>",
                attachments=[(name, noise, "application/octet-stream")],
            )
        )
        assert answer.code == 554 and f"{name}: this file type cannot be faxed" in answer.text
    assert await harness.jobs(JobState.QUEUED) == []


async def test_mail_without_any_attachment_is_faxed_as_its_cover(harness: Harness) -> None:
    """A text-only mail becomes a one-page fax: the cover with its subject and text."""
    answer = await harness.send(mail("Please call me back.", subject="Call back"))
    job = await harness.job(answer.job_ids[0])
    assert [d.role.value for d in job.documents] == ["cover"] and job.pages == 1


async def test_a_mail_the_worker_pool_cannot_read_in_time_is_refused_not_retried(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail whose reading runs out of time gets 554 5.6.0 saying so: an MTA must not send it again."""
    from bridge.workers import WorkTimedOut

    async def too_slow(function: Any, *args: Any, timeout: float) -> Any:
        raise WorkTimedOut(f"it took longer than {timeout:g} seconds to read")

    monkeypatch.setattr(harness.bridge.service.workers, "run", too_slow)
    answer = await harness.send(mail())
    assert answer.code == 554
    assert answer.text.startswith("5.6.0 the mail could not be read: it took longer than")
