"""From a raw mail to what a fax needs: documents in the order attached, what was left out, the cover text.

The mail is read with the standard library's modern email API. Documents are found at any
depth (mixed, related, alternative, signed, forwarded messages, Outlook's winmail.dat) and
passed on as the sender attached them; the core judges their type by their bytes. Parts
that are not documents at all are left out here, each with the reason in plain words:
pictures shown inside the text (`cid:`), calendar invitations, contact cards, signatures,
encrypted parts, delivery reports and empty parts. Hostile structure is bounded: nesting
depth, number of parts and decoded bytes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesFeedParser, BytesParser

from adapters.email.cover_text import (
    cid_references,
    clean_body,
    decode_text,
    html_charset,
    html_to_text,
    unflow,
)
from adapters.email.headers import (
    address,
    clean_name,
    content_id,
    content_type,
    disposition,
    filename,
    first_message_id,
    header,
    is_automatic,
    message_ids,
    to_names,
)
from adapters.email.tnef import is_tnef, unpack_tnef
from bridge.model import Attachment, LeftOut

__all__ = ["Limits", "MailTooLarge", "ParsedMail", "UnreadableMail", "decode_base64", "parse_mail"]

MAX_FORWARDED_TEXT = 200_000
# A bigger part is not checked for emptiness here (that would copy it); the core judges its bytes.
_EMPTY_CHECK_BYTES = 65_536
# Parts bigger than this are base64-decoded by decode_base64, a slice at a time.
_BIG_PART = 1 << 20
_FEED_BYTES = 1 << 20
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]+")
_CALENDAR = frozenset({"text/calendar", "application/ics", "text/x-vcalendar", "application/x-ical"})
_VCARD = frozenset(
    {"text/vcard", "text/x-vcard", "text/directory", "application/vcard", "application/x-vcard"}
)
_SIGNATURE = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)
_ENCRYPTED = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime", "application/pgp-encrypted"})
_REPORTS = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "text/rfc822-headers",
        "message/feedback-report",
    }
)
_UNREADABLE = frozenset({"message/partial", "message/external-body"})
_FORWARDED = frozenset({"message/rfc822", "message/global"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})

REASON_INLINE = "a picture inside the message text (such as a signature logo); attach it as a file to fax it"
REASON_CALENDAR = "calendar invitations are not faxed"
REASON_VCARD = "contact cards are not faxed"
REASON_SIGNATURE = "a digital signature, not a document"
REASON_ENCRYPTED = "encrypted content cannot be read"
REASON_REPORT = "a delivery report, not a document"
REASON_UNREADABLE = "a part kept elsewhere or split across several mails cannot be faxed"
REASON_EMPTY = "the attachment is empty"
REASON_DEEP = "nested too deeply inside the mail to be read"


class MailTooLarge(Exception):
    """The mail decodes to more bytes than the size limit allows."""


class UnreadableMail(Exception):
    """The mail's structure cannot be read at all."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Bounds on hostile structure."""

    max_depth: int = 20
    max_parts: int = 1000
    max_bytes: int = 57_671_680


@dataclass(frozen=True, kw_only=True)
class ParsedMail:
    """What the adapter needs from one mail."""

    attachments: tuple[Attachment, ...] = ()
    left_out: tuple[LeftOut, ...] = ()
    note: str = ""
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    to_names: Mapping[str, str] = field(default_factory=dict)
    message_id: str = ""
    references: str = ""
    automatic: bool = False


@dataclass
class _Budget:
    """Counters shared by a mail and every message forwarded inside it."""

    limits: Limits
    parts: int = 0
    bytes: int = 0
    truncated: bool = False


@dataclass
class _Item:
    attachment: Attachment | None = None
    left_out: LeftOut | None = None
    cid: str = ""


class _Walker:
    """One depth-first pass over a message, collecting items in order and the body text."""

    def __init__(self, budget: _Budget) -> None:
        self.budget = budget
        self.items: list[_Item] = []
        self.plain: list[str] = []
        self.html: list[str] = []
        self.fallback_text: list[str] = []  # a winmail.dat body, used only when the mail has none
        self.cids: set[str] = set()

    # -- results -----------------------------------------------------------------------------

    def attachments(self) -> list[Attachment]:
        return [i.attachment for i in self.items if i.attachment and i.cid not in self.cids]

    def left_out(self) -> list[LeftOut]:
        out: list[LeftOut] = []
        for item in self.items:
            if item.left_out:
                out.append(item.left_out)
            elif item.attachment and item.cid and item.cid in self.cids:
                out.append(LeftOut(name=item.attachment.name or "inline picture", reason=REASON_INLINE))
        return out

    def text(self) -> str:
        if any(t.strip() for t in self.plain):
            return "\n\n".join(t.strip() for t in self.plain if t.strip())
        html = "\n\n".join(html_to_text(h) for h in self.html)
        return html.strip() or "\n\n".join(self.fallback_text).strip()

    # -- the walk ----------------------------------------------------------------------------

    def walk(self, part: Message, depth: int = 0, *, in_body: bool = True, in_related: bool = False) -> None:
        budget = self.budget
        if budget.parts >= budget.limits.max_parts:
            if not budget.truncated:
                budget.truncated = True
                self._leave(
                    "the rest of the mail",
                    f"the mail has more than {budget.limits.max_parts} parts; the rest were not read",
                )
            return
        budget.parts += 1
        ctype = content_type(part)
        if depth > budget.limits.max_depth:
            self._leave(filename(part) or ctype, REASON_DEEP)
            return
        if ctype in _FORWARDED:
            self._forwarded(part, depth)
        elif part.is_multipart():
            self._multipart(part, ctype, depth, in_body=in_body, in_related=in_related)
        else:
            self._leaf(part, ctype, in_body=in_body, in_related=in_related)

    def _multipart(self, part: Message, ctype: str, depth: int, *, in_body: bool, in_related: bool) -> None:
        children = [c for c in (part.get_payload() or []) if isinstance(c, Message)]
        if ctype == "multipart/encrypted":
            self._leave("encrypted message", REASON_ENCRYPTED)
            return
        if ctype == "multipart/alternative":
            chosen = _preferred(children)
            for child in children:
                self.walk(child, depth + 1, in_body=in_body and child is chosen, in_related=in_related)
            return
        related = in_related or ctype == "multipart/related"
        for child in children:
            self.walk(child, depth + 1, in_body=in_body, in_related=related)

    def _leaf(self, part: Message, ctype: str, *, in_body: bool, in_related: bool) -> None:
        name = filename(part)
        lowered = name.lower()
        how = disposition(part)
        if ctype in _CALENDAR or lowered.endswith((".ics", ".vcs")):
            self._leave(name or "calendar invitation", REASON_CALENDAR)
        elif ctype in _VCARD or lowered.endswith(".vcf"):
            self._leave(name or "contact card", REASON_VCARD)
        elif ctype in _SIGNATURE or lowered in ("smime.p7s", "signature.asc") or lowered.endswith(".p7s"):
            self._leave(name or "digital signature", REASON_SIGNATURE)
        elif ctype in _ENCRYPTED or lowered.endswith(".p7m"):
            self._leave(name or "encrypted part", REASON_ENCRYPTED)
        elif ctype in _REPORTS:
            self._leave(name or "delivery report", REASON_REPORT)
        elif ctype in _UNREADABLE:
            self._leave(name or ctype, REASON_UNREADABLE)
        elif ctype in _BODY_TYPES and not name and how != "attachment":
            self._body(part, ctype, in_body=in_body)
        elif ctype.startswith("text/") and not name and how != "attachment" and not in_body:
            return  # another rendering of the text (text/enriched, AMP), shown instead of the chosen one
        else:
            self._document(part, ctype, name, how, in_related=in_related)

    def _body(self, part: Message, ctype: str, *, in_body: bool) -> None:
        data = self._decoded(part)
        if ctype == "text/html":
            text = decode_text(data, part.get_content_charset() or html_charset(data))
            self.cids |= cid_references(text)
            if in_body:
                self.html.append(text)
        elif in_body:
            text = decode_text(data, part.get_content_charset())
            if str(part.get_param("format") or "").lower() == "flowed":
                text = unflow(
                    text.replace("\r\n", "\n"), delsp=str(part.get_param("delsp") or "").lower() == "yes"
                )
            self.plain.append(text)

    def _document(self, part: Message, ctype: str, name: str, how: str, *, in_related: bool) -> None:
        data = self._decoded(part)
        if len(data) <= _EMPTY_CHECK_BYTES and not data.strip(b"\x00 \t\r\n"):
            self._leave(name or ctype, REASON_EMPTY)
            return
        if is_tnef(ctype, name, data):
            unpacked = unpack_tnef(data, name or "winmail.dat")
            self.items.extend(_Item(attachment=a) for a in unpacked.attachments)
            self.items.extend(_Item(left_out=item) for item in unpacked.left_out)
            if unpacked.body:
                self.fallback_text.append(unpacked.body)
            elif unpacked.html:
                self.fallback_text.append(html_to_text(unpacked.html))
            return
        cid = content_id(part)
        if ctype.startswith("image/") and cid and in_related and how != "attachment":
            self._leave(name or "inline picture", REASON_INLINE)
            return
        self.items.append(_Item(attachment=Attachment(name=name, data=data, declared_type=ctype), cid=cid))

    def _forwarded(self, part: Message, depth: int) -> None:
        inner = _inner_message(part)
        if inner is None:
            self._leave(filename(part) or "forwarded message", "the forwarded message cannot be read")
            return
        sub = _Walker(self.budget)
        sub.walk(inner, depth + 1)
        documents = sub.attachments()
        self.items.extend(_Item(attachment=a) for a in documents)
        self.items.extend(_Item(left_out=item) for item in sub.left_out())
        if documents:
            return
        # A forwarded mail without attachments is itself the content: fax its text, headed as a mail.
        text = sub.text()[:MAX_FORWARDED_TEXT]
        if text.strip():
            subject = header(inner, "subject")
            heading = [
                f"{label}: {header(inner, key)}" for label, key in _FORWARD_HEADINGS if header(inner, key)
            ]
            data = ("Forwarded message\n" + "\n".join(heading) + "\n\n" + text + "\n").encode("utf-8")
            self.items.append(
                _Item(
                    attachment=Attachment(
                        name=f"{subject or 'forwarded message'}.txt", data=data, declared_type="text/plain"
                    )
                )
            )

    def _decoded(self, part: Message) -> bytes:
        data: object = None
        payload = part.get_payload()
        if isinstance(payload, str) and len(payload) > _BIG_PART and _is_base64(part):
            with contextlib.suppress(binascii.Error, ValueError):
                data = decode_base64(payload)
        if data is None:
            try:
                data = part.get_payload(decode=True)
            except Exception:  # a payload the library cannot decode: treat as empty, never fail the mail
                data = b""
        if not isinstance(data, bytes):
            data = b""
        self.budget.bytes += len(data)
        if self.budget.bytes > self.budget.limits.max_bytes:
            raise MailTooLarge(f"the mail decodes to more than {self.budget.limits.max_bytes} bytes")
        return data

    def _leave(self, name: str, reason: str) -> None:
        self.items.append(
            _Item(left_out=LeftOut(name=clean_name(name) or "a part of the mail", reason=reason))
        )


_FORWARD_HEADINGS = (("From", "from"), ("Date", "date"), ("Subject", "subject"), ("To", "to"))


def parse_mail(raw: bytes, limits: Limits | None = None) -> ParsedMail:
    """Read one raw mail; raise MailTooLarge or UnreadableMail, never anything else on bad input."""
    limits = limits or Limits()
    if len(raw) > limits.max_bytes:
        raise MailTooLarge(f"the mail is larger than {limits.max_bytes} bytes")
    try:
        message = _read_message(raw)
    except RecursionError as exc:
        raise UnreadableMail("the mail is nested too deeply to be read") from exc
    except Exception as exc:
        raise UnreadableMail("the mail's structure cannot be read") from exc
    walker = _Walker(_Budget(limits=limits))
    try:
        walker.walk(message)
    except RecursionError as exc:
        raise UnreadableMail("the mail is nested too deeply to be read") from exc
    from_name, from_address = address(message, "from")
    return ParsedMail(
        attachments=tuple(walker.attachments()),
        left_out=tuple(walker.left_out()),
        note=clean_body(walker.text()),
        subject=header(message, "subject"),
        from_address=from_address,
        from_name=from_name,
        to_names=to_names(message),
        message_id=first_message_id(header(message, "message-id")),
        references=" ".join(message_ids(header(message, "references"))[-20:]),
        automatic=is_automatic(message),
    )


def _read_message(raw: bytes) -> Message:
    """The parsed message, fed in slices: the parser then never holds the whole mail as one string
    and its lines at once (a 35 MB mail peaks near 100 MB instead of 270 MB)."""
    parser = BytesFeedParser(policy=policy.default)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED_BYTES):
        parser.feed(bytes(view[start : start + _FEED_BYTES]))
    return parser.close()


def _is_base64(part: Message) -> bool:
    return header(part, "content-transfer-encoding").lower() == "base64"


def decode_base64(text: str) -> bytes:
    """A big base64 body decoded a slice at a time, skipping junk characters as mail readers do.

    The standard library splits the whole body into lines first; for a 25 MB scan that costs
    over 150 MB. Raises binascii.Error on what it cannot read (the caller falls back).
    """
    out = bytearray()
    carry = b""
    for start in range(0, len(text), _FEED_BYTES):
        chunk = carry + _BASE64_JUNK.sub(b"", text[start : start + _FEED_BYTES].encode("ascii", "ignore"))
        usable = len(chunk) - len(chunk) % 4
        out += binascii.a2b_base64(chunk[:usable])
        carry = chunk[usable:]
    if carry.strip(b"="):
        out += binascii.a2b_base64(carry + b"=" * (-len(carry) % 4))
    return bytes(out)


def _preferred(children: list[Message]) -> Message | None:
    """The alternative whose text becomes the cover: plain text if it says anything, else HTML."""
    for child in children:
        if content_type(child) == "text/plain" and not filename(child):
            try:
                payload = child.get_payload(decode=True)
            except Exception:
                payload = b""
            if isinstance(payload, bytes) and payload.strip():
                return child
    for child in children:
        ctype = content_type(child)
        if ctype == "text/html" or (child.is_multipart() and ctype != "multipart/alternative"):
            return child
    return children[-1] if children else None


def _inner_message(part: Message) -> Message | None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], Message) else None
    if header(part, "content-transfer-encoding").lower() != "base64":
        return inner
    # A forwarded message sent base64-encoded (allowed by no RFC, done by some clients): the parser
    # took the encoded text for a message without headers; decode that text and read it instead.
    text = inner.get_payload() if inner is not None else payload
    if not isinstance(text, str):
        return inner
    try:
        compact = re.sub(r"[^A-Za-z0-9+/]", "", text)
        data = base64.b64decode(compact + "=" * (-len(compact) % 4))
    except (ValueError, binascii.Error):
        return None
    if not data.strip():
        return None
    decoded: EmailMessage = BytesParser(policy=policy.default).parsebytes(data)
    return decoded
