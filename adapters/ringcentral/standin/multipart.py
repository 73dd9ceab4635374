"""Reading a fax request body the way RingCentral accepts it.

Three shapes arrive at `POST .../fax`: multipart/form-data with a JSON envelope part
(what every official SDK sends), multipart/form-data with plain text fields, and
multipart/mixed (JSON first, files with `Content-Disposition: attachment`). A bare
`application/json` body is a resend. The splitter is deliberately tolerant: it finds
delimiters even when a client omits the CRLF before them (ringcentral-extensible does),
and part headers are read with the standard library's header parser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import Parser
from typing import Any

from adapters.ringcentral.standin.errors import StandinError, cannot_parse

MB = 1024 * 1024
MAX_BODY_BYTES = 55 * MB  # x-request-max-body-size: 55m
MAX_ATTACHMENT_BYTES = 50 * MB  # each file and all files together

# RingCentral's list of faxable file types (developer guide, "Sending faxes").
# fmt: off
FAX_EXTENSIONS = frozenset({
    "pdf", "psd", "doc", "docx", "dot", "mcw", "xls", "xlsx", "xlsb", "ppt", "pptx", "vsd", "vdx", "pub",
    "wps", "wri", "awd", "tif", "tiff", "gif", "jpg", "jpeg", "bmp", "png", "pcx", "tga", "rtf", "txt",
    "log", "h", "cpp", "c", "err", "hpp", "wk1", "wk3", "wk4", "wq1", "xml", "html", "htm", "csv",
})
# fmt: on
# For parts whose filename has no extension: declared types that map onto that list.
FAX_CONTENT_TYPES = frozenset(
    {
        "application/pdf",
        "image/tiff",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/bmp",
        "text/plain",
        "text/html",
        "text/csv",
        "text/xml",
        "application/xml",
        "application/rtf",
        "text/rtf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)
TEXT_FIELDS = frozenset({"to", "coverIndex", "coverPageText", "faxResolution", "sendTime", "isoCode"})
ENVELOPE_NAMES = frozenset({"json", "request.json"})


@dataclass(frozen=True, kw_only=True)
class Document:
    """One file of a fax, as the client sent it."""

    name: str
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, kw_only=True)
class FaxBody:
    """What a fax request carried: the envelope fields, the files, and which shape it came in."""

    style: str
    envelope: dict[str, Any]
    documents: tuple[Document, ...]


@dataclass(frozen=True, kw_only=True)
class _Part:
    index: int
    headers: Message
    data: bytes

    @property
    def name(self) -> str | None:
        value = self.headers.get_param("name", header="content-disposition")
        return value if isinstance(value, str) else None

    @property
    def filename(self) -> str | None:
        return self.headers.get_filename()

    @property
    def content_type(self) -> str | None:
        return self.headers.get_content_type() if "content-type" in self.headers else None


def parse_fax_body(content_type: str, body: bytes) -> FaxBody:
    """Split a fax request into envelope and documents, refusing it as RingCentral would."""
    header = _parse_headers(f"Content-Type: {content_type}\r\n")
    kind = header.get_content_type()
    if kind == "application/json":
        return FaxBody(
            style="json", envelope=_json_object(body, "CMN-103", "JSON can't be parsed"), documents=()
        )
    boundary = header.get_boundary()
    if header.get_content_maintype() != "multipart" or not boundary:
        raise cannot_parse()
    parts = [_read_part(i, raw) for i, raw in enumerate(split_multipart(body, boundary.encode()))]
    return _classify(header.get_content_subtype(), parts)


def split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The raw parts between `--boundary` delimiters (a missing CRLF before one is forgiven)."""
    delimiter = b"--" + boundary
    position = _next_delimiter(body, delimiter, 0)
    if position < 0:
        raise cannot_parse()
    parts: list[bytes] = []
    while True:
        start = position + len(delimiter)
        if body.startswith(b"--", start):
            return parts
        start = body.find(b"\n", start) + 1
        if start == 0:
            return parts
        following = _next_delimiter(body, delimiter, start)
        end = len(body) if following < 0 else following
        parts.append(_strip_line_end(body[start:end]))
        if following < 0:
            return parts
        position = following


def _next_delimiter(body: bytes, delimiter: bytes, start: int) -> int:
    """Where the next delimiter begins: one followed by `--`, blanks or a line end."""
    position = body.find(delimiter, start)
    while position >= 0:
        after = body[position + len(delimiter) : position + len(delimiter) + 2]
        if after in (b"", b"--") or after[:1] in (b"\r", b"\n", b" ", b"\t"):
            return position
        position = body.find(delimiter, position + 1)
    return -1


def _strip_line_end(chunk: bytes) -> bytes:
    if chunk.endswith(b"\r\n"):
        return chunk[:-2]
    return chunk[:-1] if chunk.endswith(b"\n") else chunk


def _read_part(index: int, raw: bytes) -> _Part:
    if raw.startswith((b"\r\n", b"\n")):
        return _Part(index=index, headers=_parse_headers(""), data=raw[2 if raw.startswith(b"\r") else 1 :])
    cut, skip = raw.find(b"\r\n\r\n"), 4
    if cut < 0 or (0 <= raw.find(b"\n\n") < cut):
        cut, skip = raw.find(b"\n\n"), 2
    if cut < 0:
        raise cannot_parse()
    headers = _parse_headers(raw[:cut].decode("utf-8", "replace") + "\r\n")
    return _Part(index=index, headers=headers, data=raw[cut + skip :])


def _parse_headers(text: str) -> Message:
    return Parser(policy=policy.HTTP).parsestr(text + "\r\n", headersonly=True)


def _classify(subtype: str, parts: list[_Part]) -> FaxBody:
    envelope: dict[str, Any] | None = None
    fields: dict[str, Any] = {}
    documents: list[Document] = []
    for part in parts:
        if envelope is None and _is_envelope(part):
            envelope = _json_object(part.data, "MSG-349", "Unable to parse fax envelope")
        elif part.filename is None and part.name in TEXT_FIELDS:
            _add_field(fields, part)
        else:
            documents.append(_document(part, len(documents) + 1))
    _check_sizes(documents)
    style = subtype if envelope is None else f"{subtype}+json"
    merged = {**fields, **(envelope or {})}
    return FaxBody(style=style, envelope=merged, documents=tuple(documents))


def _is_envelope(part: _Part) -> bool:
    kind = part.content_type
    if kind == "application/json":
        return part.index == 0 or part.name in ENVELOPE_NAMES or part.filename in (None, "request.json")
    if kind is None and part.name in ENVELOPE_NAMES:
        return True
    no_disposition = "content-disposition" not in part.headers
    return part.index == 0 and kind is None and no_disposition and part.data.lstrip().startswith(b"{")


def _add_field(fields: dict[str, Any], part: _Part) -> None:
    value = part.data.decode("utf-8", "replace").strip()
    if part.name == "to":
        fields.setdefault("to", []).append(value)
    elif part.name:
        fields[part.name] = value


def _document(part: _Part, number: int) -> Document:
    if "content-disposition" not in part.headers:
        raise StandinError(400, "MSG-350", "No content disposition")
    filename = part.filename
    if not filename:
        raise StandinError(400, "MSG-351", "No file name in content disposition")
    if not part.data:
        raise StandinError(400, "MSG-347", "Attachment body is empty")
    if not is_faxable(filename, part.content_type):
        message = f"Unsupported attachment media type, attachment [{number}]: [{filename}]"
        raise StandinError(415, "MSG-348", message)
    return Document(
        name=part.name or "", filename=filename, content_type=part.content_type or "", data=part.data
    )


def is_faxable(filename: str, content_type: str | None) -> bool:
    """RingCentral's rule as far as it is known: the file extension decides, else the declared type."""
    stem, dot, extension = filename.rpartition(".")
    if dot and stem and extension:
        return extension.lower() in FAX_EXTENSIONS
    return content_type in FAX_CONTENT_TYPES


def _check_sizes(documents: list[Document]) -> None:
    if any(document.size > MAX_ATTACHMENT_BYTES for document in documents):
        raise StandinError(400, "MSG-337", "Attachment size limit exceeded")
    if sum(document.size for document in documents) > MAX_ATTACHMENT_BYTES:
        raise StandinError(400, "MSG-338", "Message size limit exceeded")


def _json_object(data: bytes, code: str, message: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise StandinError(400, code, message) from None
    if not isinstance(value, dict):
        raise StandinError(400, code, message)
    return value
