"""A received fax's document as a PDF: pages counted, a TIFF drawn page by page into one, page 1 as an image.

Runs in a worker.

What a fax machine sends reaches us through the provider, but it is still someone else's file:
it is read in a worker process (time limit, memory cap) like every other untrusted file.
"""

from __future__ import annotations

import io
import os

from PIL import Image, ImageSequence
from pypdf import PdfReader

PDF_MAGIC = b"%PDF-"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
MAX_PAGES = 1000  # far past any fax (RingCentral's limit is 200); a bound on the work
# Fax resolutions are not square (204 x 98 dpi "standard", 204 x 196 "fine"): when the TIFF says
# nothing, these draw a page the right way up and the right height.
FAX_DPI = (204.0, 196.0)


class NotAFax(ValueError):
    """The document is neither a PDF nor a TIFF, or cannot be read as one."""


def as_pdf(source: str, target: str) -> tuple[int, bool]:
    """Pages of the document at `source`; a TIFF is written to `target` as a PDF first.

    Returns (pages, converted). A PDF is left where it is (`converted` False).
    """
    with open(source, "rb") as file:
        head = file.read(1024)
    if PDF_MAGIC in head:
        return _pdf_pages(source), False
    if head.startswith(TIFF_MAGICS):
        return _tiff_to_pdf(source, target), True
    raise NotAFax("the received document is neither a PDF nor a TIFF")


def _pdf_pages(path: str) -> int:
    try:
        return max(1, len(PdfReader(path, strict=False).pages))
    except Exception as exc:  # any parser failure means the same here
        raise NotAFax(f"the received PDF cannot be read ({type(exc).__name__})") from None


def _tiff_to_pdf(source: str, target: str) -> int:
    try:
        with Image.open(source) as image:
            pages = [
                _square(frame)
                for frame, _ in zip(ImageSequence.Iterator(image), range(MAX_PAGES), strict=False)
            ]
    except Exception as exc:  # Pillow raises many kinds for a bad file
        raise NotAFax(f"the received TIFF cannot be read ({type(exc).__name__})") from None
    if not pages:
        raise NotAFax("the received TIFF has no pages")
    out = io.BytesIO()
    dpi = pages[0][1]
    pages[0][0].save(
        out, format="PDF", save_all=True, append_images=[page for page, _ in pages[1:]], resolution=dpi
    )
    with open(target, "wb") as file:
        file.write(out.getvalue())
        file.flush()
        os.fsync(file.fileno())
    return len(pages)


def _square(frame: Image.Image) -> tuple[Image.Image, float]:
    """One TIFF page with square pixels (stretched to its true height), and its resolution."""
    x_dpi, y_dpi = _dpi(frame)
    page = frame.convert("1") if frame.mode in ("1", "P", "L") else frame.convert("RGB")
    if abs(x_dpi - y_dpi) > 0.5:
        page = page.resize((page.width, max(1, round(page.height * x_dpi / y_dpi))))
    return page, x_dpi


def _dpi(frame: Image.Image) -> tuple[float, float]:
    raw = frame.info.get("dpi")
    try:
        x_dpi, y_dpi = (float(raw[0]), float(raw[1])) if raw else FAX_DPI
    except (TypeError, ValueError, IndexError):
        x_dpi, y_dpi = FAX_DPI
    if not (10 <= x_dpi <= 2400 and 10 <= y_dpi <= 2400):
        return FAX_DPI
    return x_dpi, y_dpi


PREVIEW_WIDTH = 1000  # pixels: legible in Slack's preview, a few hundred kilobytes as PNG


def first_page_png(data: bytes) -> bytes:
    """Page 1 of a PDF drawn as a PNG, PREVIEW_WIDTH pixels wide; NotAFax when it cannot be drawn."""
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(data)
        try:
            page = document[0]
            scale = PREVIEW_WIDTH / max(1.0, page.get_width())
            image = page.render(scale=scale, grayscale=True).to_pil()
        finally:
            document.close()
    except Exception as exc:  # PDFium reports every kind of bad file the same way
        raise NotAFax(f"page 1 cannot be drawn ({type(exc).__name__})") from None
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
