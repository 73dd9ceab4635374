"""The streamed DATA phase: the same message bytes and refusals as aiosmtpd's line reader, from any slicing."""

from __future__ import annotations

import asyncio
import smtplib

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from adapters.email.data import DataDecoder, read_data
from bridge.model import DocumentRole
from tests.email.conftest import FAX, SENDER, Harness, mail

LINE_LIMIT = 1001  # aiosmtpd's: 1000 characters and the CR LF

lines = st.lists(
    st.one_of(
        st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
        st.sampled_from([b".", b"..", b".x", b"...y", b"", b"-- ", b"."]),
    ),
    max_size=40,
)


def _reference(message_lines: list[bytes]) -> bytes:
    """What aiosmtpd makes of the lines a client sent after dot-stuffing them (RFC 5321 §4.5.2)."""
    return b"".join(line + b"\r\n" for line in message_lines)


def _wire(message_lines: list[bytes]) -> bytes:
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in message_lines)


async def _read_all(
    wire: bytes, cuts: list[int], size_limit: int | None = None
) -> tuple[bytes, bytes, DataDecoder]:
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    decoder = DataDecoder(size_limit, LINE_LIMIT)
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]

    async def feed() -> None:
        for piece in pieces:
            reader.feed_data(piece)
            await asyncio.sleep(0)

    feeding = asyncio.ensure_future(feed())
    out = b""
    ended = False
    while not ended:
        data, ended = await read_data(reader, decoder)
        out += data
    await feeding
    reader.feed_eof()
    return out, await reader.read(), decoder


@settings(max_examples=300, deadline=None)
@given(message_lines=lines, cuts=st.lists(st.integers(0, 5000), max_size=8))
async def test_any_slicing_gives_aiosmtpds_bytes_and_stops_at_the_end_line(
    message_lines: list[bytes], cuts: list[int]
) -> None:
    """Dot-unstuffing and the end line are found wherever the socket splits the stream; what follows is left."""
    wire = _wire(message_lines) + b".\r\nQUIT\r\n"
    out, rest, decoder = await _read_all(wire, sorted({c % (len(wire) + 1) for c in cuts}))
    assert out == _reference(message_lines)
    assert rest == b"QUIT\r\n"
    assert not decoder.refused


async def test_a_line_over_the_limit_is_refused_after_the_end() -> None:
    """A 1001-character line makes the message too long to accept; the stream is still read to its end."""
    _, rest, decoder = await _read_all(b"a\r\n" + b"x" * 1000 + b"\r\nb\r\n.\r\nNOOP\r\n", [500, 1200])
    assert decoder.too_long and rest == b"NOOP\r\n"


async def test_a_message_over_size_is_refused_after_the_end() -> None:
    """Past SIZE the bytes are dropped, the end line still found."""
    _, rest, decoder = await _read_all(b"y" * 900 + b"\r\n" + b"z" * 900 + b"\r\n.\r\n", [], size_limit=1000)
    assert decoder.too_much and rest == b""


async def test_dot_stuffed_lines_arrive_as_sent(harness: Harness) -> None:
    """A text file whose lines start with dots reaches the store byte for byte (the client stuffed them)."""
    text = b".hidden\r\n..two dots\r\n.\r\nend\r\n"
    answer = await harness.send(mail(attachments=[("dots.txt", text, "text/plain")]))
    job = await harness.job(answer.job_ids[0])
    (document,) = [d for d in job.documents if d.role is DocumentRole.DOCUMENT]
    with harness.bridge.store.open_document(document) as handle:
        assert handle.read() == text


async def test_long_line_and_oversize_answers_keep_their_codes(make_harness: object) -> None:
    """Over-long lines get aiosmtpd's 500, a message over SIZE gets 552 5.3.4; the session goes on."""
    harness: Harness = await make_harness(max_message_bytes="2000")  # type: ignore[operator]

    def send(body: bytes) -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", harness.port, timeout=30) as client:
            client.ehlo()
            client.mail(SENDER)
            client.rcpt(FAX)
            answer = client.data(body)
            assert client.noop()[0] == 250
            return answer

    assert await asyncio.to_thread(send, b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n") == (
        500,
        b"Line too long (see RFC5321 4.5.3.1.6)",
    )
    code, text = await asyncio.to_thread(send, b"Subject: big\r\n\r\n" + b"y\r\n" * 1000)
    assert code == 552 and text.startswith(b"5.3.4")
    assert await harness.jobs() == []


@pytest.mark.parametrize("size", [0, 1])
async def test_empty_and_one_line_messages_end_at_the_first_dot_line(size: int) -> None:
    """The end line right at the start of DATA, or after one line, ends the message there."""
    wire = b"x\r\n" * size + b".\r\n"
    out, rest, _ = await _read_all(wire, [1, 2])
    assert out == b"x\r\n" * size and rest == b""
