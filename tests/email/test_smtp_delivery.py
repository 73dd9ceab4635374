"""Accepting mail: once and durably, one job per number, with real clients, TLS and AUTH."""

from __future__ import annotations

import asyncio
import shutil
import smtplib
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from adapters.email import start_smtp
from bridge.errors import ConfigError
from bridge.model import DocumentRole
from bridge.states import JobState
from bridge.testing import sample_image, sample_pdf
from tests.email.conftest import FAX, SENDER, Harness, corpus, email_settings, mail
from tests.helpers.environment import clean_env
from tests.helpers.processes import faxbridge_command


async def test_redelivery_of_the_same_mail_is_one_fax(harness: Harness) -> None:
    """The same mail delivered again (a lost 250) answers 250 with the same job and sends nothing new."""
    raw = mail(attachments=[("a.pdf", sample_pdf(1), "application/pdf")])
    first = await harness.send(raw)
    await harness.run()
    second = await harness.send(raw)
    assert first.job_ids == second.job_ids
    assert second.data is not None and "already queued as" in second.data[1]
    await harness.run()
    assert len(harness.provider.sent) == 1
    assert len(await harness.jobs()) == 1


async def test_redelivery_by_another_route_is_still_one_fax(harness: Harness) -> None:
    """Extra trace headers from a second relay do not make the same mail a new fax."""
    raw = mail(attachments=[("a.pdf", sample_pdf(1), "application/pdf")])
    first = await harness.send(raw)
    second = await harness.send(b"Received: from backup-mx.example.com by mx2; Thu, 14 Mar 2024\r\n" + raw)
    assert first.job_ids == second.job_ids


async def test_the_message_id_is_part_of_the_idempotency_key(harness: Harness) -> None:
    """The job is keyed by the mail's Message-ID (with sender and content), so a re-delivery finds it."""
    answer = await harness.send(mail(message_id="<key-1@example.com>"))
    job_id = answer.job_ids[0]
    again = await harness.send(mail(message_id="<key-1@example.com>"))
    assert again.job_ids == [job_id]
    other = await harness.send(mail(message_id="<key-2@example.com>"))
    assert other.job_ids != [job_id]


async def test_another_sender_reusing_a_message_id_gets_a_new_fax_and_no_one_elses_job_id(
    harness: Harness,
) -> None:
    """Bob sending his own PDF with Alice's Message-ID makes a new job; the answer never names Alice's.

    Mutation caught: a dedupe key without the envelope sender.
    """
    alice = await harness.send(
        mail(sender="alice@example.com", message_id="<shared@example.com>"), sender="alice@example.com"
    )
    bob = await harness.send(
        mail(sender="bob@example.com", message_id="<shared@example.com>"), sender="bob@example.com"
    )
    assert bob.code == 250 and "already" not in bob.text
    assert not set(alice.job_ids) & set(bob.job_ids)
    assert alice.job_ids[0] not in bob.text
    assert len(await harness.jobs(JobState.QUEUED)) == 2


async def test_a_failed_fax_resent_with_the_same_message_id_but_new_content_is_a_new_request(
    harness: Harness,
) -> None:
    """The same sender re-sending with the same Message-ID and a different document gets a new fax.

    Mutation caught: a dedupe key without the content hash.
    """
    first = await harness.send(mail(attachments=[("a.pdf", sample_pdf(1), "application/pdf")]))
    second = await harness.send(mail(attachments=[("a.pdf", sample_pdf(2), "application/pdf")]))
    assert second.code == 250 and "already" not in second.text
    assert first.job_ids != second.job_ids


async def test_each_fax_recipient_gets_its_own_job_sharing_the_documents(harness: Harness) -> None:
    """Two fax recipients make two jobs; they share the stored documents and each has its own cover."""
    raw = mail(
        attachments=[("a.pdf", sample_pdf(2), "application/pdf"), ("b.png", sample_image(), "image/png")]
    )
    answer = await harness.send(raw, rcpts=[FAX, "+1-202-555-0188@fax.localhost"])
    assert [code for code, _ in answer.rcpts] == [250, 250]
    first, second = [await harness.job(i) for i in answer.job_ids]
    assert (first.to, second.to) == ("+12025550123", "+12025550188")
    shared = lambda job: [d.id for d in job.documents if d.role is DocumentRole.DOCUMENT]  # noqa: E731
    assert shared(first) == shared(second) and len(shared(first)) == 2
    covers = [d.id for job in (first, second) for d in job.documents if d.role is DocumentRole.COVER]
    assert len(set(covers)) == 2
    await harness.run()
    assert sorted(fax.to for fax, _ in harness.provider.sent) == ["+12025550123", "+12025550188"]


async def test_mixed_recipients_fax_ones_accepted_others_refused(harness: Harness) -> None:
    """In one mail to a fax number and a person, the fax number is accepted and the person refused."""
    answer = await harness.send(mail(), rcpts=["colleague@example.com", FAX, "sales@fax.localhost"])
    assert [code for code, _ in answer.rcpts] == [550, 250, 550]
    (job_id,) = answer.job_ids
    assert (await harness.job(job_id)).to == "+12025550123"


async def test_same_number_twice_is_one_job(harness: Harness) -> None:
    """Two spellings of one number in one mail make one fax, not two."""
    answer = await harness.send(mail(), rcpts=[FAX, "+1 202 555 0123@fax.localhost".replace(" ", "")])
    assert len(answer.job_ids) == 1


async def test_redelivery_split_per_recipient_completes_the_set(harness: Harness) -> None:
    """An MTA that re-sends one mail per recipient gets the existing job for one and a new one for the other."""
    raw = mail(attachments=[("a.pdf", sample_pdf(1), "application/pdf")])
    both = await harness.send(raw, rcpts=[FAX, "12025550188@fax.localhost"])
    again = await harness.send(raw, rcpts=["12025550188@fax.localhost"])
    assert again.job_ids == both.job_ids[1:]


async def test_aiosmtplib_client_is_accepted(harness: Harness) -> None:
    """A mail sent with aiosmtplib gets 250 2.0.0 with the job id, stored before the answer."""
    raw = mail(attachments=[("a.pdf", sample_pdf(1), "application/pdf")])
    errors, text = await aiosmtplib.send(
        raw, sender=SENDER, recipients=[FAX], hostname="127.0.0.1", port=harness.port
    )
    assert errors == {}
    assert text.startswith("2.0.0 queued as ")
    job = await harness.job(text.rsplit(" ", 1)[1])
    assert job.state is JobState.QUEUED


async def test_ehlo_advertises_size_8bitmime_smtputf8_and_no_auth(harness: Harness) -> None:
    """EHLO announces SIZE from the settings, 8BITMIME and SMTPUTF8, and no AUTH when none is configured."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=harness.port)
    await client.connect()
    try:
        await client.ehlo()
        assert client.esmtp_extensions["size"] == str(harness.settings.max_message_bytes)
        assert "8bitmime" in client.esmtp_extensions
        assert "smtputf8" in client.esmtp_extensions
        assert "auth" not in client.esmtp_extensions
        assert "starttls" not in client.esmtp_extensions
    finally:
        await client.quit()


async def test_smtputf8_mail_is_accepted(harness: Harness) -> None:
    """An internationalised sender address and UTF-8 headers (SMTPUTF8) are accepted."""
    raw = "From: Jürgen <jürgen@müller.example>\r\nTo: 12025550123@fax.localhost\r\nSubject: Grüße\r\n"
    raw += "Message-ID: <utf8@example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBitte faxen: Größe 5.\r\n"
    _errors, text = await aiosmtplib.send(
        raw.encode(),
        sender="jürgen@müller.example",
        recipients=[FAX],
        hostname="127.0.0.1",
        port=harness.port,
        mail_options=["SMTPUTF8"],
    )
    assert text.startswith("2.0.0 queued as ")
    job = await harness.job(text.rsplit(" ", 1)[1])
    assert job.origin.sender == "jürgen@müller.example"
    assert job.origin.reply["subject"] == "Grüße"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate and key made with the openssl command."""
    openssl = shutil.which("openssl")
    # Debian and every CI image have it; without it the STARTTLS test must fail, not vanish.
    assert openssl is not None, "the openssl command is needed to make a test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=fax.localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


async def test_starttls_is_offered_and_works_when_configured(
    make_harness: Any, certificate: tuple[str, str]
) -> None:
    """With a certificate and key set, EHLO offers STARTTLS and a mail sent over TLS is accepted."""
    cert, key = certificate
    harness: Harness = await make_harness(smtp_tls_cert=cert, smtp_tls_key=key)
    answer = await harness.send(mail(), starttls=True)
    assert answer.code == 250, answer


async def test_auth_is_required_when_configured(make_harness: Any) -> None:
    """With a submission login set, MAIL before AUTH gets 530 and the right login is let through."""
    harness: Harness = await make_harness(smtp_auth_username="scanner", smtp_auth_password="s3cret")
    refused = await harness.send(mail())
    assert refused.mail[0] == 530
    with pytest.raises(smtplib.SMTPAuthenticationError):
        await harness.send(mail(), login=("scanner", "wrong"))
    accepted = await harness.send(mail(), login=("scanner", "s3cret"))
    assert accepted.code == 250, accepted


async def test_auth_is_offered_only_after_starttls(make_harness: Any, certificate: tuple[str, str]) -> None:
    """With a certificate, EHLO on plaintext has no AUTH (and AUTH is refused); after STARTTLS it has.

    Mutation: pass `auth_require_tls=False` in server.py's factory and this test fails.
    """
    cert, key = certificate
    harness: Harness = await make_harness(
        smtp_tls_cert=cert, smtp_tls_key=key, smtp_auth_username="scanner", smtp_auth_password="s3cret"
    )

    def session() -> tuple[bool, int, bool]:
        with smtplib.SMTP("127.0.0.1", harness.port, timeout=30) as client:
            client.ehlo("client.example.com")
            plain_offers_auth = client.has_extn("auth")
            refused_code, _ = client.docmd("AUTH", "PLAIN AHNjYW5uZXIAczNjcmV0")
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            client.starttls(context=context)
            client.ehlo("client.example.com")
            return plain_offers_auth, refused_code, client.has_extn("auth")

    plain_offers_auth, refused_code, tls_offers_auth = await asyncio.to_thread(session)
    assert not plain_offers_auth
    assert refused_code >= 500
    assert tls_offers_auth
    answer = await harness.send(mail(), starttls=True, login=("scanner", "s3cret"))
    assert answer.code == 250, answer


async def test_auth_without_a_certificate_off_loopback_refuses_to_start(
    harness: Harness, tmp_path: Path
) -> None:
    """SMTP AUTH on an address other hosts can reach, with no certificate, never starts listening."""
    settings = email_settings(
        tmp_path, smtp_host="0.0.0.0", smtp_auth_username="scanner", smtp_auth_password="s3cret"
    )
    with pytest.raises(ConfigError, match="FAXBRIDGE_SMTP_TLS_CERT"):
        await start_smtp(harness.bridge.service, settings, port=0)


def test_serve_with_plaintext_auth_exits_2_with_one_line(tmp_path: Path) -> None:
    """`faxbridge serve` with SMTP AUTH, no certificate and a public listener exits 2 with one line."""
    env = clean_env(
        FAXBRIDGE_DATA_DIR=str(tmp_path / "var"),
        FAXBRIDGE_SMTP_HOST="0.0.0.0",
        FAXBRIDGE_SMTP_AUTH_USERNAME="scanner",
        FAXBRIDGE_SMTP_AUTH_PASSWORD="s3cret",
    )
    done = subprocess.run(faxbridge_command("serve"), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "passwords would cross the network in clear" in done.stderr
    assert "s3cret" not in done.stderr


@pytest.mark.parametrize(
    ("host", "certificate_set", "refused"),
    [
        ("127.0.0.1", False, False),
        ("127.0.0.2", False, False),
        ("::1", False, False),
        ("localhost", False, False),
        ("0.0.0.0", False, True),
        ("", False, True),
        ("::", False, True),
        ("192.0.2.10", False, True),
        ("mail.example.com", False, True),
        ("0.0.0.0", True, False),
    ],
)
def test_plaintext_auth_is_allowed_only_on_loopback(
    tmp_path: Path, host: str, certificate_set: bool, refused: bool
) -> None:
    """Without a certificate, AUTH may only listen where no other host can connect."""
    tls = {"smtp_tls_cert": "c.pem", "smtp_tls_key": "k.pem"} if certificate_set else {}
    settings = email_settings(tmp_path, smtp_host=host, smtp_auth_username="u", smtp_auth_password="p", **tls)
    assert (settings.plaintext_auth_problem() is not None) == refused


async def test_reading_a_big_mail_does_not_stall_the_loop(make_harness: Any) -> None:
    """A 20 MB mail is parsed off the event loop: other work keeps running while it is read."""
    harness: Harness = await make_harness()
    raw = mail(attachments=[("scan.tif", sample_image("TIFF", frames=2) + bytes(20_000_000), "image/tiff")])
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    answer = await harness.send(raw)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    assert answer.code == 250, answer
    # Receiving 27 MB of base64 itself runs on the loop in aiosmtpd; the MIME parse must not add a long stall.
    assert max(gaps) < 1.5, (max(gaps), elapsed)


async def test_corpus_message_sent_with_aiosmtplib_matches_smtplib(harness: Harness) -> None:
    """Both real clients deliver the Outlook winmail.dat mail to the same documents."""
    _, text = await aiosmtplib.send(
        corpus("outlook_winmail"), sender=SENDER, recipients=[FAX], hostname="127.0.0.1", port=harness.port
    )
    job = await harness.job(text.rsplit(" ", 1)[1])
    assert [d.name for d in job.documents if d.role is DocumentRole.DOCUMENT] == [
        "Quote 2024-117.pdf",
        "site-plan.png",
    ]


async def test_cover_names_sender_recipient_subject_and_note(harness: Harness) -> None:
    """The cover page shows the From name and address, the To display name, the subject and the cleaned body."""
    from pypdf import PdfReader

    answer = await harness.send(corpus("outlook_html_signature"), sender="robert.baker@corp.example.com")
    await harness.run()  # the cover is drawn when the fax is sent
    job = await harness.job(answer.job_ids[0])
    cover = next(d for d in job.documents if d.role is DocumentRole.COVER)
    with harness.bridge.store.open_document(cover) as handle:
        text = PdfReader(handle).pages[0].extract_text()
    for words in ("Baker, Robert", "robert.baker@corp.example.com", "Fax Desk", "Invoice 88", "attached."):
        assert words in text, (words, text)
    assert "cid:" not in text


async def test_the_same_mail_re_encoded_by_its_client_is_still_one_fax(harness: Harness) -> None:
    """A retry that re-encodes the mail (new MIME boundary, as smtplib's send_message does) finds the first job."""
    raw = mail(attachments=[("a.pdf", sample_pdf(1), "application/pdf")])
    boundary = raw.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    first = await harness.send(raw)
    second = await harness.send(raw.replace(boundary, b"===another-boundary-42=="))
    assert second.job_ids == first.job_ids and "already queued" in second.text
