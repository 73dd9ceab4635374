"""Judging a document by its bytes: which RingCentral-accepted type it is, and how many pages it has."""

from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import dataclass

from bridge.errors import DocumentRefused

PDF = "application/pdf"


@dataclass(frozen=True, kw_only=True)
class FileKind:
    """A type RingCentral accepts, with the extensions it knows it by."""

    label: str
    content_type: str
    extensions: tuple[str, ...]

    @property
    def extension(self) -> str:
        return self.extensions[0]


def _kind(label: str, content_type: str, *extensions: str) -> FileKind:
    return FileKind(label=label, content_type=content_type, extensions=extensions)


KINDS = {
    "pdf": _kind("PDF", PDF, "pdf"),
    "tiff": _kind("TIFF image", "image/tiff", "tif", "tiff"),
    "png": _kind("PNG image", "image/png", "png"),
    "jpeg": _kind("JPEG image", "image/jpeg", "jpg", "jpeg"),
    "gif": _kind("GIF image", "image/gif", "gif"),
    "bmp": _kind("BMP image", "image/bmp", "bmp"),
    "psd": _kind("Photoshop image", "image/vnd.adobe.photoshop", "psd"),
    "pcx": _kind("PCX image", "image/x-pcx", "pcx"),
    "tga": _kind("TGA image", "image/x-tga", "tga"),
    "docx": _kind(
        "Word document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"
    ),
    "xlsx": _kind(
        "Excel workbook", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
    ),
    "xlsb": _kind("Excel workbook", "application/vnd.ms-excel.sheet.binary.macroEnabled.12", "xlsb"),
    "pptx": _kind(
        "PowerPoint presentation",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
    ),
    "doc": _kind("Word document", "application/msword", "doc", "dot"),
    "xls": _kind("Excel workbook", "application/vnd.ms-excel", "xls"),
    "ppt": _kind("PowerPoint presentation", "application/vnd.ms-powerpoint", "ppt"),
    "vsd": _kind("Visio drawing", "application/vnd.visio", "vsd"),
    "pub": _kind("Publisher document", "application/x-mspublisher", "pub"),
    "wps": _kind("Works document", "application/vnd.ms-works", "wps"),
    "rtf": _kind("RTF document", "application/rtf", "rtf"),
    "html": _kind("HTML page", "text/html", "html", "htm"),
    "xml": _kind("XML document", "application/xml", "xml", "vdx"),
    "csv": _kind("CSV file", "text/csv", "csv"),
    "text": _kind("text file", "text/plain", "txt", "log", "h", "c", "cpp", "hpp", "err"),
}

# Office's binary formats share one container (OLE2); only the name tells them apart.
_OLE_KINDS = {
    "doc": "doc",
    "dot": "doc",
    "xls": "xls",
    "ppt": "ppt",
    "vsd": "vsd",
    "pub": "pub",
    "wps": "wps",
}
_TEXT_LINES_PER_PAGE = 60
_MAX_PDF_PAGES_TO_COUNT = 10_000


@dataclass(frozen=True, kw_only=True)
class Classified:
    """What the bytes turned out to be."""

    kind: FileKind
    pages: int


def extension_of(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return ext.lower() if dot else ""


def classify(data: bytes, name: str = "") -> Classified:
    """Identify a document by its content; raise DocumentRefused with a reason a person understands."""
    if not data.strip(b"\x00 \t\r\n"):
        raise DocumentRefused("the file is empty")
    head = data[:1024]
    key = _sniff(head, data, extension_of(name))
    kind = KINDS[key]
    return Classified(kind=kind, pages=_count_pages(key, data))


def _sniff(head: bytes, data: bytes, ext: str) -> str:
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"BM") and len(data) > 26:
        return "bmp"
    if head.startswith(b"8BPS"):
        return "psd"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(b"PK\x03\x04"):
        return _office_zip(data)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        if ext in _OLE_KINDS:
            return _OLE_KINDS[ext]
        raise DocumentRefused("this Office or Outlook file type cannot be faxed; save it as PDF")
    if head.startswith((b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"#!")):
        raise DocumentRefused("programs and scripts cannot be faxed")
    if b"%PDF-" in head:
        # Readers accept a PDF header anywhere in the first 1024 bytes (some scanners prepend junk).
        return "pdf"
    if ext == "pcx" and len(head) > 3 and head[0] == 0x0A and head[2] in (0, 1):
        return "pcx"
    if ext == "tga" and data[-18:-2] == b"TRUEVISION-XFILE":
        return "tga"
    return _text_kind(head, data, ext)


def _office_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise DocumentRefused("the file is damaged (a broken ZIP or Office file)") from exc
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "ppt/presentation.xml" in names:
        return "pptx"
    raise DocumentRefused("ZIP archives are not unpacked; attach the files themselves")


def _text_kind(head: bytes, data: bytes, ext: str) -> str:
    if b"\x00" in head:
        raise DocumentRefused("this file type cannot be faxed")
    try:
        text = head.decode("utf-8", errors="strict" if len(data) <= len(head) else "ignore")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
        if sum(ch.isprintable() or ch in "\r\n\t" for ch in text) < 0.95 * len(text):
            raise DocumentRefused("this file type cannot be faxed") from None
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if lowered.startswith(("<!doctype html", "<html")):
        return "html"
    if lowered.startswith(("<?xml", "<svg")):
        if "<svg" in lowered:
            raise DocumentRefused("SVG images cannot be faxed; send a PDF or PNG instead")
        return "xml"
    if ext == "csv":
        return "csv"
    return "text"


def _count_pages(key: str, data: bytes) -> int:
    if key == "pdf":
        return _pdf_pages(data)
    if key == "tiff":
        return _tiff_pages(data)
    if key in ("text", "csv"):
        return max(1, math.ceil(data.count(b"\n") / _TEXT_LINES_PER_PAGE))
    if key == "docx":
        return _office_pages(data, "Pages")
    if key == "pptx":
        return _office_pages(data, "Slides")
    # One page per image; for other documents the provider counts, and we say at least one.
    return 1


def _pdf_pages(data: bytes) -> int:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentRefused("the PDF is protected by a password; send an unprotected copy")
        pages = len(reader.pages)
    except DocumentRefused:
        raise
    except FileNotDecryptedError as exc:
        raise DocumentRefused("the PDF is protected by a password; send an unprotected copy") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as exc:
        raise DocumentRefused("the PDF is damaged and cannot be read") from exc
    if pages < 1:
        raise DocumentRefused("the PDF has no pages")
    return min(pages, _MAX_PDF_PAGES_TO_COUNT)


def _tiff_pages(data: bytes) -> int:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return max(1, int(getattr(image, "n_frames", 1)))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DocumentRefused("the TIFF image is damaged and cannot be read") from exc


def _office_pages(data: bytes, field: str) -> int:
    # Word and PowerPoint record the count they last laid out in docProps/app.xml.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            app = archive.read("docProps/app.xml")[:65536].decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile, ValueError):
        return 1
    match = re.search(rf"<{field}>(\d+)</{field}>", app)
    return max(1, int(match.group(1))) if match else 1
