"""Reading headers and part parameters safely: a header the library cannot parse never fails a mail."""

from __future__ import annotations

import contextlib
import re
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

__all__ = [
    "address",
    "clean_name",
    "content_id",
    "content_type",
    "disposition",
    "filename",
    "first_message_id",
    "header",
    "is_automatic",
    "message_ids",
    "to_names",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_PRECEDENCE_AUTO = frozenset({"bulk", "list", "junk", "auto_reply", "auto-reply"})


def is_automatic(message: Message) -> bool:
    """Whether the mail was sent by a program (auto-reply, bulk, list, bounce): such mail gets no reply."""
    auto = header(message, "auto-submitted").lower()
    if auto and not auto.startswith("no"):
        return True
    if header(message, "precedence").lower() in _PRECEDENCE_AUTO:
        return True
    if any(header(message, h) for h in ("list-id", "list-unsubscribe", "x-autoreply", "x-autorespond")):
        return True
    suppress = header(message, "x-auto-response-suppress").lower()
    if "all" in suppress or "autoreply" in suppress:
        return True
    _, sender = address(message, "from")
    return sender.lower().startswith(("mailer-daemon@", "postmaster@"))


def header(message: Message, name: str) -> str:
    """A header's decoded value on one line; a header the library cannot parse is read raw."""
    try:
        value = message.get(name)
        text = "" if value is None else str(value)
    except Exception:
        text = next((str(v) for k, v in message.raw_items() if k.lower() == name), "")
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub(" ", text).strip()


def address(message: Message, name: str) -> tuple[str, str]:
    try:
        display, address = parseaddr(header(message, name))
    except Exception:
        return "", ""
    return _CONTROL.sub(" ", display).strip(), address.strip() if "@" in address else ""


def to_names(message: Message) -> dict[str, str]:
    names: dict[str, str] = {}
    try:
        pairs = getaddresses([header(message, "to"), header(message, "cc")])
    except Exception:
        return names
    for display, address in pairs[:500]:
        if display and "@" in address:
            names[address.lower()] = _CONTROL.sub(" ", display).strip()
    return names


def message_ids(text: str) -> list[str]:
    return re.findall(r"<[^<>\s]{1,500}>", text)


def first_message_id(text: str) -> str:
    found = message_ids(text)
    return found[0] if found else ""


def content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:
        return ""


def content_id(part: Message) -> str:
    return header(part, "content-id").strip().strip("<>").lower()


def filename(part: Message) -> str:
    """The attachment's name from RFC 2231 or RFC 2047 forms, or an unquoted value with spaces."""
    candidates: list[str] = []
    for source in ("filename", "name"):
        try:
            value: object = part.get_filename() if source == "filename" else part.get_param("name")
        except Exception:
            continue
        if isinstance(value, tuple):  # an RFC 2231 triple the library left undecoded
            value = value[2]
        if isinstance(value, str) and value.strip():
            candidates.append(value)
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        raw = next((str(v) for k, v in part.raw_items() if k.lower() == header), "")
        found = re.search(rf"(?:^|;)\s*{param}\s*=\s*([^\";][^;]*)", raw, re.IGNORECASE)
        if found:
            candidates.append(found.group(1).strip())
    name = next(
        (c for c in candidates if re.search(r"\.\w{1,5}$", c.strip())), candidates[0] if candidates else ""
    )
    if "=?" in name:
        with contextlib.suppress(Exception):
            name = str(make_header(decode_header(name)))
    return clean_name(name)


def clean_name(name: str) -> str:
    return _CONTROL.sub(" ", name.replace("\x00", "")).strip()[:255]
