"""Small fax documents made on the fly: blank PDFs and multi-frame TIFFs of a given length."""

from __future__ import annotations

import io

from PIL import Image
from pypdf import PdfWriter


def pdf(pages: int) -> bytes:
    """A PDF of `pages` blank Letter pages."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def tiff(frames: int) -> bytes:
    """A bilevel TIFF of `frames` pages, as fax machines and some fax services deliver."""
    images = [Image.new("1", (1728, 200), color=i % 2) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="TIFF", save_all=True, append_images=images[1:], compression="group4")
    return out.getvalue()
