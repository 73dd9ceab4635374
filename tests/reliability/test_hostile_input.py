"""Hostile mail and Slack payloads against a real serve: it never dies, memory stays bounded, answers stay valid."""

from __future__ import annotations

import json
import re
import smtplib
import zlib
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.testing import sample_pdf
from tests.helpers.processes import Serve
from tests.helpers.relays import BackgroundRelay
from tests.helpers.slack import ThreadedSlack
from tests.helpers.waiting import wait_for
from tests.helpers.world import FAX_DOMAIN, World
from tests.reliability.reliability_harness import fax_mail
from tests.slack.slack_harness import signed

pytestmark = pytest.mark.slow  # real serve and stand-in processes; each test takes seconds to a minute

RSS_LIMIT_KIB = 400 * 1024


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Serve, BackgroundRelay, ThreadedSlack]]:
    """One serve for the module, with a relay and a fake Slack; it must still be alive at the end."""
    with World(tmp_path_factory.mktemp("hostile")) as world:
        sandbox = world.sandbox(delay=0.2)
        relay = world.relay()
        slack = world.slack()
        bridge = world.serve(sandbox, relay, **slack.settings())
        bridge.start()
        yield bridge, relay, slack
        assert bridge.alive(), "serve died under hostile input"


def _raw_send(port: int, data: bytes, rcpt: str = f"12025550123@{FAX_DOMAIN}") -> tuple[int, str]:
    """Send raw bytes as one mail, lines ended with CR LF as on the wire; return the DATA answer (or the first refusal)."""
    data = re.sub(rb"\r?\n", b"\r\n", data)
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo()
        code, text = client.mail("ann@example.com")
        if code != 250:
            return code, text.decode(errors="replace")
        code, text = client.rcpt(rcpt)
        if code != 250:
            return code, text.decode(errors="replace")
        code, text = client.data(data)
        return code, text.decode(errors="replace")


def _valid(code: int) -> bool:
    return code in (250, 451, 452, 550, 552, 554) or 400 <= code < 600


def _jobs_for(bridge: Serve, answer: str) -> list[str]:
    ids = answer.split("queued as", 1)[-1].replace(",", " ").split()
    known = {j["id"] for j in bridge.jobs()}
    return [i for i in ids if i in known]


def _nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (
            b"Content-Type: multipart/mixed; boundary="
            + boundary
            + b"\r\n\r\n--"
            + boundary
            + b"\r\n"
            + body
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return b"From: ann@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body


def _pdf_bomb() -> bytes:
    """A PDF whose one content stream inflates from ~100 KB to 100 MB."""
    stream = zlib.compress(b"0" * (100 * 1024 * 1024), 9)
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
        + f"4 0 obj<</Length {len(stream)}/Filter/FlateDecode>>stream\n".encode()
        + stream
        + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _many_attachments(count: int) -> bytes:
    message = fax_mail(9000)
    for index in range(count):
        message.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"t{index}.bin")
    return message.as_bytes()


def _with(
    subject: str = "hostile", *, filename: str = "a.pdf", data: bytes | None = None, headers: int = 0
) -> bytes:
    message = EmailMessage()
    message["From"] = "ann@example.com"
    message["To"] = f"12025550123@{FAX_DOMAIN}"
    message["Subject"] = subject
    for index in range(headers):
        message[f"X-Filler-{index}"] = "y"
    message.set_content("body text")
    message.add_attachment(data or sample_pdf(1), maintype="application", subtype="pdf", filename=filename)
    return message.as_bytes()


CASES = {
    "deep nesting": lambda: _nested(300),
    "20,000 headers": lambda: _with(headers=20_000),
    "pdf bomb": lambda: _with(data=_pdf_bomb(), filename="bomb.pdf"),
    "broken base64": lambda: (
        _with()
        .replace(b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: base64")
        .replace(b"JVBER", b"J!!ER*&^")
    ),
    "NUL bytes": lambda: _with(subject="nul").replace(b"body text", b"body\x00text\x00\x00"),
    "10,000 tiny attachments": lambda: _many_attachments(10_000),
    "path traversal names": lambda: _with(filename="../../../../etc/passwd.pdf"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_adversarial_mail_gets_a_valid_answer(
    served: tuple[Serve, BackgroundRelay, ThreadedSlack], case: str
) -> None:
    """Each adversarial mail gets a valid SMTP code; a 250 always names stored jobs; serve lives and stays small."""
    bridge, _, _ = served
    code, text = _raw_send(bridge.smtp_port, CASES[case]())
    assert _valid(code), (code, text)
    assert "Line too long" not in text  # the mail itself was read, not refused for its framing
    if code == 250:
        assert _jobs_for(bridge, text), text
    assert bridge.alive()
    assert bridge.rss_kib() < RSS_LIMIT_KIB


def test_header_injection_never_reaches_a_reply(served: tuple[Serve, BackgroundRelay, ThreadedSlack]) -> None:
    """An encoded CR LF in the subject does not become an extra header in the receipt or the report."""
    bridge, relay, _ = served
    # Built by hand: the email package would decode the encoded word while writing the header.
    raw = _with(subject="placeholder").replace(
        b"Subject: placeholder", b"Subject: =?utf-8?q?Hi=0D=0ABcc:_victim@evil.example=0D=0AX-Evil:_1?="
    )
    code, text = _raw_send(bridge.smtp_port, raw)
    assert code == 250, text
    (job_id,) = _jobs_for(bridge, text)
    wait_for(lambda: (job_id, "receipt") in relay.replies(), 30, "the receipt")
    for message in (mail.message for mail in relay.mails):
        if job_id in str(message["Message-ID"]):
            assert message["Bcc"] is None
            assert message["X-Evil"] is None
            assert "\n" not in str(message["Subject"])
            assert str(message["To"]).endswith("ann@example.com>") or str(message["To"]) == "ann@example.com"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000))
def test_random_bytes_never_get_250_without_a_job(
    served: tuple[Serve, BackgroundRelay, ThreadedSlack], data: bytes
) -> None:
    """Arbitrary bytes as a mail body: a valid code every time, and never 250 without a stored job."""
    bridge, _, _ = served
    code, text = _raw_send(bridge.smtp_port, b"From: ann@example.com\r\nSubject: fuzz\r\n" + data)
    assert _valid(code)
    if code == 250:
        assert _jobs_for(bridge, text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60))
def test_random_recipients_get_a_valid_answer(
    served: tuple[Serve, BackgroundRelay, ThreadedSlack], local: str
) -> None:
    """Random text as the number in RCPT TO is answered with a valid code, never a dropped connection."""
    bridge, _, _ = served
    cleaned = "".join(ch for ch in local if ch.isprintable() and ch not in '<>@ \\"') or "x"
    with smtplib.SMTP("127.0.0.1", bridge.smtp_port, timeout=30) as client:
        client.ehlo()
        client.mail("ann@example.com")
        code, _ = client.rcpt(f"{cleaned}@{FAX_DOMAIN}")
    assert _valid(code)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("payload=%7Bbroken", "application/x-www-form-urlencoded"),
        ('{"type":"event_callback","event":{"type":"message","files":"nope"}}', "application/json"),
        ("", "application/json"),
    ],
)
def test_malformed_slack_payloads_get_4xx_or_200_never_a_crash(
    served: tuple[Serve, BackgroundRelay, ThreadedSlack], body: str, content_type: str
) -> None:
    """Correctly signed but malformed Slack bodies are answered (4xx, or 200 for an ignorable event); serve lives."""
    bridge, _, _ = served
    answer = httpx.post(
        f"http://127.0.0.1:{bridge.http_port}/slack/events",
        content=body,
        headers={"Content-Type": content_type, **signed(body)},
        timeout=10,
    )
    assert answer.status_code < 500
    assert bridge.alive()


def test_oversized_slack_body_is_413(served: tuple[Serve, BackgroundRelay, ThreadedSlack]) -> None:
    """A 5 MB body to /slack/events is refused with 413 before anything reads it."""
    bridge, _, _ = served
    body = json.dumps({"type": "event_callback", "pad": "x" * 5_000_000})
    answer = httpx.post(
        f"http://127.0.0.1:{bridge.http_port}/slack/events",
        content=body,
        headers={"Content-Type": "application/json", **signed(body)},
        timeout=30,
    )
    assert answer.status_code == 413
    assert bridge.alive()
