"""Hostile and malformed mail: the server always answers with a valid SMTP code and never says 250 without a job."""

from __future__ import annotations

import base64
import re
import tempfile
from pathlib import Path

import aiosmtplib
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, given, settings

from adapters.email.mime import Limits, MailTooLarge, ParsedMail, UnreadableMail, parse_mail, read_mail
from adapters.email.tnef import TNEF_SIGNATURE
from bridge.spooling import Scratch
from bridge.states import JobState
from bridge.testing import sample_pdf
from tests.email.conftest import FAX, SENDER, Harness

PDF = sample_pdf(1)
REPLY = re.compile(r"^[245]\d\d$")


@pytest.fixture
def scratch(tmp_path: Path) -> Scratch:
    """A scratch folder for the parts a parse decodes."""
    return Scratch.create(tmp_path / "incoming")


def _parse(raw: bytes, limits: Limits | None = None) -> ParsedMail:
    with tempfile.TemporaryDirectory() as tmp:
        parsed = parse_mail(raw, limits, scratch=Scratch.create(Path(tmp)))
        assert all(a.content.read() for a in parsed.attachments)
        return parsed


boundaries = st.sampled_from(["b1", "b2", "==x==", "", "a" * 80, "b1 ", '"q"', "-"])
leaf_bytes = st.one_of(
    st.binary(max_size=300),
    st.just(PDF),
    st.builds(lambda junk: TNEF_SIGNATURE + junk, st.binary(max_size=200)),
    st.builds(lambda junk: b"%PDF-1.4\n" + junk, st.binary(max_size=200)),
    st.just(b"\x00" * 50),
)
encodings = st.sampled_from(
    ["base64", "quoted-printable", "7bit", "8bit", "binary", "x-uuencode", "bogus", ""]
)
content_types = st.sampled_from(
    [
        "application/pdf",
        "application/ms-tnef",
        'image/png; name="=?utf-8?B?!!!?="',
        "text/plain; charset=x-no-such-charset",
        "text/html; charset=utf-8",
        "text/calendar",
        "message/rfc822",
        "message/partial; id=1; number=1",
        "application/pkcs7-mime",
        "application/octet-stream; name*=x-bad''%ZZ%00.pdf",
        ";;;===",
        "",
    ]
)
dispositions = st.sampled_from(
    [
        "",
        "attachment",
        'attachment; filename="a.pdf"',
        "inline; filename*0*=utf-8''%C3; filename*1*=%28.pdf",
        "attachment; filename==?utf-8?Q?=00?=",
        'attachment; filename="' + "x" * 300 + '.pdf"',
    ]
)


def _leaf(ctype: str, cte: str, disposition: str, data: bytes, cid: bool) -> bytes:
    lines = [f"Content-Type: {ctype}".encode()] if ctype else []
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}".encode())
    if disposition:
        lines.append(f"Content-Disposition: {disposition}".encode())
    if cid:
        lines.append(b"Content-ID: <x@y>")
    body = base64.encodebytes(data) if cte == "base64" and data[:1] != b"\x00" else data
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


leaves = st.builds(_leaf, content_types, encodings, dispositions, leaf_bytes, st.booleans())


def _multipart(subtype: str, boundary: str, children: list[bytes], close: bool, preamble: bytes) -> bytes:
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
    parts = b"".join(b"\r\n--" + boundary.encode() + b"\r\n" + child for child in children)
    return head + preamble + parts + (b"\r\n--" + boundary.encode() + b"--\r\n" if close else b"")


def _forwarded(inner: bytes) -> bytes:
    return b"Content-Type: message/rfc822\r\n\r\n" + inner


parts = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(
            _multipart,
            st.sampled_from(
                ["mixed", "alternative", "related", "signed", "encrypted", "x-unknown", "report"]
            ),
            boundaries,
            st.lists(inner, max_size=4),
            st.booleans(),
            st.binary(max_size=20),
        ),
        st.builds(_forwarded, inner),
    ),
    max_leaves=12,
)
headers = st.lists(
    st.sampled_from(
        [
            b"Subject: =?utf-8?B?!!notbase64?=",
            b"Subject: =?x-unknown?Q?abc?=",
            b"From: <<<@@@>>>",
            b'From: Ann "Example <ann@example.com',
            b"Message-ID: <dup@example.com>",
            b"Message-ID: not-an-id",
            b"References: <a@b> <c@d",
            b"Auto-Submitted: auto-generated",
            b"Subject: \x00\x01\x02",
            b"To: =?utf-8?Q?=E2=80?= <12025550123@fax.localhost>",
            b"X-Long: " + b"y" * 990,
            b"Content-Type: multipart/mixed",
            b" continuation without a header",
            b"Bad Header Line Without Colon",
        ]
    ),
    max_size=6,
)
messages = st.builds(lambda h, body: b"\r\n".join(h) + (b"\r\n" if h else b"") + body, headers, parts)


async def _send(port: int, raw: bytes) -> tuple[int, str]:
    try:
        _, text = await aiosmtplib.send(
            raw, sender=SENDER, recipients=[FAX], hostname="127.0.0.1", port=port, timeout=30
        )
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    return 250, text


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(raw=messages)
async def test_malformed_mail_always_gets_a_valid_code_and_250_only_with_a_job(
    harness: Harness, raw: bytes
) -> None:
    """Whatever the structure, the answer is a valid SMTP code, and 250 names jobs that are stored and queued."""
    before = {job.id for job in await harness.jobs(JobState.QUEUED)}
    code, text = await _send(harness.port, raw)
    event(f"answered {code}")
    assert REPLY.match(str(code)), (code, text)
    after = {job.id for job in await harness.jobs(JobState.QUEUED)}
    if code == 250:
        ids = text.split("queued as ", 1)[1].split()
        for job_id in ids:
            assert (await harness.job(job_id)).state is JobState.QUEUED
        assert after - before <= set(ids)
    else:
        assert code in (451, 500, 552, 554), (code, text)
        assert after == before


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(raw=st.one_of(messages, st.binary(max_size=2000)))
def test_parser_never_raises_anything_but_its_two_refusals(raw: bytes) -> None:
    """Reading any bytes either gives documents with bytes in them, or one of the parser's own two refusals."""
    try:
        parsed = _parse(raw, Limits(max_bytes=100_000))
    except (MailTooLarge, UnreadableMail):
        return
    assert all(item.reason for item in parsed.left_out)
    assert "\n" not in parsed.subject and "\x00" not in parsed.note


def _nested(depth: int) -> bytes:
    raw = b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(
        PDF
    )
    for level in range(depth):
        boundary = f"n{level}".encode()
        raw = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
            + raw
        )
        raw += b"\r\n--" + boundary + b"--\r\n"
    return b"Subject: deep\r\n" + raw


async def test_deep_nesting_is_left_out_not_fatal(harness: Harness) -> None:
    """A document nested deeper than 20 levels is left out with the reason; the rest of the mail is faxed."""
    deep = _nested(30).split(b"\r\n", 1)[1]
    raw = b"Subject: deep\r\n" + _multipart(
        "mixed",
        "outer",
        [
            b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(PDF),
            deep,
        ],
        True,
        b"",
    )
    code, text = await _send(harness.port, raw)
    assert code == 250, text
    job = await harness.job(text.split("queued as ")[1].split()[0])
    assert [item.reason for item in job.left_out] == ["nested too deeply inside the mail to be read"]


async def test_only_document_nested_too_deeply_is_refused(harness: Harness) -> None:
    """When the one document is nested too deeply to read, the mail is refused saying so, not faxed as a cover."""
    code, text = await _send(harness.port, _nested(30))
    assert code == 554, text
    assert "nested too deeply" in text


def test_pathological_nesting_is_refused_cleanly(scratch: Scratch) -> None:
    """Thousands of nested parts are refused as soon as the nesting limit is crossed, never a crash."""
    with pytest.raises(UnreadableMail, match="nested more than 100 levels"):
        parse_mail(_nested(3000), scratch=scratch)


def test_too_many_parts_stops_reading_and_says_so() -> None:
    """Past 1000 parts the rest of the mail is not read, and the sender is told."""
    children = [
        b'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="n.txt"\r\n\r\nx'
    ] * 1500
    raw = b"Subject: many\r\n" + _multipart("mixed", "m", children, True, b"")
    parsed = _parse(raw)
    assert len(parsed.attachments) == 999  # the multipart itself is the first of the 1000 parts
    assert parsed.left_out[-1].reason == "the mail has more than 1000 parts; the rest were not read"


def test_far_too_many_parts_are_refused_while_reading(scratch: Scratch) -> None:
    """Past 2000 parts the mail is refused with the reason as soon as the limit is crossed."""
    children = [b"Content-Type: text/plain\r\n\r\nx"] * 50_000
    raw = b"Subject: many\r\n" + _multipart("mixed", "m", children, True, b"")
    with pytest.raises(UnreadableMail, match="more than 2000 parts"):
        parse_mail(raw, scratch=scratch)


def test_size_is_bounded_before_reading() -> None:
    """A mail over the size limit is refused as too large before any part is decoded."""
    child = (
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(PDF)
    )
    raw = b"Subject: big\r\n" + _multipart("mixed", "m", [child] * 3, True, b"")
    assert len(_parse(raw, Limits(max_bytes=len(raw))).attachments) == 3
    with pytest.raises(MailTooLarge):
        _parse(raw, Limits(max_bytes=len(raw) - 1))


def test_nul_bytes_and_broken_base64_do_not_break_the_mail(scratch: Scratch) -> None:
    """NUL bytes in headers and body and base64 with junk in it still give a readable result."""
    raw = (
        b"From: A\x00nn <ann@example.com>\r\nSubject: Hel\x00lo\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nBody\x00 text\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="x\x00.pdf"\r\n\r\n'
        + base64.encodebytes(PDF)[:-9]
        + b"!!@@\r\n--b--\r\n"
    )
    parsed = parse_mail(raw, scratch=scratch)
    assert parsed.subject == "Hel lo"
    assert parsed.note == "Body text"
    (attachment,) = parsed.attachments
    assert attachment.name == "x.pdf" and attachment.content.read().startswith(b"%PDF")


def test_damaged_winmail_dat_is_left_out_with_the_reason(scratch: Scratch) -> None:
    """A winmail.dat that cannot be unpacked is left out, with words the sender understands."""
    raw = (
        b"Subject: tnef\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        b"See attached.\r\n--b\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(TNEF_SIGNATURE + b"\x01\x00\xff" * 40)
        + b"--b--\r\n"
    )
    parsed = parse_mail(raw, scratch=scratch)
    assert parsed.attachments == ()
    assert [item.name for item in parsed.left_out] == ["winmail.dat"]
    assert "winmail.dat" in parsed.left_out[0].reason


def test_base64_encoded_forwarded_message_is_read(scratch: Scratch) -> None:
    """A forwarded message sent base64-encoded (done by some clients) still gives its documents."""
    inner = (
        b"Subject: inner\r\nContent-Type: application/pdf; name=in.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(PDF)
    )
    raw = (
        b"Subject: outer\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(inner) + b"--b--\r\n"
    )
    parsed = parse_mail(raw, scratch=scratch)
    assert [a.name for a in parsed.attachments] == ["in.pdf"]
    assert parsed.attachments[0].content.read() == PDF


@pytest.mark.parametrize("size", [1, 2, 3, 57, 3 * (1 << 20) + 1])
def test_big_base64_is_decoded_exactly_in_slices(scratch: Scratch, size: int) -> None:
    """Base64 decoded a slice at a time gives the same bytes as the standard library, junk or not."""
    data = bytes((i * 7 + size) % 256 for i in range(size))
    for body in (base64.encodebytes(data), base64.encodebytes(data).replace(b"\n", b"\r\n!! ")):
        raw = (
            b"Subject: b64\r\nContent-Type: application/octet-stream; name=x.bin\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + body
        )
        (attachment,) = parse_mail(raw, scratch=scratch).attachments
        assert attachment.content.read() == data


@pytest.mark.slow  # reads a large scan through the real parser
def test_reading_a_big_scan_keeps_memory_bounded(scratch: Scratch) -> None:
    """A mail with a 10 MB attachment is read from its file a slice at a time, its part decoded to a file."""
    import tracemalloc

    scan = b"%PDF-1.4\n" + bytes(range(256)) * 40_000
    raw = b"Subject: scan\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    raw += b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(
        scan
    )
    raw += b"--b--\r\n"
    kept = scratch.keep(raw, "eml")
    del raw
    tracemalloc.start()
    try:
        parsed = read_mail(str(kept.path), str(scratch.path), Limits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed.attachments[0].content.read() == scan
    assert peak < 0.5 * kept.size, f"peak {peak / 1e6:.1f} MB for a {kept.size / 1e6:.0f} MB mail"
