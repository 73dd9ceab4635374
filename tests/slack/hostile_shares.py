"""Hostile files as someone might share them in Slack, built in memory (a few KiB each, deterministic)."""

from __future__ import annotations

import random
import struct
import zlib

Member = tuple[str, bytes, int, int]  # name, deflated bytes, CRC-32, the size it declares


def _zip(members: list[Member]) -> bytes:
    """A ZIP archive written by hand, so that a member can declare whatever sizes it likes."""
    out, central = bytearray(), bytearray()
    for name, data, crc, size in members:
        raw = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(raw), 0)
        out += raw + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            len(data),
            size,
            len(raw),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + end)


def _member(name: str, text: str) -> Member:
    data = text.encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return name, packer.compress(data) + packer.flush(), zlib.crc32(data), len(data)


def _docx_parts() -> list[Member]:
    return [
        _member("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="urn:ct"/>'),
        _member("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="urn:w"/>'),
    ]


def zip_bomb_docx() -> bytes:
    """A DOCX whose docProps/app.xml declares 1 GiB from 16 KiB and inflates at that rate.

    Its stream breaks after 16 MiB (an invalid block), so a parser that reads it without limits
    fails there instead of exhausting the test's memory; one that checks sizes refuses it unread.
    """
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = b"\x00" * (1 << 20)
    stream = b"".join(packer.compress(zeros) for _ in range(16)) + packer.flush(zlib.Z_SYNC_FLUSH)
    return _zip([*_docx_parts(), ("docProps/app.xml", stream + b"\x07", 0, 1 << 30)])


def corrupt_deflate_docx() -> bytes:
    """A DOCX whose docProps/app.xml is a deflate stream with twenty bytes flipped."""
    name, data, crc, size = _member("docProps/app.xml", "<Properties><Pages>3</Pages></Properties>" * 50)
    broken = data[:10] + bytes(b ^ 0xFF for b in data[10:30]) + data[30:]
    return _zip([*_docx_parts(), (name, broken, crc, size)])


def corrupt_stream_pdf() -> bytes:
    """A PDF 1.5 whose page tree lives in an object stream whose Flate data is corrupt."""
    objects = (
        b"2 0 3 60 <</Type/Pages/Kids[3 0 R]/Count 1>> <</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>"
    )
    packed = bytearray(zlib.compress(objects))
    for index in range(8, 24):
        packed[index] ^= 0x5A
    out = bytearray(b"%PDF-1.5\n")
    catalog = len(out)
    out += b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    stream = len(out)
    out += b"4 0 obj<</Type/ObjStm/N 2/First 10/Filter/FlateDecode/Length %d>>stream\n" % len(packed)
    out += packed + b"\nendstream endobj\n"
    xref = len(out)
    rows = [(0, 0, 65535), (1, catalog, 0), (2, 4, 0), (2, 4, 1), (1, stream, 0), (1, xref, 0)]
    table = b"".join(struct.pack(">BIH", *row) for row in rows)
    out += b"5 0 obj<</Type/XRef/Size 6/W[1 4 2]/Root 1 0 R/Length %d>>stream\n" % len(table)
    out += table + b"\nendstream endobj\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def random_binary(seed: int) -> bytes:
    """3,000 random bytes; like nearly all random data, with a NUL byte early on."""
    data = bytearray(random.Random(seed).randbytes(3000))
    data[100] = 0
    return bytes(data)
