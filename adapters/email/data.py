"""The SMTP DATA phase as a stream (RFC 5321 §4.5.2): dots unstuffed, SIZE and line length kept, a slice at a time.

aiosmtpd reads DATA a line at a time into a list and joins it (the message is held twice, and
a 25 MB scan costs half a million awaits). Here the bytes up to the end-of-data line are taken
in slices as large as the socket gives them and written to a file as they come, with the same
rules: a line longer than the limit or a message over SIZE is refused after the end of data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["DataDecoder", "read_data"]

END = b".\r\n"


@dataclass
class DataDecoder:
    """Turns the raw DATA stream into message bytes, one slice at a time.

    `carry` holds the unfinished last line: it is unstuffed and measured once it is whole.
    After a refusal (too long, too much) nothing more is returned, but the stream is still
    followed to its end so the answer comes at the right time.
    """

    size_limit: int | None
    line_limit: int
    received: int = 0
    too_long: bool = False
    too_much: bool = False
    carry: bytes = field(default=b"", repr=False)

    @property
    def refused(self) -> bool:
        return self.too_long or self.too_much

    def _over_limit(self, lines: bytes) -> bool:
        """Whether a line of these whole lines, with its CR LF, is longer than the limit."""
        return len(lines) > self.line_limit and max(map(len, lines.split(b"\r\n"))) + 2 > self.line_limit

    def at_line_start(self, more: bytes) -> bool:
        """Whether `more`, appended to what was fed, ends where a line starts (or is the start)."""
        pending = self.carry + more
        return not pending or pending.endswith(b"\r\n")

    def feed(self, raw: bytes) -> bytes:
        """Message bytes completed by `raw` (whole lines only)."""
        self.received += len(raw)
        if self.size_limit and self.received > self.size_limit:
            self.too_much = True
        data = self.carry + raw
        cut = data.rfind(b"\r\n") + 2 if b"\r\n" in data else 0
        lines, self.carry = data[:cut], data[cut:]
        if len(self.carry) > self.line_limit:
            self.too_long = True
        if self.refused:
            # Only enough of the unfinished line to tell where the next line starts.
            self.carry = self.carry[-2:]
            return b""
        if self._over_limit(lines):
            self.too_long = True
            return b""
        # Transparency: a line that starts with a dot had one more dot put in front by the client.
        return (b"\r\n" + lines).replace(b"\r\n.", b"\r\n")[2:]


async def read_data(reader: asyncio.StreamReader, decoder: DataDecoder) -> tuple[bytes, bool]:
    """The next message bytes from `reader`, and whether the end-of-data line came with them.

    Only the StreamReader's public calls are used: `readuntil` stops at ".\r\n" (the end line, or
    any line ending in a dot), and past its buffer limit the bytes it can safely give are read.
    """
    try:
        chunk = await reader.readuntil(END)
    except asyncio.LimitOverrunError as overrun:
        return decoder.feed(await reader.read(overrun.consumed)), False
    body = chunk[: -len(END)]
    if decoder.at_line_start(body):
        # The dot stands alone on its line: the end of data. What came before it is the last line.
        return decoder.feed(body), True
    return decoder.feed(chunk), False
