"""Reading MIME from a file a slice at a time: the same parts and bytes as the standard library, limits while reading."""

from __future__ import annotations

import email
import io
from email import policy
from email.message import EmailMessage
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from adapters.email.stream import Limits, MailTooLarge, Part, UnreadableMail, read_tree
from bridge.spooling import Scratch
from tests.data.hostile.generate import many_headers, many_parts, many_recipients, nested

payloads = st.binary(min_size=1, max_size=3000)
encodings = st.sampled_from(["base64", "quoted-printable", "7bit"])


def _leaf(data: bytes, cte: str, index: int) -> EmailMessage:
    part = EmailMessage()
    if cte == "7bit":
        # 7bit can only carry short lines of ASCII text, as a real client would send it.
        text = "".join(chr(32 + b % 95) for b in data)
        part.set_content("\n".join(text[i : i + 70] for i in range(0, len(text), 70)) + "\n", cte="7bit")
    else:
        part.set_content(
            data, maintype="application", subtype="octet-stream", cte=cte, filename=f"f{index}.bin"
        )
    return part


@st.composite
def messages(draw: st.DrawFn) -> EmailMessage:
    """Well-formed mails of nested multiparts and forwarded messages with leaves in every encoding."""
    counter = iter(range(10_000))

    def build(depth: int) -> EmailMessage:
        kind = draw(st.sampled_from(["leaf", "multipart", "forward"] if depth < 4 else ["leaf"]))
        if kind == "leaf":
            return _leaf(draw(payloads), draw(encodings), next(counter))
        if kind == "forward":
            outer = EmailMessage()
            outer["Subject"] = "fwd"
            outer.set_content(build(depth + 1))
            return outer
        container = EmailMessage()
        container.make_mixed()
        for _ in range(draw(st.integers(1, 3))):
            container.attach(build(depth + 1))
        return container

    top = build(0)
    del top["Subject"]
    top["Subject"] = "generated"
    return top


def _leaves(part: Part) -> list[bytes]:
    if part.children is not None:
        return [data for child in part.children for data in _leaves(child)]
    return [part.data()]


def _std_leaves(message: email.message.Message) -> list[bytes]:
    if message.is_multipart():
        return [data for child in message.get_payload() for data in _std_leaves(child)]  # type: ignore[union-attr]
    data = message.get_payload(decode=True)
    return [data if isinstance(data, bytes) else b""]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages(), read_bytes=st.sampled_from([7, 64, 1000, 1 << 18]))
def test_parts_and_bytes_match_the_standard_library(
    tmp_path: Path, message: EmailMessage, read_bytes: int
) -> None:
    """Whatever the slice size, each leaf decodes to the bytes the standard library's parser gives."""
    raw = message.as_bytes(policy=policy.SMTP)
    expected = _std_leaves(email.message_from_bytes(raw, policy=policy.default))
    scratch = Scratch.create(tmp_path / "s")
    try:
        tree = read_tree(io.BytesIO(raw), Limits(), lambda: scratch.writer(), read_bytes=read_bytes)
        assert _leaves(tree.root) == expected
    finally:
        scratch.remove()


def test_big_parts_go_to_files_and_small_ones_stay_in_memory(tmp_path: Path) -> None:
    """A 1 MB attachment is decoded to a file in the scratch folder; the text part stays in memory."""
    message = EmailMessage()
    message.set_content("hello")
    big = bytes(range(256)) * 4096
    message.add_attachment(big, maintype="application", subtype="pdf", filename="big.pdf")
    scratch = Scratch.create(tmp_path / "s")
    tree = read_tree(io.BytesIO(message.as_bytes()), Limits(), lambda: scratch.writer())
    text, attachment = tree.root.children or []
    assert isinstance(text.body, bytes) and text.body.strip() == b"hello"
    assert not isinstance(attachment.body, bytes)
    assert attachment.body.path.parent == scratch.path and attachment.body.read() == big


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (many_parts(5000), "more than 2000 parts"),
        (nested(150), "nested more than 100 levels"),
        (many_headers(2000), "more than 1000 headers"),
        (many_recipients(150), "names more than 100 recipients"),
    ],
)
def test_limits_refuse_while_reading(tmp_path: Path, raw: bytes, words: str) -> None:
    """Each structural limit refuses the mail with its reason, as soon as it is crossed."""
    scratch = Scratch.create(tmp_path / "s")
    with pytest.raises(UnreadableMail, match=words):
        read_tree(io.BytesIO(raw), Limits(), lambda: scratch.writer())


def test_decoded_bytes_are_bounded_while_reading(tmp_path: Path) -> None:
    """A mail decoding past the size limit is refused without decoding the rest."""
    message = EmailMessage()
    message.set_content("x")
    message.add_attachment(b"\0" * 200_000, maintype="application", subtype="pdf", filename="a.pdf")
    scratch = Scratch.create(tmp_path / "s")
    with pytest.raises(MailTooLarge, match="more than 100000 bytes"):
        read_tree(io.BytesIO(message.as_bytes()), Limits(max_bytes=100_000), lambda: scratch.writer())


def test_a_line_break_before_a_boundary_belongs_to_the_boundary(tmp_path: Path) -> None:
    """A binary part ends where its boundary line starts, minus the line break before it."""
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\nab\r\n\r\n--b--\r\n"
    )
    scratch = Scratch.create(tmp_path / "s")
    tree = read_tree(io.BytesIO(raw), Limits(), lambda: scratch.writer(), read_bytes=3)
    assert _leaves(tree.root) == [b"ab\r\n"]
