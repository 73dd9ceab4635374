"""A received fax's document made a PDF: pages counted, TIFF converted with its fax resolution, junk refused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from bridge.faxpdf import PREVIEW_WIDTH, NotAFax, as_pdf, first_page_png
from tests.helpers.documents import pdf, tiff


def test_a_pdf_is_counted_and_left_as_it_is(tmp_path: Path) -> None:
    """A PDF keeps its bytes; only its pages are counted."""
    source = tmp_path / "in.pdf"
    source.write_bytes(pdf(3))
    assert as_pdf(str(source), str(tmp_path / "out.pdf")) == (3, False)
    assert not (tmp_path / "out.pdf").exists()


def test_a_tiff_becomes_a_pdf_of_as_many_pages(tmp_path: Path) -> None:
    """Each TIFF frame is one PDF page."""
    source = tmp_path / "in.tif"
    source.write_bytes(tiff(3))
    target = tmp_path / "out.pdf"
    assert as_pdf(str(source), str(target)) == (3, True)
    assert len(PdfReader(target).pages) == 3


def test_a_standard_resolution_fax_page_keeps_its_true_height(tmp_path: Path) -> None:
    """A 204 x 98 dpi page is drawn twice as tall in pixels, so a Letter page stays Letter-shaped."""
    frame = Image.new("1", (1728, 1078), color=1)  # 8.5 x 11 in at 204 x 98 dpi
    out = io.BytesIO()
    frame.save(out, format="TIFF", dpi=(204, 98), compression="group4")
    source = tmp_path / "in.tif"
    source.write_bytes(out.getvalue())
    target = tmp_path / "out.pdf"
    as_pdf(str(source), str(target))
    box = PdfReader(target).pages[0].mediabox
    assert float(box.width) == pytest.approx(1728 / 204 * 72, abs=1)  # 8.47 in, a fax line
    assert float(box.height) == pytest.approx(1078 / 98 * 72, abs=2)  # 11 in, not 5.3


@pytest.mark.parametrize(
    "data",
    [b"<html>hello</html>", b"%PDF-1.4\nnot really a pdf", b"II*\x00\x08\x00\x00\x00garbage", b""],
)
def test_what_is_not_a_readable_fax_is_refused(tmp_path: Path, data: bytes) -> None:
    """HTML, a broken PDF, a broken TIFF or nothing at all raise NotAFax, never another error."""
    source = tmp_path / "in"
    source.write_bytes(data)
    with pytest.raises(NotAFax):
        as_pdf(str(source), str(tmp_path / "out.pdf"))


def test_page_one_is_drawn_as_a_png_for_the_preview() -> None:
    """A PDF's first page becomes a PNG PREVIEW_WIDTH pixels wide."""
    png = first_page_png(pdf(2))
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.width == PREVIEW_WIDTH


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4\nbroken", b"<html></html>"])
def test_a_page_that_cannot_be_drawn_is_refused(data: bytes) -> None:
    """A broken PDF gives NotAFax, never a crash of the worker."""
    with pytest.raises(NotAFax):
        first_page_png(data)
