"""Classifying documents by their bytes and counting their pages."""

from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader, PdfWriter

from bridge.errors import DocumentRefused
from bridge.filetypes import classify
from bridge.testing import sample_image, sample_pdf


def _encrypted_pdf(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(sample_pdf(2))))
    writer.encrypt(user_password=user_password, owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx(pages: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("docProps/app.xml", f"<Properties><Pages>{pages}</Pages></Properties>")
    return out.getvalue()


def test_pdf_pages_are_counted() -> None:
    """A 3-page PDF is a PDF of 3 pages."""
    found = classify(sample_pdf(3), "report.pdf")
    assert (found.kind.content_type, found.pages) == ("application/pdf", 3)


def test_type_comes_from_bytes_not_name() -> None:
    """A PDF named .txt is still a PDF, and a text file named .pdf is text."""
    assert classify(sample_pdf(1), "notes.txt").kind.content_type == "application/pdf"
    assert classify(b"hello\nworld\n", "fake.pdf").kind.content_type == "text/plain"


def test_multi_page_tiff_counts_frames() -> None:
    """A TIFF with 4 frames counts as 4 pages."""
    found = classify(sample_image("TIFF", frames=4), "scan.tif")
    assert (found.kind.content_type, found.pages) == ("image/tiff", 4)


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("BMP", "image/bmp")],
)
def test_images_are_one_page(kind: str, content_type: str) -> None:
    """Each single image is one page of its own type."""
    found = classify(sample_image(kind), "")
    assert (found.kind.content_type, found.pages) == (content_type, 1)


def test_empty_file_is_refused() -> None:
    """An empty file is refused as empty."""
    with pytest.raises(DocumentRefused, match="empty"):
        classify(b"", "blank.pdf")


def test_password_protected_pdf_is_refused() -> None:
    """A PDF that needs a password to open is refused, saying so."""
    with pytest.raises(DocumentRefused, match="password"):
        classify(_encrypted_pdf("secret"), "locked.pdf")


def test_owner_password_only_pdf_is_accepted() -> None:
    """A PDF that opens without a password (only editing is restricted) can be faxed."""
    assert classify(_encrypted_pdf(""), "restricted.pdf").pages == 2


def test_truncated_pdf_is_refused_as_damaged() -> None:
    """A PDF cut off half-way is refused as damaged, not crashed on."""
    with pytest.raises(DocumentRefused, match="damaged|no pages"):
        classify(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "cut.pdf")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"MZ\x90\x00" + b"\x00" * 100, "programs"),
        (b"PK\x03\x04" + b"\x00" * 40, "damaged|ZIP"),
        (b"\x00\x01\x02\x03binary" * 10, "cannot be faxed"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    ],
)
def test_unfaxable_types_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    """Programs, archives, binary junk and SVG are refused with a reason a person understands."""
    with pytest.raises(DocumentRefused, match=reason):
        classify(data, "thing.bin")


def test_plain_zip_archive_is_not_unpacked() -> None:
    """A ZIP that is not an Office file is refused, asking for the files themselves."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.pdf", sample_pdf(1))
    with pytest.raises(DocumentRefused, match="attach the files themselves"):
        classify(out.getvalue(), "bundle.zip")


def test_word_document_pages_come_from_its_properties() -> None:
    """A .docx is recognised from its contents and its recorded page count is used."""
    found = classify(_docx(7), "letter.docx")
    assert found.kind.extension == "docx"
    assert found.pages == 7


def test_text_pages_are_estimated_from_lines() -> None:
    """A 130-line text file counts as 3 pages."""
    assert classify(b"line\n" * 130, "log.txt").pages == 3


def test_html_is_recognised() -> None:
    """An HTML page is classified as HTML whatever its name."""
    assert classify(b"<!DOCTYPE html><html><body>Hi</body></html>", "page").kind.content_type == "text/html"


def test_old_office_file_needs_its_extension() -> None:
    """An OLE2 container is accepted as Word by its .doc name, refused without a known one."""
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    assert classify(ole, "memo.doc").kind.extension == "doc"
    with pytest.raises(DocumentRefused, match="save it as PDF"):
        classify(ole, "mail.msg")
