"""Classifying documents by their bytes and counting their pages."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from bridge.errors import DocumentRefused
from bridge.filetypes import classify, inspect_file, inspect_within
from bridge.model import Verdict
from bridge.testing import sample_image, sample_pdf
from tests.data.hostile import generate as hostile


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


# -- hostile files: every one a refusal with a reason, read with bounded work -------------------


@pytest.mark.parametrize(
    ("make", "name", "reason"),
    [
        (hostile.zip_bomb_docx, "report.docx", "zip bomb"),
        (hostile.corrupt_deflate_docx, "letter.docx", "damaged"),
        (hostile.page_tree_pdf, "tree.pdf", "90000 pages, far more than a fax can carry"),
        (hostile.limit_reached_pdf, "xref.pdf", "PDF is damaged"),
        (hostile.tiff_bomb, "scan.tif", "decompression bomb"),
        (hostile.png_bomb, "picture.png", "decompression bomb"),
        (lambda: hostile.random_bytes(1), "rand.txt", "cannot be faxed"),
        (lambda: hostile.random_bytes(2), "rand.pdf", "cannot be faxed"),
    ],
)
def test_hostile_documents_are_refused_with_their_reason(
    tmp_path: Path, make: Callable[[], bytes], name: str, reason: str
) -> None:
    """Bombs, corrupt streams, absurd page trees and noise each get a refusal saying why."""
    path = tmp_path / name
    path.write_bytes(make())
    verdict = inspect_file(str(path), name)
    assert not verdict.faxable and reason in verdict.refusal, verdict


def _peak_inspecting(path: Path) -> tuple[Verdict, int]:
    import tracemalloc

    tracemalloc.start()
    try:
        verdict = inspect_file(str(path), path.name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return verdict, peak


def test_office_properties_are_read_a_slice_at_a_time(tmp_path: Path) -> None:
    """A 12 MB docProps/app.xml (honestly declared, not a bomb by ratio) is read only as far as needed.

    Mutation caught: reading docProps/app.xml whole (archive.read) instead of a bounded slice.
    """
    import os

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("docProps/app.xml", "<Properties><Pages>4</Pages>" + os.urandom(6 << 20).hex())
    path = tmp_path / "big.docx"
    path.write_bytes(out.getvalue())
    verdict, peak = _peak_inspecting(path)
    assert verdict.pages == 4, verdict
    assert peak < 4 * 1024 * 1024, f"{peak / 1e6:.0f} MB to read an Office file's page count"


def test_zip_member_whose_sizes_lie_is_damaged_and_read_no_further(tmp_path: Path) -> None:
    """A member that claims 20 bytes but inflates to 100 MB is refused as damaged, its bytes never inflated."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        with archive.open("docProps/app.xml", "w") as member:
            for _ in range(100):
                member.write(b"0" * (1 << 20))
    data = bytearray(out.getvalue())
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(b"docProps/app.xml"))
    data[entry + 24 : entry + 28] = struct.pack("<I", 20)  # the central directory's uncompressed size
    path = tmp_path / "liar.docx"
    path.write_bytes(bytes(data))
    verdict, peak = _peak_inspecting(path)
    assert verdict.refusal == "the Office file is damaged and cannot be read", verdict
    assert peak < 4 * 1024 * 1024


def test_page_tree_larger_than_it_says_is_refused_within_a_budget() -> None:
    """A PDF that says it has one page but lists six thousand is refused once the walk passes its budget.

    Mutation caught: trusting /Count, or flattening the whole tree (reader.pages) instead of the budgeted walk.
    """
    pdf = hostile.page_tree_pdf(6000, shared=False).replace(b"/Count 6000", b"/Count 1")
    with pytest.raises(DocumentRefused, match="page tree is far larger"):
        classify(pdf, "liar.pdf")


def test_page_tree_listing_one_page_again_and_again_is_refused() -> None:
    """A page tree that lists the same page object many times is damaged, and refused as such."""
    pdf = hostile.page_tree_pdf(900).replace(b"/Count 900", b"/Count 3")
    with pytest.raises(DocumentRefused, match="lists the same part twice"):
        classify(pdf, "loop.pdf")


def test_binary_after_a_text_like_start_is_not_text() -> None:
    """Text that turns into binary after its first kilobyte is refused, never faxed as text."""
    data = b"Dear reader,\n" * 100 + bytes(range(1, 32)) * 200
    with pytest.raises(DocumentRefused, match="cannot be faxed"):
        classify(data, "notes.txt")


def test_windows_1252_text_is_still_text() -> None:
    """Legacy-encoded text (curly quotes, euro sign) is faxed as text."""
    assert classify("“Quote” – 5 €\n".encode("cp1252") * 50, "memo.txt").kind.content_type == "text/plain"


def test_any_parser_exception_is_a_refusal_naming_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception no parser foresaw becomes a refusal, with its kind kept for the log."""
    import bridge.filetypes as filetypes

    def broken(*_: object) -> int:
        raise NotImplementedError("a compression method pypdf lacks")

    monkeypatch.setattr(filetypes, "_pdf_pages", broken)
    path = tmp_path / "odd.pdf"
    path.write_bytes(sample_pdf(1))
    verdict = inspect_file(str(path), "odd.pdf")
    assert (verdict.refusal, verdict.error) == ("the file could not be read", "NotImplementedError")


def test_a_file_judged_inside_a_longer_task_has_its_own_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judged where a mail was decoded, a file that reads too slowly is refused for its time, naming the limit."""
    import time

    import bridge.filetypes as filetypes

    def slow(*_: object) -> int:
        time.sleep(30)
        return 1

    monkeypatch.setattr(filetypes, "_pdf_pages", slow)
    path = tmp_path / "slow.pdf"
    path.write_bytes(sample_pdf(1))
    started = time.monotonic()
    verdict = inspect_within(str(path), "slow.pdf", 0.2)
    assert verdict.refusal == "it took longer than 0.2 seconds to read"
    assert time.monotonic() - started < 5
