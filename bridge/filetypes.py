"""Judging a document by its bytes: which RingCentral-accepted type it is, and how many pages it has.

Everything here reads untrusted files, so every read is bounded: ZIP members are checked by
their declared sizes and read a slice at a time, images by their dimensions before any pixel is
decoded, PDF page trees walked with a budget. It runs in the worker pool (bridge.workers), where
a parse that still runs away is stopped; `inspect_file` turns any exception into a verdict.
"""

from __future__ import annotations

import codecs
import io
import logging
import math
import os
import re
import signal
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from bridge.errors import DocumentRefused
from bridge.model import Verdict

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
CHUNK = 1 << 20
# RingCentral sends at most 200 pages. A PDF that says it has more than this many is refused
# before its page tree is read, and one whose tree holds more nodes than the budget is refused
# without walking the rest (a 90,000-leaf tree would otherwise take seconds).
MAX_PDF_PAGES = 2_000
MAX_PDF_TREE_NODES = 5_000
MAX_PDF_TREE_DEPTH = 64
# A 600 dpi scan of an A3 page is 70 megapixels; anything larger is not a page but a bomb.
MAX_IMAGE_PIXELS = 80_000_000
MAX_TIFF_FRAMES = 1_000
# Office files: how many parts, how big each may claim to be, and how well it may claim to compress.
MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_MEMBER_BYTES = 200 * 1024 * 1024
MAX_ZIP_TOTAL_BYTES = 500 * 1024 * 1024
MAX_ZIP_RATIO = 100
PROPERTIES_READ = 65_536
_EOCD = b"PK\x05\x06"
_EOCD_FORMAT = "<4s4H2LH"
# Bytes a text file may hold besides printable characters: tab, line feed, form feed, carriage return.
_TEXT_CONTROLS = b"\t\n\x0c\r"
_NOT_TEXT = bytes(b for b in range(0x20) if b not in _TEXT_CONTROLS) + b"\x7f"
_ALL_BYTES = bytes(range(256))
_IMAGE_KEYS = frozenset({"tiff", "png", "jpeg", "gif", "bmp"})
_LENIENT_IMAGE_KEYS = frozenset({"psd", "pcx", "tga"})

log = logging.getLogger("faxbridge.filetypes")


@dataclass(frozen=True, kw_only=True)
class Classified:
    """What the bytes turned out to be."""

    kind: FileKind
    pages: int


def extension_of(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return ext.lower() if dot else ""


def inspect_file(path: str, name: str = "") -> Verdict:
    """Judge one file; never raises: any failure is a refusal naming the reason (run in a worker)."""
    try:
        with open(path, "rb") as handle:
            found = classify_stream(handle, os.fstat(handle.fileno()).st_size, name)
    except DocumentRefused as refused:
        return Verdict(refusal=refused.reason)
    except MemoryError:
        return Verdict(refusal="it needs too much memory to read", error="MemoryError")
    except RecursionError:
        return Verdict(refusal="its structure is nested too deeply to read", error="RecursionError")
    except Exception as exc:  # any parser bug on hostile bytes is a refusal, never a crash
        return Verdict(refusal="the file could not be read", error=type(exc).__name__)
    return Verdict(content_type=found.kind.content_type, pages=found.pages)


class _TooLate(BaseException):
    """The per-file time ran out (a BaseException, so no parser's `except Exception` swallows it)."""


def inspect_within(path: str, name: str, seconds: float) -> Verdict:
    """`inspect_file` with a time limit of its own, for a worker that judges several files in one task.

    An interval timer interrupts the parse when it returns to Python; a parse stuck inside C code
    is left to the task's own time limit. Outside a process's main thread there is no timer.
    """
    if threading.current_thread() is not threading.main_thread():
        return inspect_file(path, name)

    def late(signum: int, frame: object) -> None:
        raise _TooLate

    previous = signal.signal(signal.SIGALRM, late)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return inspect_file(path, name)
    except _TooLate:
        return Verdict(refusal=f"it took longer than {seconds:g} seconds to read", error="TimedOut")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def classify(data: bytes, name: str = "") -> Classified:
    """Identify a document by its content; raise DocumentRefused with a reason a person understands."""
    return classify_stream(io.BytesIO(data), len(data), name)


def classify_stream(handle: IO[bytes], size: int, name: str = "") -> Classified:
    """The same, from a seekable file of `size` bytes, read in bounded slices."""
    if _blank(handle):
        raise DocumentRefused("the file is empty")
    handle.seek(0)
    head = handle.read(1024)
    key = _sniff(head, handle, size, extension_of(name))
    return Classified(kind=KINDS[key], pages=_count_pages(key, handle, size))


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(CHUNK):
        yield chunk


def _blank(handle: IO[bytes]) -> bool:
    return all(not chunk.strip(b"\x00 \t\r\n") for chunk in _chunks(handle))


def _sniff(head: bytes, handle: IO[bytes], size: int, ext: str) -> str:
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
    if head.startswith(b"BM") and size > 26:
        return "bmp"
    if head.startswith(b"8BPS"):
        return "psd"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(b"PK\x03\x04"):
        return _office_zip(handle, size)
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
    if ext == "tga" and size >= 18:
        handle.seek(size - 18)
        if handle.read(16) == b"TRUEVISION-XFILE":
            return "tga"
    return _text_kind(head, handle, ext)


# -- Office files (ZIP) ------------------------------------------------------------------------


def _zip_entries(handle: IO[bytes], size: int) -> int:
    """The entry count the ZIP's end record declares, read before zipfile reads every entry."""
    tail = min(size, 65_536 + 22)
    handle.seek(size - tail)
    data = handle.read(tail)
    at = data.rfind(_EOCD)
    if at < 0 or len(data) - at < 22:
        raise DocumentRefused("the file is damaged (a broken ZIP or Office file)")
    entries = struct.unpack(_EOCD_FORMAT, data[at : at + 22])[4]
    return int(entries)


def _open_zip(handle: IO[bytes], size: int) -> zipfile.ZipFile:
    if _zip_entries(handle, size) > MAX_ZIP_MEMBERS:
        raise DocumentRefused(f"the Office file holds more than {MAX_ZIP_MEMBERS} parts")
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, ValueError, NotImplementedError, EOFError, struct.error) as exc:
        raise DocumentRefused("the file is damaged (a broken ZIP or Office file)") from exc
    _check_declared_sizes(archive)
    return archive


def _check_declared_sizes(archive: zipfile.ZipFile) -> None:
    """Refuse what claims to inflate far beyond any document (a zip bomb) before inflating anything."""
    total = 0
    for info in archive.infolist():
        total += info.file_size
        bomb = info.file_size > MAX_ZIP_MEMBER_BYTES or (
            info.file_size > 1024 * 1024 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1)
        )
        if bomb or total > MAX_ZIP_TOTAL_BYTES:
            raise DocumentRefused("the Office file unpacks to far more than any document (a zip bomb)")


def _office_zip(handle: IO[bytes], size: int) -> str:
    with _open_zip(handle, size) as archive:
        names = set(archive.namelist())
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "ppt/presentation.xml" in names:
        return "pptx"
    raise DocumentRefused("ZIP archives are not unpacked; attach the files themselves")


def _office_pages(handle: IO[bytes], size: int, field: str) -> int:
    # Word and PowerPoint record the count they last laid out in docProps/app.xml. Read a slice at
    # most: the member's declared size can lie, and reading N bytes inflates no more than N.
    with _open_zip(handle, size) as archive:
        try:
            member = archive.open("docProps/app.xml")
        except KeyError:
            return 1
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile, ValueError) as exc:
            raise DocumentRefused("the Office file is damaged or protected and cannot be read") from exc
        try:
            with member:
                app = member.read(PROPERTIES_READ).decode("utf-8", "replace")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            raise DocumentRefused("the Office file is damaged and cannot be read") from exc
    match = re.search(rf"<{field}>(\d{{1,6}})</{field}>", app)
    return max(1, int(match.group(1))) if match else 1


# -- text --------------------------------------------------------------------------------------


def _text_kind(head: bytes, handle: IO[bytes], ext: str) -> str:
    _check_text(handle)
    text = head.decode("utf-8", errors="replace")
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


def _check_text(handle: IO[bytes]) -> None:
    """Text only if the whole file is: no NUL, and UTF-8 or (Windows-1252) nearly all printable."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    utf8 = True
    controls = total = 0
    for chunk in _chunks(handle):
        if b"\x00" in chunk:
            raise DocumentRefused("this file type cannot be faxed")
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
        controls += len(chunk) - len(chunk.translate(_ALL_BYTES, _NOT_TEXT))
        total += len(chunk)
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if controls > 0.05 * total or (not utf8 and controls > 0.01 * total):
        raise DocumentRefused("this file type cannot be faxed")


# -- pages -------------------------------------------------------------------------------------


def _count_pages(key: str, handle: IO[bytes], size: int) -> int:
    if key == "pdf":
        return _pdf_pages(handle)
    if key in _IMAGE_KEYS or key in _LENIENT_IMAGE_KEYS:
        return _image_pages(key, handle)
    if key in ("text", "csv"):
        lines = sum(chunk.count(b"\n") for chunk in _chunks(handle))
        return max(1, math.ceil(lines / _TEXT_LINES_PER_PAGE))
    if key == "docx":
        return _office_pages(handle, size, "Pages")
    if key == "pptx":
        return _office_pages(handle, size, "Slides")
    # For other documents the provider counts, and we say at least one.
    return 1


def _pdf_pages(handle: IO[bytes]) -> int:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    handle.seek(0)
    try:
        reader = PdfReader(handle)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentRefused("the PDF is protected by a password; send an unprotected copy")
        root: Any = reader.root_object["/Pages"].get_object()
        declared = root.get("/Count")
        if isinstance(declared, int) and declared > MAX_PDF_PAGES:
            raise DocumentRefused(f"the PDF has {declared} pages, far more than a fax can carry")
        pages = _count_page_tree(root)
    except DocumentRefused:
        raise
    except FileNotDecryptedError as exc:
        raise DocumentRefused("the PDF is protected by a password; send an unprotected copy") from exc
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:
        # pypdf raises many kinds on hostile input (PdfReadError, LimitReachedError, KeyError,
        # zlib.error, ...): each means the same to the sender.
        log.info("a PDF could not be read: %s", type(exc).__name__)
        raise DocumentRefused("the PDF is damaged and cannot be read") from exc
    if pages < 1:
        raise DocumentRefused("the PDF has no pages")
    return pages


def _count_page_tree(root: Any) -> int:
    """Leaves of the page tree, walked with a budget instead of letting the reader flatten it all."""
    from pypdf.generic import IndirectObject

    pages = nodes = 0
    seen: set[object] = set()
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        ref, depth = stack.pop()
        node = ref.get_object()
        key = (ref.idnum, ref.generation) if isinstance(ref, IndirectObject) else id(node)
        if key in seen:
            raise DocumentRefused("the PDF's page tree is damaged (it lists the same part twice)")
        seen.add(key)
        nodes += 1
        if nodes > MAX_PDF_TREE_NODES or depth > MAX_PDF_TREE_DEPTH:
            raise DocumentRefused(
                f"the PDF's page tree is far larger than any document (over {MAX_PDF_TREE_NODES} entries)"
            )
        kids = node.get("/Kids") if node.get("/Type") != "/Page" else None
        if kids is None:
            pages += 1
            continue
        stack.extend((kid, depth + 1) for kid in reversed(list(kids.get_object())))
    return pages


def _image_pages(key: str, handle: IO[bytes]) -> int:
    from PIL import Image, UnidentifiedImageError

    # Pillow refuses bigger images itself; the limit is stated here rather than left to its default.
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    handle.seek(0)
    label = KINDS[key].label
    try:
        with Image.open(handle) as image:
            _check_pixels(image.size, label)
            if key != "tiff":
                return 1
            return _tiff_frames(image, label)
    except DocumentRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise DocumentRefused(f"the {label} is far too large to be a page (a decompression bomb)") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        if key in _LENIENT_IMAGE_KEYS:
            return 1  # formats our reader knows less well than RingCentral's: let the provider judge
        raise DocumentRefused(f"the {label} is damaged and cannot be read") from exc


def _tiff_frames(image: Any, label: str) -> int:
    frames = 0
    while True:
        frames += 1
        if frames > MAX_TIFF_FRAMES:
            raise DocumentRefused(f"the {label} has more than {MAX_TIFF_FRAMES} pages")
        try:
            image.seek(frames)
        except EOFError:
            return frames
        _check_pixels(image.size, label)


def _check_pixels(size: tuple[int, int], label: str) -> None:
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise DocumentRefused(
            f"the {label} is {width} x {height} pixels, far too large to be a page (a decompression bomb)"
        )
