"""The hostile corpus: documents and mails the intake must refuse cleanly, made on demand.

`python -m tests.data.hostile.generate [FOLDER]` writes them (into this folder by default; the
files are not kept in git). Tests and the attack benchmark call `build(folder)`. Each case is a
mail (`NAME.eml`) and, where it carries one, the hostile document itself for other ways in.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

FAX_DOMAIN = "fax.test"
SENDER = "ann@example.com"
FAX = f"12025550123@{FAX_DOMAIN}"


@dataclass(frozen=True)
class Case:
    """One hostile mail: its file, the words its refusal must contain, and how to send it."""

    name: str
    reason: str
    code: int = 554
    recipients: tuple[str, ...] = (FAX,)
    document: str = ""  # the hostile file inside, when there is one

    @property
    def mail(self) -> str:
        return f"{self.name}.eml"


# -- documents ---------------------------------------------------------------------------------


def zip_bomb_docx() -> bytes:
    """A Word file whose docProps/app.xml inflates from ~100 KiB to 100 MiB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        with archive.open("docProps/app.xml", "w", force_zip64=True) as member:
            member.write(b"<Properties><Pages>")
            zeros = b"0" * (1 << 20)
            for _ in range(100):
                member.write(zeros)
    return out.getvalue()


def corrupt_deflate_docx() -> bytes:
    """A Word file whose docProps/app.xml is a deflate stream with a reserved block type (zlib.error)."""
    out = io.BytesIO()
    app = (
        "<Properties>" + "".join(f"<X{i}>{i * 7919}</X{i}>" for i in range(400)) + "</Properties>"
    ).encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("docProps/app.xml", app)
    data = bytearray(out.getvalue())
    header = data.index(b"docProps/app.xml") - 30  # its local header comes before the central directory
    assert data[header : header + 4] == b"PK\x03\x04"
    name_length, extra_length = struct.unpack("<HH", data[header + 26 : header + 30])
    start = header + 30 + name_length + extra_length
    data[start : start + 8] = b"\xff" * 8  # BTYPE 11: a block type deflate does not have
    return bytes(data)


def page_tree_pdf(leaves: int = 90_000, *, shared: bool = True) -> bytes:
    """A PDF whose page tree lists `leaves` pages under nodes of 300; `shared`: every page the same object (1 MB)."""
    per_node = 300
    nodes = (leaves + per_node - 1) // per_node
    first_leaf = 3 + nodes
    kids = " ".join(f"{3 + n} 0 R" for n in range(nodes))
    objects: list[bytes] = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        f"<</Type/Pages/Count {leaves}/Kids[{kids}]>>".encode(),
    ]
    for n in range(nodes):
        indexes = range(n * per_node, min(leaves, (n + 1) * per_node))
        refs = " ".join(f"{first_leaf + (0 if shared else i)} 0 R" for i in indexes)
        objects.append(f"<</Type/Pages/Parent 2 0 R/Count {len(indexes)}/Kids[{refs}]>>".encode())
    for i in range(1 if shared else leaves):
        objects.append(f"<</Type/Page/Parent {3 + i // per_node} 0 R/MediaBox[0 0 612 792]>>".encode())
    return _pdf(objects)


def limit_reached_pdf() -> bytes:
    """A PDF whose cross-reference table claims 99,999,999 entries (pypdf's LimitReachedError)."""
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    )
    trailer = b"trailer<</Size 4/Root 1 0 R>>\nstartxref\n" + str(len(body)).encode() + b"\n%%EOF\n"
    return body + b"xref\n0 99999999\n0000000000 65535 f \n" + trailer


def tiff_bomb() -> bytes:
    """A TIFF that declares 100,000 x 100,000 pixels in a few hundred bytes."""
    entries = [
        (256, 4, 1, 100_000),  # ImageWidth
        (257, 4, 1, 100_000),  # ImageLength
        (258, 3, 1, 1),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 0),  # PhotometricInterpretation
        (273, 4, 1, 0),  # StripOffsets (patched below)
        (278, 4, 1, 100_000),  # RowsPerStrip
        (279, 4, 1, 16),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    data_offset = 8 + 2 + 12 * len(entries) + 4
    for tag, kind, count, value in entries:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\0" * 16


def png_bomb() -> bytes:
    """A PNG that declares 100,000 x 100,000 pixels, its picture a small stream of zeros."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100_000))
        + chunk(b"IEND", b"")
    )


def random_bytes(seed: int, size: int = 3000) -> bytes:
    """Binary noise that is neither text nor any known type (with a NUL in it, as noise has)."""
    data = bytearray(random.Random(seed).randbytes(size))
    data[size // 2] = 0
    if data[:1] in (b"%", b"P", b"\x89", b"\xff", b"G", b"B", b"8", b"{", b"I", b"M", b"\xd0", b"\x7f", b"#"):
        data[0] = 0x01
    return bytes(data)


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj".encode() + body + b"endobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer<</Size {len(objects) + 1}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# -- mails -------------------------------------------------------------------------------------


def mail_with(name: str, data: bytes, content_type: str, *, subject: str = "Please fax") -> bytes:
    """A plain mail with one attachment, a subject and a line of text."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = FAX
    message["Subject"] = subject
    message["Message-ID"] = f"<hostile-{name}@example.com>"
    message.set_content("Please fax the attached file.")
    maintype, _, subtype = content_type.partition("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes(policy=SMTP)


def many_parts(count: int = 50_000) -> bytes:
    head = b"From: ann@example.com\r\nTo: " + FAX.encode() + b"\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    head += b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n'
    return head + b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" * count + b"--p--\r\n"


def nested(depth: int = 200) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    for level in range(depth):
        boundary = f"n{level}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
            + body
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return (
        b"From: ann@example.com\r\nTo: " + FAX.encode() + b"\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body
    )


def many_headers(count: int = 10_000) -> bytes:
    filler = b"".join(f"X-Filler-{i}: y\r\n".encode() for i in range(count))
    return (
        b"From: ann@example.com\r\nTo: "
        + FAX.encode()
        + b"\r\nSubject: headers\r\n"
        + filler
        + b"\r\nbody\r\n"
    )


def numbers(count: int) -> tuple[str, ...]:
    return tuple(f"1202555{1000 + i:04d}@{FAX_DOMAIN}" for i in range(count))


def many_recipients(count: int = 200) -> bytes:
    to = ",\r\n ".join(numbers(count)).encode()  # folded: SMTP lines stay under 1000 characters
    return (
        b"From: ann@example.com\r\nTo: " + to + b"\r\nSubject: everyone\r\n\r\nPlease fax to all of us.\r\n"
    )


# -- the corpus --------------------------------------------------------------------------------

_PDF = "application/pdf"
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCUMENTS: dict[str, tuple[Callable[[], bytes], str, str]] = {
    # case name: (maker, file name, content type)
    "docx-zip-bomb": (zip_bomb_docx, "report.docx", _DOCX),
    "docx-corrupt-deflate": (corrupt_deflate_docx, "letter.docx", _DOCX),
    "pdf-page-tree": (page_tree_pdf, "tree.pdf", _PDF),
    "pdf-limit-reached": (limit_reached_pdf, "xref.pdf", _PDF),
    "tiff-bomb": (tiff_bomb, "scan.tif", "image/tiff"),
    "png-bomb": (png_bomb, "picture.png", "image/png"),
    "random-txt": (lambda: random_bytes(1), "rand.txt", "text/plain"),
    "random-pdf": (lambda: random_bytes(2), "rand.pdf", _PDF),
}
REASONS = {
    "docx-zip-bomb": "zip bomb",
    "docx-corrupt-deflate": "damaged",
    "pdf-page-tree": "far more than a fax can carry",
    "pdf-limit-reached": "PDF is damaged",
    "tiff-bomb": "decompression bomb",
    "png-bomb": "decompression bomb",
    "random-txt": "cannot be faxed",
    "random-pdf": "cannot be faxed",
}
MAILS: dict[str, tuple[Callable[[], bytes], str, tuple[str, ...]]] = {
    "mime-50000-parts": (many_parts, "more than 2000 parts", (FAX,)),
    "mime-nested-200": (nested, "nested more than 100 levels", (FAX,)),
    "headers-10000": (many_headers, "more than 1000 headers", (FAX,)),
    "recipients-200": (many_recipients, "names more than 100 recipients", numbers(200)),
}


def build(folder: Path) -> list[Case]:
    """Write every case into `folder` (documents and mails); return the cases."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, (make, filename, content_type) in DOCUMENTS.items():
        data = make()
        (folder / filename).write_bytes(data)
        case = Case(name=name, reason=REASONS[name], document=filename)
        (folder / case.mail).write_bytes(mail_with(filename, data, content_type))
        cases.append(case)
    for name, (make, reason, recipients) in MAILS.items():
        case = Case(name=name, reason=reason, recipients=recipients)
        (folder / case.mail).write_bytes(make())
        cases.append(case)
    return cases


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    for built in build(target):
        print(f"{built.mail}: refused with {built.code}, saying {built.reason!r}")
