"""Counting the pages a fax document would print on: PDF pages, TIFF frames, one per other file."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

from PIL import Image
from pypdf import PdfReader

_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def count_pages(data: bytes) -> int:
    """Pages in one document, judged by its bytes (never by its name)."""
    if data.startswith(b"%PDF") or b"%PDF-" in data[:1024]:
        return _pdf_pages(data)
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return _tiff_frames(data)
    return 1


def count_all(documents: Iterable[bytes]) -> int:
    return sum(count_pages(data) for data in documents)


def _pdf_pages(data: bytes) -> int:
    try:
        return max(1, len(PdfReader(io.BytesIO(data), strict=False).pages))
    except Exception:
        # A PDF pypdf cannot read still goes out; count its page objects instead.
        return max(1, len(_PDF_PAGE.findall(data)))


def _tiff_frames(data: bytes) -> int:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return max(1, int(getattr(image, "n_frames", 1)))
    except Exception:
        return 1
