"""Reading a raw mail from a file a slice at a time: its tree of parts, each leaf decoded straight to a file.

The standard library's parser keeps every line of every part in memory and only then lets one
count them; here the limits hold while reading (parts, nesting depth, header fields and bytes,
decoded bytes) and a mail over one is refused with the reason as soon as it is crossed.
Headers are still read by the standard library, one part's block at a time: for structure
(types, parameters, names) with its fast `compat32` rules, and where people read them (subject,
sender) with `policy.default`, parsed only when asked. Boundaries follow its rules (any
enclosing boundary ends a part, the line break before a boundary belongs to it).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import IO

from bridge.spooling import Spooled, SpoolWriter

__all__ = ["Limits", "MailTooLarge", "Part", "Tree", "UnreadableMail", "read_tree"]

READ_BYTES = 256 * 1024
# A decoded body is kept in memory up to this size, then moved to a file as it grows.
IN_MEMORY = 256 * 1024
# A line this long is never a boundary (boundaries are at most 70 characters).
BOUNDARY_LINE = 1000
_HEADER_LINE = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")
_BASE64_KEEP = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_BASE64_JUNK = bytes(b for b in range(256) if b not in _BASE64_KEEP)
_CONTAINERS = frozenset({"message/rfc822", "message/global"})
_STRUCTURE = BytesParser(policy=policy.compat32)
_DISPLAY = BytesParser(policy=policy.default)


class MailTooLarge(Exception):
    """The mail decodes to more bytes than the size limit allows."""


class UnreadableMail(Exception):
    """The mail's structure cannot be read, or is beyond a limit; the message says which."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Bounds on hostile structure.

    Parts deeper than `max_depth` or after the first `max_parts` are left out (the rest of the
    mail is still faxed); past `refuse_depth` or `refuse_parts` the mail is refused outright.
    """

    max_depth: int = 20
    max_parts: int = 1000
    refuse_depth: int = 100
    refuse_parts: int = 2000
    max_header_fields: int = 1000
    max_header_bytes: int = 1024 * 1024
    max_named_recipients: int = 100
    max_bytes: int = 57_671_680


@dataclass(eq=False)
class Part:
    """One part: its headers, and either its children or its decoded body."""

    headers: Message  # for structure: types, parameters, names
    block: bytes  # the raw header block, for `display`
    depth: int
    children: list[Part] | None = None  # a multipart's parts, or a forwarded message's one message
    body: bytes | Spooled = b""
    broken: bool = False  # a multipart whose parts could not be found
    skipped: bool = False  # beyond a limit: its body was not kept
    counted_out: bool = False  # past the part limit: not part of the tree at all

    def is_multipart(self) -> bool:
        return self.children is not None

    def display(self) -> EmailMessage:
        """The headers decoded as people read them (RFC 2047 words, addresses): for a mail's own headers."""
        message = _DISPLAY.parsebytes(self.block + b"\r\n", headersonly=True)
        assert isinstance(message, EmailMessage)
        return message

    def data(self) -> bytes:
        """The decoded body in memory (text parts; a file body is read whole)."""
        return self.body if isinstance(self.body, bytes) else self.body.read()

    def content(self, keep: Callable[[bytes], Spooled]) -> Spooled:
        """The decoded body as a file, writing it out with `keep` if it is still in memory."""
        return self.body if isinstance(self.body, Spooled) else keep(self.body)

    @property
    def size(self) -> int:
        return len(self.body) if isinstance(self.body, bytes) else self.body.size


@dataclass
class Tree:
    """A whole mail: its top part, and whether parts were left unread past the part limit."""

    root: Part
    truncated: bool = False


@dataclass
class _Budget:
    limits: Limits
    parts: int = 0
    decoded: int = 0
    truncated: bool = False


@dataclass
class _Frame:
    """An open multipart: its separator line and the part it belongs to."""

    separator: bytes
    part: Part
    started: bool = False


class _Source:
    """The raw mail, a slice at a time, with the position always known."""

    def __init__(self, handle: IO[bytes], read_bytes: int = READ_BYTES) -> None:
        self.handle = handle
        self.read_bytes = read_bytes
        self.buf = b""
        self.pos = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(self.read_bytes)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def line(self, limit: int) -> bytes | None:
        """The next line with its ending; None at the end; a line longer than `limit` raises."""
        while True:
            end = self.buf.find(b"\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos : end + 1]
                self.pos = end + 1
                return line
            if len(self.buf) - self.pos > limit:
                raise UnreadableMail("a line in the mail's headers is too long to read")
            if not self._fill():
                if self.pos >= len(self.buf):
                    return None
                line = self.buf[self.pos :]
                self.pos = len(self.buf)
                return line

    def unread(self, line: bytes) -> None:
        self.pos -= len(line)

    def peek_line(self) -> bytes | None:
        """The line at the position without taking it; None when it is too long to be a boundary."""
        while True:
            end = self.buf.find(b"\n", self.pos, self.pos + BOUNDARY_LINE)
            if end >= 0:
                return self.buf[self.pos : end + 1]
            if len(self.buf) - self.pos >= BOUNDARY_LINE:
                return None
            if not self._fill():
                return self.buf[self.pos :]

    def bulk(self) -> bytes | None:
        """Body bytes up to the next line that starts with "--" (left in place), or the end; None at the end.

        The position is always at the start of a line when this returns something ending in a
        line break; a piece cut inside a very long line ends without one.
        """
        while True:
            if self.buf.startswith(b"--", self.pos):
                return b""
            at = self.buf.find(b"\n--", self.pos)
            if at >= 0:
                piece = self.buf[self.pos : at + 1]
                self.pos = at + 1
                return piece
            last = self.buf.rfind(b"\n", self.pos)
            if last >= 0 and len(self.buf) - last < 3:
                # Too little follows the last line break to tell whether "--" starts there: stop a line earlier.
                last = self.buf.rfind(b"\n", self.pos, last)
            if last >= 0:
                piece = self.buf[self.pos : last + 1]
                self.pos = last + 1
                return piece
            if len(self.buf) - self.pos > 2 * self.read_bytes:
                # One enormous line: give most of it, keeping the last bytes for a boundary check.
                cut = len(self.buf) - 2
                piece = self.buf[self.pos : cut]
                self.pos = cut
                return piece
            if not self._fill():
                if self.pos >= len(self.buf):
                    return None
                piece = self.buf[self.pos :]
                self.pos = len(self.buf)
                return piece


class _Body:
    """A leaf's body on its way to memory or a file: transfer encoding undone, bytes counted."""

    def __init__(self, cte: str, budget: _Budget, new_file: Callable[[], SpoolWriter] | None) -> None:
        self.cte = cte
        self.budget = budget
        self.new_file = new_file  # None: the body is not kept
        self.tail = b""  # the last line break, which belongs to a boundary if one follows
        self.carry = b""  # undecoded bytes waiting for the rest of their unit
        self.memory = bytearray()
        self.file: SpoolWriter | None = None

    def write(self, raw: bytes) -> None:
        if self.new_file is None or not raw:
            return
        if self.tail:
            raw = self.tail + raw
        cut = 2 if raw.endswith(b"\r\n") else 1 if raw.endswith((b"\n", b"\r")) else 0
        self.tail = raw[len(raw) - cut :] if cut else b""
        self._decode(raw[: len(raw) - cut] if cut else raw)

    def _decode(self, raw: bytes, final: bool = False) -> None:
        if self.cte == "base64":
            data = self.carry + raw.translate(None, _BASE64_JUNK)
            usable = len(data) if final else len(data) - len(data) % 4
            self.carry = data[usable:]
            out = _b64(data[:usable])
        elif self.cte == "quoted-printable":
            data = self.carry + raw
            cut = len(data) if final else data.rfind(b"\n") + 1
            self.carry = data[cut:]
            out = binascii.a2b_qp(data[:cut])
        else:
            out = raw
        self._keep(out)

    def _keep(self, out: bytes) -> None:
        if not out:
            return
        self.budget.decoded += len(out)
        if self.budget.decoded > self.budget.limits.max_bytes:
            raise MailTooLarge(f"the mail decodes to more than {self.budget.limits.max_bytes} bytes")
        if self.file is None and len(self.memory) + len(out) <= IN_MEMORY:
            self.memory += out
            return
        if self.file is None:
            assert self.new_file is not None
            self.file = self.new_file()
            self.file.write(self.memory)
            self.memory = bytearray()
        self.file.write(out)

    def end(self, *, at_boundary: bool) -> bytes | Spooled:
        if self.new_file is None:
            return b""
        if not at_boundary:
            self._decode(self.tail)
        self._decode(b"", final=True)
        if self.file is not None:
            return self.file.done()
        return bytes(self.memory)

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


def _b64(data: bytes) -> bytes:
    if not data:
        return b""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        # Damaged padding at the very end: keep what decodes, as mail readers do.
        whole = len(data) - len(data) % 4
        try:
            return binascii.a2b_base64(data[:whole]) if whole else b""
        except binascii.Error:
            return b""


class _Reader:
    """One pass over the raw mail, building the tree; the state is the stack of open multiparts."""

    def __init__(
        self, source: _Source, budget: _Budget, new_file: Callable[[], SpoolWriter], depth: int = 0
    ) -> None:
        self.source = source
        self.budget = budget
        self.new_file = new_file
        self.base_depth = depth
        self.frames: list[_Frame] = []

    def read(self) -> Part:
        root, _ = self._part(self.base_depth)
        return root

    # -- one part ------------------------------------------------------------------------------

    def _part(self, depth: int) -> tuple[Part, tuple[int, bool] | None]:
        """Read one part from its headers to its end; return it and the boundary that ended it."""
        limits = self.budget.limits
        self.budget.parts += 1
        if self.budget.parts > limits.refuse_parts:
            raise UnreadableMail(f"the mail has more than {limits.refuse_parts} parts")
        if depth > limits.refuse_depth:
            raise UnreadableMail(f"the mail is nested more than {limits.refuse_depth} levels deep")
        counted_out = self.budget.parts > limits.max_parts
        if counted_out:
            self.budget.truncated = True
        block, ended = self._header_block(depth)
        headers = _parse_headers(block)
        if depth == 0:
            _check_recipients(headers, limits)
        part = Part(
            headers=headers,
            block=block,
            depth=depth,
            skipped=counted_out or depth > limits.max_depth,
            counted_out=counted_out,
        )
        ctype = _content_type(headers)
        if ended is not None:
            part.broken = ctype.startswith("multipart/")  # a boundary came before its headers ended
            return part, ended
        cte = _cte(headers)
        if ctype.startswith("multipart/"):
            boundary = _boundary(headers)
            if boundary:
                return part, self._multipart(part, boundary)
        if ctype in _CONTAINERS and cte not in ("base64", "quoted-printable"):
            inner, ended = self._part(depth + 1)
            part.children = [] if inner.counted_out else [inner]
            return part, ended
        ended = self._leaf(part, cte)
        if ctype in _CONTAINERS and not part.skipped and part.size:
            part.children = [self._forwarded_encoded(part, depth + 1)]
        return part, ended

    def _header_block(self, depth: int) -> tuple[bytes, tuple[int, bool] | None]:
        limits = self.budget.limits
        lines: list[bytes] = []
        size = fields = 0
        while True:
            line = self.source.line(limits.max_header_bytes)
            if line is None:
                return b"".join(lines), None
            ended = self._boundary_of(line)
            if ended is not None:
                return b"".join(lines), ended
            if line in (b"\r\n", b"\n", b"\r"):
                return b"".join(lines), None
            if not _HEADER_LINE.match(line):
                self.source.unread(line)  # the body starts without the blank line
                return b"".join(lines), None
            if line[:1] not in (b" ", b"\t"):
                fields += 1
                if fields > limits.max_header_fields:
                    raise UnreadableMail(
                        f"a part of the mail has more than {limits.max_header_fields} headers"
                    )
            size += len(line)
            if size > limits.max_header_bytes:
                raise UnreadableMail("the mail's headers are larger than can be read")
            lines.append(line)

    def _leaf(self, part: Part, cte: str) -> tuple[int, bool] | None:
        body = _Body(cte, self.budget, None if part.skipped else self.new_file)
        try:
            ended = self._until_boundary(body.write)
            part.body = body.end(at_boundary=ended is not None)
        except BaseException:
            body.discard()
            raise
        return ended

    def _until_boundary(self, sink: Callable[[bytes], None]) -> tuple[int, bool] | None:
        """Feed body bytes to `sink` until a boundary line of an open multipart, or the end."""
        while True:
            piece = self.source.bulk()
            if piece is None:
                return None
            sink(piece)
            line = self.source.peek_line()
            if line is None:
                # Far too long for a boundary: ordinary content, read on past its first bytes.
                line = b"--"
            elif (ended := self._boundary_of(line)) is not None:
                self.source.pos += len(line)
                return ended
            # A line starting with "--" that is no boundary of ours: ordinary content.
            self.source.pos += len(line)
            sink(line)

    # -- multiparts ----------------------------------------------------------------------------

    def _multipart(self, part: Part, boundary: bytes) -> tuple[int, bool] | None:
        frame = _Frame(separator=b"--" + boundary, part=part)
        self.frames.append(frame)
        level = len(self.frames) - 1
        part.children = []
        ended = self._until_boundary(_ignore)  # the preamble
        try:
            while ended is not None and ended[0] == level and not ended[1]:
                frame.started = True
                child, ended = self._part(part.depth + 1)
                if not child.counted_out:
                    part.children.append(child)
        finally:
            self.frames.pop()
        if ended is not None and ended[0] == level:
            # The close delimiter: the epilogue runs to a boundary of an enclosing multipart.
            ended = self._until_boundary(_ignore)
        if not frame.started:
            part.broken = True
            part.children = None
        return ended

    def _boundary_of(self, line: bytes) -> tuple[int, bool] | None:
        """(frame level, closing) when `line` is a boundary of an open multipart, innermost first."""
        if not self.frames or not line.startswith(b"--"):
            return None
        text = line.rstrip(b"\r\n").rstrip(b" \t")
        for level in range(len(self.frames) - 1, -1, -1):
            separator = self.frames[level].separator
            if text == separator:
                return level, False
            if text == separator + b"--":
                return level, True
        return None

    def _forwarded_encoded(self, part: Part, depth: int) -> Part:
        """A forwarded message sent base64- or quoted-printable-encoded: read its decoded bytes."""
        if isinstance(part.body, Spooled):
            with part.body.open() as handle:
                return _Reader(_Source(handle), self.budget, self.new_file, depth).read()
        import io

        return _Reader(_Source(io.BytesIO(part.body)), self.budget, self.new_file, depth).read()


def _ignore(_: bytes) -> None:
    return None


def _check_recipients(headers: Message, limits: Limits) -> None:
    # Counted on the raw values: parsing a list of a hundred thousand addresses is the attack.
    named = sum(str(value).count("@") for name, value in headers.raw_items() if name.lower() in ("to", "cc"))
    if named > limits.max_named_recipients:
        raise UnreadableMail(f"the mail names more than {limits.max_named_recipients} recipients")


def _parse_headers(block: bytes) -> Message:
    return _STRUCTURE.parsebytes(block + b"\r\n", headersonly=True)


def _content_type(headers: Message) -> str:
    try:
        return headers.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _cte(headers: Message) -> str:
    try:
        return str(headers.get("content-transfer-encoding", "") or "").strip().lower()
    except Exception:
        return ""


def _boundary(headers: Message) -> bytes:
    try:
        boundary = headers.get_boundary()
    except Exception:
        return b""
    return boundary.encode("utf-8", "surrogateescape") if boundary else b""


def read_tree(
    handle: IO[bytes], limits: Limits, new_file: Callable[[], SpoolWriter], *, read_bytes: int = READ_BYTES
) -> Tree:
    """Read a raw mail into its tree of parts; raise MailTooLarge or UnreadableMail with the reason."""
    budget = _Budget(limits=limits)
    root = _Reader(_Source(handle, read_bytes), budget, new_file).read()
    return Tree(root=root, truncated=budget.truncated)
